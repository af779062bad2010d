#include "bench/harness/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace sy::bench {
namespace {

TEST(HistogramTest, EmptyReportsZero) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.Percentile(99), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
}

TEST(HistogramTest, SmallValuesAreExact) {
  Histogram h;
  for (std::uint64_t v = 0; v < 256; ++v) {
    h.Record(v);
  }
  EXPECT_EQ(h.Percentile(50), 127u);
  EXPECT_EQ(h.Percentile(100), 255u);
  EXPECT_EQ(h.min(), 0u);
}

TEST(HistogramTest, BucketsCoverEveryValueWithBoundedWidth) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; ++i) {
    const std::uint64_t v = rng() >> (rng() % 64);
    const std::size_t b = Histogram::BucketOf(v);
    ASSERT_LT(b, Histogram::bucket_count());
    ASSERT_LE(Histogram::LowestInBucket(b), v);
    ASSERT_GE(Histogram::HighestInBucket(b), v);
    const double width =
        static_cast<double>(Histogram::HighestInBucket(b) - Histogram::LowestInBucket(b));
    ASSERT_LE(width, static_cast<double>(Histogram::LowestInBucket(b)) / 128.0 + 1e-9) << v;
  }
  EXPECT_EQ(Histogram::BucketOf(UINT64_MAX), Histogram::bucket_count() - 1);
  EXPECT_EQ(Histogram::HighestInBucket(Histogram::bucket_count() - 1), UINT64_MAX);
  // Adjacent buckets meet without gaps.
  for (std::size_t b = 0; b + 1 < Histogram::bucket_count(); ++b) {
    ASSERT_EQ(Histogram::HighestInBucket(b) + 1, Histogram::LowestInBucket(b + 1)) << b;
  }
}

TEST(HistogramTest, PercentilesOfALogNormalAreWithinOnePercent) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> latency(std::log(2e6), 0.8);  // ~2 ms, long tail
  Histogram h;
  std::vector<std::uint64_t> exact;
  for (int i = 0; i < 200000; ++i) {
    const auto v = static_cast<std::uint64_t>(latency(rng));
    h.Record(v);
    exact.push_back(v);
  }
  std::sort(exact.begin(), exact.end());
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * exact.size()));
    const double truth = static_cast<double>(exact[std::max<std::size_t>(rank, 1) - 1]);
    const double got = static_cast<double>(h.Percentile(p));
    EXPECT_GE(got, truth) << "p" << p;
    EXPECT_LE((got - truth) / truth, 0.01) << "p" << p;
  }
  EXPECT_EQ(h.max(), exact.back());
  EXPECT_EQ(h.min(), exact.front());
  EXPECT_EQ(h.count(), exact.size());
}

TEST(HistogramTest, MergeEqualsRecordingEverything) {
  Histogram a;
  Histogram b;
  Histogram all;
  for (std::uint64_t v = 1; v < 100000; v += 7) {
    (v % 2 == 0 ? a : b).Record(v * 1000);
    all.Record(v * 1000);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  for (double p : {10.0, 50.0, 99.0, 99.9}) {
    EXPECT_EQ(a.Percentile(p), all.Percentile(p));
  }
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
  a.Reset();
  EXPECT_EQ(a.count(), 0u);
}

}  // namespace
}  // namespace sy::bench
