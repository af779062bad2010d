#include "iso8583/framing.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <ostream>
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
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    ADD_FAILURE() << "bad hex character";
    return 0;
  };
  EXPECT_EQ(hex.size() % 2, 0u);
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
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

Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// A frame copied out of the reader, so it outlives the next Next().
struct OwnedFrame {
  std::string tpdu;
  std::string message;
  std::uint64_t offset;
  bool operator==(const OwnedFrame&) const = default;
  friend void PrintTo(const OwnedFrame& f, std::ostream* os) {
    *os << "{tpdu " << f.tpdu << ", message " << f.message << ", offset " << f.offset << "}";
  }
};

OwnedFrame Own(const Frame& f) { return {ToHex(f.tpdu), ToHex(f.message), f.offset}; }

// Drains every complete frame; fails the test on an error.
std::vector<OwnedFrame> Drain(FrameReader& reader) {
  std::vector<OwnedFrame> frames;
  while (true) {
    Result<std::optional<Frame>> next = reader.Next();
    if (!next) {
      ADD_FAILURE() << next.error().Describe();
      return frames;
    }
    if (!*next) {
      return frames;
    }
    frames.push_back(Own(**next));
  }
}

CodecError ExpectError(FrameReader& reader) {
  while (true) {
    Result<std::optional<Frame>> next = reader.Next();
    if (!next) {
      return next.error();
    }
    if (!*next) {
      ADD_FAILURE() << "expected an error, got end of data";
      return {};
    }
  }
}

// ---- jPOS NACChannel frames captured on the wire (tests/data/jpos/frames.jsonl) --------------

struct WireCase {
  std::string name;
  std::string frame;    // hex, as captured
  std::string tpdu;     // hex, empty when there is none
  std::string message;  // hex
};

struct Exchange {
  std::string name;
  bool has_tpdu;
  WireCase request;
  WireCase reply;
};

std::vector<Exchange> LoadFrames() {
  const char* root = std::getenv("SY_SOURCE_DIR");
  const std::string path = std::string(root ? root : ".") + "/tests/data/jpos/frames.jsonl";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::vector<Exchange> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) {
      continue;
    }
    const boost::json::object o = boost::json::parse(line).as_object();
    Exchange e;
    e.name = std::string(o.at("case").as_string());
    e.has_tpdu = !o.at("tpdu_request").is_null();
    auto side = [&](const char* key, const char* tpdu_key) {
      const boost::json::object& s = o.at(key).as_object();
      WireCase w;
      w.name = e.name + " / " + key;
      w.frame = std::string(s.at("frame").as_string());
      w.message = std::string(s.at("hex").as_string());
      if (!o.at(tpdu_key).is_null()) {
        w.tpdu = std::string(o.at(tpdu_key).as_string());
      }
      return w;
    };
    e.request = side("request", "tpdu_request");
    e.reply = side("reply", "tpdu_reply");
    out.push_back(std::move(e));
  }
  return out;
}

FramingOptions NacOptions(bool tpdu) { return {.kind = FrameKind::kNac, .tpdu = tpdu}; }

TEST(FramingJposTest, CorpusHasThirteenExchangesWithAndWithoutTpdu) {
  const std::vector<Exchange> exchanges = LoadFrames();
  ASSERT_EQ(exchanges.size(), 13u);
  int without = 0;
  for (const Exchange& e : exchanges) {
    without += e.has_tpdu ? 0 : 1;
  }
  EXPECT_EQ(without, 2);
}

TEST(FramingJposTest, EveryCapturedFrameSplitsIntoTpduAndMessage) {
  for (const Exchange& e : LoadFrames()) {
    for (const WireCase* w : {&e.request, &e.reply}) {
      SCOPED_TRACE(w->name);
      FrameReader reader(NacOptions(e.has_tpdu));
      const Bytes wire = FromHex(w->frame);
      reader.Append(wire);
      Result<std::optional<Frame>> frame = reader.Next();
      ASSERT_TRUE(frame) << frame.error().Describe();
      ASSERT_TRUE(frame->has_value());
      EXPECT_EQ(ToHex((*frame)->tpdu), w->tpdu);
      EXPECT_EQ(ToHex((*frame)->message), w->message);
      EXPECT_EQ(ToHex((*frame)->wire), w->frame);
      EXPECT_EQ((*frame)->offset, 0u);
      Result<std::optional<Frame>> after = reader.Next();
      ASSERT_TRUE(after);
      EXPECT_FALSE(after->has_value());
      EXPECT_EQ(reader.buffered(), 0u);
    }
  }
}

