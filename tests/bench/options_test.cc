#include "bench/harness/options.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace sy::bench {
namespace {

boost::system::result<BenchOptions, std::string> Parse(std::vector<std::string_view> args) {
  return ParseOptions(args);
}

TEST(MixTest, ParsesWeightsAndLeavesOthersAtZero) {
  auto mix = ParseMix("purchase=80, refund=5,void=5,reversal=5,preauth=5");
  ASSERT_TRUE(mix) << mix.error();
  EXPECT_EQ(mix->weight[static_cast<int>(TxnKind::kPurchase)], 80u);
  EXPECT_EQ(mix->weight[static_cast<int>(TxnKind::kPreauth)], 5u);
  EXPECT_EQ(mix->total(), 100u);
  auto only = ParseMix("refund=1");
  ASSERT_TRUE(only);
  EXPECT_EQ(only->weight[static_cast<int>(TxnKind::kPurchase)], 0u);
}

TEST(MixTest, ReadsOnePerLineWithComments) {
  auto mix = ParseMix("# a mix\npurchase = 9\n\nreversal=1  # one in ten\n");
  ASSERT_TRUE(mix) << mix.error();
  EXPECT_EQ(mix->total(), 10u);
}

TEST(MixTest, RejectsUnknownKindsDuplicatesAndZeroTotal) {
  EXPECT_NE(ParseMix("purchase=80,topup=20").error().find("unknown kind 'topup'"),
            std::string::npos);
  EXPECT_NE(ParseMix("purchase=1,purchase=2").error().find("twice"), std::string::npos);
  EXPECT_NE(ParseMix("purchase=0").error().find("above 0"), std::string::npos);
  EXPECT_NE(ParseMix("purchase").error().find("kind=weight"), std::string::npos);
  EXPECT_NE(ParseMix("purchase=-1").error().find("whole number"), std::string::npos);
  EXPECT_FALSE(ParseMix(""));
}

TEST(OptionsTest, DefaultsNeedAWayToTrustTheSwitch) {
  auto o = Parse({});
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().find("--ca"), std::string::npos);
  auto plain = Parse({"--plain"});
  ASSERT_TRUE(plain) << plain.error();
  EXPECT_EQ(plain->mode, ConnectionMode::kPersistent);
  EXPECT_EQ(plain->terminals, 1u);
  EXPECT_EQ(plain->state_file, "./bench.state");
  EXPECT_DOUBLE_EQ(plain->pin_share, 1.0);
}

TEST(OptionsTest, ParsesAFullCommandLine) {
  auto o = Parse({"--ca",
                  "ca.pem",
                  "--terminals",
                  "64",
                  "--threads",
                  "2",
                  "--rate",
                  "8000",
                  "--duration",
                  "60",
                  "--warmup",
                  "500ms",
                  "--mix",
                  "purchase=90,reversal=10",
                  "--pin-share",
                  "0.5",
                  "--decline-share",
                  "0.1",
                  "--amount",
                  "100-200",
                  "--switch-pid",
                  "123",
                  "--json",
                  "--terminals-per-connection",
                  "8"});
  ASSERT_TRUE(o) << o.error();
  EXPECT_EQ(o->terminals, 64u);
  EXPECT_EQ(o->threads, 2u);
  EXPECT_DOUBLE_EQ(o->rate, 8000);
  EXPECT_EQ(o->duration, std::chrono::seconds(60));
  EXPECT_EQ(o->warmup, std::chrono::milliseconds(500));
  EXPECT_EQ(o->mode, ConnectionMode::kShared);
  EXPECT_EQ(o->terminals_per_connection, 8u);
  EXPECT_EQ(o->min_amount, 100);
  EXPECT_EQ(o->max_amount, 200);
  EXPECT_EQ(o->switch_pid, 123);
  EXPECT_TRUE(o->json);
}

TEST(OptionsTest, RejectsBadValuesNamingTheOption) {
  struct Case {
    std::vector<std::string_view> args;
    std::string_view expect;
  };
  const Case cases[] = {
      {{"--plain", "--terminals", "0"}, "--terminals"},
      {{"--plain", "--terminals", "ten"}, "--terminals"},
      {{"--plain", "--threads"}, "--threads needs a value"},
      {{"--plain", "--rate", "-5"}, "--rate"},
      {{"--plain", "--duration", "soon"}, "--duration"},
      {{"--plain", "--duration", "5", "--count", "10"}, "give one of them"},
      {{"--plain", "--pin-share", "1.5"}, "--pin-share"},
      {{"--plain", "--amount", "50-10"}, "--amount"},
      {{"--plain", "--port", "70000"}, "--port"},
      {{"--plain", "--mix", "purchase=1,bogus=2"}, "unknown kind"},
      {{"--plain", "--mix", "/nonexistent/mix"}, "cannot read"},
      {{"--plain", "--per-transaction", "--terminals-per-connection", "4"}, "only with"},
      {{"--plain", "--resume"}, "--resume"},
      {{"--insecure", "--resume"}, "only with"},
      {{"--plain", "--idle", "--handshake-only"}, "second connection mode"},
      {{"--plain", "--mode", "sideways"}, "--mode"},
      {{"--plain", "--mode", "shared"}, "--terminals-per-connection"},
      {{"--plain", "--frobnicate"}, "unknown option '--frobnicate'"},
      {{"--plain", "stray"}, "unexpected argument"},
      {{"--plain", "--first-terminal", "99990", "--terminals", "20"}, "at most 99999"},
  };
  for (const auto& c : cases) {
    auto o = Parse(c.args);
    ASSERT_FALSE(o) << c.expect;
    EXPECT_NE(o.error().find(c.expect), std::string::npos) << o.error();
  }
}

TEST(OptionsTest, ReadsTheMixFromAFile) {
  const std::string path = ::testing::TempDir() + "/bench_mix.txt";
  {
    std::ofstream out(path);
    out << "purchase=3\nrefund=1\n";
  }
  auto o = Parse({"--plain", "--mix", path});
  ASSERT_TRUE(o) << o.error();
  EXPECT_EQ(o->mix.total(), 4u);
  std::remove(path.c_str());
}

TEST(OptionsTest, TerminalIdsAndKsnsAreDistinctAndWellFormed) {
  EXPECT_EQ(TerminalId(0), "BEN00001");
  EXPECT_EQ(TerminalId(9999), "BEN10000");
  EXPECT_EQ(TerminalInitialKsn(0), "FFFF9876B00000200000");
  EXPECT_EQ(TerminalInitialKsn(0).size(), 20u);
  EXPECT_NE(TerminalInitialKsn(1), TerminalInitialKsn(2));
}

}  // namespace
}  // namespace sy::bench
