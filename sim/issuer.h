#pragma once

// sy::sim — the issuer host simulator: a separate process (`switchyard issuer-sim`) that speaks
// the issuer interface (docs: INTERFACE.md section 2) over plain TCP, `nac` framing without TPDU,
// in the configured dialect (iso87a by default), and decides from a file of TEST card accounts.
//
//   sy::proto::IssuerSimConfig config;                 // cards, ZPK, ZAK, faults
//   sy::sim::IssuerSimulator sim(config);              // throws on a bad key or dialect
//   boost::asio::io_context io;
//   std::uint16_t port = sim.Start(io, 0);             // 0: an ephemeral port, reported
//   io.run();                                          // until sim.Stop()
//
// Decide() is the whole business logic without sockets: one request in, its answer out (or
// nothing for a message that is not a request). It holds the per-run state (balances, PIN tries,
// approved transactions for reversals, answers for duplicates) and is thread-safe.
//
// Rules, in the order they apply (answer MTI = request MTI with function digit + 1: 0421 -> 0430):
//  - ZAK set: a request with a MAC (64, or 128 with a secondary bitmap) must verify (X9.19,
//    padding 1); every request but a 0800 echo/sign-off must carry one. Else 63, not MACed and
//    without effect. Every other answer is MACed.
//  - Duplicate (same MTI + STAN + field 7 as an earlier answered request): the earlier answer.
//  - 0800: 70 = 001/002/301 -> 00, else 12.
//  - 0100/0200: PAN from 2 or 35; processing code 00 purchase (0100: a hold), 20 refund (0200
//    only), 31 balance inquiry (balance in 54). 30 missing 11/3/PAN/amount, 12 other codes or a
//    currency other than the account's, 13 zero amount, 14 unknown card, 54 expired (the
//    account's YYMM, else field 14, against the clock's month), 05 do-not-honour, 55 wrong PIN
//    (field 52, ISO 0 under the ZPK), 75 once pin_tries wrong PINs were given (a right PIN
//    resets the count), 51 insufficient funds, else 00 with a 6-digit code in 38. A request with
//    55 gets 55 back with tags 91 (10 bytes) and 8A ("00" or "05").
//  - 0120/0220 (and repeats 0121/0221): stand-in advices, applied once whatever the balance.
//  - 0420/0421: undoes the approved original named in 90 (MTI + STAN) once; always 00.
//  - Anything else with an even function digit: 12. Responses (odd digit): no answer.
// Fault injection (server only): requests arriving during stall_ms after Start are never
// answered nor applied; drop_per_mille requests are dropped unseen; each answer waits a
// uniform [min_ms, max_ms], so answers on one connection come out of order.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/secret_bytes.h"
#include "iso8583/dialect.h"
#include "iso8583/message.h"
#include "proto/config.pb.h"

namespace sy::sim {

struct IssuerOptions {
  // The wall clock, for card expiry (the account's YYMM against the current month). Default:
  // std::chrono::system_clock::now.
  std::function<std::chrono::system_clock::time_point()> now;
  // Where the one line per request goes (never a clear PAN or PIN). Default: nowhere.
  std::function<void(std::string_view)> log;
  // Seeds the generator of approval codes, latency and drops, so tests are repeatable.
  // Default: 0x5eed.
  std::uint64_t seed = 0x5eed;
};

// A card account's current state, for tests and operators.
struct AccountView {
  std::int64_t balance_minor = 0;
  std::uint32_t wrong_pins = 0;
};

class IssuerSimulator {
 public:
  // Validates the configuration (dialect name, ZPK and ZAK hex as TDES keys, card PANs, PINs,
  // expiry dates) and throws std::invalid_argument naming the key at fault: a start-up failure.
  explicit IssuerSimulator(const proto::IssuerSimConfig& config, IssuerOptions options = {});
  ~IssuerSimulator();
  IssuerSimulator(const IssuerSimulator&) = delete;
  IssuerSimulator& operator=(const IssuerSimulator&) = delete;

  // The answer to one unpacked request, MACed under the ZAK when one is configured (except a 63),
  // or std::nullopt for a message that is not a request (a response, an unknown class).
  // Applies the request's effect on the accounts. Thread-safe.
  [[nodiscard]] std::optional<iso8583::Message> Decide(const iso8583::Message& request);

  // Listens on the configured host (default 127.0.0.1) and `port` (0: an ephemeral port) and
  // serves every connection on `io` until Stop(). Returns the bound port. Throws
  // boost::system::system_error when the port cannot be bound (a start-up failure). Call once.
  // The simulator must outlive the io_context's run.
  std::uint16_t Start(boost::asio::io_context& io, std::uint16_t port);
  // Closes the listener and every connection and cancels pending answers, so that io.run()
  // returns once nothing else is queued. Thread-safe; idempotent.
  void Stop();

  // The account of `pan`, or std::nullopt for an unknown card. Thread-safe.
  [[nodiscard]] std::optional<AccountView> Account(std::string_view pan) const;
  [[nodiscard]] const iso8583::Dialect& dialect() const noexcept { return *dialect_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  // Writes one line to the configured log (IssuerOptions::log). Thread-safe if the sink is.
  void Log(const std::string& line) const;

 private:
  struct Card {
    std::string pan;
    crypto::SecretBytes pin;  // empty: the card has no PIN to check
    int expiry_yymm = -1;     // -1: no expiry on file
    std::int64_t balance = 0;
    std::uint32_t currency = 978;
    bool do_not_honour = false;
    std::uint32_t pin_tries = 3;
    std::uint32_t wrong_pins = 0;
  };
  // An approved request whose effect a reversal can undo.
  struct Approved {
    std::string pan;
    std::int64_t delta = 0;  // what it did to the balance
    bool reversed = false;
  };
  class Server;

  std::optional<iso8583::Message> DecideLocked(const iso8583::Message& request,
                                               std::string& log_rc);
  std::string Authorize(const iso8583::Message& request, iso8583::Message& response);
  std::string Advise(const iso8583::Message& request);
  std::string Reverse(const iso8583::Message& request);
  bool VerifyMac(const iso8583::Message& request) const;
  void MacResponse(iso8583::Message& response);
  int CurrentYymm() const;
  std::string NextApprovalCode();
  void Remember(const std::string& key, Approved approved);

  // Fault injection, drawn under the lock: whether to drop this request, how long to wait.
  bool DrawDrop();
  std::chrono::milliseconds DrawLatency();

  std::string name_;
  proto::IssuerSimConfig config_;
  IssuerOptions options_;
  std::shared_ptr<const iso8583::Dialect> dialect_;
  crypto::SecretBytes zpk_;
  crypto::SecretBytes zak_;  // empty: no MACs

  mutable std::mutex mu_;
  std::map<std::string, Card, std::less<>> cards_;
  // Per-run memory for reversals (original MTI + STAN) and duplicates (MTI + STAN + field 7,
  // holding the packed answer). Each forgets its oldest entries past a bound, so a simulator
  // under a long load test does not grow without limit.
  static constexpr std::size_t kMaxApproved = 1'000'000;
  static constexpr std::size_t kMaxAnswered = 200'000;
  std::map<std::string, Approved, std::less<>> approved_;
  std::deque<std::string> approved_order_;
  std::map<std::string, std::string, std::less<>> answered_;
  std::deque<std::string> answered_order_;
  std::mt19937_64 random_;
  std::uint32_t approvals_ = 0;
  std::uint32_t approval_offset_ = 0;

  std::shared_ptr<Server> server_;
};

}  // namespace sy::sim
