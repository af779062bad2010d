#include "switch/daemon.h"

#include <prometheus/histogram.h>
#include <pthread.h>
#include <sys/stat.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "crypto/hex.h"
#include "crypto/pin_block.h"
#include "crypto/tls_identity.h"
#include "iso8583/dialect.h"
#include "routing/issuer_link.h"
#include "storage/journal.h"
#include "storage/registry.h"
#include "storage/saf_queue.h"
#include "switch/admin/admin_api.h"
#include "switch/admin/admin_http.h"
#include "switch/admin/admin_settlement.h"
#include "switch/config.h"
#include "switch/http.h"
#include "switch/log.h"
#include "switch/pipeline.h"

namespace sy::server {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// The daemon's own lines (start-up, recovery, retention, SAF, shutdown): each `*log << ... "\n"`
// statement is one line of the switch's log (switch/log.h), in the configured format.
constexpr LogSink kDaemonLog(LogLevel::kInfo);

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WritePrivateFile(const fs::path& p, const std::string& text) {
  const mode_t old = umask(077);
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  umask(old);
  out << text;
  if (!out) {
    throw std::runtime_error("cannot write " + p.string());
  }
}

std::string RandomHex(std::size_t bytes) {
  crypto::SecretBytes b(bytes);
  crypto::SystemRandom().Fill(b.mutable_view());
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (std::uint8_t c : b.view()) {
    out += kDigits[c >> 4];
    out += kDigits[c & 0x0F];
  }
  return out;
}

// The TEST keys of the embedded demo: published test keys, so that the demo issuer simulators
// (deploy/demo/issuer-*.yaml) and terminal simulators can share them, and a random data key.
void WriteDemoKeys(const fs::path& file, const crypto::SecretBytes& master) {
  crypto::SoftwareKeyStore store(master.Clone());
  auto add = [&](const char* id, crypto::KeyKind kind, crypto::KeyAlgorithm algo,
                 const std::string& hex) {
    auto key = crypto::SecretFromHex(hex);
    if (!key || !store.AddKey(id, kind, algo, *key)) {
      throw std::runtime_error(std::string("cannot make demo key ") + id);
    }
  };
  using crypto::KeyAlgorithm;
  using crypto::KeyKind;
  add("bdk-demo", KeyKind::kBdk, KeyAlgorithm::kTdes, "0123456789ABCDEFFEDCBA9876543210");
  add("bdk-demo-aes", KeyKind::kBdk, KeyAlgorithm::kAes, "FEDCBA9876543210F1F1F1F1F1F1F1F1");
  add("zpk-issuer-a", KeyKind::kZpk, KeyAlgorithm::kTdes, "0123456789ABCDEFFEDCBA9876543210");
  add("zpk-issuer-b", KeyKind::kZpk, KeyAlgorithm::kTdes, "89ABCDEF0123456776543210FEDCBA98");
  // issuer-a's zone MAC key (deploy/demo/issuer-a.yaml has the same TEST key).
  add("zak-issuer-a", KeyKind::kZak, KeyAlgorithm::kTdes, "89ABCDEF0123456776543210FEDCBA98");
  // The master/session demo terminal's TMK: the published X9.24-1 test key, so it counts as TEST.
  add("tmk-demo", KeyKind::kTmk, KeyAlgorithm::kTdes, "0123456789ABCDEFFEDCBA9876543210");
  add("data-demo", KeyKind::kDataKey, KeyAlgorithm::kAes, RandomHex(32));
  // Transport keys of the demo key-injection facility (TEST keys): terminal keys leave the key
  // store as TR-31 blocks under one of them (docs/admin.md).
  add("kek-demo", KeyKind::kKek, KeyAlgorithm::kAes, "FEDCBA9876543210F1F1F1F1F1F1F1F1");
  add("kek-demo-tdes", KeyKind::kKek, KeyAlgorithm::kTdes, "89ABCDEF0123456776543210FEDCBA98");
  WritePrivateFile(file, "# Switchyard demo key store: TEST keys, wrapped under " +
                             std::string("the master key. Never use in production.\n") +
                             store.Serialize());
}

// The configuration's merchants and terminals into the registry (records "merchant" and
// "terminal"), each audited as a change by "config" when it differs from what is stored. A record
// the file no longer lists stays: retire a terminal (status: retired) rather than delete it.
void ImportConfiguration(const proto::SwitchConfig& config, storage::Registry& registry) {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  const storage::Change change{.actor = "config", .reason = "configuration file", .at_micros = now};
  std::size_t changed = 0;
  auto import = [&](std::string_view kind, const std::string& id,
                    const google::protobuf::MessageLite& record) {
    auto stored = registry.GetRaw(kind, id);
    if (stored && *stored == record.SerializeAsString()) {
      return;
    }
    if (auto ec = registry.Put(kind, id, record, change); ec) {
      throw std::runtime_error("registry: " + std::string(kind) + " " + id +
                               " not stored: " + ec.message());
    }
    ++changed;
  };
  for (const auto& m : config.merchants()) {
    import("merchant", m.mid(), m);
  }
  for (const auto& t : config.terminals()) {
    import("terminal", t.tid(), t);
  }
  if (changed > 0) {
    kDaemonLog << "registry: " << changed
               << " merchant and terminal records from the configuration\n";
  }
}

std::string Pad11(std::string_view digits) {
  std::string out(11 - std::min<std::size_t>(11, digits.size()), '0');
  out += digits.substr(0, 11);
  return out;
}

// IssuerGateway over routing::IssuerLink, one link per route.
class LinkGateway final : public IssuerGateway {
 public:
  asio::awaitable<Outcome> Send(std::string route, iso8583::Message request) override {
    auto it = links.find(route);
    if (it == links.end()) {
      co_return Outcome{std::nullopt, Failure::kDown};
    }
    auto r = co_await it->second->Send(std::move(request));
    if (r) {
      co_return Outcome{std::move(*r), Failure::kNone};
    }
    const auto e = r.error();
    using routing::Error;
    if (e == make_error_code(Error::kIssuerTimeout) ||
        e == make_error_code(Error::kConnectionLost)) {
      co_return Outcome{std::nullopt, Failure::kTimeout};  // the issuer may have acted on it
    }
    if (e == make_error_code(Error::kLinkFull)) {
      co_return Outcome{std::nullopt, Failure::kFull};
    }
    co_return Outcome{std::nullopt, Failure::kDown};
  }
  std::map<std::string, std::unique_ptr<routing::IssuerLink>, std::less<>> links;
};

}  // namespace

