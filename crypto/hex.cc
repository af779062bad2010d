#include "crypto/hex.h"

namespace sy::crypto {
namespace {

int Nibble(char c) noexcept {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

bool DecodeInto(std::string_view hex, std::uint8_t* out) noexcept {
  for (std::size_t i = 0; i < hex.size() / 2; ++i) {
    const int hi = Nibble(hex[2 * i]);
    const int lo = Nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    out[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  return true;
}

}  // namespace

std::string ToHex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0x0F]);
  }
  return out;
}

Result<std::vector<std::uint8_t>> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return Error::kBadHex;
  }
  std::vector<std::uint8_t> out(hex.size() / 2);
  if (!DecodeInto(hex, out.data())) {
    return Error::kBadHex;
  }
  return out;
}

Result<SecretBytes> SecretFromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return Error::kBadHex;
  }
  if (hex.size() / 2 > SecretBytes::kCapacity) {
    return Error::kBadKeyLength;
  }
  SecretBytes out(hex.size() / 2);
  if (!DecodeInto(hex, out.data())) {
    return Error::kBadHex;  // `out` is wiped by its destructor
  }
  return out;
}

}  // namespace sy::crypto
