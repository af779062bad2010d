#pragma once

// Settlement runs through the admin API (docs/admin.md, docs/settlement.md): the same run as
// `switchyard settle` (settlement/run.h), over the running switch's own store, into the same
// output directory and ledger.
//
//   POST /v1/settlement-runs {"business_date": "20261127"}   operator: 202 and the run, "running"
//   GET  /v1/settlement-runs[?business_date=D]                 every role: the runs recorded
//   GET  /v1/settlement-runs/{date}                            every role: that date's runs
//
//   SettlementApi runs({.store = store, .out_dir = dir, .agreements = file});
//   AdminOptions options;  options.settlement = &runs;         // AdminApi dispatches to it
//
// A run takes seconds on a large day, so it runs on a worker thread of its own, never on the
// io_context thread that took the request: POST answers 202 at once and the run shows as
// "running" in the lists until it is recorded. One run at a time per output directory: a POST
// while a run is in progress — here, or `switchyard settle` in another process (the directory's
// RunLock) — is refused with 409; nothing is queued.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "proto/settlement.pb.h"
#include "routing/bin_table.h"
#include "switch/admin/admin_api.h"
#include "switch/settlement/run.h"

namespace sy::storage {
class Store;
}

namespace sy::server::admin {

struct SettlementApiOptions {
  const storage::Store* store = nullptr;  // read only; outlives the SettlementApi
  std::string out_dir;                    // run directories and runs.jsonl
  std::string agreements;                 // the agreements file, read at each run
  std::string holidays;                   // Default (empty): weekends only
  // The BIN table of the moment, for card brands. Default: none (every card is brand "any"
  // unless the agreements' route_brands say otherwise).
  std::function<std::shared_ptr<const routing::BinTable>()> bins;
  // The ledger's clock (microseconds since the Unix epoch). Default: the system clock.
  std::function<std::int64_t()> now_micros;
  settlement::WriteOptions write_options;  // tests inject failures here. Default: none
};

// What the metrics endpoint shows (sy_settlement_*), from the ledger, so CLI runs count too.
struct SettlementMetrics {
  settlement::LedgerSummary ledger;
  std::uint64_t refused = 0;  // POSTs refused with 409 since start
  bool running = false;
};

class SettlementApi {
 public:
  explicit SettlementApi(SettlementApiOptions options);
  // Waits for a run in progress to be recorded.
  ~SettlementApi();
  SettlementApi(const SettlementApi&) = delete;
  SettlementApi& operator=(const SettlementApi&) = delete;

  // One request under /v1/settlement-runs: `segments` the decoded path ("v1",
  // "settlement-runs"[, date]), the caller already authenticated. Thread-safe.
  [[nodiscard]] HttpResponse Handle(std::string_view method,
                                    const std::vector<std::string>& segments,
                                    const std::map<std::string, std::string>& query,
                                    std::string_view caller, Role role, std::string_view body);

  // Blocks until no run is in progress (tests, shutdown).
  void WaitIdle();
  // Reads the ledger again only when it changed since the last call. Thread-safe.
  [[nodiscard]] SettlementMetrics Metrics();

 private:
  HttpResponse Start(std::string_view caller, std::string_view body);
  HttpResponse List(const std::string& business_date, bool of_one_date);

  SettlementApiOptions options_;
  std::mutex mu_;
  std::condition_variable idle_;
  std::optional<proto::SettlementRunRecord> running_;  // guarded by mu_
  std::thread worker_;                                 // guarded by mu_
  std::atomic<std::uint64_t> refused_{0};
  // Metrics' cache of the ledger summary, keyed by the ledger's size and modification time.
  std::mutex metrics_mu_;
  std::int64_t ledger_stamp_ = -1;
  std::int64_t ledger_size_ = -1;
  settlement::LedgerSummary summary_;
};

}  // namespace sy::server::admin
