#pragma once

// Framing: how ISO 8583 messages are delimited on a TCP stream, separate from the codec (moov-io's
// network headers). Two kinds, chosen per listener (docs: INTERFACE.md "Framing"):
//   nac    — 2-byte big-endian length counting TPDU + message, then an optional 5-byte TPDU
//            (60 + destination 2 bytes + source 2 bytes), then the message (jPOS NACChannel).
//   ascii4 — 4 ASCII decimal digits of length, then the message; no TPDU.
//
//   FrameReader reader({.kind = FrameKind::kNac, .tpdu = true});
//   auto [ec, n] = co_await socket.async_read_some(asio::buffer(reader.Prepare(4096)), token);
//   reader.Commit(n);
//   while (true) {
//     Result<std::optional<Frame>> frame = reader.Next();
//     if (!frame) return Close(frame.error());  // kFrameTooLarge, kBadFrameLength
//     if (!*frame) break;                       // wait for more bytes
//     Handle((*frame)->tpdu, (*frame)->message);
//   }
//
//   Tpdu reply_tpdu = request_tpdu.SwapForReply();
//   std::vector<std::uint8_t> out;
//   if (Result<void> r = AppendFrame(options, reply_tpdu.bytes(), reply, out); !r) { ... }

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "iso8583/error.h"

namespace sy::iso8583 {

enum class FrameKind {
  kNac,     // 2-byte big-endian binary length, optional TPDU
  kAscii4,  // 4 ASCII decimal digits of length, never a TPDU
};

struct FramingOptions {
  // How the length is written. Default: kNac.
  FrameKind kind = FrameKind::kNac;
  // Whether a 5-byte TPDU follows the length (kNac only; ignored for kAscii4). Default: true.
  bool tpdu = true;
  // The largest length value accepted or written (it counts TPDU + message, not the length
  // prefix). A larger announced length is an error and the session closes the connection. Values
  // above what the prefix can express (65535 for kNac, 9999 for kAscii4) act as that bound.
  // Default: 4096.
  std::size_t max_frame = 4096;
};

// The 5-byte transport protocol data unit in front of a NAC message: an id (0x60), a 2-byte
// destination address and a 2-byte source address. The framer does not check the id; the session
// decides what it accepts.
class Tpdu {
 public:
  static constexpr std::size_t kSize = 5;
  static constexpr std::uint8_t kId = 0x60;

  constexpr Tpdu() = default;  // 60 0000 0000
  constexpr Tpdu(std::uint16_t destination, std::uint16_t source, std::uint8_t id = kId)
      : bytes_{id, static_cast<std::uint8_t>(destination >> 8),
               static_cast<std::uint8_t>(destination & 0xFF),
               static_cast<std::uint8_t>(source >> 8), static_cast<std::uint8_t>(source & 0xFF)} {}

  // kBadFrameLength (actual = size, limit = 5) unless `bytes` is exactly 5 bytes long.
  [[nodiscard]] static Result<Tpdu> FromBytes(std::span<const std::uint8_t> bytes);

  // The TPDU of the answer: destination and source swapped, id kept
  // (60 0001 0000 -> 60 0000 0001; 60 1234 0567 -> 60 0567 1234), as jPOS NACChannel does.
  [[nodiscard]] constexpr Tpdu SwapForReply() const { return Tpdu(source(), destination(), id()); }

  [[nodiscard]] constexpr std::uint8_t id() const { return bytes_[0]; }
  [[nodiscard]] constexpr std::uint16_t destination() const {
    return static_cast<std::uint16_t>((bytes_[1] << 8) | bytes_[2]);
  }
  [[nodiscard]] constexpr std::uint16_t source() const {
    return static_cast<std::uint16_t>((bytes_[3] << 8) | bytes_[4]);
  }
  // The wire bytes; valid as long as this Tpdu.
  [[nodiscard]] constexpr std::span<const std::uint8_t, kSize> bytes() const { return bytes_; }

  friend constexpr bool operator==(const Tpdu&, const Tpdu&) = default;

