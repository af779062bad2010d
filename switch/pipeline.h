#pragma once

// The transaction pipeline (INTERFACE.md §1 and §3), in order: field validation (30) → terminal
// and merchant state (58, 03) → MAC verification (63) → KSN replay and duplicates (the original
// answer again, or 94) → card checks: Luhn (14), expiry (54) → BIN route (92) → PIN translation
// to the route's ZPK → journal "forwarded" (durable) → issuer → journal outcome (durable before
// the terminal hears 00) → response with its MAC.
//
// Per-terminal state (status, KSN high-water mark, duplicate window) lives on the terminal's
// shard: a strand chosen by TID; every step that touches it runs there, so no lock guards it.
// The KSN high-water mark is also written to the store as soon as a KSN is accepted; the writer
// keeps submission order, so it is durable no later than the transaction's "forwarded" record,
// and a restart cannot make an accepted KSN acceptable again.
//
// Implemented today: 0800 (sign-on 001 MACed, activating a provisioned terminal; sign-off 002;
// echo 301) and 0100 / 0200 purchases (processing code 00xxxx), with DUKPT terminals. Refunds,
// voids, completions, reversals and batch close answer 12 until they land.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/strand.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "crypto/key_store.h"
#include "iso8583/dialect.h"
#include "proto/config.pb.h"
#include "routing/bin_router.h"
#include "storage/journal.h"
#include "storage/saf_queue.h"
#include "switch/business_day.h"
#include "switch/issuer_gateway.h"
#include "switch/listener.h"

namespace sy::server {

struct PipelineStats {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> approved{0};
  std::atomic<std::uint64_t> declined{0};
  std::atomic<std::uint64_t> format_errors{0};
  std::atomic<std::uint64_t> mac_failures{0};
  std::atomic<std::uint64_t> duplicates{0};
  std::atomic<std::uint64_t> issuer_timeouts{0};
  std::atomic<std::uint64_t> reversals_queued{0};
};

class Pipeline final : public RequestHandler {
 public:
  struct Deps {
    const proto::SwitchConfig* config;
    crypto::KeyService* keys;
    storage::Journal* journal;
    storage::SafQueue* saf;
    storage::Store* store;  // per-terminal KSN high-water marks (family meta)
    routing::BinRouter* bins;
    IssuerGateway* issuers;
    const Clock* clock;
  };
  // `shards` strands on `executor` hold the per-terminal state.
  Pipeline(boost::asio::any_io_executor executor, Deps deps, std::string terminal_dialect,
           std::size_t shards);

  boost::asio::awaitable<Response> Handle(Request request) override;

  [[nodiscard]] const PipelineStats& stats() const noexcept { return stats_; }
  // "active", "provisioned", ... of a terminal; empty when unknown (for tests and the admin API).
  [[nodiscard]] std::string TerminalStatus(const std::string& tid) const;

 private:
  struct Terminal;
  struct Context;

  boost::asio::awaitable<Response> Process(std::shared_ptr<Context> ctx);
  boost::asio::awaitable<Response> NetworkManagement(Context& ctx);
  boost::asio::awaitable<Response> Authorization(Context& ctx);
  boost::asio::awaitable<Response> Reversal(Context& ctx);
  boost::asio::awaitable<Response> Decline(Context& ctx, const std::string& key,
                                           std::string_view response_code, std::string_view pan);
  // Terminal, merchant, MAC, duplicate and KSN checks common to every MACed financial request:
  // the answer when the request stops here, or nullopt once it is admitted (and remembered under
  // `key` for duplicate detection; Remember records its answer).
  boost::asio::awaitable<std::optional<Response>> Admit(Context& ctx, const std::string& key);
  static Response Remember(Terminal& t, const std::string& key, Response r);
  // True when the KSN counter is above the terminal's high-water mark (then raised and stored).
  bool AcceptKsn(Terminal& t, std::uint64_t counter);
  static std::string DuplicateKey(const iso8583::Message& m);
  boost::asio::awaitable<Response> Answer(Context& ctx, std::string_view response_code);
  boost::asio::awaitable<std::optional<std::string>> VerifyMac(Context& ctx);
  boost::asio::awaitable<std::optional<std::string>> Pack(Context& ctx, iso8583::Message& reply);

  boost::asio::any_io_executor executor_;
  Deps deps_;
  std::shared_ptr<const iso8583::Dialect> terminal_dialect_;
  std::vector<boost::asio::strand<boost::asio::any_io_executor>> shards_;
  std::map<std::string, std::shared_ptr<Terminal>, std::less<>> terminals_;
  std::map<std::string, const proto::MerchantConfig*, std::less<>> merchants_;
  std::map<std::string, const proto::RouteConfig*, std::less<>> routes_;
  std::chrono::minutes cutover_{0};
  std::atomic<std::uint32_t> next_stan_{1};
  PipelineStats stats_;
};

// Luhn (ISO/IEC 7812-1 Annex B) check of a PAN of digits.
[[nodiscard]] bool LuhnValid(std::string_view pan) noexcept;

}  // namespace sy::server
