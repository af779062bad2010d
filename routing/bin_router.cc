#include "routing/bin_router.h"

#include <utility>

namespace sy::routing {

BinRouter::BinRouter(BinTable initial)
    : table_(std::make_shared<const BinTable>(std::move(initial))) {}

std::shared_ptr<const BinTable> BinRouter::Snapshot() const noexcept {
  std::lock_guard<std::mutex> lock(table_mutex_);
  return table_;
}

std::vector<std::string> BinRouter::Replace(BinTable next) {
  auto fresh = std::make_shared<const BinTable>(std::move(next));
  std::shared_ptr<const BinTable>
      previous;  // freed after the locks, unless a reader still holds it
  std::vector<std::string> diff;
  {
    std::lock_guard<std::mutex> replace_lock(replace_mutex_);
    previous = Snapshot();
    diff = Diff(*previous, *fresh);  // readers are not held up by the diff
    std::lock_guard<std::mutex> table_lock(table_mutex_);
    table_ = std::move(fresh);
  }
  return diff;
}

}  // namespace sy::routing
