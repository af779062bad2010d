// Unit tests of Pack and Unpack: each field type, encoding, length prefix and bitmap, and every
// error kind, on the shipped dialects and on small dialects written for the test.

#include "iso8583/codec.h"

#include <gtest/gtest.h>

#include "iso8583/json.h"
#include "tests/iso8583/test_util.h"

namespace sy::iso8583 {
namespace {

using testing::Builtin;
using testing::Bytes;

std::shared_ptr<const Dialect> Custom(std::string_view yaml) {
  auto d = Dialect::FromYaml(yaml, "test");
  EXPECT_TRUE(d.has_value()) << (d ? "" : d.error().message);
  return d ? std::make_shared<const Dialect>(std::move(*d)) : nullptr;
}

std::string PackHex(const Dialect& d, const Message& m) {
  std::string out;
  auto r = Pack(d, m, out);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().Describe());
  return ToHex(out);
}

CodecError UnpackError(const Dialect& d, std::string_view hex) {
  Message m;
  auto r = Unpack(d, Bytes(hex), m);
  EXPECT_FALSE(r.has_value()) << "unpack of " << hex << " should fail";
  return r ? CodecError{} : r.error();
}

CodecError PackError(const Dialect& d, const Message& m) {
  std::string out = "keep";
  auto r = Pack(d, m, out);
  EXPECT_FALSE(r.has_value());
  EXPECT_EQ(out, "keep") << "a failed pack must leave the output as it was";
  return r ? CodecError{} : r.error();
}

// A dialect exercising the encodings the shipped ones do not: EBCDIC, binary and LLLL prefixes,
// F padding, a tertiary bitmap.
constexpr std::string_view kExotic = R"(
name: exotic
mti: ebcdic
bitmap: hex
tertiary_bitmap: true
fields:
  2: {type: n, length: LL, max: 19, prefix: ebcdic, encoding: ebcdic, sensitivity: pan}
  3: {type: n, length: fixed, size: 5, encoding: bcd, bcd_pad: right, pad_nibble: F}
  4: {type: an, length: fixed, size: 4, encoding: ebcdic}
  5: {type: b, length: LL, max: 255, prefix: binary, encoding: binary}
  6: {type: ans, length: LLLL, max: 2000, prefix: ascii, encoding: ascii}
  7: {type: a, length: fixed, size: 3, encoding: ascii}
  8: {type: b, length: LLL, max: 300, prefix: binary, encoding: hex}
  9: {type: xn, length: LL, max: 13, prefix: bcd, encoding: bcd}
  130: {type: ans, length: LL, max: 10, prefix: ascii, encoding: ascii}
)";

TEST(PackTest, PadsFixedNumericsWithLeadingZerosInAscii) {
  auto d = Builtin("iso87a");
  Message m;
  m.SetMti("0200");
  m.Set(3, "345");
  EXPECT_EQ(PackHex(*d, m),
            "30323030"
            "32303030303030303030303030303030"
            "303030333435");
}

TEST(PackTest, PadsOddFixedBcdOnTheDialectsSide) {
  Message m;
  m.SetMti("0200");
  m.Set(19, "901");
  // jPOS ISO87BPackager pads fixed numerics on the left, ISO93BPackager on the right.
  EXPECT_EQ(PackHex(*Builtin("iso87b"), m),
            "0200"
            "0000200000000000"
            "0901");
  EXPECT_EQ(PackHex(*Builtin("iso93b"), m),
            "0200"
            "0000200000000000"
            "9010");
}

TEST(PackTest, WritesBcdLlnumWithADigitCountAndRightPad) {
  Message m;
  m.SetMti("0200");
  m.Set(2, "371449635398431");
  EXPECT_EQ(PackHex(*Builtin("iso87b"), m),
            "0200"
            "4000000000000000"
            "15"
            "3714496353984310");
}

TEST(PackTest, PacksTrack2SeparatorAsNibbleD) {
  Message m;
  m.SetMti("0200");
  m.Set(35, "4761739001010010=2812201");
  EXPECT_EQ(PackHex(*Builtin("iso87b"), m),
            "0200"
            "0000000020000000"
            "24"
            "4761739001010010D2812201");
  Message back;
  const std::string wire = Bytes(
      "0200000000002000000024"
      "4761739001010010D2812201");
  ASSERT_TRUE(Unpack(*Builtin("iso87b"), wire, back).has_value());
  EXPECT_EQ(back.Get(35), "4761739001010010=2812201");
}