TEST(FramingJposTest, ReframingGivesTheCapturedBytes) {
  for (const Exchange& e : LoadFrames()) {
    for (const WireCase* w : {&e.request, &e.reply}) {
      SCOPED_TRACE(w->name);
      Bytes out;
      ASSERT_TRUE(AppendFrame(NacOptions(e.has_tpdu), FromHex(w->tpdu), FromHex(w->message), out));
      EXPECT_EQ(ToHex(out), w->frame);
      std::string text;
      ASSERT_TRUE(AppendFrame(NacOptions(e.has_tpdu), FromHex(w->tpdu), FromHex(w->message), text));
      EXPECT_EQ(ToHex(ToBytes(text)), w->frame);
    }
  }
}

TEST(FramingJposTest, RequestTpduSwappedIsTheReplyTpdu) {
  int checked = 0;
  for (const Exchange& e : LoadFrames()) {
    if (!e.has_tpdu) {
      continue;
    }
    SCOPED_TRACE(e.name);
    Result<Tpdu> request = Tpdu::FromBytes(FromHex(e.request.tpdu));
    ASSERT_TRUE(request);
    EXPECT_EQ(ToHex(request->SwapForReply().bytes()), e.reply.tpdu);
    EXPECT_NE(ToHex(request->bytes()), e.reply.tpdu);
    ++checked;
  }
  EXPECT_EQ(checked, 11);
}

TEST(FramingJposTest, WholeCorpusAsOneStreamFedByteByByteGivesEveryFrame) {
  const std::vector<Exchange> exchanges = LoadFrames();
  Bytes stream;
  std::vector<const WireCase*> expected;
  for (const Exchange& e : exchanges) {
    if (!e.has_tpdu) {
      continue;
    }
    for (const WireCase* w : {&e.request, &e.reply}) {
      const Bytes wire = FromHex(w->frame);
      stream.insert(stream.end(), wire.begin(), wire.end());
      expected.push_back(w);
    }
  }
  FrameReader reader(NacOptions(true));
  std::vector<OwnedFrame> got;
  for (std::uint8_t b : stream) {
    reader.Append(std::span<const std::uint8_t>(&b, 1));
    for (OwnedFrame& f : Drain(reader)) {
      got.push_back(std::move(f));
    }
  }
  ASSERT_EQ(got.size(), expected.size());
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].tpdu, expected[i]->tpdu) << expected[i]->name;
    EXPECT_EQ(got[i].message, expected[i]->message) << expected[i]->name;
    EXPECT_EQ(got[i].offset, offset);
    offset += expected[i]->frame.size() / 2;
  }
  EXPECT_EQ(reader.consumed(), stream.size());
  EXPECT_EQ(reader.buffered(), 0u);
}

// ---- Tpdu
// ----------------------------------------------------------------------------------------

TEST(TpduTest, SwapForReplyExchangesDestinationAndSource) {
  EXPECT_EQ(ToHex(Tpdu(0x0001, 0x0000).SwapForReply().bytes()), "6000000001");
  EXPECT_EQ(ToHex(Tpdu(0x1234, 0x0567).SwapForReply().bytes()), "6005671234");
  const Tpdu t(0x1234, 0x0567, 0x68);
  EXPECT_EQ(t.id(), 0x68);
  EXPECT_EQ(t.destination(), 0x1234);
  EXPECT_EQ(t.source(), 0x0567);
  EXPECT_EQ(t.SwapForReply().SwapForReply(), t);
  static_assert(Tpdu(1, 2).SwapForReply() == Tpdu(2, 1));
}