 private:
  std::array<std::uint8_t, kSize> bytes_{kId, 0, 0, 0, 0};
};

// One frame taken from the stream. The spans point into the FrameReader's buffer and are valid
// until the next call to Append, Prepare or Next on that reader.
struct Frame {
  std::span<const std::uint8_t> tpdu;     // 5 bytes, or empty when the framing has no TPDU
  std::span<const std::uint8_t> message;  // the ISO 8583 message, never empty
  std::span<const std::uint8_t> wire;     // the whole frame as received: length + tpdu + message
  std::uint64_t offset = 0;               // stream offset of the frame's first length byte
};

// Splits a byte stream into frames. Handles partial reads (a frame split over several reads) and
// several frames in one read. Frames are returned as views into one internal buffer: nothing is
// copied on the way out, and the buffer is compacted (the unread tail moved to the front) only
// when more room is asked for, so a long-lived reader allocates nothing per frame once its buffer
// has grown to max frame + read size.
//
// Errors are sticky: after Next() returns an error it returns the same error on every later call,
// because the stream position is lost and the session must close the connection. Error offsets
// are stream offsets (bytes since the reader was created):
//   kFrameTooLarge  — offset of the length prefix; actual = announced length, limit = max_frame.
//   kBadFrameLength — an ascii4 length byte that is not a digit (offset of that byte), or a length
//                     whose message would be empty: 0, or 5 or less with a TPDU (offset of the
//                     length prefix; actual = length, limit = the smallest valid length).
// Not thread-safe; one reader per connection.
class FrameReader {
 public:
  explicit FrameReader(FramingOptions options = {});

  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;
  FrameReader(FrameReader&&) = default;
  FrameReader& operator=(FrameReader&&) = default;

  // Copies `bytes` to the end of the buffer. Invalidates frames returned earlier.
  void Append(std::span<const std::uint8_t> bytes);

  // A writable area of exactly `n` bytes at the end of the buffer, for a read that will fill
  // some of it (asio::buffer(reader.Prepare(n)) for async_read_some); then Commit how many bytes
  // arrived. Invalidates frames returned earlier and any earlier Prepare area.
  [[nodiscard]] std::span<std::uint8_t> Prepare(std::size_t n);
  // Makes the first `n` bytes of the last Prepare area readable; n must not exceed its size.
  void Commit(std::size_t n);

  // The next complete frame, std::nullopt when more bytes are needed, or an error.
  // Invalidates frames returned earlier.
  [[nodiscard]] Result<std::optional<Frame>> Next();

  // Bytes received and not yet returned in a frame.
  [[nodiscard]] std::size_t buffered() const { return end_ - begin_; }
  // Bytes returned in frames since the reader was created.
  [[nodiscard]] std::uint64_t consumed() const { return consumed_; }
  // Size of the internal buffer; it stops growing once it holds a read area plus a partial frame.
  [[nodiscard]] std::size_t capacity() const { return buffer_.size(); }
  [[nodiscard]] const FramingOptions& options() const { return options_; }

 private:
  void Reserve(std::size_t n);

  FramingOptions options_;
  std::vector<std::uint8_t> buffer_;
  std::size_t begin_ = 0;     // first unread byte
  std::size_t end_ = 0;       // one past the last received byte
  std::size_t prepared_ = 0;  // size of the last Prepare area
  std::uint64_t consumed_ = 0;
  std::optional<CodecError> failed_;
};

// The length prefix size for `kind` (2 for kNac, 4 for kAscii4).
[[nodiscard]] std::size_t LengthPrefixSize(FrameKind kind);

// Appends one frame (length prefix, `tpdu`, `message`) to `out`. `tpdu` must be 5 bytes when the
// options call for a TPDU and empty otherwise (kBadFrameLength, actual = its size); `message` must
// not be empty (kBadFrameLength); a length over max_frame is kFrameTooLarge (actual, limit). On
// error `out` is unchanged; error offsets are out.size() on entry.
[[nodiscard]] Result<void> AppendFrame(const FramingOptions& options,
                                       std::span<const std::uint8_t> tpdu,
                                       std::span<const std::uint8_t> message,
                                       std::vector<std::uint8_t>& out);
[[nodiscard]] Result<void> AppendFrame(const FramingOptions& options,
                                       std::span<const std::uint8_t> tpdu,
                                       std::span<const std::uint8_t> message, std::string& out);

}  // namespace sy::iso8583
