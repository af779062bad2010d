#pragma once

// sy::iso8583 — an ISO 8583 codec driven by data. A Dialect (a table of FieldSpecs loaded from
// YAML) says how each field travels; Unpack and Pack interpret any dialect. iso8583 knows nothing
// about the switch: framing (framing.h), EMV BER-TLV (tlv.h) and masking (mask.h) sit beside it.
//
//   auto dialect = sy::iso8583::LoadDialect("iso87b").value();
//   sy::iso8583::Message msg;
//   if (auto r = sy::iso8583::Unpack(*dialect, bytes, msg); !r) {
//     log("rejected: " + r.error().Describe());   // "field 35 at byte 23: length over ..."
//   }
//   std::string out;
//   auto packed = sy::iso8583::Pack(*dialect, msg, out);
//
// Unpack validates every field against its specification and returns the first rule broken as a
// CodecError naming the field, the byte offset and the rule. No input makes it read out of bounds,
// crash or loop. Pack produces exactly the bytes the dialect prescribes, and
// Pack(Unpack(x)) == x for every x that Unpack accepts.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "iso8583/dialect.h"
#include "iso8583/error.h"
#include "iso8583/message.h"

namespace sy::iso8583 {

// Decodes one packed message (MTI, bitmaps, fields; no length or header) into out, which is
// Reset first. Values whose wire form is their value are views into data: keep data alive while
// out is used. Trailing bytes after the last field are an error. On error, out keeps the MTI and
// the fields decoded before the fault (enough, often, to answer a format error).
[[nodiscard]] Result<void> Unpack(const Dialect& dialect, std::string_view data, Message& out);

inline Result<void> Unpack(const Dialect& dialect, std::span<const std::uint8_t> data,
                           Message& out) {
  return Unpack(dialect, {reinterpret_cast<const char*>(data.data()), data.size()}, out);
}

// Appends the packed message to out. On error out is left as it was and the error names the
// field at fault. Fixed-length values shorter than their size are padded as the dialect says
// (numerics with leading zeros, text with trailing spaces, amounts with zeros after the sign).
[[nodiscard]] Result<void> Pack(const Dialect& dialect, const Message& msg, std::string& out);

// The number of bytes Pack would append, validating every field on the way.
[[nodiscard]] Result<std::size_t> PackedSize(const Dialect& dialect, const Message& msg);

}  // namespace sy::iso8583
