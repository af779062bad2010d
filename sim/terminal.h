#pragma once

// sy::sim — the terminal simulator: a POS terminal that talks to the switch exactly as a real one
// does (docs: INTERFACE.md section 1): TLS (or plain TCP when asked), `nac` framing with the TPDU
// 60 0001 0000, dialect iso87b, TDES DUKPT (ANSI X9.24-1) keys, one new KSN per request in field
// 62, an X9.19 retail MAC in field 64 (or 128) under the MAC-request variant, the PIN as an
// ISO 9564 format 0 block under the PIN variant. It connects once per transaction.
//
//   sy::sim::TerminalOptions options;                  // the demo terminal TERM0001 by default
//   options.ca_file = "data/tls/switch.crt";
//   sy::sim::TerminalClient term(options);            // throws on a bad key, KSN or dialect
//   auto answer = term.Purchase({.pan = "4761739001010010", .amount_minor = 1000, .pin = "1234"});
//   if (answer) std::cout << answer->response_code << (answer->mac_ok ? " MAC ok" : " MAC BAD");
//
// The KSN counter lives in a small state file so that successive runs never replay a KSN: the
// next counter is written there before the request leaves. Not thread-safe: one terminal, one
// caller.

#include <array>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/secret_bytes.h"
#include "iso8583/dialect.h"
#include "iso8583/message.h"

namespace sy::sim {

struct TerminalOptions {
  // The switch's terminal listener. Default: 127.0.0.1:8583 (the demo).
  std::string host = "127.0.0.1";
  std::uint16_t port = 8583;
  // TLS (true) or plain TCP (false). Default: true.
  bool tls = true;
  // PEM file of the certificate(s) to verify the switch against. Default: none (then `insecure`
  // must be set for TLS, else the constructor throws).
  std::string ca_file;
  // Skip certificate verification (demo only). Default: false.
  bool insecure = false;
  // Terminal and merchant identification (fields 41, 42). Default: the demo terminal.
  std::string tid = "TERM0001";
  std::string mid = "MERCHANT0000001";
  // The TDES BDK in hex (32 digits; a TEST key), and the initial KSN (20 hex digits). Default: the
  // ANSI X9.24-1 test BDK and the demo terminal's initial KSN.
  std::string bdk_hex = "0123456789ABCDEFFEDCBA9876543210";
  std::string initial_ksn_hex = "FFFF9876543210E00000";
  // Where the last used KSN counter is kept. Empty: in memory only. Default: empty (the CLI sets
  // ./term-<TID>.state).
  std::string state_file;
  // How long one transaction (connect, handshake, request, answer) may take. Default: 30 s.
  std::chrono::milliseconds timeout{30000};
  // The wall clock for field 7. Default: std::chrono::system_clock::now.
  std::function<std::chrono::system_clock::time_point()> now;
};

struct PurchaseRequest {
  std::string pan;
  std::int64_t amount_minor = 0;
  std::string currency = "978";
  std::string expiry;              // YYMM; empty: field 14 not sent
  std::optional<std::string> pin;  // digits; set: field 52 and entry mode 051, else 012
};

struct Answer {
  iso8583::Message response;  // owns its values
  std::string response_code;  // field 39 ("" when absent)
  bool mac_present = false;   // the answer carried field 64 (or 128)
  bool mac_ok = false;        // ... and it verifies under the MAC-response variant
  std::string ksn_hex;        // the KSN the request used
  std::uint32_t ksn_counter = 0;
};

// What went wrong when no answer came: a transport failure (connect, TLS, timeout, closed), or a
// protocol failure (an answer that is not a frame, not iso87b, not for this request, a bad TPDU).
struct TerminalError {
  enum class Kind { kTransport, kProtocol, kState };
  Kind kind = Kind::kTransport;
  std::string message;  // one line, never key, PIN or full PAN data
};

template <class T>
using TerminalResult = boost::system::result<T, TerminalError>;

class TerminalClient {
 public:
  // Validates the options (BDK, initial KSN, dialect iso87b, TLS settings, CA file) and throws
  // std::invalid_argument naming the option at fault.
  explicit TerminalClient(TerminalOptions options);
  ~TerminalClient();
  TerminalClient(const TerminalClient&) = delete;
  TerminalClient& operator=(const TerminalClient&) = delete;

  // 0800 with 70 = 001, MACed: activates a provisioned terminal.
  [[nodiscard]] TerminalResult<Answer> SignOn();
  // 0200 purchase (3 = 000000).
  [[nodiscard]] TerminalResult<Answer> Purchase(const PurchaseRequest& request);

  // The last KSN counter used (from the state file at construction, 0 when none).
  [[nodiscard]] std::uint32_t counter() const noexcept { return counter_; }

 private:
  struct Impl;
  // Takes the next KSN (persisting it), MACs the request, sends it, reads and checks the answer.
  TerminalResult<Answer> Exchange(iso8583::Message& request, const crypto::SecretBytes* pin,
                                  std::string_view pan);
  TerminalResult<std::uint32_t> NextCounter();

  TerminalOptions options_;
  std::shared_ptr<const iso8583::Dialect> dialect_;
  crypto::SecretBytes bdk_;
  std::array<std::uint8_t, 10> initial_ksn_{};
  std::uint32_t counter_ = 0;
  std::unique_ptr<Impl> impl_;
};

// Parses a KSN state file's text ("<initial KSN hex> <counter>"): the counter when the initial
// KSN matches, std::nullopt otherwise (another terminal's file, or garbage).
[[nodiscard]] std::optional<std::uint32_t> ParseKsnState(std::string_view text,
                                                         std::string_view initial_ksn_hex);

// "approved", "do not honour", ... for a field 39 value; "unknown" otherwise.
[[nodiscard]] std::string_view DescribeResponseCode(std::string_view code);

}  // namespace sy::sim