TEST(PackTest, PacksAmountsAsSignThenDigits) {
  Message m;
  m.SetMti("0200");
  m.Set(28, "D890");
  EXPECT_EQ(PackHex(*Builtin("iso87a"), m),
            "30323030"
            "30303030303031303030303030303030"
            "443030303030383930");
  EXPECT_EQ(PackHex(*Builtin("iso87b"), m),
            "0200"
            "0000001000000000"
            "4400000890");
}

TEST(PackTest, SetsTheSecondaryBitmapOnlyForFieldsAbove64) {
  Message m;
  m.SetMti("0800");
  m.Set(70, "301");
  EXPECT_EQ(PackHex(*Builtin("iso87b"), m),
            "0800"
            "8000000000000000"
            "0400000000000000"
            "0301");
  m.Unset(70);
  m.Set(11, "000001");
  EXPECT_EQ(PackHex(*Builtin("iso87b"), m),
            "0800"
            "0020000000000000"
            "000001");
}

TEST(PackTest, WritesHexBitmapsAndHexBinaryInTheADialects) {
  Message m;
  m.SetMti("0200");
  m.Set(52, Bytes("0123456789ABCDEF"));
  EXPECT_EQ(PackHex(*Builtin("iso87a"), m),
            "30323030"
            "30303030303030303030303031303030"
            "30313233343536373839414243444546");
}

TEST(PackTest, HandlesEbcdicBinaryPrefixesLlllAndTertiaryBitmaps) {
  auto d = Custom(kExotic);
  ASSERT_NE(d, nullptr);
  Message m;
  m.SetMti("0100");
  m.Set(2, "4761");
  m.Set(3, "123");
  m.Set(4, "AB");
  m.Set(5, Bytes("00FF"));
  m.Set(6, "hi");
  m.Set(7, "XyZ");
  m.Set(8, Bytes("BEEF"));
  m.Set(9, "C12");
  m.Set(130, "t3");
  std::string out;
  ASSERT_TRUE(Pack(*d, m, out).has_value());
  EXPECT_EQ(ToHex(out),
            "F0F1F0F0"                          // MTI in EBCDIC
            "46463830303030303030303030303030"  // primary bitmap "FF80..." as hex text
            "38303030303030303030303030303030"  // secondary: bit 65 = tertiary bitmap present
            "34303030303030303030303030303030"  // tertiary: field 130
            "F0F4F4F7F6F1"                      // 2: LL and digits in EBCDIC
            "00123F"                            // 3: "00123", odd count padded right with F
            "C1C24040"                          // 4: "AB  " in EBCDIC
            "0200FF"                            // 5: a one-byte binary prefix
            "303030326869"                      // 6: LLLL in ASCII
            "58795A"                            // 7
            "000242454546"                      // 8: two-byte binary prefix counts bytes; hex value
            "034312"                            // 9: BCD prefix, ASCII sign, BCD digits
            "30327433");                        // 130
  Message back;
  ASSERT_TRUE(Unpack(*d, out, back).has_value());
  EXPECT_EQ(back.mti(), "0100");
  EXPECT_EQ(back.Get(2), "4761");
  EXPECT_EQ(back.Get(3), "00123");
  EXPECT_EQ(back.Get(4), "AB  ");
  EXPECT_EQ(back.Get(5), Bytes("00FF"));
  EXPECT_EQ(back.Get(6), "hi");
  EXPECT_EQ(back.Get(7), "XyZ");
  EXPECT_EQ(back.Get(8), Bytes("BEEF"));
  EXPECT_EQ(back.Get(9), "C12");
  EXPECT_EQ(back.Get(130), "t3");
  std::string again;
  ASSERT_TRUE(Pack(*d, back, again).has_value());
  EXPECT_EQ(again, out);
}