// `log` is no longer written: these lines go to the switch's log (kDaemonLog) like every other.
std::unique_ptr<crypto::SoftwareKeyStore> PrepareKeys(const proto::SwitchConfig& config,
                                                      [[maybe_unused]] std::ostream& log) {
  const bool demo = config.mode() == "demo";
  const fs::path data = config.data_dir();
  fs::create_directories(data);
  const auto& k = config.keys();
  fs::path master_file =
      k.master_key_file().empty() ? data / "master.key" : fs::path(k.master_key_file());
  const char* env = k.master_key_env().empty() ? nullptr : k.master_key_env().c_str();
  const bool env_set = env != nullptr && std::getenv(env) != nullptr;
  if (!env_set && !fs::exists(master_file)) {
    if (!demo) {
      throw std::runtime_error(
          "no key-store master key: set keys.master_key_env or "
          "keys.master_key_file (" +
          master_file.string() + " is missing)");
    }
    WritePrivateFile(master_file, RandomHex(32) + "\n");
    kDaemonLog << "demo: made a new key-store master key in " << master_file.string() << "\n";
  }
  auto master = crypto::SoftwareKeyStore::LoadMasterKey(env, master_file.string());
  if (!master) {
    throw std::runtime_error("key-store master key (" +
                             (env_set ? std::string("$") + env : master_file.string()) +
                             "): " + master.error().message());
  }
  const fs::path key_file = k.file();
  if (!fs::exists(key_file)) {
    if (!demo) {
      throw std::runtime_error("key file " + key_file.string() + " is missing");
    }
    WriteDemoKeys(key_file, *master);
    kDaemonLog << "demo: made TEST keys in " << key_file.string() << "\n";
  }
  auto store = crypto::SoftwareKeyStore::Load(*master, ReadFile(key_file));
  if (!store) {
    throw std::runtime_error("key file " + key_file.string() + ": " + store.error().Describe());
  }
  const auto tests = store->TestKeyIds();
  if (!demo && !tests.empty()) {
    std::string ids;
    for (const auto& id : tests) {
      ids += (ids.empty() ? "" : ", ") + id;
    }
    throw std::runtime_error("production mode refuses TEST keys: " + ids);
  }
  return std::make_unique<crypto::SoftwareKeyStore>(std::move(*store));
}

namespace {

// The io_context's threads: the configured number, or one per core but one. The journal writer
// thread is busy under load too (it builds each group's batch and syncs it), so one io thread
// per core would have them take turns on a core; on the 2-core machine the io threads and the
// writer measured 83-97 us per authorization against 95-120 us with two io threads
// (docs/performance.md). With one thread the io_context keeps the posts a thread makes to
// itself in a private queue instead of the shared, locked one (Asio's concurrency hint).
std::size_t IoThreads(const proto::SwitchConfig& config) {
  if (config.threads() > 0) {
    return config.threads();
  }
  const unsigned cores = std::thread::hardware_concurrency();
  return cores > 1 ? cores - 1 : 1;
}

}  // namespace

struct Daemon::Impl {
  explicit Impl(const proto::SwitchConfig& c) : config(c), io(static_cast<int>(IoThreads(c))) {}
  proto::SwitchConfig config;
  const LogSink* log = &kDaemonLog;
  asio::io_context io;
  std::unique_ptr<crypto::SoftwareKeyStore> keys;
  std::unique_ptr<crypto::PanProtector> pans;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<storage::Journal> journal;
  std::unique_ptr<storage::SafQueue> saf;
  std::unique_ptr<storage::Registry> records;  // merchants, terminals (onboarding's, later)
  std::unique_ptr<routing::BinRouter> bins;
  SystemClock clock;
  LinkGateway gateway;
  std::unique_ptr<Pipeline> pipeline;
  std::vector<std::unique_ptr<Listener>> listeners;
  std::size_t recovered = 0;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint32_t> saf_stan{500000};
  std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<OpsHttp> http;
  std::unique_ptr<admin::SettlementApi> settlement;  // with the admin API; outlives it
  std::unique_ptr<admin::AdminApi> admin_api;        // when admin.tokens are configured
  std::unique_ptr<admin::AdminHttp> admin_http;      // destroyed before admin_api

