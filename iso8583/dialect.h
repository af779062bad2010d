#pragma once

// A dialect is a table of field specifications loaded from a YAML file: one generic codec
// interprets any table, so adding a dialect needs no C++. The four shipped dialects (iso87a,
// iso87b, iso93a, iso93b) are embedded in the library and parsed at run time like any other file.
//
//   auto d = sy::iso8583::LoadDialect("iso87b");          // a shipped dialect, or a path to .yaml
//   if (!d) { std::cerr << d.error().message; }
//   const sy::iso8583::FieldSpec& pan = (*d)->field(2);   // LL n..19, BCD, sensitivity: pan
//
// YAML shape (unknown keys are rejected with their path):
//   name: iso87b
//   mti: bcd                 # ascii | bcd | ebcdic
//   bitmap: binary           # binary | hex | ebcdic (hex digits in EBCDIC)
//   tertiary_bitmap: false   # bit 65 announces a third bitmap (fields 129-192). Default: false
//   fields:
//     2: {name: PAN, type: n, length: LL, max: 19, prefix: bcd, encoding: bcd, bcd_pad: right,
//         sensitivity: pan}
//     3: {type: n, length: fixed, size: 6, encoding: bcd}
// Field keys: name; type n|a|an|ans|b|z|xn; length fixed|LL|LLL|LLLL; size (fixed) or max
// (variable) in value units (digits, characters, bytes; xn counts its sign); prefix
// ascii|bcd|binary|ebcdic (variable only); encoding ascii|bcd|binary|hex|ebcdic; bcd_pad
// left|right (which nibble pads an odd digit count; default left for fixed, right for variable);
// pad_nibble 0|F (default 0); sensitivity none|pan|track|pin_block|secret (default none).

#include <array>
#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace sy::iso8583 {

inline constexpr int kMaxField = 192;  // with a tertiary bitmap

enum class FieldType : std::uint8_t {
  kNumeric,       // n: digits 0-9
  kAlpha,         // a: letters and space
  kAlphaNumeric,  // an: letters, digits and space
  kText,          // ans: any character but control characters (0x00-0x1F, 0x7F)
  kBinary,        // b: any byte
  kTrack,         // z: track 2/3 data, digits and the separator '=' ('D' also in text encodings)
  kAmount,        // x+n: sign C (credit) or D (debit), then digits
};

enum class LengthType : std::uint8_t { kFixed, kLl, kLll, kLlll };

enum class Encoding : std::uint8_t {
  kAscii,   // one byte per character or digit
  kBcd,     // two digits per byte (n, z, the digits of xn; length prefixes)
  kBinary,  // raw bytes (b; binary length prefixes)
  kHex,     // b as two upper-case ASCII hex characters per byte
  kEbcdic,  // one EBCDIC (code page 037) byte per character
};

enum class Side : std::uint8_t { kLeft, kRight };

// Drives masking wherever a message is printed.
enum class Sensitivity : std::uint8_t { kNone, kPan, kTrack, kPinBlock, kSecret };

struct FieldSpec {
  bool defined = false;
  FieldType type = FieldType::kText;
  LengthType length_type = LengthType::kFixed;
  Encoding prefix = Encoding::kAscii;    // the length prefix's encoding (variable fields)
  Encoding encoding = Encoding::kAscii;  // the value's encoding
  Side bcd_pad = Side::kLeft;            // the pad nibble's side when a BCD digit count is odd
  std::uint8_t pad_nibble = 0;           // 0x0 or 0xF
  Sensitivity sensitivity = Sensitivity::kNone;
  std::uint16_t max_length = 0;  // the size (fixed) or maximum (variable), in value units
  std::string name;

  [[nodiscard]] bool is_fixed() const noexcept { return length_type == LengthType::kFixed; }
  // Digits in the length prefix: 0 (fixed), 2, 3 or 4.
  [[nodiscard]] int prefix_digits() const noexcept {
    return is_fixed() ? 0 : static_cast<int>(length_type) + 1;
  }
};

// Failure to load a dialect: a sentence naming the file and the key path at fault.
struct DialectError {
  std::string message;
};
[[noreturn]] void throw_exception_from_error(const DialectError& e, const boost::source_location&);

class Dialect {
 public:
  // Parses a dialect from YAML text; `origin` names the source in error messages.
  [[nodiscard]] static boost::system::result<Dialect, DialectError> FromYaml(
      std::string_view yaml, std::string_view origin);
  [[nodiscard]] static boost::system::result<Dialect, DialectError> FromFile(
      const std::string& path);

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] Encoding mti_encoding() const noexcept { return mti_; }
  [[nodiscard]] Encoding bitmap_encoding() const noexcept { return bitmap_; }
  [[nodiscard]] bool tertiary_bitmap() const noexcept { return tertiary_; }
  // Highest field number the dialect can carry: 128, or 192 with a tertiary bitmap.
  [[nodiscard]] int max_field() const noexcept { return tertiary_ ? 192 : 128; }
  // Precondition: 0 <= n <= kMaxField.
  [[nodiscard]] const FieldSpec& field(int n) const noexcept { return fields_[n]; }

 private:
  std::string name_;
  Encoding mti_ = Encoding::kAscii;
  Encoding bitmap_ = Encoding::kBinary;
  bool tertiary_ = false;
  std::array<FieldSpec, kMaxField + 1> fields_{};
};

// The shipped dialects' names: iso87a, iso87b, iso93a, iso93b.
[[nodiscard]] std::span<const std::string_view> BuiltinDialectNames() noexcept;

// A shipped dialect by name (parsed once, on first use, thread-safe), or a dialect file by path
// (a name containing '/' or ending in .yaml). The returned pointer lives as long as the process.
[[nodiscard]] boost::system::result<std::shared_ptr<const Dialect>, DialectError> LoadDialect(
    std::string_view name_or_path);

}  // namespace sy::iso8583
