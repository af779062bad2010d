#include "iso8583/codec.h"

#include <array>
#include <bit>
#include <cstring>

#include "iso8583/internal/ebcdic.h"

namespace sy::iso8583 {
namespace {

using internal::kAsciiToEbcdic;
using internal::kEbcdicToAscii;

constexpr std::size_t kBad = static_cast<std::size_t>(-1);

CodecError Fail(Error code, int field, std::size_t offset, std::uint32_t actual = 0,
                std::uint32_t limit = 0) {
  return CodecError{code, field, offset, actual, limit};
}

constexpr bool IsDigit(unsigned char c) noexcept { return static_cast<unsigned>(c - '0') < 10U; }
constexpr bool IsAlpha(unsigned char c) noexcept {
  return static_cast<unsigned>((c | 0x20) - 'a') < 26U;
}

// Is c allowed in a value of this type? (Amount signs are checked separately.)
constexpr bool CharAllowed(FieldType t, unsigned char c) noexcept {
  switch (t) {
    case FieldType::kNumeric:
    case FieldType::kAmount:
      return IsDigit(c);
    case FieldType::kAlpha:
      return IsAlpha(c) || c == ' ';
    case FieldType::kAlphaNumeric:
      return IsAlpha(c) || IsDigit(c) || c == ' ';
    case FieldType::kText:
      return c >= 0x20 && c != 0x7F;
    case FieldType::kTrack:
      return IsDigit(c) || c == '=' || c == 'D';
    case FieldType::kBinary:
      return true;
  }
  return false;
}

// Checks the characters of a value (in ASCII); returns the index of the first bad one, or kBad.
std::size_t FirstBadChar(const FieldSpec& f, std::string_view v) noexcept {
  if (f.type == FieldType::kBinary) {
    return kBad;
  }
  std::size_t i = 0;
  if (f.type == FieldType::kAmount) {
    if (v.empty() || (v[0] != 'C' && v[0] != 'D')) {
      return 0;
    }
    i = 1;
  }
  for (; i < v.size(); ++i) {
    if (!CharAllowed(f.type, static_cast<unsigned char>(v[i]))) {
      return i;
    }
  }
  return kBad;
}

Error BadCharError(const FieldSpec& f, std::size_t index) noexcept {
  if (f.type == FieldType::kAmount && index == 0) {
    return Error::kBadSign;
  }
  return f.type == FieldType::kNumeric || f.type == FieldType::kAmount ? Error::kNonDigit
                                                                       : Error::kBadCharacter;
}

// Bytes on the wire for a value of `units` digits, characters or bytes.
std::size_t ValueWireSize(const FieldSpec& f, std::size_t units) noexcept {
  switch (f.encoding) {
    case Encoding::kBcd:
      if (f.type == FieldType::kAmount) {
        return units == 0 ? 0 : 1 + units / 2;  // an ASCII sign byte, then (units - 1) digits
      }
      return (units + 1) / 2;
    case Encoding::kHex:
      return units * 2;
    default:
      return units;
  }
}

std::size_t PrefixWireSize(const FieldSpec& f) noexcept {
  const int digits = f.prefix_digits();
  if (digits == 0) {
    return 0;
  }
  switch (f.prefix) {
    case Encoding::kBcd:
      return static_cast<std::size_t>(digits + 1) / 2;
    case Encoding::kBinary:
      return digits == 2 ? 1 : 2;
    default:
      return static_cast<std::size_t>(digits);
  }
}

constexpr int HexValue(unsigned char c) noexcept {
  if (IsDigit(c)) {
    return c - '0';
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;  // lower case is refused so that Pack(Unpack(x)) == x
}

constexpr char kHexDigits[] = "0123456789ABCDEF";

// ---- decoding --------------------------------------------------------------------------------

class Reader {
 public:
  Reader(std::string_view data) noexcept
      : p_(reinterpret_cast<const unsigned char*>(data.data())), size_(data.size()) {}
  [[nodiscard]] std::size_t pos() const noexcept { return pos_; }
  [[nodiscard]] std::size_t left() const noexcept { return size_ - pos_; }
  [[nodiscard]] const unsigned char* here() const noexcept { return p_ + pos_; }
  void Skip(std::size_t n) noexcept { pos_ += n; }

 private:
  const unsigned char* p_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

// Reads `digits` BCD digits from src into dst; false when a nibble is not a digit (or the
// separator D in track data) or the pad nibble is not the expected one.
bool DecodeBcd(const unsigned char* src, std::size_t digits, Side pad, std::uint8_t pad_nibble,
               bool track, char* dst) noexcept {
  const bool odd = (digits & 1U) != 0;
  const std::size_t first = odd && pad == Side::kLeft ? 1 : 0;
  if (odd) {
    const std::uint8_t nib = pad == Side::kLeft ? src[0] >> 4 : src[digits / 2] & 0x0F;
    if (nib != pad_nibble) {
      return false;
    }
  }
  for (std::size_t i = 0; i < digits; ++i) {
    const std::size_t k = i + first;
    const std::uint8_t b = src[k >> 1];
    const std::uint8_t nib = (k & 1U) != 0 ? b & 0x0F : b >> 4;
    if (nib < 10) {
      dst[i] = static_cast<char>('0' + nib);
    } else if (track && nib == 0x0D) {
      dst[i] = '=';
    } else {
      return false;
    }
  }
  return true;
}

bool ReadPrefix(const FieldSpec& f, const unsigned char* p, std::size_t& len) noexcept {
  const int digits = f.prefix_digits();
  std::size_t v = 0;
  switch (f.prefix) {
    case Encoding::kBinary:
      v = p[0];
      if (digits != 2) {
        v = (v << 8) | p[1];
      }
      break;
    case Encoding::kBcd: {
      char buf[4];
      if (!DecodeBcd(p, static_cast<std::size_t>(digits), Side::kLeft, 0, false, buf)) {
        return false;
      }
      for (int i = 0; i < digits; ++i) {
        v = v * 10 + static_cast<std::size_t>(buf[i] - '0');
      }
      break;
    }
    case Encoding::kEbcdic:
      for (int i = 0; i < digits; ++i) {
        const unsigned char c = kEbcdicToAscii[p[i]];
        if (!IsDigit(c)) {
          return false;
        }
        v = v * 10 + (c - '0');
      }
      break;
    default:
      for (int i = 0; i < digits; ++i) {
        if (!IsDigit(p[i])) {
          return false;
        }
        v = v * 10 + (p[i] - '0');
      }
      break;
  }
  len = v;
  return true;
}

Result<void> DecodeField(const FieldSpec& f, int n, Reader& in, Message& out) {
  const std::size_t start = in.pos();
  if (in.left() == 0) {
    return Fail(Error::kBitmapFieldMissing, n, start);
  }
  std::size_t units = f.max_length;
  if (!f.is_fixed()) {
    const std::size_t pw = PrefixWireSize(f);
    if (in.left() < pw) {
      return Fail(Error::kTruncated, n, start, static_cast<std::uint32_t>(pw),
                  static_cast<std::uint32_t>(in.left()));
    }
    if (!ReadPrefix(f, in.here(), units)) {
      return Fail(Error::kBadLengthPrefix, n, start);
    }
    if (units > f.max_length) {
      return Fail(Error::kLengthOverMax, n, start, static_cast<std::uint32_t>(units), f.max_length);
    }
    in.Skip(pw);
  }
  const std::size_t wire = ValueWireSize(f, units);
  const std::size_t at = in.pos();
  if (in.left() < wire) {
    return Fail(Error::kTruncated, n, at, static_cast<std::uint32_t>(wire),
                static_cast<std::uint32_t>(in.left()));
  }
  const unsigned char* src = in.here();
  const auto* chars = reinterpret_cast<const char*>(src);
  switch (f.encoding) {
    case Encoding::kBinary:
      out.SetView(n, {chars, wire});
      break;
    case Encoding::kAscii: {
      const std::string_view v(chars, wire);
      if (const std::size_t bad = FirstBadChar(f, v); bad != kBad) {
        return Fail(BadCharError(f, bad), n, at + bad);
      }
      out.SetView(n, v);
      break;
    }
    case Encoding::kEbcdic: {
      char* dst = out.SetInArena(n, units);
      for (std::size_t i = 0; i < units; ++i) {
        dst[i] = static_cast<char>(kEbcdicToAscii[src[i]]);
      }
      const std::string_view v(dst, units);
      if (const std::size_t bad = FirstBadChar(f, v); bad != kBad) {
        return Fail(BadCharError(f, bad), n, at + bad);
      }
      break;
    }
    case Encoding::kHex: {
      char* dst = out.SetInArena(n, units);
      for (std::size_t i = 0; i < units; ++i) {
        const int hi = HexValue(src[2 * i]);
        const int lo = HexValue(src[2 * i + 1]);
        if (hi < 0 || lo < 0) {
          return Fail(Error::kBadHex, n, at + 2 * i + (hi < 0 ? 0 : 1));
        }
        dst[i] = static_cast<char>((hi << 4) | lo);
      }
      break;
    }
    case Encoding::kBcd: {
      char* dst = out.SetInArena(n, units);
      const unsigned char* digits = src;
      std::size_t count = units;
      if (f.type == FieldType::kAmount) {
        if (units == 0 || (src[0] != 'C' && src[0] != 'D')) {
          return Fail(Error::kBadSign, n, at);
        }
        *dst++ = static_cast<char>(src[0]);
        ++digits;
        --count;
      }
      if (!DecodeBcd(digits, count, f.bcd_pad, f.pad_nibble, f.type == FieldType::kTrack, dst)) {
        return Fail(Error::kBadBcdNibble, n, at);
      }
      break;
    }
  }
  in.Skip(wire);
  return {};
}

Result<void> ReadBitmapWord(const Dialect& d, Reader& in, std::uint64_t& word) {
  const std::size_t at = in.pos();
  word = 0;
  if (d.bitmap_encoding() == Encoding::kBinary) {
    if (in.left() < 8) {
      return Fail(Error::kTruncated, CodecError::kBitmapField, at, 8,
                  static_cast<std::uint32_t>(in.left()));
    }
    for (int i = 0; i < 8; ++i) {
      word = (word << 8) | in.here()[i];
    }
    in.Skip(8);
    return {};
  }
  if (in.left() < 16) {
    return Fail(Error::kTruncated, CodecError::kBitmapField, at, 16,
                static_cast<std::uint32_t>(in.left()));
  }
  const bool ebcdic = d.bitmap_encoding() == Encoding::kEbcdic;
  for (int i = 0; i < 16; ++i) {
    const unsigned char c = ebcdic ? kEbcdicToAscii[in.here()[i]] : in.here()[i];
    const int v = HexValue(c);
    if (v < 0) {
      return Fail(Error::kBadBitmap, CodecError::kBitmapField, at + static_cast<std::size_t>(i));
    }
    word = (word << 4) | static_cast<std::uint64_t>(v);
  }
  in.Skip(16);
  return {};
}

// ---- encoding --------------------------------------------------------------------------------

class NibbleWriter {
 public:
  explicit NibbleWriter(unsigned char* out) noexcept : out_(out) {}
  void Put(std::uint8_t nib) noexcept {
    if (high_) {
      *out_ = static_cast<unsigned char>(nib << 4);
    } else {
      *out_++ |= nib;
    }
    high_ = !high_;
  }
  [[nodiscard]] unsigned char* end() const noexcept { return out_; }

 private:
  unsigned char* out_;
  bool high_ = true;
};

// Writes `zeros` zero digits then `digits` as BCD, padding an odd count on the given side.
unsigned char* WriteBcd(unsigned char* o, std::size_t zeros, std::string_view digits, Side pad,
                        std::uint8_t pad_nibble) noexcept {
  const bool odd = ((zeros + digits.size()) & 1U) != 0;
  NibbleWriter w(o);
  if (odd && pad == Side::kLeft) {
    w.Put(pad_nibble);
  }
  for (std::size_t i = 0; i < zeros; ++i) {
    w.Put(0);
  }
  for (char c : digits) {
    w.Put(c == '=' || c == 'D' ? 0x0D : static_cast<std::uint8_t>(c - '0'));
  }
  if (odd && pad == Side::kRight) {
    w.Put(pad_nibble);
  }
  return w.end();
}

unsigned char* WritePrefix(const FieldSpec& f, std::size_t len, unsigned char* o) noexcept {
  const int digits = f.prefix_digits();
  switch (f.prefix) {
    case Encoding::kBinary:
      if (digits != 2) {
        *o++ = static_cast<unsigned char>(len >> 8);
      }
      *o++ = static_cast<unsigned char>(len & 0xFF);
      return o;
    case Encoding::kBcd: {
      char buf[4];
      for (int i = digits - 1; i >= 0; --i, len /= 10) {
        buf[i] = static_cast<char>('0' + len % 10);
      }
      return WriteBcd(o, 0, {buf, static_cast<std::size_t>(digits)}, Side::kLeft, 0);
    }
    default:
      for (int i = digits - 1; i >= 0; --i, len /= 10) {
        const auto c = static_cast<unsigned char>('0' + len % 10);
        o[i] = f.prefix == Encoding::kEbcdic ? kAsciiToEbcdic[c] : c;
      }
      return o + digits;
  }
}

// The value as it goes on the wire after fixed-length padding: `zeros` leading zero digits (after
// the sign for amounts), then the value, then `spaces` trailing spaces.
struct Padded {
  std::string_view sign;
  std::size_t zeros = 0;
  std::string_view body;
  std::size_t spaces = 0;
};

Padded PadValue(const FieldSpec& f, std::string_view v) noexcept {
  Padded p;
  const std::size_t missing = f.is_fixed() && v.size() < f.max_length ? f.max_length - v.size() : 0;
  if (f.type == FieldType::kAmount) {
    p.sign = v.substr(0, 1);
    p.body = v.substr(1);
    p.zeros = missing;
  } else if (f.type == FieldType::kNumeric || f.type == FieldType::kTrack) {
    p.body = v;
    p.zeros = missing;
  } else {
    p.body = v;
    p.spaces = missing;
  }
  return p;
}

unsigned char* WriteValue(const FieldSpec& f, std::string_view v, unsigned char* o) noexcept {
  const Padded p = PadValue(f, v);
  switch (f.encoding) {
    case Encoding::kBinary:
      if (!v.empty()) {
        std::memcpy(o, v.data(), v.size());
      }
      return o + v.size();
    case Encoding::kHex:
      for (unsigned char c : v) {
        *o++ = static_cast<unsigned char>(kHexDigits[c >> 4]);
        *o++ = static_cast<unsigned char>(kHexDigits[c & 0x0F]);
      }
      return o;
    case Encoding::kBcd:
      if (!p.sign.empty()) {
        *o++ = static_cast<unsigned char>(p.sign[0]);
      }
      return WriteBcd(o, p.zeros, p.body, f.bcd_pad, f.pad_nibble);
    case Encoding::kAscii:
    case Encoding::kEbcdic: {
      const bool e = f.encoding == Encoding::kEbcdic;
      auto put = [&](unsigned char c) { *o++ = e ? kAsciiToEbcdic[c] : c; };
      for (char c : p.sign) {
        put(static_cast<unsigned char>(c));
      }
      for (std::size_t i = 0; i < p.zeros; ++i) {
        put('0');
      }
      if (!e && !p.body.empty()) {
        std::memcpy(o, p.body.data(), p.body.size());
        o += p.body.size();
      } else {
        for (char c : p.body) {
          put(static_cast<unsigned char>(c));
        }
      }
      for (std::size_t i = 0; i < p.spaces; ++i) {
        put(' ');
      }
      return o;
    }
  }
  return o;
}

std::size_t MtiWireSize(const Dialect& d) noexcept {
  return d.mti_encoding() == Encoding::kBcd ? 2 : 4;
}
std::size_t BitmapWireSize(const Dialect& d) noexcept {
  return d.bitmap_encoding() == Encoding::kBinary ? 8 : 16;
}

struct Layout {
  std::array<std::uint64_t, 3> words{};
  int bitmaps = 1;
  std::size_t size = 0;
};

Result<Layout> Plan(const Dialect& d, const Message& msg) {
  Layout l;
  const std::string_view mti = msg.mti();
  if (mti.empty()) {
    return Fail(Error::kMissingMti, CodecError::kMtiField, 0);
  }
  if (mti.size() != 4 || !IsDigit(mti[0]) || !IsDigit(mti[1]) || !IsDigit(mti[2]) ||
      !IsDigit(mti[3])) {
    return Fail(Error::kBadMti, CodecError::kMtiField, 0);
  }
  bool secondary = false;
  bool tertiary = false;
  for (int n : msg.present_fields()) {
    if (n <= 1 || n > d.max_field() || (n == 65 && d.tertiary_bitmap()) || !d.field(n).defined) {
      return Fail(Error::kUndefinedField, n, 0);
    }
    secondary = secondary || n > 64;
    tertiary = tertiary || n > 128;
    l.words[static_cast<std::size_t>((n - 1) >> 6)] |= std::uint64_t{1} << (63 - ((n - 1) & 63));
  }
  secondary = secondary || msg.force_bitmaps() >= 2;
  tertiary = d.tertiary_bitmap() && (tertiary || msg.force_bitmaps() >= 3);
  if (secondary) {
    l.words[0] |= std::uint64_t{1} << 63;
    ++l.bitmaps;
  }
  if (tertiary) {
    l.words[1] |= std::uint64_t{1} << 63;
    ++l.bitmaps;
  }
  l.size = MtiWireSize(d) + BitmapWireSize(d) * static_cast<std::size_t>(l.bitmaps);
  for (int n : msg.present_fields()) {
    const FieldSpec& f = d.field(n);
    const std::string_view v = msg.Get(n);
    const auto units = static_cast<std::uint32_t>(v.size());
    if (units > f.max_length) {
      return Fail(Error::kLengthOverMax, n, l.size, units, f.max_length);
    }
    if (f.is_fixed() && f.type == FieldType::kBinary && units != f.max_length) {
      return Fail(Error::kFixedLengthMismatch, n, l.size, units, f.max_length);
    }
    if (const std::size_t bad = FirstBadChar(f, v); bad != kBad) {
      return Fail(BadCharError(f, bad), n, l.size);
    }
    l.size += PrefixWireSize(f) + ValueWireSize(f, f.is_fixed() ? f.max_length : units);
  }
  return l;
}

}  // namespace

Result<void> Unpack(const Dialect& d, std::string_view data, Message& out) {
  out.Reset();
  Reader in(data);

  char mti[4];
  if (d.mti_encoding() == Encoding::kBcd) {
    if (in.left() < 2) {
      return Fail(Error::kTruncated, CodecError::kMtiField, 0, 2,
                  static_cast<std::uint32_t>(in.left()));
    }
    if (!DecodeBcd(in.here(), 4, Side::kLeft, 0, false, mti)) {
      return Fail(Error::kBadMti, CodecError::kMtiField, 0);
    }
    in.Skip(2);
  } else {
    if (in.left() < 4) {
      return Fail(Error::kTruncated, CodecError::kMtiField, 0, 4,
                  static_cast<std::uint32_t>(in.left()));
    }
    for (int i = 0; i < 4; ++i) {
      const unsigned char c =
          d.mti_encoding() == Encoding::kEbcdic ? kEbcdicToAscii[in.here()[i]] : in.here()[i];
      if (!IsDigit(c)) {
        return Fail(Error::kBadMti, CodecError::kMtiField, static_cast<std::size_t>(i));
      }
      mti[i] = static_cast<char>(c);
    }
    in.Skip(4);
  }
  out.SetMti({mti, 4});

  std::array<std::uint64_t, 3> words{};
  if (auto r = ReadBitmapWord(d, in, words[0]); !r) {
    return r;
  }
  if ((words[0] >> 63) != 0) {
    if (auto r = ReadBitmapWord(d, in, words[1]); !r) {
      return r;
    }
    if (d.tertiary_bitmap() && (words[1] >> 63) != 0) {
      if (auto r = ReadBitmapWord(d, in, words[2]); !r) {
        return r;
      }
    }
  }
  // Remember an empty secondary or tertiary bitmap so that Pack sends it again.
  if ((words[0] >> 63) != 0 && words[1] == 0) {
    out.set_force_bitmaps(2);
  } else if (d.tertiary_bitmap() && (words[1] >> 63) != 0 && words[2] == 0) {
    out.set_force_bitmaps(3);
  }

  for (int w = 0; w < 3; ++w) {
    std::uint64_t bits = words[static_cast<std::size_t>(w)];
    if (w == 0 || (w == 1 && d.tertiary_bitmap())) {
      bits &= ~(std::uint64_t{1} << 63);  // the next bitmap's indicator, not a field
    }
    while (bits != 0) {
      const int k = std::countl_zero(bits);
      bits &= ~(std::uint64_t{1} << (63 - k));
      const int n = w * 64 + k + 1;
      const FieldSpec& f = d.field(n);
      if (!f.defined) {
        return Fail(Error::kUndefinedField, n, in.pos());
      }
      if (auto r = DecodeField(f, n, in, out); !r) {
        out.Unset(n);  // what stays in `out` decoded cleanly
        return r;
      }
    }
  }
  if (in.left() != 0) {
    return Fail(Error::kTrailingBytes, CodecError::kNoField, in.pos(),
                static_cast<std::uint32_t>(in.left()), 0);
  }
  return {};
}

Result<std::size_t> PackedSize(const Dialect& d, const Message& msg) {
  auto plan = Plan(d, msg);
  if (!plan) {
    return plan.error();
  }
  return plan->size;
}

Result<void> Pack(const Dialect& d, const Message& msg, std::string& out) {
  auto plan = Plan(d, msg);
  if (!plan) {
    return plan.error();
  }
  const std::size_t base = out.size();
  out.resize(base + plan->size);
  auto* o = reinterpret_cast<unsigned char*>(out.data() + base);
  const std::string_view mti = msg.mti();
  if (d.mti_encoding() == Encoding::kBcd) {
    o = WriteBcd(o, 0, mti, Side::kLeft, 0);
  } else {
    for (char c : mti) {
      const auto u = static_cast<unsigned char>(c);
      *o++ = d.mti_encoding() == Encoding::kEbcdic ? kAsciiToEbcdic[u] : u;
    }
  }
  for (int b = 0; b < plan->bitmaps; ++b) {
    const std::uint64_t word = plan->words[static_cast<std::size_t>(b)];
    if (d.bitmap_encoding() == Encoding::kBinary) {
      for (int i = 7; i >= 0; --i) {
        *o++ = static_cast<unsigned char>(word >> (8 * i));
      }
    } else {
      const bool e = d.bitmap_encoding() == Encoding::kEbcdic;
      for (int i = 15; i >= 0; --i) {
        const auto c = static_cast<unsigned char>(kHexDigits[(word >> (4 * i)) & 0x0F]);
        *o++ = e ? kAsciiToEbcdic[c] : c;
      }
    }
  }
  for (int n : msg.present_fields()) {
    const FieldSpec& f = d.field(n);
    const std::string_view v = msg.Get(n);
    if (!f.is_fixed()) {
      o = WritePrefix(f, v.size(), o);
    }
    o = WriteValue(f, v, o);
  }
  return {};
}

}  // namespace sy::iso8583