  std::mutex metrics_mu;  // scrapes may overlap; RefreshMetrics runs one at a time
  LatencyHistogram::Snapshot last_end_to_end;
  LatencyHistogram::Snapshot last_issuer;
  LatencyHistogram::Snapshot last_journal;

  void Recover();
  void RefreshMetrics();
  // Rewrites the key file from the key store (after it generated a key): "" or why not.
  std::string SaveKeys();
  // Stores the terminals' last-seen times every minute (the pipeline keeps them in memory).
  asio::awaitable<void> FlushSeen();
  asio::awaitable<void> ApplyRetention();
  asio::awaitable<void> DrainSaf(std::string route);
  std::optional<iso8583::Message> BuildAdvice(const proto::SafEntry& e);
};

// Copies every component's statistics into the registry; runs on each scrape.
void Daemon::Impl::RefreshMetrics() {
  std::lock_guard lock(metrics_mu);
  auto counter = [this](const std::string& name, const std::string& help,
                        const prometheus::Labels& labels = {}) -> prometheus::Counter& {
    return prometheus::BuildCounter().Name(name).Help(help).Register(*registry).Add(labels);
  };
  auto gauge = [this](const std::string& name, const std::string& help,
                      const prometheus::Labels& labels = {}) -> prometheus::Gauge& {
    return prometheus::BuildGauge().Name(name).Help(help).Register(*registry).Add(labels);
  };
  const PipelineStats& p = pipeline->stats();
  SyncCounter(counter("sy_switch_requests_total", "Requests from terminals"), p.requests.load());
  SyncCounter(counter("sy_switch_approved_total", "Answers with 39 = 00"), p.approved.load());
  SyncCounter(counter("sy_switch_declined_total", "Answers with 39 other than 00"),
              p.declined.load());
  SyncCounter(counter("sy_switch_format_errors_total", "Requests that did not decode"),
              p.format_errors.load());
  SyncCounter(counter("sy_switch_mac_failures_total", "Requests whose MAC failed"),
              p.mac_failures.load());
  SyncCounter(counter("sy_switch_duplicates_total", "Duplicate requests"), p.duplicates.load());
  SyncCounter(counter("sy_switch_issuer_timeouts_total", "Issuer timeouts"),
              p.issuer_timeouts.load());
  SyncCounter(counter("sy_switch_reversals_queued_total", "Reversals queued for issuers"),
              p.reversals_queued.load());
  SyncCounter(counter("sy_switch_stand_in_total", "Stand-in approvals"), p.stand_in.load());
  gauge("sy_switch_in_flight", "Terminal requests being processed")
      .Set(static_cast<double>(p.in_flight.load()));
  for (const auto& [status, n] : pipeline->TerminalCounts()) {
    gauge("sy_switch_terminals", "Terminals by status", {{"status", status}})
        .Set(static_cast<double>(n));
  }
  if (admin_api) {
    const admin::AdminApi::ReviewQueue q = admin_api->Queue();
    gauge("sy_onboarding_applications_waiting", "Merchant applications waiting for a decision")
        .Set(static_cast<double>(q.waiting));
    gauge("sy_onboarding_applications_overdue",
          "Waiting applications past the review target (business days)")
        .Set(static_cast<double>(q.overdue));
    gauge("sy_onboarding_oldest_wait_business_days",
          "Business days the longest-waiting application has waited")
        .Set(static_cast<double>(q.oldest_business_days));
  }
  if (settlement) {
    // From the ledger of runs, so `switchyard settle` runs count as well as the API's.
    const admin::SettlementMetrics sm = settlement->Metrics();
    const std::string runs_help =
        "Settlement runs by result (ok, failed: CLI and API, from the "
        "ledger; refused: API requests refused while a run was going on)";
    SyncCounter(counter("sy_settlement_runs_total", runs_help, {{"result", "ok"}}),
                static_cast<double>(sm.ledger.ok));
    SyncCounter(counter("sy_settlement_runs_total", runs_help, {{"result", "failed"}}),
                static_cast<double>(sm.ledger.failed));
    SyncCounter(counter("sy_settlement_runs_total", runs_help, {{"result", "refused"}}),
                static_cast<double>(sm.refused));
    gauge("sy_settlement_last_run_duration_seconds", "Duration of the last settlement run")
        .Set(sm.ledger.last_duration_seconds);
    gauge("sy_settlement_last_success_business_date",
          "Latest business date settled successfully, as the number YYYYMMDD (0: none)")
        .Set(sm.ledger.last_success_date.empty() ? 0.0 : std::stod(sm.ledger.last_success_date));
    gauge("sy_settlement_run_in_progress", "1 while an admin API settlement run is going on")
        .Set(sm.running ? 1.0 : 0.0);
  }
  p.by_type.ForEach([&](std::string_view mti, std::string_view rc, std::string_view route,
                        std::uint64_t n) {
    SyncCounter(
        counter(
            "sy_switch_responses_total",
            "Requests by MTI, response code (field 39) and issuer route",
            {{"mti", std::string(mti)}, {"code", std::string(rc)}, {"route", std::string(route)}}),
        static_cast<double>(n));
  });
  auto sync_histogram = [&](const std::string& name, const std::string& help,
                            const LatencyHistogram& h, LatencyHistogram::Snapshot& last) {
    prometheus::Histogram::BucketBoundaries bounds(LatencyHistogram::kBoundsSeconds.begin(),
                                                   LatencyHistogram::kBoundsSeconds.end());
    auto& metric =
        prometheus::BuildHistogram().Name(name).Help(help).Register(*registry).Add({}, bounds);
    const LatencyHistogram::Snapshot now = h.Read();
    std::vector<double> increments(now.buckets.size());
    for (std::size_t i = 0; i < now.buckets.size(); ++i) {
      increments[i] = static_cast<double>(now.buckets[i] - last.buckets[i]);
    }
    metric.ObserveMultiple(increments, static_cast<double>(now.sum_nanos - last.sum_nanos) / 1e9);
    last = now;
  };
  sync_histogram("sy_switch_request_duration_seconds",
                 "End-to-end time of terminal requests in the switch", p.end_to_end,
                 last_end_to_end);
  sync_histogram("sy_switch_issuer_duration_seconds",
                 "Time from the issuer request to its answer (or timeout)", p.issuer, last_issuer);
  sync_histogram("sy_storage_journal_write_seconds",
                 "Time a request waits for one durable journal write (group commit and sync)",
                 p.journal, last_journal);
  double open = 0;
  for (const auto& l : listeners) {
    const ListenerStats& s = l->stats();
    open += static_cast<double>(s.connections_open.load());
    SyncCounter(counter("sy_switch_connections_total", "Terminal connections accepted"),
                s.connections_accepted.load());
    SyncCounter(counter("sy_switch_tls_handshake_failures_total", "Failed TLS handshakes"),
                s.tls_handshake_failures.load());
    SyncCounter(counter("sy_switch_framing_errors_total", "Connections closed for bad framing"),
                s.framing_errors.load());
  }
  gauge("sy_switch_connections", "Open terminal connections").Set(open);
  const storage::WriterStats w = store->writer_stats();
  SyncCounter(counter("sy_storage_journal_groups_total", "Group commits (syncs)"),
              static_cast<double>(w.groups));
  SyncCounter(counter("sy_storage_journal_writes_total", "Durable writes"),
              static_cast<double>(w.writes));
  SyncCounter(counter("sy_storage_journal_sync_seconds_total", "Time spent in synced writes"),
              static_cast<double>(w.sync_micros) / 1e6);
  gauge("sy_storage_journal_max_group", "Largest group commit so far")
      .Set(static_cast<double>(w.max_group));
  std::map<std::string, double> depth;
  std::map<std::string, std::int64_t> oldest;
  for (const auto& r : config.routes()) {
    depth[r.id()] = 0;  // label values: configured route ids only
    oldest[r.id()] = 0;
  }
  if (auto entries = saf->List(); entries) {
    for (const auto& e : *entries) {
      if (depth.count(e.destination()) != 0) {
        depth[e.destination()] += 1;
        auto& o = oldest[e.destination()];
        o = o == 0 ? e.created_micros() : std::min(o, e.created_micros());
      }
    }
  }
  const std::int64_t now_micros = std::chrono::duration_cast<std::chrono::microseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
  for (const auto& [route, n] : depth) {
    gauge("sy_switch_saf_depth", "Reversals and advices waiting per route", {{"route", route}})
        .Set(n);
    const std::int64_t created = oldest[route];
    gauge("sy_switch_saf_oldest_age_seconds", "Age of the oldest waiting entry per route",
          {{"route", route}})
        .Set(created == 0 ? 0.0 : static_cast<double>(now_micros - created) / 1e6);
  }
  for (const auto& [route, link] : gateway.links) {
    gauge("sy_routing_link_up", "1 when the route's issuer link carries traffic",
          {{"route", route}})
        .Set(link->state() == routing::LinkState::kUp ? 1 : 0);
  }
}

