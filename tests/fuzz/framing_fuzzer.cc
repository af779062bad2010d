// Property: however a byte stream is cut into reads, FrameReader returns the same frames and the
// same error as when the stream arrives in one piece; every frame is the stream's bytes at its
// offset, and AppendFrame on its TPDU and message gives those bytes back.
//
// Input layout: byte 0 picks the options (bit 0: ascii4, bit 1: TPDU, bit 2: default maximum, else
// a small maximum from bits 3-7 so kFrameTooLarge is reachable); byte 1 seeds the read sizes; the
// rest is the stream.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <vector>

#include "iso8583/framing.h"

namespace sy::iso8583 {
namespace {

#define SY_FUZZ_CHECK(cond)                                                            \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (false)

using Bytes = std::vector<std::uint8_t>;

struct OwnedFrame {
  Bytes tpdu;
  Bytes message;
  Bytes wire;
  std::uint64_t offset = 0;
  bool operator==(const OwnedFrame&) const = default;
};

struct Outcome {
  std::vector<OwnedFrame> frames;
  std::optional<CodecError> error;
  std::size_t buffered = 0;
};

bool SameError(const std::optional<CodecError>& a, const std::optional<CodecError>& b) {
  if (a.has_value() != b.has_value()) {
    return false;
  }
  if (!a) {
    return true;
  }
  return a->code == b->code && a->offset == b->offset && a->actual == b->actual &&
         a->limit == b->limit && a->field == b->field;
}

// Drains complete frames into `out`; false once the reader reports an error.
bool Drain(FrameReader& reader, Outcome& out) {
  while (true) {
    Result<std::optional<Frame>> next = reader.Next();
    if (!next) {
      out.error = next.error();
      return false;
    }
    if (!*next) {
      return true;
    }
    const Frame& f = **next;
    out.frames.push_back({Bytes(f.tpdu.begin(), f.tpdu.end()),
                          Bytes(f.message.begin(), f.message.end()),
                          Bytes(f.wire.begin(), f.wire.end()), f.offset});
  }
}

Outcome AtOnce(const FramingOptions& options, std::span<const std::uint8_t> stream) {
  FrameReader reader(options);
  Outcome out;
  reader.Append(stream);
  Drain(reader, out);
  out.buffered = reader.buffered();
  return out;
}

Outcome InPieces(const FramingOptions& options, std::span<const std::uint8_t> stream,
                 std::uint32_t seed) {
  FrameReader reader(options);
  Outcome out;
  std::uint32_t state = seed * 2654435761u + 1;
  auto random = [&state] {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
  };
  std::size_t at = 0;
  while (at < stream.size()) {
    const std::uint32_t r = random();
    std::size_t n = (r % 8 == 0) ? 1 + r % 700 : 1 + r % 9;
    n = std::min(n, stream.size() - at);
    if (r & 0x100) {
      reader.Append(stream.subspan(at, n));
    } else {
      // As async_read_some would: a larger area, partly filled.
      std::span<std::uint8_t> area = reader.Prepare(n + (r >> 20) % 32);
      SY_FUZZ_CHECK(area.size() >= n);
      std::copy_n(stream.begin() + static_cast<std::ptrdiff_t>(at), n, area.begin());
      reader.Commit(n);
    }
    at += n;
    if (!Drain(reader, out)) {
      break;
    }
  }
  if (!out.error) {
    Drain(reader, out);
  }
  out.buffered = reader.buffered();
  return out;
}

}  // namespace
}  // namespace sy::iso8583

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sy::iso8583;
  if (size < 2) {
    return 0;
  }
  FramingOptions options;
  options.kind = (data[0] & 1) ? FrameKind::kAscii4 : FrameKind::kNac;
  options.tpdu = (data[0] & 2) != 0;
  options.max_frame = (data[0] & 4) ? 4096 : static_cast<std::size_t>(data[0] >> 3) * 8;
  const std::span<const std::uint8_t> stream(data + 2, size - 2);

  const Outcome whole = AtOnce(options, stream);
  const Outcome pieces =
      InPieces(options, stream, data[1] | (static_cast<std::uint32_t>(size) << 8));
  SY_FUZZ_CHECK(whole.frames == pieces.frames);
  SY_FUZZ_CHECK(SameError(whole.error, pieces.error));
  if (!whole.error) {
    SY_FUZZ_CHECK(whole.buffered == pieces.buffered);
  }

  std::uint64_t expected_offset = 0;
  const bool has_tpdu = options.kind == FrameKind::kNac && options.tpdu;
  for (const OwnedFrame& f : whole.frames) {
    SY_FUZZ_CHECK(f.offset == expected_offset);
    SY_FUZZ_CHECK(f.offset + f.wire.size() <= stream.size());
    SY_FUZZ_CHECK(std::equal(f.wire.begin(), f.wire.end(),
                             stream.begin() + static_cast<std::ptrdiff_t>(f.offset)));
    SY_FUZZ_CHECK(f.tpdu.size() == (has_tpdu ? Tpdu::kSize : 0));
    SY_FUZZ_CHECK(!f.message.empty());
    std::vector<std::uint8_t> reframed;
    const Result<void> r = AppendFrame(options, f.tpdu, f.message, reframed);
    SY_FUZZ_CHECK(r.has_value());
    SY_FUZZ_CHECK(reframed == f.wire);
    expected_offset += f.wire.size();
  }
  if (whole.error) {
    const CodecError& e = *whole.error;
    SY_FUZZ_CHECK(e.code == Error::kFrameTooLarge || e.code == Error::kBadFrameLength);
    SY_FUZZ_CHECK(e.offset >= expected_offset && e.offset < stream.size());
  } else {
    SY_FUZZ_CHECK(expected_offset + whole.buffered == stream.size());
  }
  return 0;
}
