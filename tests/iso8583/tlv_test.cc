#include "iso8583/tlv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sy::iso8583 {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes FromHex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    ADD_FAILURE() << "bad hex character";
    return 0;
  };
  Bytes out;
  for (std::size_t i = 0; i < hex.size();) {
    if (hex[i] == ' ') {
      ++i;
      continue;
    }
    out.push_back(static_cast<std::uint8_t>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
    i += 2;
  }
  return out;
}

std::string ToHex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (std::uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xF];
  }
  return out;
}

// One line per object: depth, tag, offset, and the value for primitives.
struct Node {
  int depth;
  std::uint32_t tag;
  bool constructed;
  std::size_t offset;
  std::string value;  // hex; empty for constructed objects
  bool operator==(const Node&) const = default;
};

std::vector<Node> Tree(std::span<const std::uint8_t> data, int max_depth = kTlvMaxDepth) {
  std::vector<Node> nodes;
  Result<void> r = WalkTlv(
      data,
      [&](const Tlv& tlv, int depth) {
        nodes.push_back({depth, tlv.tag, tlv.constructed, tlv.offset,
                         tlv.constructed ? std::string() : ToHex(tlv.value)});
        return true;
      },
      max_depth);
  EXPECT_TRUE(r) << r.error().Describe();
  return nodes;
}

CodecError ReadError(std::string_view hex) {
  const Bytes data = FromHex(hex);
  TlvReader reader(data);
  while (true) {
    Result<std::optional<Tlv>> next = reader.Next();
    if (!next) {
      return next.error();
    }
    if (!*next) {
      ADD_FAILURE() << "expected an error in " << hex;
      return {};
    }
  }
}

CodecError WalkError(std::span<const std::uint8_t> data, int max_depth = kTlvMaxDepth) {
  Result<void> r = WalkTlv(
      data, [](const Tlv&, int) { return true; }, max_depth);
  if (r) {
    ADD_FAILURE() << "expected an error";
    return {};
  }
  return r.error();
}

// Field 55 of the 0200/1200 chip purchase in tests/data/jpos/frames.jsonl (the terminal's ARQC
// data, EMV 4.4 Book 3 Annex A tags; cryptogram bytes arbitrary).
constexpr std::string_view kArqcData =
    "9F2608 1A2B3C4D5E6F7081"
    "9F2701 80"
    "9F1012 0110A00003220000000000000000000000FF"
    "9F3704 9BADBCAB"
    "9F3602 0001"
    "9505 0000008000"
    "9A03 251127"
    "9C01 00"
    "9F0206 000000012345"
    "5F2A02 0978"
    "8202 3C00"
    "9F1A02 0276"
    "9F0306 000000000000"
    "9F3303 E0F8C8"
    "9F3403 1E0300"
    "9F3501 22"
    "8407 A0000000031010"
    "5F3401 01";

// Field 55 of the reply in the same file: issuer authentication data (91 = ARPC + ARC) and 8A.
constexpr std::string_view kIssuerReply = "910A 1A2B3C4D5E6F70810012 8A02 3030";

TEST(TlvReaderTest, ReadsTheTerminalsChipDataFromTheJposCorpus) {
  const Bytes data = FromHex(kArqcData);
  TlvReader reader(data);
  std::vector<std::pair<std::uint32_t, std::string>> got;
  while (true) {
    Result<std::optional<Tlv>> next = reader.Next();
    ASSERT_TRUE(next) << next.error().Describe();
    if (!*next) {
      break;
    }
    EXPECT_FALSE((*next)->constructed);
    got.emplace_back((*next)->tag, ToHex((*next)->value));
  }
  using P = std::pair<std::uint32_t, std::string>;
  EXPECT_THAT(
      got, ::testing::ElementsAreArray(std::vector<P>{
               P{0x9F26, "1A2B3C4D5E6F7081"}, P{0x9F27, "80"},
               P{0x9F10, "0110A00003220000000000000000000000FF"}, P{0x9F37, "9BADBCAB"},
               P{0x9F36, "0001"}, P{0x95, "0000008000"}, P{0x9A, "251127"}, P{0x9C, "00"},
               P{0x9F02, "000000012345"}, P{0x5F2A, "0978"}, P{0x82, "3C00"}, P{0x9F1A, "0276"},
               P{0x9F03, "000000000000"}, P{0x9F33, "E0F8C8"}, P{0x9F34, "1E0300"}, P{0x9F35, "22"},
               P{0x84, "A0000000031010"}, P{0x5F34, "01"}}));
  EXPECT_EQ(reader.offset(), data.size());
}

