// Differential tests against jPOS 2.1.10: every message in tests/data/jpos/{87a,87b,93a,93b}.jsonl
// was packed by jPOS's own packager (see tests/data/jpos/README.md). Each must pack from its
// fields to exactly jPOS's bytes, unpack to its fields (with jPOS's fixed-length padding), and
// pack back byte for byte.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>

#include "iso8583/codec.h"
#include "iso8583/json.h"
#include "tests/iso8583/test_util.h"

namespace sy::iso8583 {
namespace {

using testing::Builtin;
using testing::Bytes;

struct Vector {
  std::string dialect;
  std::string name;
  std::string line;
};

std::vector<Vector> LoadAll() {
  std::vector<Vector> out;
  const std::pair<const char*, const char*> files[] = {
      {"87a", "iso87a"}, {"87b", "iso87b"}, {"93a", "iso93a"}, {"93b", "iso93b"}};
  for (const auto& [file, dialect] : files) {
    int i = 0;
    for (auto& line :
         testing::ReadLines(testing::DataPath("jpos/" + std::string(file) + ".jsonl"))) {
      out.push_back({dialect, std::string(file) + "_" + std::to_string(i++), std::move(line)});
    }
  }
  return out;
}

// The bytes a corpus value stands for: text as ISO-8859-1 bytes, {"bin": HEX} as the bytes.
std::string ValueBytes(const boost::json::value& v) {
  if (v.is_string()) {
    return std::string(v.get_string());  // the corpus uses printable ASCII only
  }
  return Bytes(v.at("bin").as_string());
}

class JposVectorTest : public ::testing::TestWithParam<Vector> {};

TEST_P(JposVectorTest, PacksToJposBytesAndUnpacksToItsFields) {
  const Vector& vec = GetParam();
  const boost::json::object doc = boost::json::parse(vec.line).as_object();
  SCOPED_TRACE(std::string(doc.at("case").as_string()));
  auto dialect = Builtin(vec.dialect);
  ASSERT_NE(dialect, nullptr);
  const std::string wire = Bytes(doc.at("hex").as_string());

  // Pack from the fields jPOS was given.
  Message given;
  auto from = FromJson(doc.at("fields").as_object(), given);
  ASSERT_TRUE(from.has_value()) << from.error().message;
  std::string packed;
  auto p = Pack(*dialect, given, packed);
  ASSERT_TRUE(p.has_value()) << p.error().Describe();
  EXPECT_EQ(ToHex(packed), doc.at("hex").as_string());

  // Unpack jPOS's bytes: the same fields, padded as jPOS pads fixed-length values.
  std::map<int, std::string> expected;
  for (const auto& kv : doc.at("fields").as_object()) {
    expected[std::stoi(std::string(kv.key()))] = ValueBytes(kv.value());
  }
  if (const auto* unpacked = doc.if_contains("unpacked")) {
    for (const auto& kv : unpacked->as_object()) {
      expected[std::stoi(std::string(kv.key()))] = ValueBytes(kv.value());
    }
  }
  Message msg;
  auto u = Unpack(*dialect, wire, msg);
  ASSERT_TRUE(u.has_value()) << u.error().Describe();
  EXPECT_EQ(msg.mti(), expected[0]);
  std::map<int, std::string> got;
  for (int n : msg.present_fields()) {
    got[n] = std::string(msg.Get(n));
  }
  got[0] = std::string(msg.mti());
  EXPECT_EQ(got, expected);

  // And back, byte for byte.
  std::string repacked;
  auto r = Pack(*dialect, msg, repacked);
  ASSERT_TRUE(r.has_value()) << r.error().Describe();
  EXPECT_EQ(ToHex(repacked), doc.at("hex").as_string());
}

INSTANTIATE_TEST_SUITE_P(Jpos, JposVectorTest, ::testing::ValuesIn(LoadAll()),
                         [](const ::testing::TestParamInfo<Vector>& info) {
                           return info.param.name;
                         });

TEST(JposVectorCorpusTest, HasEveryFile) {
  // 292 + 292 + 293 + 293 lines, as the corpus README lists them.
  EXPECT_EQ(LoadAll().size(), 1170U);
}

}  // namespace
}  // namespace sy::iso8583
