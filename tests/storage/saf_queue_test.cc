#include "storage/saf_queue.h"

#include <gtest/gtest.h>

#include "tests/storage/store_fixture.h"

namespace sy::storage {
namespace {

using SafQueueTest = testing::StoreTest;

proto::SafEntry Reversal(std::string_view destination, std::uint64_t txn) {
  proto::SafEntry e;
  e.set_destination(std::string(destination));
  e.set_message_type("0420");
  e.set_txn_id(txn);
  e.set_reason_code("68");
  return e;
}

TEST_F(SafQueueTest, DeliversInOrderPerDestinationUntilAcknowledged) {
  SafQueue saf(*store_);
  ASSERT_TRUE(saf.Enqueue(Reversal("visa", 1)).has_value());
  ASSERT_TRUE(saf.Enqueue(Reversal("mc", 2)).has_value());
  ASSERT_TRUE(saf.Enqueue(Reversal("visa", 3)).has_value());
  auto head = saf.Head("visa").value();
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->txn_id(), 1U);
  // Until the head is acknowledged, it stays the head: order per issuer holds.
  EXPECT_EQ(saf.Head("visa").value()->txn_id(), 1U);
  ASSERT_FALSE(saf.Acknowledge(*head));
  EXPECT_EQ(saf.Head("visa").value()->txn_id(), 3U);
  EXPECT_EQ(saf.Head("mc").value()->txn_id(), 2U);
  EXPECT_FALSE(saf.Head("amex").value().has_value());
  EXPECT_EQ(saf.Destinations().value(), (std::vector<std::string>{"mc", "visa"}));
}

TEST_F(SafQueueTest, CountsAttemptsDurablySoARestartSendsARepeat) {
  {
    SafQueue saf(*store_);
    ASSERT_TRUE(saf.Enqueue(Reversal("visa", 1)).has_value());
    auto head = saf.Head("visa").value();
    ASSERT_FALSE(saf.RecordAttempt(*head, 5'000'000));
  }
  Reopen();
  SafQueue saf(*store_);
  auto head = saf.Head("visa").value();
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->attempts(), 1U);  // the next send is a 0421
  EXPECT_EQ(head->next_attempt_micros(), 5'000'000);
}

TEST_F(SafQueueTest, NeverReusesASequenceNumberAfterARestart) {
  std::uint64_t last = 0;
  {
    SafQueue saf(*store_);
    for (int i = 0; i < 3; ++i) {
      last = saf.Enqueue(Reversal("visa", static_cast<std::uint64_t>(i))).value();
    }
    auto all = saf.List().value();
    for (const auto& e : all) {
      ASSERT_FALSE(saf.Acknowledge(e));
    }
  }
  Reopen();
  SafQueue saf(*store_);
  EXPECT_GT(saf.Enqueue(Reversal("visa", 9)).value(), last);
}

TEST_F(SafQueueTest, RejectsAnEmptyDestination) {
  SafQueue saf(*store_);
  EXPECT_EQ(saf.Enqueue(Reversal("", 1)).error(), make_error_code(Error::kInvalidArgument));
}

}  // namespace
}  // namespace sy::storage