TEST(TlvReaderTest, ReportsOffsetsOfEachTag) {
  const Bytes data = FromHex(kIssuerReply);
  TlvReader reader(data, 100);
  Result<std::optional<Tlv>> first = reader.Next();
  ASSERT_TRUE(first && *first);
  EXPECT_EQ((*first)->tag, 0x91u);
  EXPECT_EQ((*first)->offset, 100u);
  EXPECT_EQ((*first)->value.data(), data.data() + 2);  // a view, not a copy
  Result<std::optional<Tlv>> second = reader.Next();
  ASSERT_TRUE(second && *second);
  EXPECT_EQ((*second)->tag, 0x8Au);
  EXPECT_EQ((*second)->offset, 112u);
  EXPECT_EQ(ToHex((*second)->value), "3030");
}

TEST(TlvReaderTest, SkipsZeroPaddingBeforeBetweenAndAfterObjects) {
  // EMV 4.4 Book 3 Annex B1: '00' bytes may occur before, between or after data objects.
  const Bytes data = FromHex("0000 9F0206000000012345 00 82023C00 000000");
  const std::vector<Node> tree = Tree(data);
  EXPECT_THAT(tree, ::testing::ElementsAre(Node{0, 0x9F02, false, 2, "000000012345"},
                                           Node{0, 0x82, false, 12, "3C00"}));
  EXPECT_TRUE(Tree(FromHex("000000")).empty());
  EXPECT_TRUE(Tree({}).empty());
}

TEST(TlvReaderTest, ReadsLongFormLengths) {
  for (const auto& [prefix, size] :
       std::vector<std::pair<std::string, std::size_t>>{{"DF0181C8", 200},
                                                        {"DF01820100", 256},
                                                        {"DF0183010000", 65536},
                                                        {"DF018400000005", 5},
                                                        {"DF018105", 5},
                                                        {"DF0100", 0}}) {
    SCOPED_TRACE(prefix);
    Bytes data = FromHex(prefix);
    data.resize(data.size() + size, 0xAB);
    TlvReader reader(data);
    Result<std::optional<Tlv>> tlv = reader.Next();
    ASSERT_TRUE(tlv && *tlv);
    EXPECT_EQ((*tlv)->tag, 0xDF01u);
    EXPECT_EQ((*tlv)->value.size(), size);
    EXPECT_EQ((*tlv)->value.data(), data.data() + prefix.size() / 2);
    Result<std::optional<Tlv>> end = reader.Next();
    ASSERT_TRUE(end);
    EXPECT_FALSE(end->has_value());
  }
}

TEST(TlvReaderTest, ReadsThreeAndFourByteTags) {
  const Bytes data = FromHex("BF8102 03 9F0100 DF818203 01 AA");
  TlvReader reader(data);
  Result<std::optional<Tlv>> a = reader.Next();
  ASSERT_TRUE(a && *a);
  EXPECT_EQ((*a)->tag, 0xBF8102u);
  EXPECT_TRUE((*a)->constructed);
  EXPECT_EQ(ToHex((*a)->value), "9F0100");
  Result<std::optional<Tlv>> b = reader.Next();
  ASSERT_TRUE(b && *b);
  EXPECT_EQ((*b)->tag, 0xDF818203u);
  EXPECT_FALSE((*b)->constructed);
  EXPECT_EQ(ToHex((*b)->value), "AA");
}

// A response message template format 2 (tag 77, EMV 4.4 Book 3 6.5.5.4) as a card returns it to
// GENERATE AC, with a nested record template 70 carrying the application PAN (5A) and expiry
// (5F24). Offsets are relative to the start of the outer data.
constexpr std::string_view kTemplate =
    "77 30"
    "  9F27 01 80"
    "  9F36 02 0001"
    "  9F26 08 1A2B3C4D5E6F7081"
    "  9F10 07 06010A03A00000"
    "  70 10"
    "    5A 08 4761739001010010"
    "    5F24 03 281231";