TEST(TpduTest, FromBytesRejectsAnythingButFiveBytes) {
  Result<Tpdu> ok = Tpdu::FromBytes(FromHex("6012340567"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->destination(), 0x1234);
  EXPECT_EQ(ok->source(), 0x0567);
  Result<Tpdu> short_tpdu = Tpdu::FromBytes(FromHex("60123405"));
  ASSERT_FALSE(short_tpdu);
  EXPECT_EQ(short_tpdu.error().code, Error::kBadFrameLength);
  EXPECT_EQ(short_tpdu.error().actual, 4u);
  EXPECT_EQ(short_tpdu.error().limit, 5u);
  EXPECT_FALSE(Tpdu::FromBytes(FromHex("601234056700")));
}

// ---- FrameReader
// ---------------------------------------------------------------------------------

TEST(FrameReaderTest, ReturnsNothingUntilTheFrameIsComplete) {
  FrameReader reader(NacOptions(true));
  const Bytes wire = FromHex("000960000100000800AABB");  // length 9 = TPDU 5 + message 4
  for (std::size_t i = 0; i + 1 < wire.size(); ++i) {
    reader.Append(std::span(wire).subspan(i, 1));
    Result<std::optional<Frame>> next = reader.Next();
    ASSERT_TRUE(next);
    EXPECT_FALSE(next->has_value()) << "after byte " << i;
  }
  reader.Append(std::span(wire).subspan(wire.size() - 1));
  std::vector<OwnedFrame> frames = Drain(reader);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].tpdu, "6000010000");
  EXPECT_EQ(frames[0].message, "0800AABB");
}

TEST(FrameReaderTest, SplitsSeveralFramesDeliveredInOneRead) {
  FrameReader reader(NacOptions(true));
  reader.Append(
      FromHex("0006600001000001"
              "0007600002000002AB"
              "0006600003"));
  std::vector<OwnedFrame> frames = Drain(reader);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0], (OwnedFrame{"6000010000", "01", 0}));
  EXPECT_EQ(frames[1], (OwnedFrame{"6000020000", "02AB", 8}));
  EXPECT_EQ(reader.buffered(), 5u);  // the start of a third frame waits for its rest
  reader.Append(FromHex("000003"));
  frames = Drain(reader);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0], (OwnedFrame{"6000030000", "03", 17}));
  EXPECT_EQ(reader.consumed(), 25u);
}

TEST(FrameReaderTest, FramesViewTheBufferWithoutCopies) {
  FrameReader reader(NacOptions(false));
  reader.Append(FromHex("0002AAAA0002BBBB"));
  Result<std::optional<Frame>> first = reader.Next();
  ASSERT_TRUE(first && *first);
  const std::uint8_t* first_message = (*first)->message.data();
  EXPECT_EQ((*first)->wire.data() + 2, first_message);
  Result<std::optional<Frame>> second = reader.Next();
  ASSERT_TRUE(second && *second);
  EXPECT_EQ((*second)->message.data(), first_message + 4);
  EXPECT_TRUE((*second)->tpdu.empty());
}

TEST(FrameReaderTest, PrepareAndCommitFeedTheReaderLikeAsyncReadSome) {
  const Bytes wire = FromHex(
      "000460000100"
      "00076000020000ABCD");
  FrameReader reader(NacOptions(false));  // no TPDU: the "6000.." bytes are message
  std::vector<OwnedFrame> got;
  std::size_t at = 0;
  for (std::size_t chunk : {3u, 1u, 7u, 100u}) {
    std::span<std::uint8_t> area = reader.Prepare(chunk);
    ASSERT_EQ(area.size(), chunk);
    const std::size_t n = std::min(chunk, wire.size() - at);
    std::copy_n(wire.begin() + static_cast<std::ptrdiff_t>(at), n, area.begin());
    reader.Commit(n);
    at += n;
    for (OwnedFrame& f : Drain(reader)) {
      got.push_back(std::move(f));
    }
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], (OwnedFrame{"", "60000100", 0}));
  EXPECT_EQ(got[1], (OwnedFrame{"", "6000020000ABCD", 6}));
}

TEST(FrameReaderTest, CommitNeverExposesMoreThanWasPrepared) {
  FrameReader reader(NacOptions(false));
  std::span<std::uint8_t> area = reader.Prepare(2);
  area[0] = 0x00;
  area[1] = 0x01;
  reader.Commit(10);
  EXPECT_EQ(reader.buffered(), 2u);
}

