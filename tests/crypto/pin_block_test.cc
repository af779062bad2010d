#include "crypto/pin_block.h"

#include <gtest/gtest.h>

#include <string>

#include "crypto/cipher.h"
#include "tests/crypto/test_util.h"

namespace sy::crypto {
namespace {

using testing::Bytes;
using testing::Hex;
using testing::Key;
using testing::KeyHex;
using testing::Pin;

// Repeatable "random" fill for tests: a counter.
class CountingRandom final : public RandomSource {
 public:
  explicit CountingRandom(std::uint8_t start = 0) : next_(start) {}
  void Fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) {
      b = next_++;
    }
  }

 private:
  std::uint8_t next_;
};

// ANSI X9.24-1:2009 A.4: PIN 1234, PAN 4012345678909 gives the format 0 block 041274EDCBA9876F.
TEST(PinBlockTest, BuildsFormat0FromX924AppendixAExample) {
  CountingRandom rng;
  auto block = BuildClearPinBlock(PinBlockFormat::kIso0, Pin("1234"), "4012345678909", rng);
  EXPECT_EQ(KeyHex(block.value()), "041274EDCBA9876F");
}

TEST(PinBlockTest, RecoversThePinFromTheX924Format0Block) {
  SecretBytes block = Key("041274EDCBA9876F");
  auto pin = RecoverPinFromClearBlock(PinBlockFormat::kIso0, block, "4012345678909");
  EXPECT_EQ(pin.value().as_chars(), "1234");
}

// ISO 9564-1:2017 9.3.2 / 9.3.4: format 1 has no PAN field; format 3 fills with A-F.
TEST(PinBlockTest, Format1AndFormat3FillAsTheStandardSays) {
  CountingRandom rng(0x10);
  auto f1 = BuildClearPinBlock(PinBlockFormat::kIso1, Pin("1234"), "", rng).value();
  // Control 1, length 4, PIN 1234, then 10 fill nibbles from the low nibbles of 14 random bytes
  // (bytes 0x10.. at positions 4..13 of the 14-byte fill buffer): 4,5,...,D.
  EXPECT_EQ(KeyHex(f1), "141234456789ABCD");
  CountingRandom rng3;
  auto f3 = BuildClearPinBlock(PinBlockFormat::kIso3, Pin("1234"), "4012345678909", rng3).value();
  // Without the PAN field every fill nibble is A-F.
  SecretBytes field = f3.Clone();
  const auto pan_field = Bytes("0000401234567890");
  for (int i = 0; i < 8; ++i) {
    field.data()[i] ^= pan_field[i];
  }
  EXPECT_EQ(KeyHex(field).substr(0, 6), "341234");
  for (char c : KeyHex(field).substr(6)) {
    EXPECT_TRUE(c >= 'A' && c <= 'F') << KeyHex(field);
  }
}

// ANSI X9.24-3:2017 supplement (format 4 example) as reproduced by openemv/pinblock's tests:
// PIN 1234 gives the PIN field 441234AAAAAAAAAA + 8 random bytes; PAN 4111111111111111 gives the
// PAN field 44111111111111111000000000000000. Checked here through the cipher: deciphering our
// block by hand must reproduce those fields.
TEST(PinBlockTest, Format4FieldsMatchTheX924SupplementExample) {
  CountingRandom rng(0xA0);
  const SecretBytes key = Key("00112233445566778899AABBCCDDEEFF");
  auto block =
      EncipherPinBlock(PinBlockFormat::kIso4, key, Pin("1234"), "4111111111111111", rng).value();
  ASSERT_EQ(block.size, 16u);
  std::vector<std::uint8_t> b(16);
  ASSERT_TRUE(DecryptEcb(KeyAlgorithm::kAes, key, block.view(), b));
  const auto pan_field = Bytes("44111111111111111000000000000000");
  for (int i = 0; i < 16; ++i) {
    b[i] ^= pan_field[i];
  }
  ASSERT_TRUE(DecryptEcb(KeyAlgorithm::kAes, key, b, b));
  // Format 4 draws no fill digits (they are all A); the random half is the next 8 bytes A0..A7.
  EXPECT_EQ(Hex(b), "441234AAAAAAAAAAA0A1A2A3A4A5A6A7");
}

TEST(PinBlockTest, Format4ShortPanIsLeftPaddedToTwelveDigits) {
  // ISO 9564-1:2017 9.4.2.2: a PAN shorter than 12 digits is left-padded with zeros (M = 0).
  CountingRandom rng;
  const SecretBytes key = Key("00112233445566778899AABBCCDDEEFF");
  auto block = EncipherPinBlock(PinBlockFormat::kIso4, key, Pin("12345"), "12345678", rng);
  ASSERT_TRUE(block);
  auto pin = DecipherPinBlock(PinBlockFormat::kIso4, key, block->view(), "12345678");
  EXPECT_EQ(pin.value().as_chars(), "12345");
}

class PinBlockRoundTripTest : public ::testing::TestWithParam<PinBlockFormat> {};