TEST(TlvWalkTest, VisitsNestedTemplatesDepthFirst) {
  const Bytes data = FromHex(kTemplate);
  ASSERT_EQ(data.size(), 0x32u);
  EXPECT_THAT(
      Tree(data),
      ::testing::ElementsAre(
          Node{0, 0x77, true, 0, ""}, Node{1, 0x9F27, false, 2, "80"},
          Node{1, 0x9F36, false, 6, "0001"}, Node{1, 0x9F26, false, 11, "1A2B3C4D5E6F7081"},
          Node{1, 0x9F10, false, 22, "06010A03A00000"}, Node{1, 0x70, true, 32, ""},
          Node{2, 0x5A, false, 34, "4761739001010010"}, Node{2, 0x5F24, false, 44, "281231"}));
}

TEST(TlvWalkTest, StopsWhenTheVisitorSaysSo) {
  const Bytes data = FromHex(kTemplate);
  int visited = 0;
  Result<void> r = WalkTlv(data, [&](const Tlv& tlv, int) {
    ++visited;
    return tlv.tag != 0x9F36;
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(visited, 3);
}

TEST(TlvFindTest, FindsTagsAtAnyDepth) {
  const Bytes data = FromHex(kTemplate);
  Result<std::optional<Tlv>> pan = FindTlv(data, 0x5A);
  ASSERT_TRUE(pan && *pan);
  EXPECT_EQ(ToHex((*pan)->value), "4761739001010010");
  EXPECT_EQ((*pan)->offset, 34u);
  Result<std::optional<Tlv>> cid = FindTlv(data, 0x9F27);
  ASSERT_TRUE(cid && *cid);
  EXPECT_EQ(ToHex((*cid)->value), "80");
  Result<std::optional<Tlv>> missing = FindTlv(data, 0x9F02);
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());

  const Bytes arqc = FromHex(kArqcData);
  Result<std::optional<Tlv>> amount = FindTlv(arqc, 0x9F02);
  ASSERT_TRUE(amount && *amount);
  EXPECT_EQ(ToHex((*amount)->value), "000000012345");
  Result<std::optional<Tlv>> tvr = FindTlv(arqc, 0x95);
  ASSERT_TRUE(tvr && *tvr);
  EXPECT_EQ(ToHex((*tvr)->value), "0000008000");
}

TEST(TlvFindTest, ReturnsTheFirstMatchAndIgnoresDataAfterIt) {
  const Bytes data = FromHex("8A023030 8A023035 9F");  // trailing truncated tag
  Result<std::optional<Tlv>> arc = FindTlv(data, 0x8A);
  ASSERT_TRUE(arc && *arc);
  EXPECT_EQ(ToHex((*arc)->value), "3030");
  Result<std::optional<Tlv>> beyond = FindTlv(data, 0x91);
  ASSERT_FALSE(beyond);
  EXPECT_EQ(beyond.error().code, Error::kTruncated);
  EXPECT_EQ(beyond.error().offset, 8u);
}

// ---- Errors ---------------------------------------------------------------------------------

TEST(TlvErrorTest, TruncatedTagNamesTheTagOffset) {
  for (const char* hex : {"9F", "5F", "BF81", "9F0100 DF8182"}) {
    SCOPED_TRACE(hex);
    const CodecError e = ReadError(hex);
    EXPECT_EQ(e.code, Error::kTruncated);
    EXPECT_EQ(e.offset, std::string_view(hex).starts_with("9F0100") ? 3u : 0u);
  }
}

TEST(TlvErrorTest, TruncatedLengthNamesTheLengthOffset) {
  CodecError e = ReadError("9F26");
  EXPECT_EQ(e.code, Error::kTruncated);
  EXPECT_EQ(e.offset, 2u);
  e = ReadError("9F26 8201");
  EXPECT_EQ(e.code, Error::kTruncated);
  EXPECT_EQ(e.offset, 2u);
  EXPECT_EQ(e.actual, 2u);
  EXPECT_EQ(e.limit, 1u);
  e = ReadError("82 84000000");
  EXPECT_EQ(e.code, Error::kTruncated);
  EXPECT_EQ(e.offset, 1u);
}

TEST(TlvErrorTest, RejectsIndefiniteLength) {
  const CodecError e = ReadError("77 80 9F2701 80 0000");
  EXPECT_EQ(e.code, Error::kBadTlv);
  EXPECT_EQ(e.offset, 1u);
}

TEST(TlvErrorTest, RejectsLengthsOfMoreThanFourBytes) {
  const CodecError e = ReadError("9F26 85 0000000008 1A2B3C4D5E6F7081");
  EXPECT_EQ(e.code, Error::kBadTlv);
  EXPECT_EQ(e.offset, 2u);
  EXPECT_EQ(e.actual, 5u);
  EXPECT_EQ(e.limit, 4u);
  EXPECT_EQ(ReadError("82 FF").code, Error::kBadTlv);
}

TEST(TlvErrorTest, ValueBeyondTheDataNamesTheValueOffset) {
  CodecError e = ReadError("9F26 08 1A2B");
  EXPECT_EQ(e.code, Error::kTruncated);
  EXPECT_EQ(e.offset, 3u);
  EXPECT_EQ(e.actual, 8u);
  EXPECT_EQ(e.limit, 2u);
  e = ReadError("82 84FFFFFFFF 00");
  EXPECT_EQ(e.code, Error::kTruncated);
  EXPECT_EQ(e.actual, 0xFFFFFFFFu);
  EXPECT_EQ(e.limit, 1u);
}

TEST(TlvErrorTest, RejectsTagsLongerThanFourBytes) {
  const CodecError e = ReadError("9F0100 DF81828384 01 AA");
  EXPECT_EQ(e.code, Error::kBadTlv);
  EXPECT_EQ(e.offset, 3u);
  EXPECT_EQ(e.limit, 4u);
}

TEST(TlvErrorTest, ErrorsInsideATemplateNameTheOffsetInTheWholeField) {
  // 70's value ends in the middle of 5F24's value: offsets count from the start of the field.
  const Bytes data = FromHex("9F2701 80 70 06 5A02 4761 5F24");
  const CodecError e = WalkError(data);
  EXPECT_EQ(e.code, Error::kTruncated);
  EXPECT_EQ(e.offset, 12u);  // the missing length of 5F24 inside 70
}

TEST(TlvErrorTest, ErrorsAreSticky) {
  const Bytes data = FromHex("9F26");
  TlvReader reader(data);
  Result<std::optional<Tlv>> first = reader.Next();
  Result<std::optional<Tlv>> again = reader.Next();
  ASSERT_FALSE(first);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().offset, first.error().offset);
}