TEST(FrameReaderTest, DoesNotGrowItsBufferInSteadyState) {
  FrameReader reader(NacOptions(true));
  Bytes stream;
  for (int i = 0; i < 50; ++i) {
    const Bytes one = FromHex(
        "000B6000010000"
        "0200"
        "11223344");
    stream.insert(stream.end(), one.begin(), one.end());
  }
  // Reads of 37 bytes cut the 13-byte frames at every possible position.
  std::size_t at = 0;
  int frames = 0;
  std::size_t warm_capacity = 0;
  while (at < stream.size()) {
    std::span<std::uint8_t> area = reader.Prepare(64);
    const std::size_t n = std::min<std::size_t>(37, stream.size() - at);
    std::copy_n(stream.begin() + static_cast<std::ptrdiff_t>(at), n, area.begin());
    reader.Commit(n);
    at += n;
    frames += static_cast<int>(Drain(reader).size());
    if (frames >= 10 && warm_capacity == 0) {
      warm_capacity = reader.capacity();
    }
    if (warm_capacity != 0) {
      EXPECT_EQ(reader.capacity(), warm_capacity) << "grew after " << frames << " frames";
    }
  }
  EXPECT_EQ(frames, 50);
  EXPECT_GT(warm_capacity, 0u);
  EXPECT_LE(warm_capacity, 128u);  // one read area plus one partial frame, rounded up
}

TEST(FrameReaderTest, RejectsALengthOverTheMaximumBeforeTheBodyArrives) {
  FrameReader reader({.kind = FrameKind::kNac, .tpdu = true, .max_frame = 100});
  reader.Append(FromHex("000660000100000A"));  // one good frame first
  reader.Append(FromHex("0065"));              // 101 > 100, body never sent
  Result<std::optional<Frame>> first = reader.Next();
  ASSERT_TRUE(first && *first);
  const CodecError e = ExpectError(reader);
  EXPECT_EQ(e.code, Error::kFrameTooLarge);
  EXPECT_EQ(e.offset, 8u);
  EXPECT_EQ(e.actual, 101u);
  EXPECT_EQ(e.limit, 100u);
}

TEST(FrameReaderTest, DefaultMaximumIs4096) {
  FrameReader ok(NacOptions(false));
  ok.Append(FromHex("1000"));  // 4096: waits for the body
  Result<std::optional<Frame>> waiting = ok.Next();
  ASSERT_TRUE(waiting);
  EXPECT_FALSE(waiting->has_value());

  FrameReader too_large(NacOptions(false));
  too_large.Append(FromHex("1001"));
  const CodecError e = ExpectError(too_large);
  EXPECT_EQ(e.code, Error::kFrameTooLarge);
  EXPECT_EQ(e.actual, 4097u);
  EXPECT_EQ(e.limit, 4096u);
}

TEST(FrameReaderTest, ErrorsAreSticky) {
  FrameReader reader(NacOptions(true));
  reader.Append(FromHex("FFFF"));
  const CodecError first = ExpectError(reader);
  reader.Append(FromHex("000660000100000A"));
  const CodecError again = ExpectError(reader);
  EXPECT_EQ(first.code, Error::kFrameTooLarge);
  EXPECT_EQ(again.code, first.code);
  EXPECT_EQ(again.offset, first.offset);
}

TEST(FrameReaderTest, RejectsAZeroLengthFrameAtItsOffset) {
  FrameReader reader(NacOptions(false));
  reader.Append(
      FromHex("00010A"
              "0000"));
  Result<std::optional<Frame>> first = reader.Next();
  ASSERT_TRUE(first && *first);
  const CodecError e = ExpectError(reader);
  EXPECT_EQ(e.code, Error::kBadFrameLength);
  EXPECT_EQ(e.offset, 3u);
  EXPECT_EQ(e.actual, 0u);
  EXPECT_EQ(e.limit, 1u);
}

TEST(FrameReaderTest, RejectsALengthNoLongerThanTheTpdu) {
  for (const char* hex : {"0000", "0004", "0005"}) {
    SCOPED_TRACE(hex);
    FrameReader reader(NacOptions(true));
    reader.Append(FromHex(hex));
    const CodecError e = ExpectError(reader);
    EXPECT_EQ(e.code, Error::kBadFrameLength);
    EXPECT_EQ(e.offset, 0u);
    EXPECT_EQ(e.limit, 6u);
  }
}

