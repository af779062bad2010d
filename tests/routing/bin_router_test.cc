#include "routing/bin_router.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sy::routing {
namespace {

const std::set<std::string> kRoutes = {"visa-net", "on-us"};

// Version `v` of a table: the same two ranges every time, both with brand "v<v>", so a lookup
// tells which version answered it.
BinTable Version(int v) {
  const std::string brand = "v" + std::to_string(v);
  return BinTable::Build({BinEntry{"400000", "409999", brand, false, "visa-net"},
                          BinEntry{"41234500", "41234599", brand, true, "on-us"}},
                         kRoutes)
      .value();
}

int VersionOf(const BinEntry* entry) {
  if (entry == nullptr || entry->brand.size() < 2) {
    return -1;
  }
  int v = -1;
  const std::string_view digits = std::string_view(entry->brand).substr(1);
  std::from_chars(digits.data(), digits.data() + digits.size(), v);
  return v;
}

constexpr std::string_view kPanSix = "4000001234567890";    // the 6-digit range
constexpr std::string_view kPanEight = "4123455000000001";  // the 8-digit range

TEST(BinRouterTest, StartsWithTheEmptyTableByDefault) {
  BinRouter router;
  const auto table = router.Snapshot();
  ASSERT_NE(table, nullptr);
  EXPECT_TRUE(table->empty());
  EXPECT_EQ(table->Lookup(kPanSix), nullptr);
}

TEST(BinRouterTest, ReplaceSwapsTheTableAndReturnsTheDiff) {
  BinRouter router(Version(1));
  EXPECT_EQ(VersionOf(router.Snapshot()->Lookup(kPanSix)), 1);
  const std::vector<std::string> diff = router.Replace(Version(2));
  EXPECT_EQ(diff, (std::vector<std::string>{"changed 400000-409999: brand v1 -> v2",
                                            "changed 41234500-41234599: brand v1 -> v2"}));
  EXPECT_EQ(VersionOf(router.Snapshot()->Lookup(kPanSix)), 2);
  EXPECT_TRUE(router.Replace(Version(2)).empty());
}

TEST(BinRouterTest, ASnapshotKeepsItsTableAliveAcrossReplace) {
  BinRouter router(Version(1));
  const std::shared_ptr<const BinTable> held = router.Snapshot();
  const BinEntry* before = held->Lookup(kPanEight);
  (void)router.Replace(BinTable());
  EXPECT_EQ(router.Snapshot()->Lookup(kPanEight), nullptr);
  // The held table and the entry it returned are still valid (ASan would catch a use after free).
  EXPECT_EQ(VersionOf(before), 1);
  EXPECT_EQ(VersionOf(held->Lookup(kPanEight)), 1);
}

// Readers look up two PANs per "transaction" on one snapshot while a writer replaces the table
// with increasing versions. Every transaction must be routed (nothing dropped), both lookups
// must come from the same version (nothing mixed), and no reader may see versions go backwards.
TEST(BinRouterTest, ConcurrentReadersNeverMissOrMixVersionsWhileTheTableIsReplaced) {
  constexpr int kReaders = 3;
  constexpr int kSwaps = 300;
  constexpr long kMinTransactions = 2000;     // per reader, even if the writer finishes first
  constexpr long kMaxTransactions = 5000000;  // per reader: the loop is bounded whatever happens
  BinRouter router(Version(0));
  std::vector<BinTable> versions;  // built up front so the writer only swaps
  for (int v = 1; v <= kSwaps; ++v) {
    versions.push_back(Version(v));
  }

  std::latch start(kReaders + 1);
  std::atomic<bool> writer_done{false};
  std::atomic<long> dropped{0};
  std::atomic<long> mixed{0};
  std::atomic<long> backwards{0};
  std::atomic<long> transactions{0};
  std::atomic<int> bad_diffs{0};

  std::vector<std::thread> readers;
  readers.reserve(kReaders);
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      start.arrive_and_wait();
      int last = 0;
      long n = 0;
      for (; n < kMaxTransactions; ++n) {
        if (n >= kMinTransactions && writer_done.load(std::memory_order_acquire)) {
          break;
        }
        const std::shared_ptr<const BinTable> table = router.Snapshot();
        const int a = VersionOf(table->Lookup(kPanSix));
        const int b = VersionOf(table->Lookup(kPanEight));
        if (a < 0 || b < 0) {
          dropped.fetch_add(1, std::memory_order_relaxed);
        } else if (a != b) {
          mixed.fetch_add(1, std::memory_order_relaxed);
        } else if (a < last) {
          backwards.fetch_add(1, std::memory_order_relaxed);
        }
        last = std::max(last, a);
      }
      transactions.fetch_add(n, std::memory_order_relaxed);
    });
  }
  std::thread writer([&] {
    start.arrive_and_wait();
    for (int v = 1; v <= kSwaps; ++v) {
      if (router.Replace(std::move(versions[static_cast<std::size_t>(v - 1)])).size() != 2) {
        bad_diffs.fetch_add(1, std::memory_order_relaxed);
      }
    }
    writer_done.store(true, std::memory_order_release);
  });
  writer.join();
  for (std::thread& t : readers) {
    t.join();
  }

  EXPECT_EQ(dropped.load(), 0);
  EXPECT_EQ(mixed.load(), 0);
  EXPECT_EQ(backwards.load(), 0);
  EXPECT_EQ(bad_diffs.load(), 0);
  EXPECT_GE(transactions.load(), kReaders * kMinTransactions);
  EXPECT_EQ(VersionOf(router.Snapshot()->Lookup(kPanSix)), kSwaps);
}

// Two writers replace concurrently. Each diff must be against the table its Replace actually
// replaced, so the diffs chain: every version is replaced exactly once, starting from 0.
TEST(BinRouterTest, ConcurrentReplacesEachDiffAgainstTheTableTheyReplaced) {
  constexpr int kPerWriter = 150;
  BinRouter router(Version(0));
  std::latch start(2);
  std::mutex mu;
  std::map<int, int> next_of;  // "changed ...: brand vA -> vB" gives A -> B
  int duplicate_from = 0;
  int malformed = 0;
  auto writer = [&](int first) {
    std::vector<BinTable> mine;
    mine.reserve(kPerWriter);
    for (int i = 0; i < kPerWriter; ++i) {
      mine.push_back(Version(first + i));
    }
    start.arrive_and_wait();
    for (BinTable& t : mine) {
      const std::vector<std::string> diff = router.Replace(std::move(t));
      std::lock_guard<std::mutex> lock(mu);
      int from = -1;
      int to = -1;
      if (diff.size() != 2 ||
          std::sscanf(diff[0].c_str(), "changed 400000-409999: brand v%d -> v%d", &from, &to) !=
              2) {
        ++malformed;
        continue;
      }
      if (!next_of.emplace(from, to).second) {
        ++duplicate_from;
      }
    }
  };
  std::thread w1(writer, 1);
  std::thread w2(writer, 1001);
  w1.join();
  w2.join();

  EXPECT_EQ(malformed, 0);
  EXPECT_EQ(duplicate_from, 0);
  ASSERT_EQ(next_of.size(), 2u * kPerWriter);
  // Follow the chain from version 0: it must visit every replacement and end at the current one.
  int v = 0;
  std::size_t steps = 0;
  for (auto it = next_of.find(v); it != next_of.end() && steps <= next_of.size();
       it = next_of.find(v)) {
    v = it->second;
    ++steps;
  }
  EXPECT_EQ(steps, next_of.size());
  EXPECT_EQ(VersionOf(router.Snapshot()->Lookup(kPanSix)), v);
}

}  // namespace
}  // namespace sy::routing