Bytes Nested(int levels) {
  Bytes out;
  TlvWriter w(out);
  for (int i = 0; i < levels; ++i) {
    EXPECT_TRUE(w.Begin(0xE1));
  }
  EXPECT_TRUE(w.Add(0x9F02, FromHex("000000012345")));
  for (int i = 0; i < levels; ++i) {
    EXPECT_TRUE(w.End());
  }
  return out;
}

TEST(TlvErrorTest, RejectsNestingDeeperThanTheLimit) {
  const Bytes eight = Nested(8);
  const std::vector<Node> tree = Tree(eight);
  ASSERT_EQ(tree.size(), 9u);
  EXPECT_EQ(tree.back(), (Node{8, 0x9F02, false, 16, "000000012345"}));

  // A ninth level, written by hand since TlvWriter refuses it.
  Bytes nine = FromHex("E1");
  nine.push_back(static_cast<std::uint8_t>(eight.size()));
  nine.insert(nine.end(), eight.begin(), eight.end());
  CodecError e = WalkError(nine);
  EXPECT_EQ(e.code, Error::kTlvTooDeep);
  EXPECT_EQ(e.offset, 16u);  // the innermost E1
  EXPECT_EQ(e.actual, 9u);
  EXPECT_EQ(e.limit, 8u);

  e = WalkError(FromHex("E1 03 E1 01 00"), 1);
  EXPECT_EQ(e.code, Error::kTlvTooDeep);
  EXPECT_EQ(e.offset, 2u);
  EXPECT_EQ(Tree(FromHex("E1 03 E1 01 00"), 2).size(), 2u);
}

TEST(TlvErrorTest, DescriptionsCarryNoValueBytes) {
  const CodecError e = ReadError("5A 08 4761739001");
  const std::string text = e.Describe();
  EXPECT_THAT(text, ::testing::HasSubstr("at byte 2"));
  EXPECT_THAT(text, ::testing::Not(::testing::HasSubstr("4761")));
  EXPECT_THAT(text, ::testing::Not(::testing::HasSubstr("71")));
}

// ---- Writer ---------------------------------------------------------------------------------

