#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <sstream>

#include "cli/commands.h"
#include "crypto/pan_protector.h"
#include "storage/journal.h"
#include "storage/saf_queue.h"

namespace sy::cli {
namespace {

class JournalCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / ("sy-cli-journal-" + std::to_string(rd()));
    auto store = storage::Store::Open({.path = (dir_ / "store").string()}).value();
    auto key = crypto::SecretBytes(32);
    auto pans = crypto::PanProtector::Create("data-test", key).value();
    storage::Journal journal(*store, &pans);
    proto::TransactionRecord r;
    r.set_tid("TERM0001");
    r.set_stan("000123");
    r.set_transmission_time("1127093001");
    r.set_rrn("633109000123");
    r.set_mti("0200");
    r.set_amount_minor(1000);
    r.set_currency(978);
    r.set_business_date("20261127");
    r.set_state(proto::TXN_FORWARDED);
    ASSERT_FALSE(journal.AppendSync(r, "4761739001010010"));
    storage::SafQueue saf(*store);
    proto::SafEntry e;
    e.set_destination("visa");
    e.set_message_type("0420");
    e.set_txn_id(r.id());
    e.set_reason_code("68");
    ASSERT_TRUE(saf.Enqueue(e).has_value());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  struct Outcome {
    int status;
    std::string out, err;
  };
  Outcome Run(std::vector<std::string_view> args) {
    args.push_back("--data");
    const std::string data = dir_.string();
    args.push_back(data);
    std::istringstream in;
    std::ostringstream out, err;
    Io io{in, out, err};
    const int status = RunJournal(args, io);
    return {status, out.str(), err.str()};
  }
  std::filesystem::path dir_;
};

TEST_F(JournalCommandTest, ShowsATransactionByRrnAndByTidStanWithThePanMasked) {
  auto by_rrn = Run({"show", "--rrn", "633109000123"});
  ASSERT_EQ(by_rrn.status, kExitOk) << by_rrn.err;
  EXPECT_NE(by_rrn.out.find("476173******0010"), std::string::npos);
  EXPECT_EQ(by_rrn.out.find("4761739001010010"), std::string::npos);
  auto by_stan = Run({"show", "--tid", "TERM0001", "--stan", "000123", "--json"});
  ASSERT_EQ(by_stan.status, kExitOk) << by_stan.err;
  EXPECT_NE(by_stan.out.find("\"rrn\":\"633109000123\""), std::string::npos) << by_stan.out;
  EXPECT_EQ(by_stan.out.find("ciphertext"), std::string::npos);
  auto missing = Run({"show", "--rrn", "999999999999"});
  EXPECT_EQ(missing.status, kExitFailure);
  EXPECT_NE(missing.err.find("no such record"), std::string::npos);
}

TEST_F(JournalCommandTest, ListsInFlightAndSafAndVerifies) {
  auto inflight = Run({"inflight"});
  ASSERT_EQ(inflight.status, kExitOk);
  EXPECT_NE(inflight.out.find("1 in flight"), std::string::npos);
  auto saf = Run({"saf"});
  ASSERT_EQ(saf.status, kExitOk);
  EXPECT_NE(saf.out.find("visa #1  0420"), std::string::npos) << saf.out;
  auto verify = Run({"verify"});
  ASSERT_EQ(verify.status, kExitOk) << verify.err;
  EXPECT_NE(verify.out.find("ok: 1 records"), std::string::npos);
}

TEST_F(JournalCommandTest, RejectsBadCommandLines) {
  EXPECT_EQ(Run({"show"}).status, kExitUsage);
  EXPECT_EQ(Run({"prune", "--before", "2026"}).status, kExitUsage);
  EXPECT_EQ(Run({"launch"}).status, kExitUsage);
  std::istringstream in;
  std::ostringstream out, err;
  Io io{in, out, err};
  const std::vector<std::string_view> no_data = {"verify"};
  EXPECT_EQ(RunJournal(no_data, io), kExitUsage);
}

}  // namespace
}  // namespace sy::cli