TEST(PackTest, AppendsToWhatTheBufferHeld) {
  Message m;
  m.SetMti("0800");
  m.Set(11, "000001");
  std::string out = "xx";
  ASSERT_TRUE(Pack(*Builtin("iso87b"), m, out).has_value());
  EXPECT_EQ(ToHex(out),
            "7878"
            "0800"
            "0020000000000000"
            "000001");
  auto size = PackedSize(*Builtin("iso87b"), m);
  ASSERT_TRUE(size.has_value());
  EXPECT_EQ(*size, out.size() - 2);
}

TEST(PackTest, RejectsValueLongerThanFieldMax) {
  Message m;
  m.SetMti("0200");
  m.Set(2, "12345678901234567890");
  const CodecError e = PackError(*Builtin("iso87b"), m);
  EXPECT_EQ(e.code, Error::kLengthOverMax);
  EXPECT_EQ(e.field, 2);
  EXPECT_EQ(e.actual, 20U);
  EXPECT_EQ(e.limit, 19U);
}

TEST(PackTest, RejectsNonDigitInNumericField) {
  Message m;
  m.SetMti("0200");
  m.Set(3, "00A000");
  const CodecError e = PackError(*Builtin("iso87b"), m);
  EXPECT_EQ(e.code, Error::kNonDigit);
  EXPECT_EQ(e.field, 3);
}

TEST(PackTest, RejectsFixedBinaryOfTheWrongSize) {
  Message m;
  m.SetMti("0200");
  m.Set(52, Bytes("0102"));
  EXPECT_EQ(PackError(*Builtin("iso87b"), m).code, Error::kFixedLengthMismatch);
}

TEST(PackTest, RejectsAmountWithoutSign) {
  Message m;
  m.SetMti("0200");
  m.Set(28, "00000890");
  EXPECT_EQ(PackError(*Builtin("iso87a"), m).code, Error::kBadSign);
}

TEST(PackTest, RejectsMissingOrMalformedMti) {
  Message m;
  m.Set(11, "000001");
  EXPECT_EQ(PackError(*Builtin("iso87b"), m).code, Error::kMissingMti);
  m.SetMti("08X0");
  EXPECT_EQ(PackError(*Builtin("iso87b"), m).code, Error::kBadMti);
}

TEST(PackTest, RejectsControlCharactersInTextAndLettersInAlphaOnly) {
  Message m;
  m.SetMti("0200");
  m.Set(41, std::string("TERM\n001", 8));
  EXPECT_EQ(PackError(*Builtin("iso87b"), m).code, Error::kBadCharacter);
  auto d = Custom(kExotic);
  Message a;
  a.SetMti("0100");
  a.Set(7, "AB1");
  EXPECT_EQ(PackError(*d, a).code, Error::kBadCharacter);
  a.Set(7, "AB ");
  a.Set(4, "A-");
  EXPECT_EQ(PackError(*d, a).code, Error::kBadCharacter);
}

TEST(PackTest, RejectsFieldsTheDialectDoesNotDefine) {
  auto d = Custom(kExotic);
  Message m;
  m.SetMti("0100");
  m.Set(10, "1");
  const CodecError e = PackError(*d, m);
  EXPECT_EQ(e.code, Error::kUndefinedField);
  EXPECT_EQ(e.field, 10);
}

TEST(UnpackTest, RejectsTruncatedInput) {
  // 0200 announcing field 3 (n6, 3 BCD bytes) with only 2 bytes.
  const CodecError e = UnpackError(*Builtin("iso87b"),
                                   "0200"
                                   "2000000000000000"
                                   "0000");
  EXPECT_EQ(e.code, Error::kTruncated);
  EXPECT_EQ(e.field, 3);
  EXPECT_EQ(e.offset, 10U);
  EXPECT_EQ(UnpackError(*Builtin("iso87b"), "02").code, Error::kTruncated);
  EXPECT_EQ(UnpackError(*Builtin("iso87b"),
                        "0200"
                        "20000000")
                .field,
            CodecError::kBitmapField);
}

TEST(UnpackTest, RejectsBadBcdNibble) {
  const CodecError e = UnpackError(*Builtin("iso87b"),
                                   "0200"
                                   "2000000000000000"
                                   "00A000");
  EXPECT_EQ(e.code, Error::kBadBcdNibble);
  EXPECT_EQ(e.field, 3);
  EXPECT_EQ(e.offset, 10U);
}