TEST(FrameReaderTest, ReadsAscii4Frames) {
  FrameReader reader({.kind = FrameKind::kAscii4});  // tpdu = true is ignored for ascii4
  Bytes stream = ToBytes("0004ABCD0012");
  const Bytes rest = ToBytes("0200HELLOSY!");
  stream.insert(stream.end(), rest.begin(), rest.end());
  for (std::uint8_t b : stream) {
    reader.Append(std::span<const std::uint8_t>(&b, 1));
  }
  std::vector<OwnedFrame> frames = Drain(reader);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0], (OwnedFrame{"", ToHex(ToBytes("ABCD")), 0}));
  EXPECT_EQ(frames[1], (OwnedFrame{"", ToHex(rest), 8}));
}

TEST(FrameReaderTest, RejectsAscii4LengthWithANonDigitAtItsOffset) {
  for (const auto& [text, at] : std::vector<std::pair<std::string, std::size_t>>{
           {"00A1", 2}, {" 012", 0}, {"001:", 3}, {"001/", 3}, {"-001", 0}}) {
    SCOPED_TRACE(text);
    FrameReader reader({.kind = FrameKind::kAscii4});
    reader.Append(ToBytes("0001X"));  // one good frame, then the bad prefix
    reader.Append(ToBytes(text));
    Result<std::optional<Frame>> first = reader.Next();
    ASSERT_TRUE(first && *first);
    const CodecError e = ExpectError(reader);
    EXPECT_EQ(e.code, Error::kBadFrameLength);
    EXPECT_EQ(e.offset, 5 + at);
  }
}

TEST(FrameReaderTest, Ascii4LengthsAreBoundedByMaxFrameAndRejectZero) {
  FrameReader too_large({.kind = FrameKind::kAscii4, .max_frame = 50});
  too_large.Append(ToBytes("0051"));
  CodecError e = ExpectError(too_large);
  EXPECT_EQ(e.code, Error::kFrameTooLarge);
  EXPECT_EQ(e.actual, 51u);
  EXPECT_EQ(e.limit, 50u);

  FrameReader zero({.kind = FrameKind::kAscii4});
  zero.Append(ToBytes("0000"));
  e = ExpectError(zero);
  EXPECT_EQ(e.code, Error::kBadFrameLength);
  EXPECT_EQ(e.offset, 0u);
}

TEST(FrameReaderTest, MaxFrameAboveWhatThePrefixHoldsStillWorks) {
  FrameReader reader({.kind = FrameKind::kNac, .tpdu = false, .max_frame = 1'000'000});
  Bytes wire = FromHex("FFFF");
  wire.resize(2 + 0xFFFF, 0x5A);
  reader.Append(wire);
  std::vector<OwnedFrame> frames = Drain(reader);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].message.size(), 2u * 0xFFFF);
}

// ---- AppendFrame
// ---------------------------------------------------------------------------------

TEST(AppendFrameTest, WritesNacWithTpdu) {
  Bytes out = {0xEE};  // appends after what is there
  ASSERT_TRUE(AppendFrame(NacOptions(true), Tpdu(1, 0).bytes(), FromHex("0800AABB"), out));
  EXPECT_EQ(ToHex(out),
            "EE"
            "0009"
            "6000010000"
            "0800AABB");
}

TEST(AppendFrameTest, WritesAscii4) {
  std::string out;
  const Bytes message = ToBytes("0800HELLO");
  ASSERT_TRUE(AppendFrame({.kind = FrameKind::kAscii4}, {}, message, out));
  EXPECT_EQ(out, "00090800HELLO");
  std::string big;
  ASSERT_TRUE(AppendFrame({.kind = FrameKind::kAscii4}, {}, Bytes(1234, 'x'), big));
  EXPECT_EQ(big.substr(0, 4), "1234");
  EXPECT_EQ(big.size(), 1238u);
}