TEST(TlvWriterTest, WritesMultiByteTagsAndShortLengths) {
  Bytes out;
  TlvWriter w(out);
  ASSERT_TRUE(w.Add(0x9F02, FromHex("000000012345")));
  ASSERT_TRUE(w.Add(0x5F2A, FromHex("0978")));
  ASSERT_TRUE(w.Add(0x82, FromHex("3C00")));
  ASSERT_TRUE(w.Add(0x9C, FromHex("00")));
  ASSERT_TRUE(w.Add(0xDF818203, FromHex("AA")));
  ASSERT_TRUE(w.Add(0x8A, {}));
  EXPECT_EQ(ToHex(out),
            "9F0206000000012345"
            "5F2A020978"
            "82023C00"
            "9C0100"
            "DF81820301AA"
            "8A00");
}

TEST(TlvWriterTest, WritesTheShortestLongFormLength) {
  for (const auto& [size, prefix] :
       std::vector<std::pair<std::size_t, std::string>>{{127, "DF017F"},
                                                        {128, "DF018180"},
                                                        {255, "DF0181FF"},
                                                        {256, "DF01820100"},
                                                        {65535, "DF0182FFFF"},
                                                        {65536, "DF0183010000"},
                                                        {0x1000000, "DF018401000000"}}) {
    SCOPED_TRACE(size);
    Bytes out;
    TlvWriter w(out);
    ASSERT_TRUE(w.Add(0xDF01, Bytes(size, 0x5A)));
    EXPECT_EQ(ToHex(std::span(out).first(prefix.size() / 2)), prefix);
    EXPECT_EQ(out.size(), prefix.size() / 2 + size);
  }
}

TEST(TlvWriterTest, BuildsTheIssuerScriptsAnIssuerSendsBack) {
  // Field 55 of an authorization response: 91 issuer authentication data (ARPC + ARC), then an
  // issuer script template 1 (71) and 2 (72), each with a script identifier (9F18) and script
  // commands (86) — EMV 4.4 Book 3 Annex A; commands are PIN CHANGE/UNBLOCK and APPLICATION
  // UNBLOCK with arbitrary MAC bytes.
  Bytes out;
  TlvWriter w(out);
  ASSERT_TRUE(w.Add(0x91, FromHex("1A2B3C4D5E6F70810012")));
  ASSERT_TRUE(w.Begin(0x71));
  ASSERT_TRUE(w.Add(0x9F18, FromHex("00000001")));
  ASSERT_TRUE(w.Add(0x86, FromHex("8424000008 0102030405060708")));
  ASSERT_TRUE(w.End());
  ASSERT_TRUE(w.Begin(0x72));
  ASSERT_TRUE(w.Add(0x9F18, FromHex("00000002")));
  ASSERT_TRUE(w.Add(0x86, FromHex("8418000004 A1B2C3D4")));
  ASSERT_TRUE(w.End());
  EXPECT_EQ(w.depth(), 0);
  EXPECT_EQ(ToHex(out),
            "910A1A2B3C4D5E6F70810012"
            "7116"
            "9F180400000001"
            "860D84240000080102030405060708"
            "7212"
            "9F180400000002"
            "86098418000004A1B2C3D4");

  EXPECT_THAT(Tree(out), ::testing::ElementsAre(
                             Node{0, 0x91, false, 0, "1A2B3C4D5E6F70810012"},
                             Node{0, 0x71, true, 12, ""}, Node{1, 0x9F18, false, 14, "00000001"},
                             Node{1, 0x86, false, 21, "84240000080102030405060708"},
                             Node{0, 0x72, true, 36, ""}, Node{1, 0x9F18, false, 38, "00000002"},
                             Node{1, 0x86, false, 45, "8418000004A1B2C3D4"}));
  Result<std::optional<Tlv>> second_script = FindTlv(out, 0x72);
  ASSERT_TRUE(second_script && *second_script);
  Result<std::optional<Tlv>> id = FindTlv((*second_script)->value, 0x9F18);
  ASSERT_TRUE(id && *id);
  EXPECT_EQ(ToHex((*id)->value), "00000002");
}

