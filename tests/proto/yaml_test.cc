#include "proto/yaml.h"

#include <gtest/gtest.h>

#include "proto/journal.pb.h"

namespace sy::proto {
namespace {

// The journal's record has every kind of field the loader handles: strings, integers of each
// width, bool, enum, a nested message and a repeated message.
TEST(YamlTest, MergesEveryKindOfField) {
  TransactionRecord r;
  const std::string err = MergeYaml(R"(
id: 18446744073709551615
tid: TERM0001
amount_minor: -1000
currency: 978
stand_in: true
state: TXN_FORWARDED
pan: {masked: "476173******0010", key_id: data-1}
events:
  - {state: TXN_RECEIVED, at_micros: 1}
  - {state: TXN_FORWARDED, at_micros: 2, note: "to issuer"}
)",
                                    "t.yaml", r);
  ASSERT_EQ(err, "");
  EXPECT_EQ(r.id(), 18446744073709551615ULL);
  EXPECT_EQ(r.tid(), "TERM0001");
  EXPECT_EQ(r.amount_minor(), -1000);
  EXPECT_EQ(r.currency(), 978U);
  EXPECT_TRUE(r.stand_in());
  EXPECT_EQ(r.state(), TXN_FORWARDED);
  EXPECT_EQ(r.pan().key_id(), "data-1");
  ASSERT_EQ(r.events_size(), 2);
  EXPECT_EQ(r.events(1).note(), "to issuer");
}

TEST(YamlTest, AListInTheFileReplacesTheDefaultList) {
  TransactionRecord r;
  r.add_events()->set_note("default");
  ASSERT_EQ(MergeYaml("events: [{note: mine}]\ntid: T2\n", "t", r), "");
  ASSERT_EQ(r.events_size(), 1);
  EXPECT_EQ(r.events(0).note(), "mine");
  ASSERT_EQ(MergeYaml("stan: '000001'\n", "t", r), "");
  EXPECT_EQ(r.tid(), "T2");  // untouched keys keep their values
}

TEST(YamlTest, NamesThePathOfAnUnknownKey) {
  TransactionRecord r;
  EXPECT_EQ(
      MergeYaml("tid: T\nevents:\n  - {state: TXN_RECEIVED}\n  - {colour: red}\n", "c.yaml", r),
      "c.yaml: events[1].colour: unknown key");
  EXPECT_EQ(MergeYaml("pan: {maskd: x}\n", "c.yaml", r), "c.yaml: pan.maskd: unknown key");
}

TEST(YamlTest, NamesTheKeyOfAValueOfTheWrongType) {
  TransactionRecord r;
  EXPECT_EQ(MergeYaml("currency: euro\n", "c", r),
            "c: currency: 'euro' is not a non-negative 32-bit whole number");
  EXPECT_EQ(MergeYaml("currency: -1\n", "c", r),
            "c: currency: '-1' is not a non-negative 32-bit whole number");
  EXPECT_EQ(MergeYaml("currency: 99999999999\n", "c", r),
            "c: currency: '99999999999' is out of range for a non-negative 32-bit whole number");
  EXPECT_EQ(MergeYaml("stand_in: yes\n", "c", r), "c: stand_in: 'yes' is not true or false");
  EXPECT_NE(
      MergeYaml("state: FLYING\n", "c", r).find("c: state: 'FLYING' is not one of TXN_RECEIVED"),
      std::string::npos);
  EXPECT_EQ(MergeYaml("events: {a: 1}\n", "c", r), "c: events: expected a list");
  EXPECT_EQ(MergeYaml("pan: 12\n", "c", r), "c: pan: expected a mapping of keys to values");
  EXPECT_EQ(MergeYaml("tid: [a, b]\n", "c", r), "c: tid: expected a single value");
}

TEST(YamlTest, ReportsYamlSyntaxErrorsWithTheOrigin) {
  TransactionRecord r;
  EXPECT_EQ(MergeYaml("tid: [unclosed\n", "bad.yaml", r).rfind("bad.yaml: ", 0), 0U);
  EXPECT_EQ(MergeYamlFile("/nonexistent/x.yaml", r), "/nonexistent/x.yaml: cannot open the file");
}

}  // namespace
}  // namespace sy::proto
