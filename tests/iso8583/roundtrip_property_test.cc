// Property: for random valid messages in every shipped dialect (and one exotic one),
// Unpack(Pack(m)) == m and Pack(Unpack(Pack(m))) == Pack(m).

#include <gtest/gtest.h>

#include <random>

#include "iso8583/codec.h"
#include "tests/iso8583/test_util.h"

namespace sy::iso8583 {
namespace {

std::string RandomValue(const FieldSpec& f, std::mt19937& rng) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  // Fixed values at full size, so that no padding makes the unpacked value differ.
  const int max = std::min<int>(f.max_length, 300);
  const int len = f.is_fixed() ? f.max_length : pick(0, max);
  std::string v;
  v.reserve(static_cast<std::size_t>(len));
  static constexpr std::string_view kAlpha =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz ";
  for (int i = 0; i < len; ++i) {
    switch (f.type) {
      case FieldType::kNumeric:
        v += static_cast<char>('0' + pick(0, 9));
        break;
      case FieldType::kAmount:
        v += i == 0 ? (pick(0, 1) != 0 ? 'C' : 'D') : static_cast<char>('0' + pick(0, 9));
        break;
      case FieldType::kTrack:
        v += pick(0, 10) == 10 ? '=' : static_cast<char>('0' + pick(0, 9));
        break;
      case FieldType::kAlpha:
        v += kAlpha[static_cast<std::size_t>(pick(0, static_cast<int>(kAlpha.size()) - 1))];
        break;
      case FieldType::kAlphaNumeric:
        v += pick(0, 1) != 0 ? static_cast<char>('0' + pick(0, 9))
                             : kAlpha[static_cast<std::size_t>(pick(0, 25))];
        break;
      case FieldType::kText:
        v += static_cast<char>(pick(0x20, 0x7E));
        break;
      case FieldType::kBinary:
        v += static_cast<char>(pick(0, 255));
        break;
    }
  }
  if (f.type == FieldType::kAmount && v.empty()) {
    v = "C";
  }
  return v;
}

void CheckRoundTrips(const Dialect& d, int iterations, unsigned seed) {
  std::mt19937 rng(seed);
  Message m;
  Message back;
  std::string wire;
  std::string again;
  for (int it = 0; it < iterations; ++it) {
    m.Reset();
    m.SetMti(std::to_string(1000 + std::uniform_int_distribution<int>(0, 8999)(rng)));
    const int density = std::uniform_int_distribution<int>(1, 100)(rng);
    for (int n = 2; n <= d.max_field(); ++n) {
      if (d.field(n).defined && std::uniform_int_distribution<int>(1, 100)(rng) <= density) {
        m.Set(n, RandomValue(d.field(n), rng));
      }
    }
    wire.clear();
    auto p = Pack(d, m, wire);
    ASSERT_TRUE(p.has_value()) << d.name() << " iteration " << it << ": " << p.error().Describe();
    auto u = Unpack(d, wire, back);
    ASSERT_TRUE(u.has_value()) << d.name() << " iteration " << it << ": " << u.error().Describe();
    ASSERT_EQ(back.mti(), m.mti());
    ASSERT_EQ(back.field_count(), m.field_count()) << d.name() << " iteration " << it;
    for (int n : m.present_fields()) {
      std::string expected(m.Get(n));
      if (d.field(n).type == FieldType::kTrack && d.field(n).encoding == Encoding::kBcd) {
        std::replace(expected.begin(), expected.end(), 'D', '=');
      }
      ASSERT_EQ(back.Get(n), expected) << d.name() << " field " << n << " iteration " << it;
    }
    again.clear();
    ASSERT_TRUE(Pack(d, back, again).has_value());
    ASSERT_EQ(again, wire) << d.name() << " iteration " << it;
  }
}

TEST(RoundTripPropertyTest, RandomMessagesRoundTripInEveryShippedDialect) {
  unsigned seed = 20261127;
  for (auto name : BuiltinDialectNames()) {
    CheckRoundTrips(*testing::Builtin(name), 1500, seed++);
  }
}

TEST(RoundTripPropertyTest, RandomMessagesRoundTripWithEbcdicAndATertiaryBitmap) {
  auto d = Dialect::FromYaml(R"(
name: exotic
mti: ebcdic
bitmap: ebcdic
tertiary_bitmap: true
fields:
  2: {type: n, length: LL, max: 19, prefix: ebcdic, encoding: ebcdic}
  3: {type: n, length: fixed, size: 5, encoding: bcd, bcd_pad: right, pad_nibble: F}
  4: {type: an, length: fixed, size: 4, encoding: ebcdic}
  5: {type: b, length: LL, max: 255, prefix: binary, encoding: binary}
  6: {type: ans, length: LLLL, max: 2000, prefix: bcd, encoding: ascii}
  7: {type: a, length: fixed, size: 3, encoding: ascii}
  8: {type: b, length: LLL, max: 300, prefix: binary, encoding: hex}
  9: {type: xn, length: LL, max: 13, prefix: bcd, encoding: bcd}
  10: {type: z, length: LL, max: 37, prefix: bcd, encoding: bcd}
  64: {type: b, length: fixed, size: 8, encoding: binary}
  66: {type: xn, length: fixed, size: 17, encoding: ebcdic}
  130: {type: ans, length: LL, max: 10, prefix: ascii, encoding: ebcdic}
  192: {type: b, length: fixed, size: 8, encoding: hex}
)",
                             "exotic");
  ASSERT_TRUE(d.has_value()) << d.error().message;
  CheckRoundTrips(*d, 3000, 7);
}

}  // namespace
}  // namespace sy::iso8583
