#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace sy::cli {
namespace {

struct Outcome {
  int status;
  std::string out;
  std::string err;
};

Outcome Iso8583(std::vector<std::string_view> args, const std::string& stdin_text = "") {
  std::istringstream in(stdin_text);
  std::ostringstream out;
  std::ostringstream err;
  Io io{in, out, err};
  const int status = RunIso8583(args, io);
  return {status, out.str(), err.str()};
}

// An iso87b 0200 with PAN, processing code, amount, STAN, terminal id and a PIN block.
constexpr std::string_view kPurchase =
    "0200"
    "7020000000801000"
    "16"
    "4761739001010010"
    "000000"
    "000000001000"
    "000123"
    "5445524D30303031"
    "0123456789ABCDEF";

TEST(Iso8583CommandTest, DecodesToCorpusShapedJsonWithCardDataMasked) {
  const Outcome r = Iso8583({"decode", "--dialect", "iso87b", "--hex", kPurchase, "--json"});
  ASSERT_EQ(r.status, kExitOk) << r.err;
  EXPECT_EQ(r.out, R"({"0":"0200","2":"476173******0010","3":"000000","4":"000000001000",)"
                   R"("11":"000123","41":"TERM0001","52":{"bin":"****************"}})"
                   "\n");
  EXPECT_EQ(r.out.find("4761739001010010"), std::string::npos);
  EXPECT_TRUE(r.err.empty());
}

TEST(Iso8583CommandTest, UnmaskWarnsOnStderr) {
  const Outcome r =
      Iso8583({"decode", "--dialect", "iso87b", "--hex", kPurchase, "--json", "--unmask"});
  ASSERT_EQ(r.status, kExitOk);
  EXPECT_NE(r.out.find("\"2\":\"4761739001010010\""), std::string::npos);
  EXPECT_NE(r.out.find("0123456789ABCDEF"), std::string::npos);
  EXPECT_NE(r.err.find("clear card data"), std::string::npos);
}

TEST(Iso8583CommandTest, PrintsReadableTextByDefault) {
  const Outcome r = Iso8583({"decode", "--dialect", "iso87b"}, std::string(kPurchase) + "\n");
  ASSERT_EQ(r.status, kExitOk) << r.err;
  EXPECT_NE(r.out.find("MTI 0200"), std::string::npos);
  EXPECT_NE(r.out.find("'476173******0010'"), std::string::npos);
  EXPECT_NE(r.out.find("Card acceptor terminal identification"), std::string::npos);
}

TEST(Iso8583CommandTest, EncodesJsonBackToTheSameHex) {
  const Outcome dec =
      Iso8583({"decode", "--dialect", "iso87b", "--hex", kPurchase, "--json", "--unmask"});
  ASSERT_EQ(dec.status, kExitOk);
  const Outcome enc = Iso8583({"encode", "--dialect", "iso87b"}, dec.out);
  ASSERT_EQ(enc.status, kExitOk) << enc.err;
  EXPECT_EQ(enc.out, std::string(kPurchase) + "\n");
}

TEST(Iso8583CommandTest, NamesTheFieldThatFailsToDecode) {
  const Outcome r =
      Iso8583({"decode", "--dialect", "iso87b", "--hex", "0200200000000000000000A000"});
  EXPECT_EQ(r.status, kExitFailure);
  EXPECT_NE(r.err.find("field 3 at byte 10"), std::string::npos) << r.err;
}

TEST(Iso8583CommandTest, NamesTheFieldThatFailsToEncode) {
  const Outcome r = Iso8583({"encode", "--dialect", "iso87b"}, R"({"0":"0200","3":"00A000"})");
  EXPECT_EQ(r.status, kExitFailure);
  EXPECT_NE(r.err.find("field 3"), std::string::npos) << r.err;
  const Outcome j = Iso8583({"encode", "--dialect", "iso87b"}, "{not json");
  EXPECT_EQ(j.status, kExitFailure);
  EXPECT_NE(j.err.find("not a JSON object"), std::string::npos);
}

TEST(Iso8583CommandTest, RejectsBadCommandLines) {
  EXPECT_EQ(Iso8583({"decode", "--hex", "00"}).status, kExitUsage);
  EXPECT_EQ(Iso8583({"decode", "--dialect", "nope", "--hex", "00"}).status, kExitUsage);
  EXPECT_EQ(Iso8583({"decode", "--dialect", "iso87b", "--bogus"}).status, kExitUsage);
  EXPECT_EQ(Iso8583({"frobnicate"}).status, kExitUsage);
  EXPECT_EQ(Iso8583({"decode", "--dialect", "iso87b", "--hex", "0G"}).status, kExitFailure);
}

TEST(Iso8583CommandTest, ListsTheShippedDialects) {
  const Outcome r = Iso8583({"dialects"});
  EXPECT_EQ(r.status, kExitOk);
  EXPECT_EQ(r.out, "iso87a\niso87b\niso93a\niso93b\n");
}

}  // namespace
}  // namespace sy::cli
