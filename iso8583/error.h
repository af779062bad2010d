#pragma once

// Errors of the iso8583 module: one enum registered as the error category "sy.iso8583", and a
// CodecError value that says where a failure happened (field number and byte offset) and why,
// never with the raw bytes, which may hold a PAN.

#include <boost/assert/source_location.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

namespace sy::iso8583 {

enum class Error : int {
  kTruncated = 1,        // the input ends before the element it announces
  kBadBcdNibble,         // a BCD nibble above 9 (or a pad nibble that is not the dialect's)
  kLengthOverMax,        // a length (prefix or value) above the field's maximum
  kNonDigit,             // a character other than 0-9 in a numeric field
  kBadCharacter,         // a character outside the field type's character set
  kBadLengthPrefix,      // a length prefix that is not a number
  kBitmapFieldMissing,   // the bitmap announces a field and no bytes are left for it
  kUndefinedField,       // the bitmap (or the caller) names a field the dialect does not define
  kBadMti,               // the MTI is not four digits
  kBadBitmap,            // a hex bitmap with a non-hex character
  kTrailingBytes,        // bytes left over after the last field the bitmap announces
  kFixedLengthMismatch,  // a fixed-length binary value of the wrong size
  kBadHex,               // a hex-encoded field with a non-hex character
  kBadSign,              // an amount whose sign is not C or D
  kMissingMti,           // packing a message without an MTI
  kOutputTooSmall,       // the caller's output buffer cannot hold the packed message
  kFrameTooLarge,        // a frame length above the configured maximum
  kBadFrameLength,       // a frame length that is not a number, or too short for its header
  kBadTlv,               // malformed BER-TLV data
  kTlvTooDeep,           // constructed BER-TLV nested deeper than allowed
};

// The category named "sy.iso8583"; message(ev) gives one sentence per Error value.
const boost::system::error_category& Iso8583Category() noexcept;

inline boost::system::error_code make_error_code(Error e) noexcept {
  return {static_cast<int>(e), Iso8583Category()};
}

// Where and why a pack, unpack, framing or TLV operation failed.
struct CodecError {
  static constexpr int kNoField = -1;
  static constexpr int kMtiField = 0;
  static constexpr int kBitmapField = 1;

  Error code = Error::kTruncated;
  int field = kNoField;      // field number (0 = MTI, 1 = bitmap), or kNoField
  std::size_t offset = 0;    // byte offset in the input (unpack) or output (pack)
  std::uint32_t actual = 0;  // the offending length or count, where one applies
  std::uint32_t limit = 0;   // the rule's bound, where one applies

  // "field 35 at byte 23: length over the field's maximum (40 > 37)". Never contains field data.
  [[nodiscard]] std::string Describe() const;
  [[nodiscard]] boost::system::error_code error_code() const noexcept {
    return make_error_code(code);
  }
};

// Lets result<T, CodecError>::value() throw (for tests and tools; the data path checks instead).
[[noreturn]] void throw_exception_from_error(const CodecError& e,
                                             const boost::source_location& loc);

template <class T>
using Result = boost::system::result<T, CodecError>;

}  // namespace sy::iso8583

template <>
struct boost::system::is_error_code_enum<sy::iso8583::Error> : std::true_type {};
