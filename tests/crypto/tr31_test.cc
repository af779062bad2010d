#include "crypto/tr31.h"

#include <gtest/gtest.h>

#include "tests/crypto/test_util.h"

namespace sy::crypto {
namespace {

using testing::Key;
using testing::KeyHex;

// Zero padding, to reproduce blocks published with zero padding.
class ZeroRandom final : public RandomSource {
 public:
  void Fill(std::span<std::uint8_t> out) override { std::fill(out.begin(), out.end(), 0); }
};

constexpr const char* kKey = "3F419E1CB7079442AA37474C2EFBF8B8";

// ASC X9 TR-31:2018 Annex A example, version B (KBPK DD7515F2BFC17F85CE48F3CA25CB21F6, random
// padding), as quoted in chhil/TR31Keyblock's tests; the wrapped key is the standard's example
// key 3F419E1CB7079442AA37474C2EFBF8B8.
TEST(Tr31Test, UnwrapsTheTr31AnnexAVersionBExample) {
  auto k = UnwrapKeyBlock(Key("DD7515F2BFC17F85CE48F3CA25CB21F6"),
                          "B0080P0TE00E000094B420079CC80BA3461F86FE26EFC4A3B8E4FA4C5F5341176EED7B7"
                          "27B8A248E",
                          {.usage = "P0", .algorithm = 'T', .modes = "E"});
  ASSERT_TRUE(k) << k.error().message();
  EXPECT_EQ(KeyHex(k->key), kKey);
  EXPECT_EQ(k->header.exportability, 'E');
}

// ASC X9 TR-31:2018 Annex A example, version D (AES-256 KBPK), as quoted in chhil/TR31Keyblock.
TEST(Tr31Test, UnwrapsTheTr31AnnexAVersionDExample) {
  auto k = UnwrapKeyBlock(
      Key("88E1AB2A2E3DD38C1FA039A536500CC8A87AB9D62DC92C01058FA79F44657DE6"),
      "D0112P0AE00E0000B82679114F470F540165EDFBF7E250FCEA43F810D215F8D207E2E417C07156A27E8E31DA05F"
      "7425509593D03A457DC34",
      {.usage = "P0", .algorithm = 'A'});
  ASSERT_TRUE(k) << k.error().message();
  EXPECT_EQ(KeyHex(k->key), kKey);
}

// Zero-padded blocks computed by BP-Tools (EFT lab) as quoted in chhil/TR31Keyblock's tests.
TEST(Tr31Test, WrapsToThePublishedZeroPaddedBlocks) {
  ZeroRandom zero;
  const SecretBytes key = Key(kKey);
  auto b = WrapKeyBlock(Key("DD7515F2BFC17F85CE48F3CA25CB21F6"),
                        {.version = 'B', .usage = "P0", .algorithm = 'T', .mode_of_use = 'E'}, key,
                        zero);
  EXPECT_EQ(b.value(),
            "B0080P0TE00E0000A2C7F59BE6B748A73A56D613E9DAFCAB38FD56EB5496120F0E16D23DF31E7CD8");
  auto b3 = WrapKeyBlock(Key("260892192061C8760BDF235E1619B057B334FED0EFA74F32"),
                         {.version = 'B', .usage = "P0", .algorithm = 'T', .mode_of_use = 'E'},
                         Key("F039121BEC83D26B169BDCD5B22AAF8F"), zero);
  EXPECT_EQ(b3.value(),
            "B0080P0TE00E00009AFD3EC2FB89B35F6CAE8889D7777611DFE04DA850A298BFD07667601FC01825");
  auto d = WrapKeyBlock(Key("F45185EADC5B799819DC8F4C3B58EC73"),
                        {.version = 'D', .usage = "P0", .algorithm = 'T', .mode_of_use = 'E'}, key,
                        zero);
  EXPECT_EQ(
      d.value(),
      "D0112P0TE00E000013B674A99811C18AB8BCFB26D347F8449E68FC074858D85DC452E43910CDC2A5E9BFE75D"
      "C94415EC0A82072217D04E35");
  auto d256 = WrapKeyBlock(Key("88E1AB2A2E3DD38C1FA039A536500CC8A87AB9D62DC92C01058FA79F44657DE6"),
                           {.version = 'D', .usage = "P0", .algorithm = 'T', .mode_of_use = 'E'},
                           key, zero);
  EXPECT_EQ(
      d256.value(),
      "D0112P0TE00E000058742769AD697DEF9FE0EAA32B222D622C0F469170702F5BE63E6DD3F50BF78859FBF437"
      "FD5CBE4508B19DAEE31A0EAB");
}

TEST(Tr31Test, RoundTripsEveryKeyLengthUnderEveryKbpk) {
  for (const char* kbpk :
       {"0123456789ABCDEFFEDCBA9876543210", "0123456789ABCDEFFEDCBA987654321089ABCDEF01234567"}) {
    for (const char* k :
         {"00112233445566778899AABBCCDDEEFF", "00112233445566778899AABBCCDDEEFF0011223344556677"}) {
      auto block = WrapKeyBlock(Key(kbpk), {.version = 'B'}, Key(k), SystemRandom());
      ASSERT_TRUE(block);
      auto back = UnwrapKeyBlock(Key(kbpk), *block, {});
      ASSERT_TRUE(back) << back.error().message();
      EXPECT_EQ(KeyHex(back->key), k);
    }
  }
  for (const char* kbpk :
       {"000102030405060708090A0B0C0D0E0F", "000102030405060708090A0B0C0D0E0F1011121314151617",
        "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"}) {
    for (const char* k : {"00112233445566778899AABBCCDDEEFF",
                          "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"}) {
      auto block =
          WrapKeyBlock(Key(kbpk), {.version = 'D', .algorithm = 'A'}, Key(k), SystemRandom());
      ASSERT_TRUE(block);
      auto back = UnwrapKeyBlock(Key(kbpk), *block, {.algorithm = 'A'});
      ASSERT_TRUE(back) << back.error().message();
      EXPECT_EQ(KeyHex(back->key), k);
    }
  }
}

TEST(Tr31Test, WrongKbpkIsAMacMismatch) {
  auto block = WrapKeyBlock(Key("F45185EADC5B799819DC8F4C3B58EC73"), {.version = 'D'}, Key(kKey),
                            SystemRandom())
                   .value();
  auto r = UnwrapKeyBlock(Key("F45185EADC5B799819DC8F4C3B58EC74"), block, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kKeyBlockMacMismatch);
}

TEST(Tr31Test, AlteredHeaderIsAMacMismatchNotAnAttributeChange) {
  auto block =
      WrapKeyBlock(Key("F45185EADC5B799819DC8F4C3B58EC73"),
                   {.version = 'D', .usage = "P0", .mode_of_use = 'E'}, Key(kKey), SystemRandom())
          .value();
  block[5] = 'M';  // P0 -> M0: someone tries to turn a PIN key into a MAC key
  block[6] = '3';
  auto r = UnwrapKeyBlock(Key("F45185EADC5B799819DC8F4C3B58EC73"), block, {.usage = "M3"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kKeyBlockMacMismatch);
}

TEST(Tr31Test, UnwrapEnforcesUsageAlgorithmModeAndExportability) {
  const SecretBytes kbpk = Key("F45185EADC5B799819DC8F4C3B58EC73");
  auto block = WrapKeyBlock(kbpk,
                            {.version = 'D',
                             .usage = "P0",
                             .algorithm = 'T',
                             .mode_of_use = 'E',
                             .exportability = 'N'},
                            Key(kKey), SystemRandom())
                   .value();
  EXPECT_TRUE(UnwrapKeyBlock(kbpk, block, {.usage = "P0", .algorithm = 'T', .modes = "EB"}));
  for (const KeyBlockPolicy& p :
       {KeyBlockPolicy{.usage = "M3"}, KeyBlockPolicy{.algorithm = 'A'},
        KeyBlockPolicy{.modes = "DB"}, KeyBlockPolicy{.exportability = "E"}}) {
    auto r = UnwrapKeyBlock(kbpk, block, p);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), Error::kKeyBlockAttributeMismatch);
  }
}

TEST(Tr31Test, MalformedBlocksAreRefused) {
  const SecretBytes kbpk = Key("F45185EADC5B799819DC8F4C3B58EC73");
  auto block = WrapKeyBlock(kbpk, {.version = 'D'}, Key(kKey), SystemRandom()).value();
  // Declared length disagrees with the text.
  auto r = UnwrapKeyBlock(kbpk, block.substr(0, block.size() - 2), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kBadKeyBlock);
  // Not hex.
  std::string bad = block;
  bad[20] = 'Z';
  r = UnwrapKeyBlock(kbpk, bad, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kBadKeyBlock);
  // Optional blocks announced.
  bad = block;
  bad[13] = '1';
  r = UnwrapKeyBlock(kbpk, bad, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kKeyBlockUnsupported);
  // Version A (variant binding) is not supported.
  bad = block;
  bad[0] = 'A';
  r = UnwrapKeyBlock(kbpk, bad, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kKeyBlockUnsupported);
  r = UnwrapKeyBlock(kbpk, "D0016", {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kBadKeyBlock);
}

TEST(Tr31Test, KbpkMustSuitTheVersion) {
  auto r = WrapKeyBlock(Key("0123456789ABCDEF"), {.version = 'B'}, Key(kKey), SystemRandom());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kBadKeyLength);
}

}  // namespace
}  // namespace sy::crypto
