#pragma once

// BinRouter: the switch's current BIN table, replaced at run time without stopping traffic.
// Each transaction takes one snapshot and does all its BIN work on it, so a swap in the middle
// of a transaction neither drops it nor mixes the old table with the new one; the old table is
// freed when the last transaction holding it finishes.
//
//   BinRouter router(BinTable::Build(entries, routes).value());
//   std::shared_ptr<const BinTable> table = router.Snapshot();   // once per transaction
//   const BinEntry* hit = table->Lookup(pan);
//   for (const std::string& line : router.Replace(std::move(reloaded))) log(line);

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "routing/bin_table.h"

namespace sy::routing {

class BinRouter {
 public:
  // Starts with `initial` (by default the empty table, which routes nothing).
  explicit BinRouter(BinTable initial = BinTable());

  BinRouter(const BinRouter&) = delete;
  BinRouter& operator=(const BinRouter&) = delete;

  // The current table. Thread-safe, never null, never waits for Replace's diff (only for the
  // pointer swap itself). Keep the pointer for the whole transaction: entries it returns stay
  // valid as long as it is held.
  [[nodiscard]] std::shared_ptr<const BinTable> Snapshot() const noexcept;

  // Makes `next` the current table and returns what changed (Diff(previous, next)) for the log.
  // Thread-safe; concurrent Replace calls are serialised so each diff is against the table it
  // actually replaced. Lookups in flight keep the snapshot they hold.
  [[nodiscard]] std::vector<std::string> Replace(BinTable next);

 private:
  // A mutex-guarded shared_ptr rather than std::atomic<std::shared_ptr>: libstdc++ 12's
  // atomic<shared_ptr>::load releases its internal lock with a relaxed store, a data race that
  // ThreadSanitizer reports (seen here in the concurrent test). Readers hold table_mutex_ only to
  // copy the pointer; replace_mutex_ serialises whole Replace calls, diff included.
  mutable std::mutex table_mutex_;
  std::shared_ptr<const BinTable> table_;  // guarded by table_mutex_
  std::mutex replace_mutex_;
};

}  // namespace sy::routing
