#include "bench/harness/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace sy::bench {

Histogram::Histogram() : counts_(kBuckets, 0) {}

std::size_t Histogram::BucketOf(std::uint64_t value) noexcept {
  if (value < kExact) {
    return static_cast<std::size_t>(value);
  }
  // value has bit_width w >= kSubBits + 2; keep its top kSubBits + 1 bits: sub in [128, 255].
  const int shift = std::bit_width(value) - (kSubBits + 1);
  const std::uint64_t sub = value >> shift;
  return static_cast<std::size_t>(kExact + static_cast<std::uint64_t>(shift - 1) * kHalf +
                                  (sub - kHalf));
}

std::uint64_t Histogram::LowestInBucket(std::size_t bucket) noexcept {
  if (bucket < kExact) {
    return bucket;
  }
  const std::uint64_t rest = bucket - kExact;
  const int shift = static_cast<int>(rest / kHalf) + 1;
  const std::uint64_t sub = kHalf + rest % kHalf;
  return sub << shift;
}

std::uint64_t Histogram::HighestInBucket(std::size_t bucket) noexcept {
  if (bucket < kExact) {
    return bucket;
  }
  const std::uint64_t rest = bucket - kExact;
  const int shift = static_cast<int>(rest / kHalf) + 1;
  const std::uint64_t sub = kHalf + rest % kHalf;
  if (shift == 64 - (kSubBits + 1) && sub == 2 * kHalf - 1) {
    return UINT64_MAX;
  }
  return ((sub + 1) << shift) - 1;
}

void Histogram::RecordN(std::uint64_t value, std::uint64_t count) noexcept {
  if (count == 0) {
    return;
  }
  counts_[BucketOf(value)] += count;
  count_ += count;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += static_cast<long double>(value) * static_cast<long double>(count);
}

void Histogram::Merge(const Histogram& other) noexcept {
  if (other.count_ == 0) {
    return;
  }
  for (std::size_t i = 0; i < kBuckets; ++i) {
    counts_[i] += other.counts_[i];
  }
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void Histogram::Reset() noexcept {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
  sum_ = 0;
}

double Histogram::mean() const noexcept {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

std::uint64_t Histogram::Percentile(double p) const noexcept {
  if (count_ == 0) {
    return 0;
  }
  p = std::clamp(p, 0.0, 100.0);
  auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      return std::clamp(HighestInBucket(i), min_, max_);
    }
  }
  return max_;
}

}  // namespace sy::bench