void Daemon::Impl::Recover() {
  auto in_flight = journal->InFlight();
  if (!in_flight) {
    throw std::runtime_error("cannot list in-flight transactions: " + in_flight.error().message());
  }
  for (auto rec : *in_flight) {
    // Forwarded and never answered before the crash: reverse it to its issuer (0420, 39 = 68).
    proto::SafEntry e;
    e.set_destination(rec.route());
    e.set_message_type("0420");
    e.set_reason_code("68");
    e.set_txn_id(rec.id());
    if (auto q = saf->Enqueue(e); !q) {
      throw std::runtime_error("cannot queue the reversal of transaction " +
                               std::to_string(rec.id()) + ": " + q.error().message());
    }
    auto* ev = rec.add_events();
    ev->set_state(proto::TXN_REVERSED);
    ev->set_note("crash recovery: reversal queued");
    rec.set_state(proto::TXN_REVERSED);
    if (auto ec = journal->AppendSync(rec, {}); ec) {
      throw std::runtime_error("cannot journal the recovery of transaction " +
                               std::to_string(rec.id()) + ": " + ec.message());
    }
    ++recovered;
  }
  if (recovered > 0) {
    *log << "recovery: " << recovered << " transaction(s) in flight at the last stop; "
         << "reversals queued\n";
  }
}

