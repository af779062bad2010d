#pragma once

// A log-linear latency histogram in the style of HdrHistogram: values below 256 are counted
// exactly; above, each power of two is split into 128 equal buckets, so a bucket is at most
// 1/128 (0.78 %) of the values it holds wide, whatever their magnitude. Percentiles report the
// highest value a bucket can hold (clamped to the largest value recorded), so a reported
// percentile is never below the true one and at most 0.78 % above it.
//
//   sy::bench::Histogram h;
//   h.Record(1'234'567);                      // nanoseconds, say
//   std::uint64_t p99 = h.Percentile(99.0);
//   other.Merge(h);
//
// Fixed size (about 58 KiB of counters), no allocation after construction. Not thread-safe.

#include <array>
#include <cstdint>
#include <vector>

namespace sy::bench {

class Histogram {
 public:
  // Sub-buckets per power of two above kExact: 2^kSubBits.
  static constexpr int kSubBits = 7;
  static constexpr std::uint64_t kExact = std::uint64_t{1} << (kSubBits + 1);  // 256

  Histogram();

  void Record(std::uint64_t value) noexcept { RecordN(value, 1); }
  void RecordN(std::uint64_t value, std::uint64_t count) noexcept;
  void Merge(const Histogram& other) noexcept;
  void Reset() noexcept;

  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
  [[nodiscard]] double mean() const noexcept;
  // The value at percentile p (0 < p <= 100): the smallest recorded bucket whose cumulative
  // count reaches ceil(p / 100 * count), as that bucket's highest value (at most max()). 0 when
  // empty.
  [[nodiscard]] std::uint64_t Percentile(double p) const noexcept;

  // The bucket of a value and the highest value of a bucket (exposed for tests).
  [[nodiscard]] static std::size_t BucketOf(std::uint64_t value) noexcept;
  [[nodiscard]] static std::uint64_t HighestInBucket(std::size_t bucket) noexcept;
  [[nodiscard]] static std::uint64_t LowestInBucket(std::size_t bucket) noexcept;
  [[nodiscard]] static constexpr std::size_t bucket_count() noexcept { return kBuckets; }

 private:
  static constexpr std::uint64_t kHalf = std::uint64_t{1} << kSubBits;  // 128
  // Exact buckets 0..255, then 128 per further power of two up to 2^64.
  static constexpr std::size_t kBuckets = kExact + (64 - (kSubBits + 1)) * kHalf;

  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace sy::bench
