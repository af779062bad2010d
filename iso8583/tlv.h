#pragma once

// BER-TLV as EMV uses it in field 55 (EMV 4.4 Book 3 Annex B; ISO/IEC 8825-1): tags of one or more
// bytes, short and long-form lengths, constructed objects nesting further TLVs, and 0x00 padding
// bytes between objects. The reader is forward-only and allocation-free; the writer appends to a
// byte vector and patches constructed lengths when they close.
//
//   TlvReader reader(field55);
//   while (true) {
//     Result<std::optional<Tlv>> tlv = reader.Next();
//     if (!tlv) return tlv.error();           // names the offset, never the bytes
//     if (!*tlv) break;                       // end of data
//     if ((*tlv)->tag == 0x9F26) Use((*tlv)->value);
//   }
//   Result<std::optional<Tlv>> aip = FindTlv(field55, 0x82);   // searches nested templates too
//
//   std::vector<std::uint8_t> out;
//   TlvWriter w(out);
//   if (Result<void> r = w.Add(0x91, arpc); !r) return r.error();
//   // then Begin(0x71), Add(0x9F18, script_id), Add(0x86, command), End(), each checked alike.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "iso8583/error.h"

namespace sy::iso8583 {

// Nesting limit of constructed objects for WalkTlv, FindTlv and TlvWriter.
inline constexpr int kTlvMaxDepth = 8;

// One data object. `tag` holds the tag bytes big-endian (0x9F26, 0x5F2A, 0x82, 0xBF0C01).
struct Tlv {
  std::uint32_t tag = 0;
  bool constructed = false;             // bit 6 of the first tag byte
  std::span<const std::uint8_t> value;  // points into the reader's data
  std::size_t offset = 0;               // offset of the first tag byte (see TlvReader)
};

// True when `tag` is a valid encoding of up to four bytes: a one-byte tag whose low five bits are
// not all ones, or a multi-byte tag whose first byte has them all ones, whose middle bytes have
// bit 8 set and whose last byte has it clear.
[[nodiscard]] bool IsValidTlvTag(std::uint32_t tag);
// Bit 6 of the tag's first byte.
[[nodiscard]] bool IsConstructedTlvTag(std::uint32_t tag);

// Reads the objects at one level of a BER-TLV byte string, skipping 0x00 padding before, between
// and after them. The reader does not copy or own the data; every Tlv it returns points into it.
// Offsets in Tlv and in errors are `base_offset` + the position in `data`, so a reader over a
// constructed object's value can report offsets in the enclosing field.
//
// Errors:
//   kTruncated — data ends inside a tag (offset of the tag), inside a long-form length (offset of
//                the length; actual = length bytes announced, limit = bytes left), or right after
//                the tag (offset of the missing length), or before the value's last byte (offset of
//                the value; actual = value length, limit = bytes left).
//   kBadTlv    — indefinite length 0x80, or a length of more than 4 bytes (0x85..0xFF; actual =
//                announced byte count, limit = 4), both at the length's offset; a tag longer than 4
//                bytes (offset of the tag).
// After an error Next() keeps returning it.
class TlvReader {
 public:
  explicit TlvReader(std::span<const std::uint8_t> data, std::size_t base_offset = 0)
      : data_(data), base_(base_offset) {}

  // The next object, std::nullopt at the end of the data, or an error.
  [[nodiscard]] Result<std::optional<Tlv>> Next();

  // Offset (with base_offset) of the next byte to read.
  [[nodiscard]] std::size_t offset() const { return base_ + pos_; }

 private:
  std::span<const std::uint8_t> data_;
  std::size_t base_ = 0;
  std::size_t pos_ = 0;
  std::optional<CodecError> failed_;
};

// Walks the tree depth-first in data order, calling visit(const Tlv&, int depth) for every object
// (top-level objects have depth 0) before its children. A constructed object's value is parsed as
// nested TLVs at depth + 1; at most `max_depth` constructed objects may enclose one another, so
// entering one whose children would have a depth over max_depth is kTlvTooDeep (offset of that
// object, actual = depth + 1, limit = max_depth). `visit` returns true to go on, false to stop the
// walk early (not an error).
template <class Visit>
[[nodiscard]] Result<void> WalkTlv(std::span<const std::uint8_t> data, Visit&& visit,
                                   int max_depth = kTlvMaxDepth);

// The first object with `tag` anywhere in the tree (depth-first, data order), or std::nullopt.
// Errors met before the object is found are returned; data after it is not examined.
[[nodiscard]] Result<std::optional<Tlv>> FindTlv(std::span<const std::uint8_t> data,
                                                 std::uint32_t tag, int max_depth = kTlvMaxDepth);

// Appends BER-TLV to a byte vector. Lengths use the shortest form (one byte up to 127, then
// 0x81 .. 0x84 with 1 to 4 length bytes). Constructed objects opened with Begin are closed with
// End, which writes their length; the vector must not be modified by anyone else between the two.
// Errors (offset = out.size() at the call): kBadTlv for an invalid tag (see IsValidTlvTag), Begin
// on a primitive tag, End with nothing open or a value over 4 GiB; kTlvTooDeep when Begin would
// open more than kTlvMaxDepth objects. A failed call leaves `out` unchanged.
class TlvWriter {
 public:
  explicit TlvWriter(std::vector<std::uint8_t>& out) : out_(&out) {}

  // One object with `value` as its contents; a constructed tag is allowed (value = encoded
  // children, copied verbatim).
  [[nodiscard]] Result<void> Add(std::uint32_t tag, std::span<const std::uint8_t> value);
  // Opens a constructed object; everything written until the matching End is its value.
  [[nodiscard]] Result<void> Begin(std::uint32_t tag);
  // Closes the innermost open object.
  [[nodiscard]] Result<void> End();

  // Objects opened with Begin and not yet closed.
  [[nodiscard]] int depth() const { return depth_; }

 private:
  std::vector<std::uint8_t>* out_;
  std::size_t open_[kTlvMaxDepth] = {};  // position of the length byte of each open object
  int depth_ = 0;
};

// ---- Implementation of the template ---------------------------------------------------------

namespace internal {

template <class Visit>
Result<bool> WalkTlvLevel(std::span<const std::uint8_t> data, std::size_t base_offset, int depth,
                          int max_depth, Visit& visit) {
  TlvReader reader(data, base_offset);
  while (true) {
    Result<std::optional<Tlv>> next = reader.Next();
    if (!next) {
      return next.error();
    }
    if (!*next) {
      return true;
    }
    const Tlv& tlv = **next;
    if (!visit(tlv, depth)) {
      return false;
    }
    if (tlv.constructed) {
      if (depth + 1 > max_depth) {
        return CodecError{.code = Error::kTlvTooDeep,
                          .offset = tlv.offset,
                          .actual = static_cast<std::uint32_t>(depth + 1),
                          .limit = static_cast<std::uint32_t>(max_depth)};
      }
      const std::size_t value_offset =
          base_offset + static_cast<std::size_t>(tlv.value.data() - data.data());
      Result<bool> inner = WalkTlvLevel(tlv.value, value_offset, depth + 1, max_depth, visit);
      if (!inner || !*inner) {
        return inner;
      }
    }
  }
}

}  // namespace internal

template <class Visit>
Result<void> WalkTlv(std::span<const std::uint8_t> data, Visit&& visit, int max_depth) {
  Result<bool> r = internal::WalkTlvLevel(data, 0, 0, max_depth, visit);
  if (!r) {
    return r.error();
  }
  return {};
}

}  // namespace sy::iso8583
