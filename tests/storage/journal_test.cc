#include "storage/journal.h"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "tests/storage/store_fixture.h"

namespace sy::storage {
namespace {

constexpr std::string_view kPan = "4761739001010010";

proto::TransactionRecord Purchase(std::string_view stan, proto::TxnState state) {
  proto::TransactionRecord r;
  r.set_tid("TERM0001");
  r.set_mid("MERCHANT0000001");
  r.set_mti("0200");
  r.set_processing_code("000000");
  r.set_stan(std::string(stan));
  r.set_transmission_time("1127093001");
  r.set_amount_minor(1000);
  r.set_currency(978);
  r.set_business_date("20261127");
  r.set_state(state);
  return r;
}

class JournalTest : public testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    journal_ = std::make_unique<Journal>(*store_, pans_.get());
  }
  void TearDown() override {
    journal_.reset();
    StoreTest::TearDown();
  }
  void Restart() {
    journal_.reset();
    Reopen();
    journal_ = std::make_unique<Journal>(*store_, pans_.get());
  }
  std::unique_ptr<Journal> journal_;
};

TEST_F(JournalTest, AssignsIncreasingIdsThatSurviveARestart) {
  auto a = Purchase("000001", proto::TXN_ANSWERED);
  auto b = Purchase("000002", proto::TXN_ANSWERED);
  ASSERT_FALSE(journal_->AppendSync(a, kPan));
  ASSERT_FALSE(journal_->AppendSync(b, kPan));
  EXPECT_EQ(a.id() + 1, b.id());
  Restart();
  auto c = Purchase("000003", proto::TXN_ANSWERED);
  ASSERT_FALSE(journal_->AppendSync(c, kPan));
  EXPECT_GT(c.id(), b.id());
  EXPECT_EQ(journal_->Get(b.id()).value().stan(), "000002");
}

TEST_F(JournalTest, FindsByTerminalStanAndTransmissionTime) {
  auto r = Purchase("000123", proto::TXN_ANSWERED);
  ASSERT_FALSE(journal_->AppendSync(r, kPan));
  auto found = journal_->FindByStan("TERM0001", "000123", "1127093001");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id(), r.id());
  EXPECT_EQ(journal_->FindByStan("TERM0001", "000123", "1127093002").error(),
            make_error_code(Error::kNotFound));
  auto again = Purchase("000123", proto::TXN_ANSWERED);
  again.set_transmission_time("1128093001");
  ASSERT_FALSE(journal_->AppendSync(again, kPan));
  EXPECT_EQ(journal_->ListByStan("TERM0001", "000123").value().size(), 2U);
  EXPECT_EQ(journal_->ListByStan("TERM0001", "00012").value().size(), 0U);
}

TEST_F(JournalTest, FindsByRrnTheLatestBusinessDate) {
  auto old_day = Purchase("000001", proto::TXN_ANSWERED);
  old_day.set_rrn("633109000001");
  old_day.set_business_date("20261126");
  auto today = Purchase("000002", proto::TXN_ANSWERED);
  today.set_rrn("633109000001");
  ASSERT_FALSE(journal_->AppendSync(old_day, kPan));
  ASSERT_FALSE(journal_->AppendSync(today, kPan));
  EXPECT_EQ(journal_->FindByRrn("633109000001").value().id(), today.id());
  EXPECT_EQ(journal_->FindByRrn("633109000009").error(), make_error_code(Error::kNotFound));
}

TEST_F(JournalTest, ListsByMerchantDateAndByTerminalBatch) {
  for (int i = 1; i <= 3; ++i) {
    auto r = Purchase("00000" + std::to_string(i), proto::TXN_ANSWERED);
    ASSERT_FALSE(journal_->AppendSync(r, kPan));
  }
  auto other = Purchase("000009", proto::TXN_ANSWERED);
  other.set_mid("MERCHANT0000002");
  other.set_tid("TERM0002");
  ASSERT_FALSE(journal_->AppendSync(other, kPan));
  EXPECT_EQ(journal_->ListByMerchantDate("MERCHANT0000001", "20261127").value().size(), 3U);
  EXPECT_EQ(journal_->ListByMerchantDate("MERCHANT0000001", "20261128").value().size(), 0U);
  auto open = journal_->ListByTerminalBatch("TERM0001", 0).value();
  ASSERT_EQ(open.size(), 3U);

  // Closing the batch moves the records from the open batch (0) to batch 7.
  for (auto r : open) {
    r.set_batch_number(7);
    r.set_state(proto::TXN_BATCHED);
    ASSERT_FALSE(journal_->AppendSync(r, {}));
  }
  EXPECT_EQ(journal_->ListByTerminalBatch("TERM0001", 0).value().size(), 0U);
  EXPECT_EQ(journal_->ListByTerminalBatch("TERM0001", 7).value().size(), 3U);
  std::string problem;
  EXPECT_EQ(journal_->Verify(&problem).value(), 4U) << problem;
}

