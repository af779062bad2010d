#pragma once

// Settlement outputs (layout in docs/settlement.md): per run, the directory
// `<out>/<business date>/` holds
//   settlement.csv, settlement.json            per merchant and currency
//   settlement-<settlement date>.txt           fixed layout, one per settlement date
//   reconciliation.csv                         per terminal batch, then the exceptions
//   issuer-reconciliation.csv                  per issuer route and currency, then unmatched items
//   reconciliation.json                        batches, issuer routes, unmatched items, exceptions
//   carried-forward.csv                        negative nets for the next run (written last)
// and `<name>.sha256` beside each (sha256sum format); run.h records each run in the ledger. Files
// hold no wall-clock time and are ordered deterministically, so the same run gives byte-identical
// files. Each file is written to a temporary name, fsynced, renamed over the final name and the
// directory fsynced: a run killed at any point leaves every final file either absent, the previous
// version or the new one, never half written, and the next run removes the temporaries.
//
//   auto files = RenderRun(run);                          // name -> bytes
//   auto written = WriteRun(run, "/var/lib/switchyard/settlement");
//   auto carried = ReadCarriedForward("/var/lib/switchyard/settlement", "20261128");

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "switch/settlement/settlement.h"

namespace sy::server::settlement {

// The file name → contents of a run, sidecars excluded. Deterministic.
[[nodiscard]] Result<std::map<std::string, std::string>> RenderRun(const SettlementRun& run);

[[nodiscard]] std::string RenderCsv(const SettlementRun& run);
[[nodiscard]] std::string RenderJson(const SettlementRun& run);
[[nodiscard]] std::string RenderReconciliationCsv(const SettlementRun& run);
[[nodiscard]] std::string RenderIssuerReconciliationCsv(const SettlementRun& run);
[[nodiscard]] std::string RenderReconciliationJson(const SettlementRun& run);
[[nodiscard]] std::string RenderCarriedForward(const SettlementRun& run);
// The fixed-layout file of one settlement date (rows with that settlement date). kOverflow for
// a field that does not fit its width.
[[nodiscard]] Result<std::string> RenderSettlementFile(const SettlementRun& run,
                                                       std::string_view settlement_date);

// Lowercase hex SHA-256.
[[nodiscard]] std::string Sha256Hex(std::string_view data);

struct WriteOptions {
  // Called after a file's temporary is written and synced, before the rename; returning false
  // fails the write with kInjectedFailure (tests simulate a crash there). Default: none.
  std::function<bool(std::string_view final_path)> before_rename;
};

struct WrittenFile {
  std::string name;    // relative to the run directory
  std::string sha256;  // of the contents
  std::size_t bytes = 0;
};

// Writes the run's files and sidecars atomically into `<out_dir>/<business date>/`, creating it;
// removes stale temporaries and settlement files of settlement dates the run no longer has.
// carried-forward.csv is written last, so a run directory with a verified carried-forward.csv
// is complete. Returns the files in the order written.
[[nodiscard]] Result<std::vector<WrittenFile>> WriteRun(const SettlementRun& run,
                                                        const std::string& out_dir,
                                                        const WriteOptions& options = {});

// Writes `contents` to `path` atomically (temporary, fsync, rename, fsync of the directory).
[[nodiscard]] Result<bool> WriteFileAtomic(const std::string& path, std::string_view contents,
                                           const WriteOptions& options = {});

// The amounts carried forward into `business_date`: the carried-forward.csv of the latest
// complete run directory in `out_dir` for an earlier business date (its SHA-256 sidecar must
// verify: kBadLedger otherwise). Empty when there is none.
[[nodiscard]] Result<std::map<MerchantCurrency, std::int64_t>> ReadCarriedForward(
    const std::string& out_dir, std::string_view business_date);

}  // namespace sy::server::settlement
