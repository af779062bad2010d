#include "iso8583/dialect.h"

#include <gtest/gtest.h>

#include "tests/iso8583/test_util.h"

namespace sy::iso8583 {
namespace {

std::string LoadError(std::string_view yaml) {
  auto d = Dialect::FromYaml(yaml, "t.yaml");
  EXPECT_FALSE(d.has_value());
  return d ? std::string() : d.error().message;
}

TEST(DialectTest, ShipsTheFourJposLayouts) {
  for (auto name : BuiltinDialectNames()) {
    auto d = testing::Builtin(name);
    ASSERT_NE(d, nullptr) << name;
    EXPECT_EQ(d->name(), name);
    for (int n = 2; n <= 128; ++n) {
      EXPECT_TRUE(d->field(n).defined) << name << " field " << n;
    }
    EXPECT_EQ(d->field(2).sensitivity, Sensitivity::kPan);
    EXPECT_EQ(d->field(35).sensitivity, Sensitivity::kTrack);
    EXPECT_EQ(d->field(52).sensitivity, Sensitivity::kPinBlock);
    // Field 55 (EMV) is binary with an LLL byte count in every shipped dialect.
    EXPECT_EQ(d->field(55).type, FieldType::kBinary);
    EXPECT_EQ(d->field(55).length_type, LengthType::kLll);
    EXPECT_EQ(d->field(55).encoding, Encoding::kBinary);
  }
}

TEST(DialectTest, DescribesIso87bAsJposIso87bPackagerDoes) {
  auto d = testing::Builtin("iso87b");
  EXPECT_EQ(d->mti_encoding(), Encoding::kBcd);
  EXPECT_EQ(d->bitmap_encoding(), Encoding::kBinary);
  EXPECT_EQ(d->field(2).prefix, Encoding::kBcd);
  EXPECT_EQ(d->field(2).max_length, 19);
  EXPECT_EQ(d->field(19).bcd_pad, Side::kLeft);
  EXPECT_EQ(d->field(65).max_length, 1);  // jPOS: a 1-byte field, not a tertiary bitmap
  EXPECT_FALSE(d->tertiary_bitmap());
  EXPECT_EQ(testing::Builtin("iso93b")->field(19).bcd_pad, Side::kRight);
}

TEST(DialectTest, LoadsAFileByPath) {
  auto d = LoadDialect(testing::DataPath("dialects/tiny.yaml"));
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_EQ((*d)->name(), "tiny");
  EXPECT_TRUE((*d)->field(11).defined);
  EXPECT_FALSE((*d)->field(12).defined);
}

TEST(DialectTest, NamesAnUnknownShippedDialect) {
  auto d = LoadDialect("iso2003");
  ASSERT_FALSE(d.has_value());
  EXPECT_NE(d.error().message.find("'iso2003' is not shipped"), std::string::npos);
  auto f = LoadDialect("/nonexistent/x.yaml");
  ASSERT_FALSE(f.has_value());
  EXPECT_NE(f.error().message.find("cannot open"), std::string::npos);
}

TEST(DialectTest, RejectsUnknownKeysWithTheirPath) {
  EXPECT_EQ(LoadError("name: x\nfields:\n  2: {type: n, length: LL, max: 19, prefix: bcd, "
                      "encoding: bcd, colour: red}\n"),
            "dialect t.yaml: fields.2.colour: unknown key");
  EXPECT_EQ(LoadError("name: x\nmtx: bcd\nfields: {}\n"), "dialect t.yaml: mtx: unknown key");
}

TEST(DialectTest, RejectsInconsistentFieldDefinitions) {
  EXPECT_NE(LoadError("name: x\nfields:\n  3: {type: ans, length: fixed, size: 4, encoding: bcd}\n")
                .find("fields.3.encoding: bcd needs type n, z or xn"),
            std::string::npos);
  EXPECT_NE(LoadError("name: x\nfields:\n  2: {type: n, length: LL, max: 120, prefix: ascii}\n")
                .find("fields.2.max: 120 does not fit the length prefix (at most 99)"),
            std::string::npos);
  EXPECT_NE(LoadError("name: x\nfields:\n  2: {type: n, length: LL, max: 19}\n")
                .find("fields.2.prefix: missing"),
            std::string::npos);
  EXPECT_NE(LoadError("name: x\nfields:\n  3: {type: n, length: fixed, max: 6}\n")
                .find("fields.3.max: use 'size' for a fixed-length field"),
            std::string::npos);
  EXPECT_NE(LoadError("name: x\nfields:\n  3: {type: q, length: fixed, size: 6}\n")
                .find("fields.3.type: 'q' is not one of"),
            std::string::npos);
  EXPECT_NE(LoadError("name: x\nfields:\n  1: {type: b, length: fixed, size: 8}\n")
                .find("fields.1: '1' is not a whole number from 2 to 192"),
            std::string::npos);
  EXPECT_NE(LoadError("name: x\nfields:\n  140: {type: b, length: fixed, size: 8}\n")
                .find("fields.140: fields above 128 need tertiary_bitmap: true"),
            std::string::npos);
  EXPECT_NE(LoadError("name: x\nfields: [1, 2\n").find("dialect t.yaml: "), std::string::npos);
}

}  // namespace
}  // namespace sy::iso8583
