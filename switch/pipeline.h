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
// Implemented: 0800 (sign-on 001 MACed, activating a provisioned terminal; sign-off 002; echo
// 301); 0100 pre-authorizations and 0200 purchases (00xxxx), refunds (20xxxx) and voids
// (02xxxx); 0220 completions; 0400/0401 reversals; 0500 batch close and 0320 batch upload; with
// DUKPT terminals. Read-check-write sequences on one journal record or one batch hold a KeyedLock
// on it, so a purchase refunded from two terminals at once cannot be over-refunded.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/strand.hpp>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "crypto/key_store.h"
#include "iso8583/dialect.h"
#include "proto/config.pb.h"
#include "routing/bin_router.h"
#include "storage/batch_store.h"
#include "storage/journal.h"
#include "storage/registry.h"
#include "storage/saf_queue.h"
#include "switch/business_day.h"
#include "switch/issuer_gateway.h"
#include "switch/keyed_lock.h"
#include "switch/listener.h"
#include "switch/metrics.h"

namespace sy::server {

struct PipelineStats {
  explicit PipelineStats(std::vector<std::string> routes) : by_type(std::move(routes)) {}
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> approved{0};
  std::atomic<std::uint64_t> declined{0};
  std::atomic<std::uint64_t> format_errors{0};
  std::atomic<std::uint64_t> mac_failures{0};
  std::atomic<std::uint64_t> duplicates{0};
  std::atomic<std::uint64_t> issuer_timeouts{0};
  std::atomic<std::uint64_t> reversals_queued{0};
  std::atomic<std::uint64_t> stand_in{0};  // stand-in approvals
  std::atomic<std::int64_t> in_flight{0};  // requests being processed now
  RequestCounts by_type;                   // requests by MTI, response code and route
  LatencyHistogram end_to_end;             // request decoded -> answer packed
  LatencyHistogram issuer;                 // issuer request sent -> answer or failure
  LatencyHistogram journal;                // durable write handed over -> pipeline resumed
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
    // Terminals and merchants come from here when set (records "terminal" and "merchant"), else
    // from the configuration.
    storage::Registry* registry = nullptr;
  };
  // `shards` strands on `executor` hold the per-terminal state. kOneThread: the executor runs on
  // one thread, so nothing can run beside a request's steps; they run where the request arrives,
  // without a hop to a strand and back per request.
  static constexpr std::size_t kOneThread = 0;
  Pipeline(boost::asio::any_io_executor executor, Deps deps, std::string terminal_dialect,
           std::size_t shards);

  boost::asio::awaitable<Response> Handle(Request request) override;

  [[nodiscard]] const PipelineStats& stats() const noexcept { return stats_; }
  // "active", "provisioned", ... of a terminal; empty when unknown (for tests and the admin API).
  [[nodiscard]] std::string TerminalStatus(const std::string& tid) const;

  // A terminal or merchant created or changed while the switch runs (the admin API, after its
  // registry write): served from the next request on. Thread-safe. A profile whose keys differ
  // (a rotation: new initial KSN, BDK or TMK) resets what belonged to the old keys — the KSN
  // high-water mark, session keys, the activation (provisioned again until a sign-on proves the
  // new key) — in memory and in the store; so does the constructor for a profile whose keys
  // changed while the switch was down (the store keeps each terminal's key identity).
  void UpsertTerminal(const proto::TerminalProfile& profile);
  // Whether the terminal activated itself (first sign-on with a valid MAC) at some point, now or
  // before a restart. Thread-safe.
  [[nodiscard]] bool WasActivated(const std::string& tid) const;
  // Terminals by status ("active", "provisioned", "suspended", "retired"), for metrics.
  [[nodiscard]] std::map<std::string, std::uint64_t> TerminalCounts() const;
  void UpsertMerchant(const proto::MerchantConfig& merchant);

