#pragma once

// A settlement run as `switchyard settle` and the admin API (POST /v1/settlement-runs) both make
// it (docs/settlement.md): one run at a time per output directory, the agreements and holidays
// read from their files, Settle over the store, the files written atomically, and the run —
// whether it succeeded or not — recorded in the ledger `<out>/runs.jsonl`.
//
//   auto lock = RunLock::Acquire("/var/lib/switchyard/settlement", /*wait=*/false);
//   if (!lock) { ... }                          // kBusy: another run (any process) holds it
//   RunRequest req{.store = store, .business_date = "20261127", .out_dir = ..., .source = "cli"};
//   RunOutcome o = RunSettlement(req, *lock);    // o.record as appended to the ledger
//   auto runs = ReadLedger(out_dir);             // every run recorded, oldest first
//
// The ledger is a file beside the outputs rather than a store record because `switchyard settle`
// opens the store as a read-only secondary instance: both kinds of run must be recorded in one
// place. Each line is a proto::SettlementRunRecord in protobuf's JSON mapping, appended with one
// write and fsynced under the run lock; a torn last line (a crash mid-append) does not parse and
// readers skip it. Wall-clock times appear in the ledger only, never in the run's files.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "proto/settlement.pb.h"
#include "routing/bin_table.h"
#include "switch/settlement/output.h"
#include "switch/settlement/settlement.h"

namespace sy::server::settlement {

// The exclusive run lock of an output directory: an flock(2) on `<out_dir>/.settle.lock`, so it
// holds between processes (the CLI beside the switch) and between threads of one process (each
// Acquire opens its own file description). Released when destroyed, or by the kernel when the
// holder dies — a run killed with SIGKILL never leaves the directory locked.
class RunLock {
 public:
  // Creates `out_dir` if needed. wait=false: kBusy at once when another run holds the lock;
  // wait=true: blocks until it is free. kIo when the directory or lock file cannot be made.
  [[nodiscard]] static Result<RunLock> Acquire(const std::string& out_dir, bool wait);
  RunLock(RunLock&& other) noexcept;
  RunLock& operator=(RunLock&& other) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  ~RunLock();
  [[nodiscard]] const std::string& out_dir() const noexcept { return out_dir_; }

 private:
  RunLock(int fd, std::string out_dir) : fd_(fd), out_dir_(std::move(out_dir)) {}
  int fd_ = -1;
  std::string out_dir_;
};

// The agreements and holidays of a run, read from their files.
struct RunInputs {
  AgreementBook agreements;
  onboarding::HolidayCalendar holidays;
};
// `holidays_path` empty: weekends only. kBadInput for a file that cannot be read, kBadAgreements
// and kBadHolidays for one that does not parse (naming the file and key or line).
[[nodiscard]] Result<RunInputs> LoadRunInputs(const std::string& agreements_path,
                                              const std::string& holidays_path);

// Adds the agreements recorded in the registry (the admin API's, proto::Agreement records) to
// `book`: a merchant with agreement records is settled by those versions only (the registry is
// the record of what was signed); the file's versions serve the merchants the registry has none
// for (the configuration's merchants). kBadAgreements naming the record for one that no longer
// validates.
[[nodiscard]] Result<void> MergeRegistryAgreements(const storage::Store& store,
                                                   AgreementBook& book);

struct RunRequest {
  const storage::Store* store = nullptr;  // read only
  std::string store_error;    // why there is no store (it could not be opened): recorded as such
  std::string business_date;  // YYYYMMDD
  std::string agreements_path;
  std::string holidays_path;                 // Default (empty): weekends only
  const routing::BinTable* bins = nullptr;   // card brands (MakeBrandResolver). Default: none
  std::string source;                        // "cli" | "api"
  std::string by;                            // who asked: a token name or a user name
  std::function<std::int64_t()> now_micros;  // the ledger's clock. Default: the system clock
  WriteOptions write_options;                // tests inject failures here. Default: none
};

struct RunOutcome {
  proto::SettlementRunRecord record;  // as appended to the ledger (result "ok" or "failed")
  std::optional<SettlementRun> run;   // when the run succeeded
  std::optional<Problem> problem;     // when it failed
};

// Runs the settlement of request.business_date into lock.out_dir() and appends its record to the
// ledger: run id "<date>-<n>" (the n-th run of that date), `rerun` when an earlier run of the
// date succeeded, `identical_to_previous` when every file has the digest of the previous
// successful run's. A failure at any step (inputs, store, files) is recorded too; a failure to
// append the ledger line makes the outcome failed, its files stay written.
[[nodiscard]] RunOutcome RunSettlement(const RunRequest& request, const RunLock& lock);

// Every run recorded in `<out_dir>/runs.jsonl`, oldest first; lines that do not parse (a torn
// last line) are skipped. Empty when there is no ledger yet.
[[nodiscard]] std::vector<proto::SettlementRunRecord> ReadLedger(const std::string& out_dir);

// Appends one record to the ledger (one write, fsync). Call it under the run lock.
[[nodiscard]] Result<bool> AppendLedger(const std::string& out_dir,
                                        const proto::SettlementRunRecord& record);

// The ledger seen as metrics: runs by result, the last run's duration, the latest business date
// settled successfully.
struct LedgerSummary {
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  double last_duration_seconds = 0;  // of the last run recorded, whatever its result
  std::string last_success_date;     // YYYYMMDD; empty when none
};
[[nodiscard]] LedgerSummary Summarize(const std::vector<proto::SettlementRunRecord>& runs);

}  // namespace sy::server::settlement