std::string Daemon::Impl::SaveKeys() {
  static std::mutex mu;  // one rewrite at a time
  std::lock_guard lock(mu);
  const fs::path file = config.keys().file();
  fs::path tmp = file;
  tmp += ".new";
  try {
    fs::remove(tmp);
    WritePrivateFile(tmp, keys->Serialize());  // TR-31 blocks and check values only
    std::error_code ec;
    fs::rename(tmp, file, ec);
    if (ec) {
      return "cannot replace " + file.string() + ": " + ec.message();
    }
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

asio::awaitable<void> Daemon::Impl::FlushSeen() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!stopping) {
    timer.expires_after(std::chrono::minutes(1));
    (void)co_await timer.async_wait(kTuple);
    if (!stopping) {
      pipeline->FlushSeen(false);
    }
  }
}

asio::awaitable<void> Daemon::Impl::ApplyRetention() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!stopping) {
    std::chrono::minutes cutover{0};
    (void)ParseCutover(config.business_day().cutover(), cutover);  // validated at load
    const std::string today = BusinessDate(clock.Now(), cutover);
    const std::string cutoff = DaysBefore(today, static_cast<int>(config.retention_days()));
    if (auto pruned = journal->Prune(cutoff); !pruned) {
      SY_LOG(kWarning) << "retention: pruning before " << cutoff
                       << " failed: " << pruned.error().message();
    } else if (*pruned > 0) {
      *log << "retention: deleted " << *pruned << " journal records before " << cutoff << "\n";
    }
    // Answers remembered for duplicate detection live one business day.
    if (auto ec = store->DeleteRange(storage::Cf::kMeta, "dup/", "dup/" + today); ec) {
      SY_LOG(kWarning) << "retention: expiring the duplicate window before " << today
                       << " failed: " << ec.message();
    }
    // Daily, and at each new business day for the duplicate window.
    timer.expires_after(std::chrono::hours(24));
    (void)co_await timer.async_wait(kTuple);
  }
}

std::optional<iso8583::Message> Daemon::Impl::BuildAdvice(const proto::SafEntry& e) {
  auto rec = journal->Get(e.txn_id());
  if (!rec) {
    return std::nullopt;
  }
  auto pan = journal->RevealPan(*rec);
  if (!pan) {
    return std::nullopt;
  }
  iso8583::Message m;
  std::string mti = e.message_type();
  if (e.attempts() > 0) {
    mti[3] = '1';  // a repeat: 0421, 0121, 0221
  }
  m.SetMti(mti);
  m.Set(2, *pan);
  crypto::WipeString(*pan);
  m.Set(3, rec->processing_code());
  char amount[32];
  std::snprintf(amount, sizeof(amount), "%012lld", static_cast<long long>(rec->amount_minor()));
  m.Set(4, amount);
  m.Set(7, TransmissionTime(std::chrono::system_clock::now()));
  char stan[16];
  std::snprintf(stan, sizeof(stan), "%06u", saf_stan.fetch_add(1) % 400000 + 500000);
  m.Set(11, stan);
  const auto& acq = config.acquirer();
  if (!acq.acquiring_institution().empty()) {
    m.Set(32, acq.acquiring_institution());
  }
  if (!acq.forwarding_institution().empty()) {
    m.Set(33, acq.forwarding_institution());
  }
  m.Set(37, rec->rrn());
  if (!e.reason_code().empty()) {
    m.Set(39, e.reason_code());
  } else {
    // An advice of what the switch approved: a stand-in decision, or a completion of the
    // issuer's pre-authorization (with the approval code the issuer gave it).
    m.Set(38, rec->approval_code());
    m.Set(39, rec->response_code().empty() ? "00" : rec->response_code());
  }
  m.Set(41, rec->tid());
  m.Set(42, rec->mid());
  char currency[16];
  std::snprintf(currency, sizeof(currency), "%03u", rec->currency());
  m.Set(49, currency);
  // Original data elements (MTI, the switch's STAN and field 7 towards the issuer, 32, 33): of
  // the transaction itself for a reversal, of the pre-authorization for a completion's advice.
  std::optional<proto::TransactionRecord> referenced;
  if (e.message_type() == "0420" && rec->stand_in()) {
    // The issuer never answered this transaction's request; what it saw is the stand-in advice
    // (queued ahead of this reversal, so acknowledged by now): name that advice, as sent.
    const std::string advice_type = rec->mti() == "0100" ? "0120" : "0220";
    if (auto d = journal->GetDelivery(*rec, advice_type); d && d->sent_stan().size() == 6) {
      std::string f90 =
          d->sent_mti().substr(0, 3) + "0" + d->sent_stan() + d->sent_transmission_time();
      f90.resize(20, '0');
      f90 += Pad11(acq.acquiring_institution()) + Pad11(acq.forwarding_institution());
      m.Set(90, f90);
      return m;
    }
    referenced = *rec;  // no record of the advice (delivered before versions that kept it)
  } else if (e.message_type() == "0420") {
    referenced = *rec;
  } else if (e.message_type() == "0220" && (rec->mti() == "0220" || rec->mti() == "0221") &&
             rec->original_id() != 0) {
    if (auto preauth = journal->Get(rec->original_id()); preauth) {
      referenced = std::move(*preauth);
    }
  }
  if (referenced) {
    std::string f90 =
        referenced->mti() + referenced->issuer_stan() + referenced->issuer_transmission_time();
    f90.resize(20, '0');
    f90 += Pad11(acq.acquiring_institution()) + Pad11(acq.forwarding_institution());
    m.Set(90, f90);
  }
  return m;
}