  // When the switch last heard from a terminal (switch clock, microseconds; 0: never) and the
  // software version it last reported at sign-on (0800 field 48). Thread-safe.
  struct Seen {
    std::int64_t last_seen_micros = 0;
    std::string software_version;
  };
  [[nodiscard]] Seen LastSeen(const std::string& tid) const;
  // Stores the last-seen time of every terminal heard from since the last flush, in one write
  // (the daemon calls it every minute and at shutdown; sign-ons store theirs at once). `wait`:
  // durable on return; else submitted. Thread-safe.
  void FlushSeen(bool wait);

 private:
  struct Terminal;
  struct Context;

  boost::asio::awaitable<Response> Dispatch(std::shared_ptr<Context> ctx);
  boost::asio::awaitable<Response> Process(std::shared_ptr<Context> ctx);
  boost::asio::awaitable<Response> NetworkManagement(Context& ctx);
  boost::asio::awaitable<Response> SessionKeyExchange(Context& ctx);
  // Master/session terminals: their stored session keys into the key store, once.
  boost::asio::awaitable<void> LoadSessionKeys(Terminal& t);
  static bool MasterSession(const Terminal& t);
  // Marks a terminal active, durably (it stays active across restarts).
  void Activate(Terminal& t);
  // "key_scheme/bdk_id/initial_ksn/tmk_id": what a rotation changes.
  static std::string KeyIdentity(const proto::TerminalProfile& p);
  // Forgets the state of the terminal's previous keys (in memory and in the store: submitted, or
  // durable on return with `wait`) and records the profile's key identity. On the terminal's
  // shard, or before it serves.
  void ResetKeys(Terminal& t, bool wait = false);
  // A sign-on that proved the terminal's key: its software version (field 48, when sent) and
  // last-seen time, stored at once.
  void NoteSignOn(Terminal& t, std::string_view software_version);
  // The request's dialect (its listener's), or the pipeline's default.
  const iso8583::Dialect& DialectOf(const Context& ctx) const;
  boost::asio::awaitable<Response> Authorization(Context& ctx);
  boost::asio::awaitable<Response> Reversal(Context& ctx);
  boost::asio::awaitable<Response> Void(Context& ctx);
  boost::asio::awaitable<Response> Completion(Context& ctx);
  boost::asio::awaitable<Response> BatchClose(Context& ctx);
  boost::asio::awaitable<Response> BatchUpload(Context& ctx);
  // A journal record of the request with what every record carries (ids, terminal, amounts,
  // business date, the switch's RRN); `id` 0 reserves a new one.
  proto::TransactionRecord NewRecord(const Context& ctx, std::uint64_t id = 0);
  // A void's or completion's own record: approved, naming its original, on the original's route
  // with its approval code.
  proto::TransactionRecord FollowUpRecord(const Context& ctx,
                                          const proto::TransactionRecord& original,
                                          std::int64_t now, std::string_view what);
  // One atomic, durable write of journal records (each with the PAN to seal, or empty to keep
  // the sealed one), an optional SAF entry and other mutations.
  struct Write {
    struct Record {
      proto::TransactionRecord* rec;
      std::string_view pan;
      const proto::TransactionRecord* previous = nullptr;  // as last written, when known
      bool is_new = false;                                 // never written before
    };
    std::vector<Record> records;
    std::optional<proto::SafEntry> saf;
    std::vector<storage::Mutation> also;
  };
  // With `ctx`, a KSN mark waiting there joins the write.
  boost::asio::awaitable<boost::system::error_code> Commit(Write write, Context* ctx = nullptr);
  // The record with this RRN, read under its lock (held by `guard`); kNotFound when none.
  struct Locked {
    KeyedLock::Guard batch_guard;  // the record's terminal batch (taken first)
    KeyedLock::Guard guard;
    storage::Result<proto::TransactionRecord> record{make_error_code(storage::Error::kNotFound)};
  };
  boost::asio::awaitable<Locked> LockByRrn(std::string_view rrn);
  // The record's sealed PAN is `pan` (false also when it cannot be unsealed).
  [[nodiscard]] bool SameCard(const proto::TransactionRecord& rec, std::string_view pan) const;
  // The answer to a follow-up (void, completion, upload): request fields echoed, 37/38 when set.
  boost::asio::awaitable<Response> AnswerWith(Context& ctx, const std::string& key,
                                              std::string_view response_code, std::string_view rrn,
                                              std::string_view approval);
  boost::asio::awaitable<Response> Decline(Context& ctx, const std::string& key,
                                           std::string_view response_code, std::string_view pan);
  // Terminal, merchant, MAC, duplicate and KSN checks common to every MACed financial request:
  // the answer when the request stops here, or nullopt once it is admitted (and remembered under
  // `key` for duplicate detection; Remember records its answer).
  // `mac_required` false: a request type the contract does not MAC (0500), checked only when it
  // carries a MAC anyway.
  boost::asio::awaitable<std::optional<Response>> Admit(Context& ctx, const std::string& key,
                                                        bool mac_required = true);
  Response Remember(Terminal& t, const std::string& key, Response r);
  // The duplicate window's stored entry for the answer `packed` to `key` (the request's digest
  // and the answer), to join the write that makes the answer durable; nullopt when the request
  // was never admitted. Remember with `persisted` then skips its own write.
  std::optional<storage::Mutation> WindowEntry(Terminal& t, const std::string& key,
                                               const std::string& packed);
  Response Remember(Terminal& t, const std::string& key, Response r, bool persisted);
  // Reads the terminal's stored duplicate window for the business date, once.
  void LoadWindow(Terminal& t, const std::string& business_date);
  // The store key of a remembered answer: "dup/<business date>/<TID>/<duplicate key>".
  static std::string WindowKey(const std::string& business_date, const std::string& tid,
                               const std::string& key);
  // True when the KSN counter is above the terminal's high-water mark (then raised and stored).
  // With `ctx`, the mark's write waits in ctx->ksn_mark for the transaction's first write.
  bool AcceptKsn(Terminal& t, std::uint64_t counter, Context* ctx = nullptr);
  void SubmitKsnMark(const std::string& tid, storage::Mutation mark);
  static std::string DuplicateKey(const iso8583::Message& m);
  boost::asio::awaitable<Response> Answer(Context& ctx, std::string_view response_code);
  boost::asio::awaitable<std::optional<std::string>> VerifyMac(Context& ctx);
  boost::asio::awaitable<std::optional<std::string>> Pack(Context& ctx, iso8583::Message& reply);

