#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"

namespace sy::cli {
namespace {

struct Run {
  int status;
  std::string out;
  std::string err;
};

Run Keys(std::vector<std::string_view> args) {
  std::istringstream in;
  std::ostringstream out, err;
  Io io{in, out, err};
  const int status = RunKeys(Args(args), io);
  return {status, out.str(), err.str()};
}

std::string JsonField(const std::string& out, const char* name) {
  const auto v = boost::json::parse(out);
  return std::string(v.as_object().at(name).as_string());
}

// ANSI X9.24-1:2009 A.4: IPEK 6AC292FAA1315B4D858AB3A3D7D5933A.
TEST(KeysCommandTest, IpekPrintsTheX924AppendixAIpekAsJson) {
  auto r = Keys({"ipek", "--bdk", "0123456789ABCDEFFEDCBA9876543210", "--ksn",
                 "FFFF9876543210E00000", "--json"});
  ASSERT_EQ(r.status, kExitOk) << r.err;
  EXPECT_EQ(JsonField(r.out, "ipek"), "6AC292FAA1315B4D858AB3A3D7D5933A");
  // KCV cross-checked with `openssl enc -des-ede-ecb -K 6AC2...933A -nopad` of 8 zero bytes.
  EXPECT_EQ(JsonField(r.out, "kcv"), "AF8C07");
}

// ANSI X9.24-3:2017 supplement: AES-128 initial key 1273671EA26AC29AFA4D1084127652A1.
TEST(KeysCommandTest, IpekWithAesSchemePrintsTheX924_3InitialKey) {
  auto r = Keys({"ipek", "--scheme", "aes", "--bdk", "FEDCBA9876543210F1F1F1F1F1F1F1F1", "--ksn",
                 "123456789012345600000001", "--json"});
  ASSERT_EQ(r.status, kExitOk) << r.err;
  EXPECT_EQ(JsonField(r.out, "ipek"), "1273671EA26AC29AFA4D1084127652A1");
}

// ANSI X9.24-1:2009 A.4.2, counter 1: transaction key 042666B49184CFA368DE9628D0397BC9, so the
// PIN variant (FF into bytes 7 and 15) is 042666B49184CF5C68DE9628D0397B36.
TEST(KeysCommandTest, DukptPinVariantMatchesX924AppendixA) {
  auto r = Keys({"dukpt", "--bdk", "0123456789ABCDEFFEDCBA9876543210", "--ksn",
                 "FFFF9876543210E00001", "--usage", "pin", "--json"});
  ASSERT_EQ(r.status, kExitOk) << r.err;
  EXPECT_EQ(JsonField(r.out, "key"), "042666B49184CF5C68DE9628D0397B36");
}

TEST(KeysCommandTest, DukptAesDerivesAWorkingKeyOfTheRequestedType) {
  auto r =
      Keys({"dukpt", "--scheme", "aes", "--bdk", "FEDCBA9876543210F1F1F1F1F1F1F1F1", "--ksn",
            "123456789012345600000001", "--usage", "mac-gen", "--key-type", "tdes2", "--json"});
  ASSERT_EQ(r.status, kExitOk) << r.err;
  EXPECT_EQ(JsonField(r.out, "key").size(), 32u);
  auto bad = Keys({"dukpt", "--scheme", "aes", "--bdk", "FEDCBA9876543210F1F1F1F1F1F1F1F1", "--ksn",
                   "123456789012345600000001", "--usage", "pin", "--key-type", "aes256"});
  EXPECT_EQ(bad.status, kExitFailure);
  EXPECT_NE(bad.err.find("--key-type"), std::string::npos) << bad.err;
}

TEST(KeysCommandTest, KcvOfTheX924TestKeyIs08D7B4) {
  auto r = Keys({"kcv", "--key", "0123456789ABCDEFFEDCBA9876543210", "--algo", "tdes", "--json"});
  ASSERT_EQ(r.status, kExitOk) << r.err;
  EXPECT_EQ(JsonField(r.out, "kcv"), "08D7B4");
  // AES: CMAC form and legacy form (cross-checked with the openssl command line).
  auto a = Keys({"kcv", "--key", "2B7E151628AED2A6ABF7158809CF4F3C", "--algo", "aes", "--json"});
  EXPECT_EQ(JsonField(a.out, "kcv"), "7AD386");
  auto l = Keys({"kcv", "--key", "2B7E151628AED2A6ABF7158809CF4F3C", "--algo", "aes", "--method",
                 "legacy", "--json"});
  EXPECT_EQ(JsonField(l.out, "kcv"), "7DF76B");
}

// ANSI X9.24-1:2009 A.4: PIN 1234, PAN 4012345678909 -> 041274EDCBA9876F.
TEST(KeysCommandTest, PinblockEncodeAndDecodeTheX924Example) {
  auto e = Keys(
      {"pinblock", "encode", "--format", "0", "--pin", "1234", "--pan", "4012345678909", "--json"});
  ASSERT_EQ(e.status, kExitOk) << e.err;
  EXPECT_EQ(JsonField(e.out, "pin_block"), "041274EDCBA9876F");
  auto d = Keys({"pinblock", "decode", "--format", "0", "--pin-block", "041274EDCBA9876F", "--pan",
                 "4012345678909", "--json"});
  ASSERT_EQ(d.status, kExitOk) << d.err;
  EXPECT_EQ(JsonField(d.out, "pin"), "1234");
}

TEST(KeysCommandTest, PinblockFormat4RoundTripsUnderAKey) {
  auto e = Keys({"pinblock", "encode", "--format", "4", "--pin", "123456", "--pan",
                 "4111111111111111", "--key", "000102030405060708090A0B0C0D0E0F", "--json"});
  ASSERT_EQ(e.status, kExitOk) << e.err;
  const std::string block = JsonField(e.out, "pin_block");
  EXPECT_EQ(block.size(), 32u);
  auto d = Keys({"pinblock", "decode", "--format", "4", "--pin-block", block, "--pan",
                 "4111111111111111", "--key", "000102030405060708090A0B0C0D0E0F", "--json"});
  ASSERT_EQ(d.status, kExitOk) << d.err;
  EXPECT_EQ(JsonField(d.out, "pin"), "123456");
}

TEST(KeysCommandTest, PinblockDecodeWithTheWrongPanSaysPanMismatch) {
  auto d = Keys({"pinblock", "decode", "--format", "0", "--pin-block", "041274EDCBA9876F", "--pan",
                 "4012345600009"});
  EXPECT_EQ(d.status, kExitFailure);
  EXPECT_NE(d.err.find("PAN mismatch"), std::string::npos) << d.err;
  EXPECT_EQ(d.err.find("1234"), std::string::npos) << "the PIN must not be printed";
}

// ISO/IEC 9797-1:2011 B.4 and RFC 4493 example 2.
TEST(KeysCommandTest, MacComputesRetailAndCmacVectors) {
  auto r = Keys({"mac", "--algo", "retail", "--key", "0123456789ABCDEFFEDCBA9876543210", "--data",
                 "4E6F77206973207468652074696D6520666F7220616C6C20", "--json"});
  ASSERT_EQ(r.status, kExitOk) << r.err;
  EXPECT_EQ(JsonField(r.out, "mac"), "A1C72E74EA3FA9B6");
  auto c = Keys({"mac", "--algo", "cmac", "--key", "2B7E151628AED2A6ABF7158809CF4F3C", "--data",
                 "6BC1BEE22E409F96E93D7E117393172A", "--json"});
  ASSERT_EQ(c.status, kExitOk) << c.err;
  EXPECT_EQ(JsonField(c.out, "mac"), "070A16B46B4D4144F79BDD9DD04A287C");
  auto a = Keys({"mac", "--algo", "alg1", "--key", "0123456789ABCDEF", "--data",
                 "4E6F77206973207468652074696D6520666F7220616C6C20", "--json"});
  EXPECT_EQ(JsonField(a.out, "mac"), "70A30640CC76DD8B");
}

TEST(KeysCommandTest, TranslateTurnsTheX924DukptBlockIntoFormat0UnderTheZpk) {
  auto t = Keys({"translate", "--format", "0", "--pin-block", "1B9C1845EB993A7A", "--pan",
                 "4012345678909", "--zpk", "89ABCDEF0123456776543210FEDCBA98", "--bdk",
                 "0123456789ABCDEFFEDCBA9876543210", "--ksn", "FFFF9876543210E00001", "--json"});
  ASSERT_EQ(t.status, kExitOk) << t.err;
  auto d =
      Keys({"pinblock", "decode", "--format", "0", "--pin-block", JsonField(t.out, "pin_block"),
            "--pan", "4012345678909", "--key", "89ABCDEF0123456776543210FEDCBA98", "--json"});
  ASSERT_EQ(d.status, kExitOk) << d.err;
  EXPECT_EQ(JsonField(d.out, "pin"), "1234");
}

TEST(KeysCommandTest, GenerateWritesComponentsThatCombineToTheReportedKcv) {
  const std::string dir = ::testing::TempDir();
  const std::string a = dir + "/sy_keys_c1_" + std::to_string(::getpid());
  const std::string b = dir + "/sy_keys_c2_" + std::to_string(::getpid());
  std::remove(a.c_str());
  std::remove(b.c_str());
  auto g = Keys({"generate", "--algo", "tdes", "--length", "16", "--out", a, "--out", b, "--json"});
  ASSERT_EQ(g.status, kExitOk) << g.err;
  const auto component = [](const std::string& path) {
    std::ifstream f(path);
    std::string line, key;
    while (std::getline(f, line)) {
      if (line.rfind("key: ", 0) == 0) {
        key = line.substr(5);
      }
    }
    return key;
  };
  const std::string k1 = component(a), k2 = component(b);
  ASSERT_EQ(k1.size(), 32u);
  ASSERT_EQ(k2.size(), 32u);
  auto c = Keys({"combine", "--algo", "tdes", "--component", k1, "--component", k2, "--json"});
  ASSERT_EQ(c.status, kExitOk) << c.err;
  EXPECT_EQ(JsonField(c.out, "kcv"), JsonField(g.out, "kcv"));
  auto kcv1 = Keys({"kcv", "--algo", "tdes", "--key", k1, "--json"});
  EXPECT_EQ(JsonField(kcv1.out, "kcv"), JsonField(g.out, "component_1_kcv"));
  // Refuses to overwrite an existing component file.
  auto again = Keys({"generate", "--algo", "tdes", "--length", "16", "--out", a, "--out", b});
  EXPECT_EQ(again.status, kExitFailure);
  std::remove(a.c_str());
  std::remove(b.c_str());
}

TEST(KeysCommandTest, BadInputNamesTheFlagAndUsesTheRightExitStatus) {
  auto missing = Keys({"ipek", "--bdk", "0123456789ABCDEFFEDCBA9876543210"});
  EXPECT_EQ(missing.status, kExitUsage);
  EXPECT_NE(missing.err.find("--ksn is required"), std::string::npos) << missing.err;
  auto unknown = Keys({"kcv", "--kee", "00"});
  EXPECT_EQ(unknown.status, kExitUsage);
  EXPECT_NE(unknown.err.find("--kee"), std::string::npos);
  auto bad_hex = Keys({"kcv", "--algo", "tdes", "--key", "XYZ0"});
  EXPECT_EQ(bad_hex.status, kExitFailure);
  EXPECT_NE(bad_hex.err.find("--key"), std::string::npos);
  auto bad_ksn = Keys({"dukpt", "--bdk", "0123456789ABCDEFFEDCBA9876543210", "--ksn",
                       "FFFF9876543210E007FF", "--usage", "pin"});
  EXPECT_EQ(bad_ksn.status, kExitFailure);
  EXPECT_NE(bad_ksn.err.find("--ksn"), std::string::npos);
  EXPECT_NE(bad_ksn.err.find("exhausted"), std::string::npos);
  auto bad_padding = Keys({"mac", "--algo", "retail", "--key", "0123456789ABCDEFFEDCBA9876543210",
                           "--data", "00", "--padding", "3"});
  EXPECT_EQ(bad_padding.status, kExitUsage);
  EXPECT_NE(bad_padding.err.find("--padding"), std::string::npos);
  auto tool = Keys({"frobnicate"});
  EXPECT_EQ(tool.status, kExitUsage);
  EXPECT_EQ(Keys({}).status, kExitUsage);
}

TEST(KeysCommandTest, PlainOutputIsNameColonValueLines) {
  auto r = Keys({"kcv", "--key", "0123456789ABCDEFFEDCBA9876543210", "--algo", "tdes"});
  ASSERT_EQ(r.status, kExitOk);
  EXPECT_EQ(r.out, "kcv: 08D7B4\n");
}

}  // namespace
}  // namespace sy::cli