TEST_P(PinBlockRoundTripTest, EveryPinLengthFromFourToTwelveRoundTrips) {
  const PinBlockFormat format = GetParam();
  const SecretBytes key = format == PinBlockFormat::kIso4 ? Key("000102030405060708090A0B0C0D0E0F")
                                                          : Key("0123456789ABCDEFFEDCBA9876543210");
  const std::string digits = "907856341290";
  for (std::size_t len = 4; len <= 12; ++len) {
    for (const char* pan :
         {"4012345678909", "5413330089010434", "4111111111111111111", "12345678"}) {
      const SecretBytes pin = Pin(digits.substr(0, len));
      auto block = EncipherPinBlock(format, key, pin, pan, SystemRandom());
      ASSERT_TRUE(block) << block.error().message();
      EXPECT_EQ(block->size, PinBlockSize(format));
      auto back = DecipherPinBlock(format, key, block->view(), pan);
      ASSERT_TRUE(back) << "len " << len << ": " << back.error().message();
      EXPECT_TRUE(*back == pin) << "len " << len;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllFormats, PinBlockRoundTripTest,
                         ::testing::Values(PinBlockFormat::kIso0, PinBlockFormat::kIso1,
                                           PinBlockFormat::kIso3, PinBlockFormat::kIso4));

TEST(PinBlockTest, WrongPanIsReportedAsPanMismatchForFormats0And3) {
  // The PANs differ in the digits that line up with the fill, so the fill no longer decodes.
  for (PinBlockFormat f : {PinBlockFormat::kIso0, PinBlockFormat::kIso3}) {
    CountingRandom rng;
    auto block = BuildClearPinBlock(f, Pin("1234"), "4012345678909", rng).value();
    auto r = RecoverPinFromClearBlock(f, block, "4012345600009");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), Error::kPinBlockPanMismatch);
  }
}

TEST(PinBlockTest, WrongPanIsReportedAsPanMismatchForFormat4) {
  const SecretBytes key = Key("000102030405060708090A0B0C0D0E0F");
  int mismatches = 0;
  // A wrong PAN scrambles the whole field; the control nibble survives by chance 1 time in 16,
  // and then some other check fails. Try several blocks so the test cannot pass by luck.
  for (int i = 0; i < 8; ++i) {
    auto block = EncipherPinBlock(PinBlockFormat::kIso4, key, Pin("1234"), "4111111111111111",
                                  SystemRandom())
                     .value();
    auto r = DecipherPinBlock(PinBlockFormat::kIso4, key, block.view(), "4111111111111112");
    ASSERT_FALSE(r);
    mismatches += r.error() == Error::kPinBlockPanMismatch;
  }
  EXPECT_EQ(mismatches, 8);
}

TEST(PinBlockTest, MalformedClearBlocksSayWhy) {
  const std::string pan = "4012345678909";
  // Control field 2 where 0 is expected (not PAN dependent).
  auto r = RecoverPinFromClearBlock(PinBlockFormat::kIso0, Key("241274EDCBA9876F"), pan);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kPinBlockFormatMismatch);
  // PIN length 3.
  r = RecoverPinFromClearBlock(PinBlockFormat::kIso0, Key("031274EDCBA9876F"), pan);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kBadPinLength);
  // PIN length 13.
  r = RecoverPinFromClearBlock(PinBlockFormat::kIso1, Key("1D12341234123412"), "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kBadPinLength);
  // A PIN digit that is not a digit, in the part the PAN does not cover (format 1 has no PAN).
  r = RecoverPinFromClearBlock(PinBlockFormat::kIso1, Key("141A34FFFFFFFFFF"), "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kBadPinDigit);
  // Wrong block size.
  r = RecoverPinFromClearBlock(PinBlockFormat::kIso0, Key("041274EDCBA987"), pan);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kBadInputLength);
}

TEST(PinBlockTest, RejectsBadPinsAndPans) {
  CountingRandom rng;
  auto r = BuildClearPinBlock(PinBlockFormat::kIso0, Pin("123"), "4012345678909", rng);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kBadPinLength);
  r = BuildClearPinBlock(PinBlockFormat::kIso0, Pin("1234567890123"), "4012345678909", rng);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kBadPinLength);
  r = BuildClearPinBlock(PinBlockFormat::kIso0, Pin("12a4"), "4012345678909", rng);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kBadPinDigit);
  r = BuildClearPinBlock(PinBlockFormat::kIso0, Pin("1234"), "40123X5678909", rng);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kBadPan);
  r = BuildClearPinBlock(PinBlockFormat::kIso0, Pin("1234"), "1234567", rng);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kBadPan);
}

TEST(PinBlockTest, RejectsUnsupportedFormatsAndKeyTypes) {
  auto f = PinBlockFormatFromNumber(2);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error(), Error::kUnsupportedPinFormat);
  // Format 4 needs an AES key: a 24-byte TDES-looking key is a valid AES-192 key, so use 8 bytes.
  auto b = EncipherPinBlock(PinBlockFormat::kIso4, Key("0123456789ABCDEF"), Pin("1234"),
                            "4012345678909", SystemRandom());
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error(), Error::kBadKeyLength);
  auto t = EncipherPinBlock(PinBlockFormat::kIso0, Key("000102030405060708090A0B0C0D0E0F1011"),
                            Pin("1234"), "4012345678909", SystemRandom());
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error(), Error::kBadKeyLength);
}

TEST(PinBlockTest, ErrorMessagesNeverContainThePinOrPan) {
  auto r =
      RecoverPinFromClearBlock(PinBlockFormat::kIso0, Key("041274EDCBA9876F"), "4012345600009");
  ASSERT_FALSE(r);
  const std::string msg = r.error().message();
  EXPECT_EQ(msg.find("1234"), std::string::npos);
  EXPECT_EQ(msg.find("40123456"), std::string::npos);
  EXPECT_EQ(msg.find("041274"), std::string::npos);
}

}  // namespace
}  // namespace sy::crypto
