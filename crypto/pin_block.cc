#include "crypto/pin_block.h"

#include <cstring>

#include "crypto/cipher.h"
#include "crypto/internal/openssl_util.h"

namespace sy::crypto {
namespace {

class SystemRandomSource final : public RandomSource {
 public:
  void Fill(std::span<std::uint8_t> out) override { internal::RandomBytes(out); }
};

void SetNibble(std::uint8_t* b, std::size_t i, std::uint8_t v) {
  if (i % 2 == 0) {
    b[i / 2] = static_cast<std::uint8_t>((b[i / 2] & 0x0F) | (v << 4));
  } else {
    b[i / 2] = static_cast<std::uint8_t>((b[i / 2] & 0xF0) | (v & 0x0F));
  }
}

std::uint8_t GetNibble(const std::uint8_t* b, std::size_t i) {
  return i % 2 == 0 ? static_cast<std::uint8_t>(b[i / 2] >> 4)
                    : static_cast<std::uint8_t>(b[i / 2] & 0x0F);
}

Result<void> ValidatePan(std::string_view pan) {
  if (pan.size() < 8 || pan.size() > 19) {
    return Error::kBadPan;
  }
  for (char c : pan) {
    if (c < '0' || c > '9') {
      return Error::kBadPan;
    }
  }
  return {};
}

// ISO 9564-1:2017 9.3.1.2: 0000 then the rightmost 12 PAN digits excluding the check digit,
// left-padded with zeros when the PAN is shorter.
std::array<std::uint8_t, 8> PanField013(std::string_view pan) {
  std::array<std::uint8_t, 8> field{};
  const std::string_view body = pan.substr(0, pan.size() - 1);
  const std::size_t take = std::min<std::size_t>(12, body.size());
  const std::string_view digits = body.substr(body.size() - take);
  for (std::size_t i = 0; i < take; ++i) {
    SetNibble(field.data(), 16 - take + i, static_cast<std::uint8_t>(digits[i] - '0'));
  }
  return field;
}

// ISO 9564-1:2017 9.4.2.2: M = PAN length - 12 (0 when shorter), then the PAN (left-padded with
// zeros to 12 digits), then zero nibbles to 32.
std::array<std::uint8_t, 16> PanField4(std::string_view pan) {
  std::array<std::uint8_t, 16> field{};
  const std::size_t m = pan.size() > 12 ? pan.size() - 12 : 0;
  SetNibble(field.data(), 0, static_cast<std::uint8_t>(m));
  const std::size_t pad = pan.size() < 12 ? 12 - pan.size() : 0;
  for (std::size_t i = 0; i < pan.size(); ++i) {
    SetNibble(field.data(), 1 + pad + i, static_cast<std::uint8_t>(pan[i] - '0'));
  }
  return field;
}

bool BindsPan(PinBlockFormat f) { return f != PinBlockFormat::kIso1; }

// The 8-byte plaintext PIN field of formats 0, 1, 3 and the first half of format 4's.
void PinField(PinBlockFormat format, const SecretBytes& pin, RandomSource& random,
              std::uint8_t* out) {
  SetNibble(out, 0, static_cast<std::uint8_t>(format));
  SetNibble(out, 1, static_cast<std::uint8_t>(pin.size()));
  for (std::size_t i = 0; i < pin.size(); ++i) {
    SetNibble(out, 2 + i, static_cast<std::uint8_t>(pin.data()[i] - '0'));
  }
  std::array<std::uint8_t, 14> fill{};
  if (format == PinBlockFormat::kIso1 || format == PinBlockFormat::kIso3) {
    random.Fill(fill);
  }
  for (std::size_t i = 2 + pin.size(); i < 16; ++i) {
    std::uint8_t v = 0;
    switch (format) {
      case PinBlockFormat::kIso0:
        v = 0xF;  // 9.3.1.1: fill F
        break;
      case PinBlockFormat::kIso1:
        v = fill[i - 2] & 0x0F;  // 9.3.2: fill from a transaction-unique value, 0 to F
        break;
      case PinBlockFormat::kIso3:
        v = static_cast<std::uint8_t>(0xA + fill[i - 2] % 6);  // 9.3.4: random fill A to F
        break;
      case PinBlockFormat::kIso4:
        v = 0xA;  // 9.4.2.1: fill A up to the 16th nibble
        break;
    }
    SetNibble(out, i, v);
  }
  internal::Cleanse(fill.data(), fill.size());
}

// Parses a plaintext PIN field (formats 0, 1, 3 after removing the PAN field; format 4's first
// half). `pan_bound_from` is the first nibble a wrong PAN would have changed (SIZE_MAX if none).
Result<SecretBytes> ParsePinField(PinBlockFormat format, const std::uint8_t* field,
                                  std::size_t pan_bound_from) {
  const auto at_fault = [&](std::size_t nibble, Error own) {
    return nibble >= pan_bound_from ? Error::kPinBlockPanMismatch : own;
  };
  if (GetNibble(field, 0) != static_cast<std::uint8_t>(format)) {
    return at_fault(0, Error::kPinBlockFormatMismatch);
  }
  const std::size_t n = GetNibble(field, 1);
  if (n < 4 || n > 12) {
    return at_fault(1, Error::kBadPinLength);
  }
  SecretBytes pin(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t d = GetNibble(field, 2 + i);
    if (d > 9) {
      return at_fault(2 + i, Error::kBadPinDigit);
    }
    pin.data()[i] = static_cast<std::uint8_t>('0' + d);
  }
  for (std::size_t i = 2 + n; i < 16; ++i) {
    const std::uint8_t v = GetNibble(field, i);
    bool ok = true;
    switch (format) {
      case PinBlockFormat::kIso0:
        ok = v == 0xF;
        break;
      case PinBlockFormat::kIso1:
        break;
      case PinBlockFormat::kIso3:
        ok = v >= 0xA;
        break;
      case PinBlockFormat::kIso4:
        ok = v == 0xA;
        break;
    }
    if (!ok) {
      // Fill digits lie past nibble 5, where the PAN field of formats 0 and 3 applies.
      return at_fault(i, Error::kPinBlockFormatMismatch);
    }
  }
  return pin;
}

}  // namespace

Result<PinBlockFormat> PinBlockFormatFromNumber(int number) {
  switch (number) {
    case 0:
      return PinBlockFormat::kIso0;
    case 1:
      return PinBlockFormat::kIso1;
    case 3:
      return PinBlockFormat::kIso3;
    case 4:
      return PinBlockFormat::kIso4;
    default:
      return Error::kUnsupportedPinFormat;
  }
}

std::size_t PinBlockSize(PinBlockFormat format) noexcept {
  return format == PinBlockFormat::kIso4 ? 16 : 8;
}

RandomSource& SystemRandom() {
  static SystemRandomSource source;
  return source;
}

Result<void> ValidatePin(const SecretBytes& pin) {
  if (pin.size() < 4 || pin.size() > 12) {
    return Error::kBadPinLength;
  }
  for (std::uint8_t c : pin.view()) {
    if (c < '0' || c > '9') {
      return Error::kBadPinDigit;
    }
  }
  return {};
}

Result<SecretBytes> BuildClearPinBlock(PinBlockFormat format, const SecretBytes& pin,
                                       std::string_view pan, RandomSource& random) {
  if (format == PinBlockFormat::kIso4) {
    return Error::kUnsupportedPinFormat;
  }
  if (auto r = ValidatePin(pin); !r) {
    return r.error();
  }
  if (BindsPan(format)) {
    if (auto r = ValidatePan(pan); !r) {
      return r.error();
    }
  }
  SecretBytes block(8);
  PinField(format, pin, random, block.data());
  if (BindsPan(format)) {
    const auto pan_field = PanField013(pan);
    for (std::size_t i = 0; i < 8; ++i) {
      block.data()[i] ^= pan_field[i];
    }
  }
  return block;
}

Result<SecretBytes> RecoverPinFromClearBlock(PinBlockFormat format, const SecretBytes& clear_block,
                                             std::string_view pan) {
  if (format == PinBlockFormat::kIso4) {
    return Error::kUnsupportedPinFormat;
  }
  if (clear_block.size() != 8) {
    return Error::kBadInputLength;
  }
  std::array<std::uint8_t, 8> field{};
  ScopedWipe wipe(field);
  std::memcpy(field.data(), clear_block.data(), 8);
  std::size_t pan_bound_from = SIZE_MAX;
  if (BindsPan(format)) {
    if (auto r = ValidatePan(pan); !r) {
      return r.error();
    }
    const auto pan_field = PanField013(pan);
    for (std::size_t i = 0; i < 8; ++i) {
      field[i] ^= pan_field[i];
    }
    pan_bound_from = 4;  // the PAN field starts with four zero nibbles
  }
  return ParsePinField(format, field.data(), pan_bound_from);
}

Result<PinBlock> EncipherPinBlock(PinBlockFormat format, const SecretBytes& key,
                                  const SecretBytes& pin, std::string_view pan,
                                  RandomSource& random) {
  PinBlock out;
  if (format != PinBlockFormat::kIso4) {
    if (!IsValidKeySize(KeyAlgorithm::kTdes, key.size())) {
      return Error::kBadKeyLength;
    }
    auto clear = BuildClearPinBlock(format, pin, pan, random);
    if (!clear) {
      return clear.error();
    }
    out.size = 8;
    if (auto r = EncryptEcb(KeyAlgorithm::kTdes, key, clear->view(), std::span(out.bytes).first(8));
        !r) {
      return r.error();
    }
    return out;
  }
  if (!IsValidKeySize(KeyAlgorithm::kAes, key.size())) {
    return Error::kBadKeyLength;
  }
  if (auto r = ValidatePin(pin); !r) {
    return r.error();
  }
  if (auto r = ValidatePan(pan); !r) {
    return r.error();
  }
  // ISO 9564-1:2017 9.4.2.1: first 8 bytes control/length/PIN/fill A, last 8 bytes random.
  std::array<std::uint8_t, 16> field{};
  ScopedWipe wipe(field);
  PinField(format, pin, random, field.data());
  random.Fill(std::span(field).subspan(8));
  const auto pan_field = PanField4(pan);
  out.size = 16;
  auto r = EncryptEcb(KeyAlgorithm::kAes, key, field, out.bytes);
  if (r) {
    for (std::size_t i = 0; i < 16; ++i) {
      out.bytes[i] ^= pan_field[i];
    }
    r = EncryptEcb(KeyAlgorithm::kAes, key, out.bytes, out.bytes);
  }
  if (!r) {
    return r.error();
  }
  return out;
}

Result<SecretBytes> DecipherPinBlock(PinBlockFormat format, const SecretBytes& key,
                                     std::span<const std::uint8_t> block, std::string_view pan) {
  if (block.size() != PinBlockSize(format)) {
    return Error::kBadInputLength;
  }
  if (format != PinBlockFormat::kIso4) {
    if (!IsValidKeySize(KeyAlgorithm::kTdes, key.size())) {
      return Error::kBadKeyLength;
    }
    SecretBytes clear(8);
    if (auto r = DecryptEcb(KeyAlgorithm::kTdes, key, block, clear.mutable_view()); !r) {
      return r.error();
    }
    return RecoverPinFromClearBlock(format, clear, pan);
  }
  if (!IsValidKeySize(KeyAlgorithm::kAes, key.size())) {
    return Error::kBadKeyLength;
  }
  if (auto r = ValidatePan(pan); !r) {
    return r.error();
  }
  std::array<std::uint8_t, 16> field{};
  ScopedWipe wipe(field);
  auto r = DecryptEcb(KeyAlgorithm::kAes, key, block, field);
  if (r) {
    const auto pan_field = PanField4(pan);
    for (std::size_t i = 0; i < 16; ++i) {
      field[i] ^= pan_field[i];
    }
    r = DecryptEcb(KeyAlgorithm::kAes, key, field, field);
  }
  if (!r) {
    return r.error();
  }
  // Every nibble of the recovered field depends on the PAN field (through the inner decryption).
  return ParsePinField(format, field.data(), 0);
}

}  // namespace sy::crypto