TEST_F(JournalTest, StoresThePanOnlySealed) {
  auto r = Purchase("000001", proto::TXN_ANSWERED);
  ASSERT_FALSE(journal_->AppendSync(r, kPan));
  const auto stored = journal_->Get(r.id()).value();
  EXPECT_EQ(stored.pan().masked(), "476173******0010");
  EXPECT_EQ(stored.pan().key_id(), "data-test");
  EXPECT_EQ(stored.pan().lookup_hash(), pans_->LookupHash(kPan));
  EXPECT_EQ(journal_->RevealPan(stored).value(), kPan);
  // No family of the store holds the clear PAN anywhere.
  for (int cf = 0; cf < static_cast<int>(Cf::kCount); ++cf) {
    ASSERT_FALSE(store_->Scan(static_cast<Cf>(cf), "", [&](std::string_view k, std::string_view v) {
      EXPECT_EQ(k.find(kPan), std::string_view::npos);
      EXPECT_EQ(v.find(kPan), std::string_view::npos);
      return true;
    }));
  }
}

TEST_F(JournalTest, ReadsWithoutADataKeyButNeverSealsOrRevealsWithoutOne) {
  auto r = Purchase("000001", proto::TXN_ANSWERED);
  ASSERT_FALSE(journal_->AppendSync(r, kPan));
  Journal reader(*store_, nullptr);
  auto stored = reader.Get(r.id());
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->pan().masked(), "476173******0010");
  EXPECT_EQ(reader.RevealPan(*stored).error(), make_error_code(Error::kPanProtection));
  auto other = Purchase("000002", proto::TXN_ANSWERED);
  EXPECT_EQ(reader.AppendSync(other, kPan), make_error_code(Error::kPanProtection));
}

TEST_F(JournalTest, RejectsAMalformedPanWithoutWriting) {
  auto r = Purchase("000001", proto::TXN_ANSWERED);
  EXPECT_EQ(journal_->AppendSync(r, "4761-7390"), make_error_code(Error::kPanProtection));
  EXPECT_EQ(journal_->Get(r.id()).error(), make_error_code(Error::kNotFound));
}

TEST_F(JournalTest, ListsForwardedTransactionsWithoutOutcomeAfterARestart) {
  auto answered = Purchase("000001", proto::TXN_FORWARDED);
  auto lost = Purchase("000002", proto::TXN_FORWARDED);
  ASSERT_FALSE(journal_->AppendSync(answered, kPan));
  ASSERT_FALSE(journal_->AppendSync(lost, kPan));
  answered.set_state(proto::TXN_ANSWERED);
  answered.set_response_code("00");
  ASSERT_FALSE(journal_->AppendSync(answered, {}));
  Restart();
  auto in_flight = journal_->InFlight().value();
  ASSERT_EQ(in_flight.size(), 1U);
  EXPECT_EQ(in_flight[0].id(), lost.id());
  // The outcome-less update kept the sealed PAN of the first append.
  EXPECT_EQ(journal_->RevealPan(journal_->Get(answered.id()).value()).value(), kPan);
}