asio::awaitable<void> Daemon::Impl::DrainSaf(std::string route) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  std::chrono::milliseconds backoff{1000};
  while (!stopping) {
    timer.expires_after(backoff);
    (void)co_await timer.async_wait(kTuple);
    if (stopping) {
      break;
    }
    auto head = saf->Head(route);
    if (!head || !*head) {
      backoff = std::chrono::milliseconds(1000);
      continue;
    }
    proto::SafEntry e = **head;
    const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    if (e.next_attempt_micros() > now) {
      continue;
    }
    // Nothing leaves while the route's link is down: an attempt is counted only when the
    // message can go out, so the issuer's first sight of it is not marked as a repeat.
    if (auto link = gateway.links.find(route);
        link != gateway.links.end() && link->second->state() != routing::LinkState::kUp) {
      backoff = std::chrono::milliseconds(1000);
      continue;
    }
    auto advice = BuildAdvice(e);
    if (!advice) {
      SY_LOG(kWarning) << "saf: " << route << " entry " << e.seq()
                       << " cannot be rebuilt; kept for review";
      backoff = std::chrono::milliseconds(30000);
      continue;
    }
    // Count the attempt durably first, so that a retry after a crash goes out as a repeat.
    const auto next =
        now + std::min<std::int64_t>(60'000'000, 2'000'000LL << std::min(e.attempts(), 5U));
    if (auto ec = saf->RecordAttempt(e, next); ec) {
      continue;
    }
    const std::string sent_mti(advice->mti());
    const std::string sent_stan(advice->Get(11));
    const std::string sent_time(advice->Get(7));
    auto outcome = co_await gateway.Send(route, std::move(*advice));
    if (outcome.response) {
      // The acknowledgement first, for the settlement's issuer reconciliation (the entry is gone
      // once acknowledged); a crash between the two only sends the entry again.
      if (auto ec = journal->RecordDelivery(e, outcome.response->Get(39), now, sent_mti, sent_stan,
                                            sent_time);
          ec) {
        *log << "saf: " << route << " entry " << e.seq()
             << ": acknowledgement not recorded: " << ec.message() << "\n";
      }
      if (auto ec = saf->Acknowledge(e); !ec) {
        *log << "saf: " << route << " " << e.message_type() << " for transaction " << e.txn_id()
             << " acknowledged\n";
      }
      backoff = std::chrono::milliseconds(50);  // drain the queue quickly while the issuer answers
    } else {
      backoff = std::chrono::milliseconds(1000);
    }
  }
}

std::unique_ptr<Daemon> Daemon::Create(const proto::SwitchConfig& config, std::ostream& log) {
  if (LogLevel level; ParseLogLevel(config.log_level(), level)) {
    SetLogLevel(level);
  }
  if (LogFormat format; ParseLogFormat(config.log_format(), format)) {
    SetLogFormat(format);
  }
  auto impl = std::make_unique<Impl>(config);
  const fs::path data = config.data_dir();
  fs::create_directories(data);
  impl->keys = PrepareKeys(config, log);
  auto pans = impl->keys->MakePanProtector("data-demo");
  if (!pans) {
    // Production key stores name their data key "data"; the demo's is "data-demo".
    pans = impl->keys->MakePanProtector("data");
  }
  if (!pans) {
    throw std::runtime_error("the key store has no DATA key ('data' or 'data-demo') for PANs");
  }
  impl->pans = std::make_unique<crypto::PanProtector>(std::move(*pans));
  std::string why;
  auto store = storage::Store::Open({.path = (data / "store").string()}, &why);
  if (!store) {
    throw std::runtime_error(why);
  }
  impl->store = std::move(*store);
  impl->journal = std::make_unique<storage::Journal>(*impl->store, impl->pans.get());
  impl->saf = std::make_unique<storage::SafQueue>(*impl->store);
  auto table = BuildBinTable(config);
  if (!table) {
    throw std::runtime_error("bins: " + table.error().Describe());
  }
  impl->bins = std::make_unique<routing::BinRouter>(std::move(*table));
  for (const auto& r : config.routes()) {
    routing::LinkOptions lo;
    lo.log = [](std::string_view line) { SY_LOG(kInfo) << line; };
    lo.one_thread = IoThreads(config) == 1;  // its callers (pipeline, SAF) run on impl->io too
    if (!r.zak_id().empty()) {
      // Link MACs under the route's ZAK (INTERFACE.md §2), computed by the key store.
      const crypto::SoftwareKeyStore* keys = impl->keys.get();
      const std::string zak = r.zak_id();
      const std::uint8_t block[8] = {};
      if (auto probe = keys->ZoneMacNow(zak, block); !probe) {
        throw std::runtime_error("route " + r.id() + ": zak_id '" + zak +
                                 "': " + probe.error().message());
      }
      lo.mac = [keys, zak](std::span<const std::uint8_t> data, std::array<std::uint8_t, 8>& out) {
        auto mac = keys->ZoneMacNow(zak, data);
        if (!mac) {
          return false;
        }
        out = *mac;
        return true;
      };
      lo.verify_mac = [keys, zak](std::span<const std::uint8_t> input,
                                  std::span<const std::uint8_t> mac) {
        return keys->VerifyZoneMacNow(zak, input, mac).has_value();
      };
    }
    impl->gateway.links.emplace(
        r.id(), std::make_unique<routing::IssuerLink>(impl->io.get_executor(), r, std::move(lo)));
  }
  const std::size_t threads = IoThreads(config);
  impl->records = std::make_unique<storage::Registry>(*impl->store);
  ImportConfiguration(impl->config, *impl->records);
  impl->pipeline = std::make_unique<Pipeline>(
      impl->io.get_executor(),
      Pipeline::Deps{&impl->config, impl->keys.get(), impl->journal.get(), impl->saf.get(),
                     impl->store.get(), impl->bins.get(), &impl->gateway, &impl->clock,
                     impl->records.get()},
      config.listeners(0).dialect(), threads == 1 ? Pipeline::kOneThread : threads * 4);
  return std::unique_ptr<Daemon>(new Daemon(std::move(impl)));
}