TEST(AppendFrameTest, RejectsAMessageOverTheMaximumAndLeavesOutputAlone) {
  Bytes out = {1, 2, 3};
  Result<void> r = AppendFrame({.max_frame = 10}, Tpdu().bytes(), Bytes(6, 0x01), out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Error::kFrameTooLarge);
  EXPECT_EQ(r.error().offset, 3u);
  EXPECT_EQ(r.error().actual, 11u);
  EXPECT_EQ(r.error().limit, 10u);
  EXPECT_EQ(out, (Bytes{1, 2, 3}));
  EXPECT_TRUE(AppendFrame({.max_frame = 10}, Tpdu().bytes(), Bytes(5, 0x01), out));
}

TEST(AppendFrameTest, CapsAtWhatTheLengthPrefixCanHold) {
  Bytes out;
  Result<void> nac =
      AppendFrame({.tpdu = false, .max_frame = 1'000'000}, {}, Bytes(0x10000, 0x01), out);
  ASSERT_FALSE(nac);
  EXPECT_EQ(nac.error().code, Error::kFrameTooLarge);
  EXPECT_EQ(nac.error().limit, 0xFFFFu);
  Result<void> ascii =
      AppendFrame({.kind = FrameKind::kAscii4, .max_frame = 1'000'000}, {}, Bytes(10000, 'x'), out);
  ASSERT_FALSE(ascii);
  EXPECT_EQ(ascii.error().limit, 9999u);
  EXPECT_TRUE(out.empty());
}

TEST(AppendFrameTest, RejectsAnEmptyMessageAndAWrongSizedTpdu) {
  Bytes out;
  Result<void> empty = AppendFrame(NacOptions(true), Tpdu().bytes(), {}, out);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, Error::kBadFrameLength);
  Result<void> short_tpdu = AppendFrame(NacOptions(true), FromHex("6000"), FromHex("01"), out);
  ASSERT_FALSE(short_tpdu);
  EXPECT_EQ(short_tpdu.error().code, Error::kBadFrameLength);
  EXPECT_EQ(short_tpdu.error().actual, 2u);
  EXPECT_EQ(short_tpdu.error().limit, 5u);
  Result<void> tpdu_without = AppendFrame(NacOptions(false), Tpdu().bytes(), FromHex("01"), out);
  ASSERT_FALSE(tpdu_without);
  EXPECT_EQ(tpdu_without.error().limit, 0u);
  Result<void> tiny_max = AppendFrame({.max_frame = 3}, Tpdu().bytes(), FromHex("01"), out);
  ASSERT_FALSE(tiny_max);
  EXPECT_EQ(tiny_max.error().code, Error::kFrameTooLarge);
  EXPECT_TRUE(out.empty());
}

TEST(AppendFrameTest, WhatItWritesTheReaderReadsBack) {
  for (const FramingOptions& options :
       {NacOptions(true), NacOptions(false), FramingOptions{.kind = FrameKind::kAscii4}}) {
    Bytes stream;
    const Tpdu t(7, 9);
    const Bytes tpdu = options.kind == FrameKind::kNac && options.tpdu
                           ? Bytes(t.bytes().begin(), t.bytes().end())
                           : Bytes();
    for (std::size_t size : {1u, 2u, 127u, 128u, 255u, 256u, 4000u}) {
      ASSERT_TRUE(AppendFrame(options, tpdu, Bytes(size, static_cast<std::uint8_t>(size)), stream));
    }
    FrameReader reader(options);
    reader.Append(stream);
    std::vector<OwnedFrame> frames = Drain(reader);
    ASSERT_EQ(frames.size(), 7u);
    EXPECT_EQ(frames[3].message, ToHex(Bytes(128, 128)));
    EXPECT_EQ(frames[3].tpdu, ToHex(tpdu));
  }
}

TEST(FramingErrorTest, DescriptionsNameTheOffsetAndBoundsButNoData) {
  FrameReader reader({.max_frame = 100});
  reader.Append(FromHex("0065"));
  const std::string text = ExpectError(reader).Describe();
  EXPECT_THAT(text, ::testing::HasSubstr("at byte 0"));
  EXPECT_THAT(text, ::testing::HasSubstr("101"));
  EXPECT_THAT(text, ::testing::HasSubstr("100"));
}

}  // namespace
}  // namespace sy::iso8583
