#include "storage/store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "tests/storage/store_fixture.h"

namespace sy::storage {
namespace {

using StoreTest = testing::StoreTest;

TEST(StorageErrorTest, EveryEnumeratorHasItsOwnMessage) {
  std::set<std::string> messages;
  for (int ev = static_cast<int>(kFirstError); ev <= static_cast<int>(kLastError); ++ev) {
    const auto ec = make_error_code(static_cast<Error>(ev));
    EXPECT_STREQ(ec.category().name(), "sy.storage");
    EXPECT_TRUE(messages.insert(ec.message()).second) << ec.message();
    EXPECT_EQ(ec.message().find("unknown"), std::string::npos);
  }
}

TEST(EncodeU64Test, SortsNumerically) {
  EXPECT_LT(EncodeU64(255), EncodeU64(256));
  EXPECT_LT(EncodeU64(1), EncodeU64(1ULL << 40));
  EXPECT_EQ(DecodeU64(EncodeU64(0x0102030405060708ULL)), 0x0102030405060708ULL);
}

TEST_F(StoreTest, WritesAreReadableAndSurviveAReopen) {
  ASSERT_FALSE(store_->Write({{Cf::kMeta, "a", "1"}, {Cf::kSaf, "b", "2"}}));
  Reopen();
  EXPECT_EQ(store_->Get(Cf::kMeta, "a").value(), "1");
  EXPECT_EQ(store_->Get(Cf::kSaf, "b").value(), "2");
  EXPECT_EQ(store_->Get(Cf::kSaf, "a").error(), make_error_code(Error::kNotFound));
  ASSERT_FALSE(store_->Write({{Cf::kMeta, "a", {}, true}}));
  EXPECT_EQ(store_->Get(Cf::kMeta, "a").error(), make_error_code(Error::kNotFound));
  EXPECT_FALSE(store_->VerifyChecksums());
}

TEST_F(StoreTest, ScansAPrefixInKeyOrderAndStopsWhenAsked) {
  ASSERT_FALSE(store_->Write({{Cf::kMeta, "p2", "b"},
                              {Cf::kMeta, "p1", "a"},
                              {Cf::kMeta, "q", "x"},
                              {Cf::kMeta, "p3", "c"}}));
  std::string seen;
  ASSERT_FALSE(store_->Scan(Cf::kMeta, "p", [&](std::string_view, std::string_view v) {
    seen += v;
    return seen.size() < 2;
  }));
  EXPECT_EQ(seen, "ab");
  EXPECT_EQ(store_->LastKey(Cf::kMeta).value(), "q");
  EXPECT_EQ(store_->LastKey(Cf::kAudit).value(), "");
}

// The memtable's insert hints (store.cc) group keys by prefix and expect them in order; keys that
// arrive out of order, interleaved across groups, or with no group must still be stored in key
// order.
TEST_F(StoreTest, KeysOutOfOrderWithinAnInsertHintGroupStayInKeyOrder) {
  std::vector<std::string> expected;
  std::vector<std::string> rrns;  // "R" keys: one group, here out of order
  for (const char* tid : {"TERM0002", "TERM0001"}) {
    for (int id : {9, 3, 7, 1, 8, 2}) {
      const std::string key = std::string("B") + tid + '\0' + "0001" + '\0' + EncodeU64(id);
      ASSERT_FALSE(store_->Write(
          {{Cf::kJournalIndex, key, ""},
           {Cf::kJournal, EncodeU64(100 - id), tid},
           {Cf::kMeta, std::string("dup/20261127/") + tid + "/" + std::to_string(id), "x"},
           {Cf::kJournalIndex, "R" + std::to_string(id) + tid, ""}}));
      expected.push_back(key);
      rrns.push_back("R" + std::to_string(id) + tid);
    }
  }
  std::sort(expected.begin(), expected.end());
  std::sort(rrns.begin(), rrns.end());
  for (int round = 0; round < 2; ++round) {  // as written, then as recovered after a reopen
    std::vector<std::string> seen;
    ASSERT_FALSE(store_->Scan(Cf::kJournalIndex, "B", [&](std::string_view k, std::string_view) {
      seen.emplace_back(k);
      return true;
    }));
    EXPECT_EQ(seen, expected);
    seen.clear();
    ASSERT_FALSE(store_->Scan(Cf::kJournalIndex, "R", [&](std::string_view k, std::string_view) {
      seen.emplace_back(k);
      return true;
    }));
    EXPECT_EQ(seen, rrns);
    std::string previous;
    int journal = 0;
    ASSERT_FALSE(store_->Scan(Cf::kJournal, "", [&](std::string_view k, std::string_view) {
      EXPECT_LT(previous, std::string(k));
      previous = std::string(k);
      ++journal;
      return true;
    }));
    EXPECT_EQ(journal, 6);  // the second terminal's ids overwrote the first's
    int dups = 0;
    ASSERT_FALSE(store_->Scan(Cf::kMeta, "dup/20261127/TERM0001/",
                              [&](std::string_view, std::string_view) { return ++dups > 0; }));
    EXPECT_EQ(dups, 6);
    Reopen();
  }
}

TEST_F(StoreTest, GroupsConcurrentWritesIntoFewerSyncs) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (store_->Write({{Cf::kMeta, std::to_string(t) + "/" + std::to_string(i), "v"}})) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(failures.load(), 0);
  const WriterStats stats = store_->writer_stats();
  EXPECT_EQ(stats.writes, static_cast<std::uint64_t>(kThreads * kPerThread));
  // With 8 writers waiting on each sync, groups must form; one sync per write would be 400.
  EXPECT_LT(stats.groups, stats.writes);
  EXPECT_GT(stats.max_group, 1U);
  int count = 0;
  ASSERT_FALSE(store_->Scan(Cf::kMeta, "", [&](std::string_view, std::string_view) {
    ++count;
    return true;
  }));
  EXPECT_EQ(count, kThreads * kPerThread);
}

TEST_F(StoreTest, AReaderOpensBesideTheWriterAndSeesItsWrites) {
  ASSERT_FALSE(store_->Write({{Cf::kMeta, "before", "1"}}));
  std::string why;
  auto reader = Store::Open({.path = dir_.string(), .read_only = true}, &why);
  ASSERT_TRUE(reader.has_value()) << why;
  EXPECT_EQ((*reader)->Get(Cf::kMeta, "before").value(), "1");
  EXPECT_EQ((*reader)->Write({{Cf::kMeta, "k", "v"}}), make_error_code(Error::kClosed));
}

TEST_F(StoreTest, RefusesWritesAfterClose) {
  store_->Close();
  EXPECT_EQ(store_->Write({{Cf::kMeta, "k", "v"}}), make_error_code(Error::kClosed));
}

TEST(StoreOpenTest, NamesTheDirectoryItCannotOpen) {
  std::string why;
  auto s = Store::Open({.path = "/proc/sy-cannot-create-here"}, &why);
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(why.find("/proc/sy-cannot-create-here"), std::string::npos);
}

}  // namespace
}  // namespace sy::storage