TEST(TlvWriterTest, PatchesLongFormLengthsOfNestedConstructedObjects) {
  Bytes out;
  TlvWriter w(out);
  ASSERT_TRUE(w.Begin(0xBF0C));  // FCI issuer discretionary data: a two-byte constructed tag
  ASSERT_TRUE(w.Begin(0x61));
  ASSERT_TRUE(w.Add(0x4F, FromHex("A0000000031010")));
  ASSERT_TRUE(w.Add(0x50, Bytes(150, 'V')));  // pushes 61 past 127 bytes
  ASSERT_TRUE(w.End());
  ASSERT_TRUE(w.Add(0x9F4D, FromHex("0B0A")));
  ASSERT_TRUE(w.End());
  // 61: 4F(2+7) + 50(3+150) = 162 = 0xA2 -> 81A2; BF0C: 61(3+162) + 9F4D(5) = 170 -> 81AA.
  EXPECT_EQ(ToHex(std::span(out).first(8)), "BF0C81AA6181A24F");
  ASSERT_EQ(out.size(), 4u + 170u);
  const std::vector<Node> tree = Tree(out);
  ASSERT_EQ(tree.size(), 5u);
  EXPECT_EQ(tree[0], (Node{0, 0xBF0C, true, 0, ""}));
  EXPECT_EQ(tree[1], (Node{1, 0x61, true, 4, ""}));
  EXPECT_EQ(tree[2], (Node{2, 0x4F, false, 7, "A0000000031010"}));
  EXPECT_EQ(tree[4], (Node{1, 0x9F4D, false, 169, "0B0A"}));
}

TEST(TlvWriterTest, RoundTripsTheChipDataTheTemplateAndTheReply) {
  for (std::string_view hex : {kArqcData, kTemplate, kIssuerReply}) {
    const Bytes original = FromHex(hex);
    Bytes rebuilt;
    TlvWriter w(rebuilt);
    // Rebuild from the tree: primitives with Add, templates with Begin/End.
    std::vector<int> open_depths;
    Result<void> walked = WalkTlv(original, [&](const Tlv& tlv, int depth) {
      while (!open_depths.empty() && open_depths.back() >= depth) {
        EXPECT_TRUE(w.End());
        open_depths.pop_back();
      }
      if (tlv.constructed) {
        EXPECT_TRUE(w.Begin(tlv.tag));
        open_depths.push_back(depth);
      } else {
        EXPECT_TRUE(w.Add(tlv.tag, tlv.value));
      }
      return true;
    });
    ASSERT_TRUE(walked);
    while (!open_depths.empty()) {
      ASSERT_TRUE(w.End());
      open_depths.pop_back();
    }
    EXPECT_EQ(ToHex(rebuilt), ToHex(original));
    EXPECT_EQ(Tree(rebuilt), Tree(original));
  }
}

TEST(TlvWriterTest, RejectsInvalidTags) {
  Bytes out = {0x01};
  TlvWriter w(out);
  for (std::uint32_t tag :
       {0x00u, 0x9Fu, 0x5Fu, 0x1F80u, 0x0120u, 0x9F0101u, 0xDF818283u, 0x9F2680u}) {
    SCOPED_TRACE(tag);
    EXPECT_FALSE(IsValidTlvTag(tag));
    Result<void> r = w.Add(tag, FromHex("00"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Error::kBadTlv);
    EXPECT_EQ(r.error().offset, 1u);
  }
  for (std::uint32_t tag : {0x82u, 0x9F26u, 0x1F00u, 0xDF8102u, 0xDF818203u, 0x5Au}) {
    EXPECT_TRUE(IsValidTlvTag(tag)) << tag;
  }
  EXPECT_EQ(out, (Bytes{0x01}));
}

TEST(TlvWriterTest, RejectsBeginOnAPrimitiveTagAndEndWithNothingOpen) {
  Bytes out;
  TlvWriter w(out);
  Result<void> primitive = w.Begin(0x9F26);
  ASSERT_FALSE(primitive);
  EXPECT_EQ(primitive.error().code, Error::kBadTlv);
  Result<void> end = w.End();
  ASSERT_FALSE(end);
  EXPECT_EQ(end.error().code, Error::kBadTlv);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(IsConstructedTlvTag(0x77));
  EXPECT_TRUE(IsConstructedTlvTag(0xBF0C));
  EXPECT_FALSE(IsConstructedTlvTag(0x9F26));
  EXPECT_FALSE(IsConstructedTlvTag(0x5A));
}

TEST(TlvWriterTest, RejectsANinthOpenConstructedObject) {
  Bytes out;
  TlvWriter w(out);
  for (int i = 0; i < kTlvMaxDepth; ++i) {
    ASSERT_TRUE(w.Begin(0xE1));
  }
  const std::size_t size = out.size();
  Result<void> r = w.Begin(0xE1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Error::kTlvTooDeep);
  EXPECT_EQ(r.error().limit, 8u);
  EXPECT_EQ(out.size(), size);
  EXPECT_EQ(w.depth(), kTlvMaxDepth);
}

}  // namespace
}  // namespace sy::iso8583