TEST(UnpackTest, RejectsAPadNibbleOtherThanTheDialects) {
  // Field 19 "901" in iso87b is 09 01; a 9 in the pad nibble would be a fourth digit.
  EXPECT_EQ(UnpackError(*Builtin("iso87b"),
                        "0200"
                        "0000200000000000"
                        "9901")
                .code,
            Error::kBadBcdNibble);
}

TEST(UnpackTest, RejectsLengthOverMaximum) {
  // Field 2 (LL n..19) announcing 20 digits.
  const CodecError e = UnpackError(*Builtin("iso87b"),
                                   "0200"
                                   "4000000000000000"
                                   "20" +
                                       std::string(20, '1'));
  EXPECT_EQ(e.code, Error::kLengthOverMax);
  EXPECT_EQ(e.field, 2);
  EXPECT_EQ(e.offset, 10U);
  EXPECT_EQ(e.actual, 20U);
  EXPECT_EQ(e.limit, 19U);
}

TEST(UnpackTest, RejectsNonDigitInAsciiNumericField) {
  // iso87a field 11 (n6) holding "0000A1".
  const CodecError e = UnpackError(*Builtin("iso87a"),
                                   "30323030"
                                   "30303230303030303030303030303030"
                                   "303030304131");
  EXPECT_EQ(e.code, Error::kNonDigit);
  EXPECT_EQ(e.field, 11);
  EXPECT_EQ(e.offset, 24U);
}

TEST(UnpackTest, RejectsABitmapAnnouncingAFieldWithNoBytesLeft) {
  // Fields 3 and 11 announced, only field 3 present.
  const CodecError e = UnpackError(*Builtin("iso87b"),
                                   "0200"
                                   "2020000000000000"
                                   "000000");
  EXPECT_EQ(e.code, Error::kBitmapFieldMissing);
  EXPECT_EQ(e.field, 11);
  EXPECT_EQ(e.offset, 13U);
}

TEST(UnpackTest, RejectsFieldsTheDialectDoesNotDefine) {
  auto d = Custom(kExotic);
  // Bit 10 set in the primary bitmap.
  const CodecError e = UnpackError(*d,
                                   "F0F1F0F0"
                                   "30303430303030303030303030303030"
                                   "31");
  EXPECT_EQ(e.code, Error::kUndefinedField);
  EXPECT_EQ(e.field, 10);
}

TEST(UnpackTest, RejectsTrailingBytes) {
  const CodecError e = UnpackError(*Builtin("iso87b"),
                                   "0200"
                                   "2000000000000000"
                                   "000000"
                                   "FF");
  EXPECT_EQ(e.code, Error::kTrailingBytes);
  EXPECT_EQ(e.offset, 13U);
}

TEST(UnpackTest, RejectsBadHexInBitmapAndInHexFields) {
  EXPECT_EQ(UnpackError(*Builtin("iso87a"),
                        "30323030"
                        "303030303030303030303030303030"
                        "47")
                .code,
            Error::kBadBitmap);
  // Lower-case hex is refused so that a repack gives the same bytes.
  EXPECT_EQ(UnpackError(*Builtin("iso87a"),
                        "30323030"
                        "303030303030303030303030303030"
                        "61")
                .code,
            Error::kBadBitmap);
  // Field 64 (b8 as 16 hex characters) with a 'Z'.
  const CodecError e = UnpackError(*Builtin("iso87a"),
                                   "30323030"
                                   "30303030303030303030303030303031"
                                   "5A303030303030303030303030303030");
  EXPECT_EQ(e.code, Error::kBadHex);
  EXPECT_EQ(e.field, 64);
}

TEST(UnpackTest, RejectsANonNumericLengthPrefix) {
  const CodecError e = UnpackError(*Builtin("iso87a"),
                                   "30323030"
                                   "34303030303030303030303030303030"
                                   "3F35"
                                   "31323334");
  EXPECT_EQ(e.code, Error::kBadLengthPrefix);
  EXPECT_EQ(e.field, 2);
  // A BCD prefix with a nibble over 9.
  EXPECT_EQ(UnpackError(*Builtin("iso87b"),
                        "0200"
                        "4000000000000000"
                        "1A"
                        "1234")
                .code,
            Error::kBadLengthPrefix);
}

