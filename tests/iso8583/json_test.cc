#include "iso8583/json.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "iso8583/codec.h"
#include "tests/iso8583/test_util.h"

namespace sy::iso8583 {
namespace {

using testing::Builtin;
using testing::Bytes;

Message Sample() {
  Message m;
  m.SetMti("0200");
  m.Set(2, "4761739001010010");
  m.Set(3, "000000");
  m.Set(35, "4761739001010010=2812201175892888");
  m.Set(41, "TERM0001");
  m.Set(52, Bytes("0123456789ABCDEF"));
  // 9F02 amount, then a 77 template holding 9F27 and 9F26.
  m.Set(55, Bytes("9F0206000000001000"
                  "770F"
                  "9F270180"
                  "9F2608A1B2C3D4E5F60718"));
  return m;
}

TEST(JsonTest, PrintsTheCorpusShapeWithCardDataMasked) {
  const boost::json::object j = ToJson(*Builtin("iso87b"), Sample());
  EXPECT_EQ(j.at("0"), "0200");
  EXPECT_EQ(j.at("2"), "476173******0010");
  EXPECT_EQ(j.at("3"), "000000");
  EXPECT_EQ(j.at("35"), "476173******0010=****************");
  EXPECT_EQ(j.at("41"), "TERM0001");
  EXPECT_EQ(j.at("52").at("bin"), "****************");
  EXPECT_EQ(j.at("55").at("bin"), "9F0206000000001000770F9F2701809F2608A1B2C3D4E5F60718");
}

TEST(JsonTest, ShowsCardDataWhenUnmasked) {
  const boost::json::object j = ToJson(*Builtin("iso87b"), Sample(), {.unmask = true});
  EXPECT_EQ(j.at("2"), "4761739001010010");
  EXPECT_EQ(j.at("52").at("bin"), "0123456789ABCDEF");
}

TEST(JsonTest, AddsAReadOnlyTlvTreeForField55) {
  const boost::json::object j = ToJson(*Builtin("iso87b"), Sample());
  const boost::json::array& tlv = j.at("55_tlv").as_array();
  ASSERT_EQ(tlv.size(), 2U);
  EXPECT_EQ(tlv[0].at("tag"), "9F02");
  EXPECT_EQ(tlv[0].at("value"), "000000001000");
  EXPECT_EQ(tlv[1].at("tag"), "77");
  const boost::json::array& inner = tlv[1].at("tlv").as_array();
  ASSERT_EQ(inner.size(), 2U);
  EXPECT_EQ(inner[1].at("tag"), "9F26");
  EXPECT_EQ(inner[1].at("value"), "A1B2C3D4E5F60718");
}

TEST(JsonTest, ReadsBackWhatItPrintedUnmasked) {
  auto d = Builtin("iso87b");
  const Message m = Sample();
  Message back;
  ASSERT_TRUE(FromJson(ToJson(*d, m, {.unmask = true}), back).has_value());
  std::string a;
  std::string b;
  ASSERT_TRUE(Pack(*d, m, a).has_value());
  ASSERT_TRUE(Pack(*d, back, b).has_value());
  EXPECT_EQ(a, b);
}

TEST(JsonTest, NamesTheKeyAtFault) {
  Message m;
  auto bad_key = FromJson(boost::json::parse(R"({"0":"0200","x":"1"})").as_object(), m);
  ASSERT_FALSE(bad_key.has_value());
  EXPECT_NE(bad_key.error().message.find("key \"x\""), std::string::npos);
  auto bad_hex = FromJson(boost::json::parse(R"({"0":"0200","52":{"bin":"ABC"}})").as_object(), m);
  ASSERT_FALSE(bad_hex.has_value());
  EXPECT_NE(bad_hex.error().message.find("field 52"), std::string::npos);
  auto no_mti = FromJson(boost::json::parse(R"({"11":"000001"})").as_object(), m);
  ASSERT_FALSE(no_mti.has_value());
  EXPECT_NE(no_mti.error().message.find("field 0"), std::string::npos);
  auto bad_type = FromJson(boost::json::parse(R"({"0":"0200","11":12})").as_object(), m);
  ASSERT_FALSE(bad_type.has_value());
  EXPECT_NE(bad_type.error().message.find("field 11"), std::string::npos);
}

TEST(JsonTest, CarriesIso8859TextAsUnicode) {
  Message m;
  m.SetMti("0200");
  m.Set(43, "CAF\xC9 ROUGE");
  const boost::json::object j = ToJson(*Builtin("iso87a"), m);
  EXPECT_EQ(j.at("43"), "CAF\xC3\x89 ROUGE");
  Message back;
  ASSERT_TRUE(FromJson(j, back).has_value());
  EXPECT_EQ(back.Get(43), "CAF\xC9 ROUGE");
}

}  // namespace
}  // namespace sy::iso8583