TEST_F(JournalTest, PrunesOldFinishedRecordsButKeepsInFlightOnes) {
  auto old_done = Purchase("000001", proto::TXN_ANSWERED);
  old_done.set_business_date("20260101");
  old_done.set_rrn("600100000001");
  auto old_in_flight = Purchase("000002", proto::TXN_FORWARDED);
  old_in_flight.set_business_date("20260101");
  auto recent = Purchase("000003", proto::TXN_ANSWERED);
  for (auto* r : {&old_done, &old_in_flight, &recent}) {
    ASSERT_FALSE(journal_->AppendSync(*r, kPan));
  }
  EXPECT_EQ(journal_->Prune("20261001").value(), 1U);
  EXPECT_EQ(journal_->Get(old_done.id()).error(), make_error_code(Error::kNotFound));
  EXPECT_EQ(journal_->FindByRrn("600100000001").error(), make_error_code(Error::kNotFound));
  EXPECT_TRUE(journal_->Get(old_in_flight.id()).has_value());
  EXPECT_TRUE(journal_->Get(recent.id()).has_value());
  std::string problem;
  EXPECT_EQ(journal_->Verify(&problem).value(), 2U) << problem;
}

TEST_F(JournalTest, VerifyFindsAMissingIndexEntry) {
  auto r = Purchase("000001", proto::TXN_ANSWERED);
  ASSERT_FALSE(journal_->AppendSync(r, kPan));
  ASSERT_FALSE(store_->Write(
      {{Cf::kJournalIndex,
        "STERM0001" + std::string(1, '\0') + "000001" + std::string(1, '\0') + "1127093001",
        {},
        true}}));
  std::string problem;
  auto v = journal_->Verify(&problem);
  ASSERT_FALSE(v.has_value());
  EXPECT_NE(problem.find("missing an index entry"), std::string::npos) << problem;
}

TEST_F(JournalTest, AppendsFromACoroutineWithoutBlockingItsThread) {
  boost::asio::io_context io;
  int done = 0;
  for (int i = 0; i < 16; ++i) {
    boost::asio::co_spawn(
        io,
        [&, i]() -> boost::asio::awaitable<void> {
          auto r = Purchase("1000" + std::to_string(10 + i), proto::TXN_ANSWERED);
          auto [ec, id] =
              co_await journal_->Append(r, kPan, boost::asio::as_tuple(boost::asio::use_awaitable));
          EXPECT_FALSE(ec);
          EXPECT_GT(id, 0U);
          EXPECT_EQ(journal_->Get(id).value().stan(), r.stan());
          ++done;
        },
        boost::asio::detached);
  }
  io.run();  // returns only once every append completed: pending writes keep it alive
  EXPECT_EQ(done, 16);
}

}  // namespace
}  // namespace sy::storage

namespace sy::storage {
namespace {

TEST_F(JournalTest, AnUpdateWithItsPreviousVersionWritesOnlyWhatChanged) {
  proto::TransactionRecord rec = Purchase("000300", proto::TXN_FORWARDED);
  rec.set_id(journal_->ReserveId());
  rec.set_rrn("633100000300");
  auto first = journal_->Prepare(rec, kPan, nullptr, /*is_new=*/true);
  ASSERT_TRUE(first);
  ASSERT_FALSE(store_->Write(std::move(*first)));
  const proto::TransactionRecord forwarded = rec;  // with its sealed PAN
  rec.set_state(proto::TXN_ANSWERED);
  rec.set_response_code("00");
  auto second = journal_->Prepare(rec, {}, &forwarded);
  ASSERT_TRUE(second);
  // The record itself and the cleared in-flight mark; the index keys are unchanged.
  ASSERT_EQ(second->size(), 2U);
  ASSERT_FALSE(store_->Write(std::move(*second)));
  EXPECT_TRUE(journal_->InFlight()->empty());
  EXPECT_EQ(journal_->FindByRrn("633100000300")->response_code(), "00");
  EXPECT_EQ(journal_->RevealPan(*journal_->Get(rec.id())).value(), kPan);
  // A changed index key (the batch) is moved; Verify finds every index entry consistent.
  const proto::TransactionRecord answered = rec;
  rec.set_batch_number(7);
  auto third = journal_->Prepare(rec, {}, &answered);
  ASSERT_TRUE(third);
  ASSERT_FALSE(store_->Write(std::move(*third)));
  EXPECT_EQ(journal_->ListByTerminalBatch("TERM0001", 7)->size(), 1U);
  EXPECT_TRUE(journal_->ListByTerminalBatch("TERM0001", 0)->empty());
  std::string problem;
  EXPECT_TRUE(journal_->Verify(&problem)) << problem;
}

}  // namespace
}  // namespace sy::storage