TEST(UnpackTest, RejectsMalformedMtiAndAmountSign) {
  EXPECT_EQ(UnpackError(*Builtin("iso87b"),
                        "0A00"
                        "0000000000000000")
                .code,
            Error::kBadMti);
  EXPECT_EQ(UnpackError(*Builtin("iso87a"),
                        "30583030"
                        "30303030303030303030303030303030")
                .code,
            Error::kBadMti);
  // iso87b field 28: sign byte 'X'.
  EXPECT_EQ(UnpackError(*Builtin("iso87b"),
                        "0200"
                        "0000001000000000"
                        "5800000890")
                .code,
            Error::kBadSign);
}

TEST(UnpackTest, RejectsControlCharactersInTextFields) {
  // iso87b field 41 (ans8) holding a NUL.
  const CodecError e = UnpackError(*Builtin("iso87b"),
                                   "0200"
                                   "0000000000800000"
                                   "5445524D00303031");
  EXPECT_EQ(e.code, Error::kBadCharacter);
  EXPECT_EQ(e.field, 41);
  EXPECT_EQ(e.offset, 14U);
}

TEST(UnpackTest, ReturnsViewsIntoTheInputForRawFieldsAndDecodedCopiesForBcd) {
  const std::string wire = Bytes(
      "0200"
      "2000000000800000"
      "000123"
      "5445524D30303031");
  Message m;
  ASSERT_TRUE(Unpack(*Builtin("iso87b"), wire, m).has_value());
  EXPECT_EQ(m.Get(3), "000123");
  EXPECT_EQ(m.Get(41), "TERM0001");
  EXPECT_EQ(m.Get(41).data(), wire.data() + 13);
  EXPECT_EQ(m.field_count(), 2);
}

TEST(UnpackTest, KeepsOnlyTheFieldsDecodedBeforeTheFault) {
  // Field 3 fine, field 11 with a bad nibble.
  Message m;
  auto r = Unpack(*Builtin("iso87b"),
                  Bytes("0200"
                        "2020000000000000"
                        "000000"
                        "00A001"),
                  m);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().field, 11);
  EXPECT_EQ(m.mti(), "0200");
  EXPECT_TRUE(m.Has(3));
  EXPECT_FALSE(m.Has(11));
}

TEST(UnpackTest, ResetsTheMessageItFills) {
  Message m;
  m.Set(2, "4761739001010010");
  ASSERT_TRUE(Unpack(*Builtin("iso87b"),
                     Bytes("0800"
                           "0020000000000000"
                           "000001"),
                     m)
                  .has_value());
  EXPECT_FALSE(m.Has(2));
  EXPECT_TRUE(m.Has(11));
}

TEST(UnpackTest, KeepsAnEmptySecondaryBitmapForTheRepack) {
  // Some hosts always send a secondary bitmap; the repack must send the same bytes.
  const std::string wire = Bytes(
      "0800"
      "8020000000000000"
      "0000000000000000"
      "000001");
  Message m;
  ASSERT_TRUE(Unpack(*Builtin("iso87b"), wire, m).has_value());
  EXPECT_EQ(m.field_count(), 1);
  std::string out;
  ASSERT_TRUE(Pack(*Builtin("iso87b"), m, out).has_value());
  EXPECT_EQ(ToHex(out), ToHex(wire));
  m.set_force_bitmaps(0);
  out.clear();
  ASSERT_TRUE(Pack(*Builtin("iso87b"), m, out).has_value());
  EXPECT_EQ(ToHex(out),
            "0800"
            "0020000000000000"
            "000001");
}

TEST(CodecErrorTest, DescribesFieldOffsetAndRuleWithoutData) {
  const CodecError e{Error::kLengthOverMax, 35, 23, 40, 37};
  EXPECT_EQ(e.Describe(), "field 35 at byte 23: length over the field's maximum (40 vs 37)");
}

}  // namespace
}  // namespace sy::iso8583
