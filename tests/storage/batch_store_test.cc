#include "storage/batch_store.h"

#include <gtest/gtest.h>

#include "tests/storage/store_fixture.h"

namespace sy::storage {
namespace {

using BatchStoreTest = testing::StoreTest;

proto::BatchRecord Batch(std::string_view tid, std::uint32_t n, proto::BatchRecord::Status s) {
  proto::BatchRecord b;
  b.set_tid(std::string(tid));
  b.set_batch_number(n);
  b.set_status(s);
  b.set_currency(978);
  return b;
}

TEST_F(BatchStoreTest, KeepsBatchesPerTerminalInNumberOrderAcrossARestart) {
  {
    BatchStore batches(*store_);
    ASSERT_FALSE(batches.PutBatch(Batch("TERM0001", 300, proto::BatchRecord::BATCH_CLOSED)));
    ASSERT_FALSE(batches.PutBatch(Batch("TERM0001", 2, proto::BatchRecord::BATCH_CLOSED)));
    ASSERT_FALSE(batches.PutBatch(Batch("TERM0002", 1, proto::BatchRecord::BATCH_OPEN)));
    auto b = Batch("TERM0001", 2, proto::BatchRecord::BATCH_RECONCILED);
    b.add_exception_txn_ids(42);
    ASSERT_FALSE(batches.PutBatch(b));  // replaces batch 2
  }
  Reopen();
  BatchStore batches(*store_);
  auto list = batches.ListBatches("TERM0001").value();
  ASSERT_EQ(list.size(), 2U);
  EXPECT_EQ(list[0].batch_number(), 2U);
  EXPECT_EQ(list[0].status(), proto::BatchRecord::BATCH_RECONCILED);
  EXPECT_EQ(list[0].exception_txn_ids(0), 42U);
  EXPECT_EQ(list[1].batch_number(), 300U);
  EXPECT_EQ(batches.GetBatch("TERM0002", 1).value().status(), proto::BatchRecord::BATCH_OPEN);
  EXPECT_EQ(batches.GetBatch("TERM0002", 2).error(), make_error_code(Error::kNotFound));
  EXPECT_EQ(batches.ListBatches("TERM000").value().size(), 0U);  // no prefix leaks
}

TEST_F(BatchStoreTest, ListsSettlementRecordsOfOneBusinessDate) {
  BatchStore batches(*store_);
  for (const char* mid : {"MERCHANT0000002", "MERCHANT0000001"}) {
    proto::SettlementRecord r;
    r.set_mid(mid);
    r.set_business_date("20261127");
    r.set_gross_minor(10000);
    r.set_fees_minor(150);
    r.set_net_minor(9850);
    ASSERT_FALSE(batches.PutSettlement(r));
  }
  proto::SettlementRecord other;
  other.set_mid("MERCHANT0000001");
  other.set_business_date("20261128");
  ASSERT_FALSE(batches.PutSettlement(other));
  auto day = batches.ListSettlements("20261127").value();
  ASSERT_EQ(day.size(), 2U);
  EXPECT_EQ(day[0].mid(), "MERCHANT0000001");
  EXPECT_EQ(day[1].net_minor(), 9850);
  proto::SettlementRecord bad;
  bad.set_mid("M");
  bad.set_business_date("2026");
  EXPECT_EQ(batches.PutSettlement(bad), make_error_code(Error::kInvalidArgument));
}

}  // namespace
}  // namespace sy::storage