Daemon::Daemon(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Daemon::~Daemon() { Stop(); }

void Daemon::Start() {
  Impl& d = *impl_;
  d.Recover();
  for (auto& [id, link] : d.gateway.links) {
    link->Start();
    asio::co_spawn(d.io, d.DrainSaf(id), [id = id](std::exception_ptr e) {
      if (e) {
        SY_LOG(kError) << "saf: drainer for " << id << " stopped by an exception";
      }
    });
  }
  asio::co_spawn(d.io, d.ApplyRetention(), [](std::exception_ptr e) {
    if (e) {
      SY_LOG(kError) << "retention: stopped by an exception";
    }
  });
  asio::co_spawn(d.io, d.FlushSeen(), [](std::exception_ptr e) {
    if (e) {
      SY_LOG(kError) << "last seen: the periodic flush stopped by an exception";
    }
  });
  const fs::path data = d.config.data_dir();
  for (const auto& l : d.config.listeners()) {
    ListenerOptions o;
    o.name = l.name();
    o.address = l.address();
    o.port = static_cast<std::uint16_t>(l.port());
    o.framing.kind =
        l.framing() == "ascii4" ? iso8583::FrameKind::kAscii4 : iso8583::FrameKind::kNac;
    o.framing.tpdu = l.tpdu() == "yes";
    o.framing.max_frame = l.max_frame();
    o.idle_timeout = std::chrono::milliseconds(l.idle_timeout_ms());
    o.max_in_flight = l.max_in_flight();
    o.one_thread = IoThreads(d.config) == 1;
    if (auto dialect = iso8583::LoadDialect(l.dialect()); dialect) {
      o.dialect = *dialect;
    } else {
      throw std::runtime_error("listener " + l.name() + ": dialect '" + l.dialect() +
                               "': " + dialect.error().message);
    }
    if (l.plain_tcp()) {
      SY_LOG(kWarning) << "WARNING: listener " << l.name()
                       << " serves plain TCP without TLS, as configured";
    } else {
      std::string cert = l.tls().certificate();
      std::string key = l.tls().private_key();
      if (cert.empty()) {
        fs::create_directories(data / "tls");
        cert = (data / "tls" / "switch.crt").string();
        key = (data / "tls" / "switch.key").string();
        if (!fs::exists(cert) || !fs::exists(key)) {
          if (!crypto::WriteSelfSignedCertificate(cert, key, "switchyard", 825)) {
            throw std::runtime_error("cannot make a self-signed TLS certificate in " +
                                     (data / "tls").string());
          }
          *d.log << "made a self-signed TLS certificate: " << cert << "\n";
        }
      }
      o.tls = MakeServerTlsContext(cert, key, l.tls().client_ca());
    }
    auto listener = std::make_unique<Listener>(d.io.get_executor(), std::move(o), *d.pipeline);
    if (auto ec = listener->Start(); ec) {
      throw std::runtime_error("listener " + l.name() + " cannot bind " + l.address() + ":" +
                               std::to_string(l.port()) + ": " + ec.message());
    }
    *d.log << "listening for terminals on " << l.address() << ":" << listener->port() << " ("
           << (l.plain_tcp() ? "plain TCP" : "TLS") << ", " << l.framing()
           << (l.tpdu() == "yes" ? " + TPDU" : "") << ", " << l.dialect() << ")\n";
    d.listeners.push_back(std::move(listener));
  }
  d.http = std::make_unique<OpsHttp>(
      d.io.get_executor(), d.registry, [&d] { d.RefreshMetrics(); },
      [&d] {
        if (d.stopping || d.listeners.empty()) {
          return false;
        }
        for (const auto& [route, link] : d.gateway.links) {
          if (link->state() == routing::LinkState::kUp) {
            return true;
          }
        }
        return false;
      });
  if (auto ec = d.http->Start(d.config.http().address(),
                              static_cast<std::uint16_t>(d.config.http().port()));
      ec) {
    throw std::runtime_error("metrics listener cannot bind " + d.config.http().address() + ":" +
                             std::to_string(d.config.http().port()) + ": " + ec.message());
  }
  *d.log << "metrics and health on http://" << d.config.http().address() << ":" << d.http->port()
         << "/metrics, /healthz, /readyz\n";
  if (d.config.admin().tokens_size() > 0) {
    proto::AdminConfig admin = d.config.admin();
    if (auto problems = admin::ResolveAdminConfig(admin, d.config.data_dir()); !problems.empty()) {
      throw std::runtime_error(problems);
    }
    const auto& so = d.config.settlement();
    const fs::path data = d.config.data_dir();
    d.settlement = std::make_unique<admin::SettlementApi>(admin::SettlementApiOptions{
        .store = d.store.get(),
        .out_dir = so.output_dir().empty() ? (data / "settlement").string() : so.output_dir(),
        .agreements =
            so.agreements().empty() ? (data / "agreements.yaml").string() : so.agreements(),
        .holidays = so.holidays(),
        .bins = [&d] { return d.bins->Snapshot(); }});
    d.admin_api = std::make_unique<admin::AdminApi>(
        admin, *d.records, d.clock,
        admin::AdminOptions{
            .live_status = [&d](const std::string& tid) { return d.pipeline->TerminalStatus(tid); },
            .terminal_changed =
                [&d](const proto::TerminalProfile& t) { d.pipeline->UpsertTerminal(t); },
            .merchant_changed =
                [&d](const proto::MerchantConfig& m) { d.pipeline->UpsertMerchant(m); },
            .was_activated = [&d](const std::string& tid) { return d.pipeline->WasActivated(tid); },
            .keys = d.keys.get(),
            .save_keys = [&d] { return d.SaveKeys(); },
            .seen =
                [&d](const std::string& tid) {
                  Pipeline::Seen s = d.pipeline->LastSeen(tid);
                  return admin::TerminalSeen{s.last_seen_micros, std::move(s.software_version)};
                },
            .journal = d.journal.get(),
            .bins = [&d] { return d.bins->Snapshot()->entries(); },
            .settlement = d.settlement.get()});
    d.admin_http = std::make_unique<admin::AdminHttp>(
        d.io.get_executor(), admin::MakeAdminTlsContext(admin), *d.admin_api);
    if (auto ec = d.admin_http->Start(admin.address(), static_cast<std::uint16_t>(admin.port()));
        ec) {
      throw std::runtime_error("admin API cannot bind " + admin.address() + ":" +
                               std::to_string(admin.port()) + ": " + ec.message());
    }
    *d.log << "admin API on https://" << admin.address() << ":" << d.admin_http->port() << " ("
           << admin.tokens_size() << " token(s))\n";
  } else {
    *d.log << "admin API off: no admin.tokens configured\n";
  }
  d.work = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
      d.io.get_executor());
}