  boost::asio::any_io_executor executor_;
  Deps deps_;
  std::shared_ptr<const iso8583::Dialect> terminal_dialect_;
  std::vector<boost::asio::strand<boost::asio::any_io_executor>> shards_;
  bool one_thread_ = false;  // constructed with kOneThread
  std::shared_ptr<Terminal> FindTerminal(std::string_view tid) const;
  const proto::MerchantConfig* FindMerchant(std::string_view mid) const;
  // Guards the directory below (profiles, terminals, merchants): read by every request, written
  // by Upsert*. A Terminal's own fields belong to its shard.
  mutable std::shared_mutex directory_mu_;
  std::vector<std::unique_ptr<proto::TerminalProfile>> profiles_;
  std::vector<std::unique_ptr<proto::MerchantConfig>> merchant_records_;
  std::map<std::string, std::shared_ptr<Terminal>, std::less<>> terminals_;
  std::map<std::string, const proto::MerchantConfig*, std::less<>> merchants_;
  std::map<std::string, const proto::RouteConfig*, std::less<>> routes_;
  std::chrono::minutes cutover_{0};
  std::atomic<std::uint32_t> next_stan_{1};
  KeyedLock locks_;
  storage::BatchStore batches_;
  PipelineStats stats_;
};

// Luhn (ISO/IEC 7812-1 Annex B) check of a PAN of digits.
[[nodiscard]] bool LuhnValid(std::string_view pan) noexcept;

}  // namespace sy::server
