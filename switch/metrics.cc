#include "switch/metrics.h"

#include <algorithm>

namespace sy::server {

RequestCounts::RequestCounts(std::vector<std::string> routes) {
  routes_.reserve(routes.size() + 1);
  routes_.emplace_back("none");
  for (auto& r : routes) {
    routes_.push_back(std::move(r));
  }
  const std::size_t n = kMtis.size() * kCodes.size() * routes_.size();
  cells_ = std::make_unique<std::atomic<std::uint64_t>[]>(n);
  for (std::size_t i = 0; i < n; ++i) {
    cells_[i].store(0, std::memory_order_relaxed);
  }
}

void RequestCounts::Add(std::string_view mti, std::string_view response_code,
                        std::string_view route) noexcept {
  auto find = [](const auto& set, std::string_view v) {
    const auto it = std::find(set.begin(), set.end(), v);
    return it == set.end() ? set.size() - 1 : static_cast<std::size_t>(it - set.begin());
  };
  const std::size_t m = find(kMtis, mti);
  const std::size_t c = find(kCodes, response_code);
  std::size_t r = 0;
  for (std::size_t i = 1; i < routes_.size(); ++i) {
    if (routes_[i] == route) {
      r = i;
      break;
    }
  }
  cells_[Index(m, c, r)].fetch_add(1, std::memory_order_relaxed);
}

void LatencyHistogram::Observe(std::chrono::nanoseconds elapsed) noexcept {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  const auto it = std::lower_bound(kBoundsSeconds.begin(), kBoundsSeconds.end(), seconds);
  buckets_[static_cast<std::size_t>(it - kBoundsSeconds.begin())].fetch_add(
      1, std::memory_order_relaxed);
  sum_nanos_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(elapsed.count(), 0)),
                       std::memory_order_relaxed);
}

LatencyHistogram::Snapshot LatencyHistogram::Read() const noexcept {
  Snapshot s;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    s.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
  }
  s.sum_nanos = sum_nanos_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace sy::server
