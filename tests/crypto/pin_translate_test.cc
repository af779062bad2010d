#include "crypto/pin_translate.h"

#include <gtest/gtest.h>

#include "tests/crypto/test_util.h"

namespace sy::crypto {
namespace {

using testing::Bytes;
using testing::Hex;
using testing::Key;
using testing::Pin;

constexpr const char* kZpk = "89ABCDEF0123456776543210FEDCBA98";
constexpr const char* kPan = "4012345678909";

// ANSI X9.24-1:2009 A.4.2: counter 1 enciphered PIN block 1B9C1845EB993A7A (PIN 1234, PAN
// 4012345678909) translates to format 0 under the ZPK; deciphering the result gives 1234.
TEST(PinTranslateTest, TranslatesTheX924TdesDukptBlockToFormat0UnderTheZpk) {
  TdesDukptHostCache cache;
  const SecretBytes zpk = Key(kZpk);
  auto out = TranslatePinFromTdesDukpt(cache, Key("0123456789ABCDEFFEDCBA9876543210"),
                                       Bytes("FFFF9876543210E00001"), PinBlockFormat::kIso0,
                                       Bytes("1B9C1845EB993A7A"), kPan, zpk);
  ASSERT_TRUE(out) << out.error().message();
  auto pin = DecipherPinBlock(PinBlockFormat::kIso0, zpk, out->view(), kPan);
  EXPECT_EQ(pin.value().as_chars(), "1234");
  // Format 0 is deterministic: the same as enciphering the clear block under the ZPK.
  auto direct = EncipherPinBlock(PinBlockFormat::kIso0, zpk, Pin("1234"), kPan, SystemRandom());
  EXPECT_EQ(Hex(out->view()), Hex(direct.value().view()));
}

TEST(PinTranslateTest, TranslatesAesDukptFormat4ToFormat0) {
  const SecretBytes bdk = Key("FEDCBA9876543210F1F1F1F1F1F1F1F1");
  const auto ksn = Bytes("123456789012345600000007");
  const SecretBytes pek =
      DeriveAesWorkingKey(bdk, ksn, AesDukptKeyUsage::kPinEncryption, AesDukptKeyType::kAes128)
          .value();
  auto in = EncipherPinBlock(PinBlockFormat::kIso4, pek, Pin("987654"), "4111111111111111",
                             SystemRandom())
                .value();
  AesDukptHostCache cache;
  const SecretBytes zpk = Key(kZpk);
  auto out = TranslatePinFromAesDukpt(cache, bdk, ksn, PinBlockFormat::kIso4, in.view(),
                                      "4111111111111111", zpk);
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->size, 8u);
  auto pin = DecipherPinBlock(PinBlockFormat::kIso0, zpk, out->view(), "4111111111111111");
  EXPECT_EQ(pin.value().as_chars(), "987654");
}

TEST(PinTranslateTest, TranslatesASessionKeyFormat3Block) {
  const SecretBytes session = Key("0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF");
  auto in = EncipherPinBlock(PinBlockFormat::kIso3, session, Pin("12345678"), kPan, SystemRandom())
                .value();
  const SecretBytes zpk = Key(kZpk);
  auto out = TranslatePin(PinBlockFormat::kIso3, session, in.view(), kPan, zpk);
  ASSERT_TRUE(out);
  EXPECT_EQ(DecipherPinBlock(PinBlockFormat::kIso0, zpk, out->view(), kPan).value().as_chars(),
            "12345678");
}

TEST(PinTranslateTest, PanMismatchFailsWithoutProducingABlock) {
  TdesDukptHostCache cache;
  auto out = TranslatePinFromTdesDukpt(cache, Key("0123456789ABCDEFFEDCBA9876543210"),
                                       Bytes("FFFF9876543210E00001"), PinBlockFormat::kIso0,
                                       Bytes("1B9C1845EB993A7A"), "4012345600009", Key(kZpk));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error(), Error::kPinBlockPanMismatch);
}

TEST(PinTranslateTest, InvalidKsnFailsBeforeAnyDecipher) {
  TdesDukptHostCache cache;
  auto out = TranslatePinFromTdesDukpt(cache, Key("0123456789ABCDEFFEDCBA9876543210"),
                                       Bytes("FFFF9876543210E00000"), PinBlockFormat::kIso0,
                                       Bytes("1B9C1845EB993A7A"), kPan, Key(kZpk));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error(), Error::kKsnCounterZero);
}

TEST(PinTranslateTest, Format4NeedsAnAesPinKey) {
  AesDukptHostCache cache;
  auto out = TranslatePinFromAesDukpt(cache, Key("FEDCBA9876543210F1F1F1F1F1F1F1F1"),
                                      Bytes("123456789012345600000001"), PinBlockFormat::kIso4,
                                      Bytes("00000000000000000000000000000000"), kPan, Key(kZpk),
                                      AesDukptKeyType::kTdes2);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error(), Error::kKeyTypeNotAllowed);
}

}  // namespace
}  // namespace sy::crypto