void Daemon::Run() {
  Impl& d = *impl_;
  const std::size_t threads = IoThreads(d.config);
  std::vector<std::thread> pool;
  for (std::size_t i = 1; i < threads; ++i) {
    pool.emplace_back([&d] {
      // The main thread keeps the program's name (what pidof and pkill look for).
      pthread_setname_np(pthread_self(), "sy-io");
      d.io.run();
    });
  }
  d.io.run();
  for (auto& t : pool) {
    t.join();
  }
}

void Daemon::Stop() {
  Impl& d = *impl_;
  if (d.stopping.exchange(true)) {
    return;
  }
  for (auto& l : d.listeners) {
    l->Stop();
  }
  if (d.http) {
    d.http->Stop();
  }
  if (d.admin_http) {
    d.admin_http->Stop();
  }
  for (auto& [id, link] : d.gateway.links) {
    link->Stop();
  }
  d.pipeline->FlushSeen(true);  // the terminals' last-seen times, durably
  d.work.reset();
  // Give in-flight transactions a moment to finish and journal; then stop the loop.
  auto timer = std::make_shared<asio::steady_timer>(d.io, std::chrono::seconds(2));
  timer->async_wait([&d, timer](boost::system::error_code) { d.io.stop(); });
}

std::uint16_t Daemon::listener_port(std::size_t i) const { return impl_->listeners.at(i)->port(); }

std::size_t Daemon::recovered() const noexcept { return impl_->recovered; }

std::vector<std::string> Daemon::ReloadBins(const proto::SwitchConfig& fresh) {
  Impl& d = *impl_;
  // Routes are the running ones (their links are up); the BINs are the new file's.
  proto::SwitchConfig next = d.config;
  *next.mutable_bins() = fresh.bins();
  auto table = BuildBinTable(next);
  if (!table) {
    return {"bins not reloaded (the running table stays): " + table.error().Describe()};
  }
  std::vector<std::string> lines = d.bins->Replace(std::move(*table));
  if (lines.empty()) {
    lines.emplace_back("bins reloaded: no change");
  } else {
    lines.insert(lines.begin(), "bins reloaded:");
  }
  return lines;
}

}  // namespace sy::server
