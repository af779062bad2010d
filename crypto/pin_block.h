#pragma once

// ISO 9564-1:2017 PIN blocks: formats 0, 1 and 3 (8 bytes, TDES) and format 4 (16 bytes, AES).
//
//   auto block = EncipherPinBlock(PinBlockFormat::kIso0, zpk, pin, pan, SystemRandom()).value();
//   SecretBytes pin = DecipherPinBlock(PinBlockFormat::kIso0, zpk, block.view(), pan).value();
//
// PINs are SecretBytes of ASCII digits, 4 to 12 long. PANs are ASCII digit strings, 8 to 19 long.
// Formats 0, 3 and 4 bind the block to the PAN; format 1 does not (the PAN is ignored).

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "crypto/error.h"
#include "crypto/secret_bytes.h"

namespace sy::crypto {

enum class PinBlockFormat { kIso0 = 0, kIso1 = 1, kIso3 = 3, kIso4 = 4 };

// 0, 1, 3 or 4; kUnsupportedPinFormat otherwise.
[[nodiscard]] Result<PinBlockFormat> PinBlockFormatFromNumber(int number);
// 8 for formats 0, 1, 3; 16 for format 4.
[[nodiscard]] std::size_t PinBlockSize(PinBlockFormat format) noexcept;

// Source of fill digits and random padding, injectable so tests are repeatable.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual void Fill(std::span<std::uint8_t> out) = 0;
};
// The process DRBG. Thread-safe.
RandomSource& SystemRandom();

// An enciphered PIN block (8 or 16 bytes). Not secret without its key, but never logged.
struct PinBlock {
  std::array<std::uint8_t, 16> bytes{};
  std::size_t size = 0;
  [[nodiscard]] std::span<const std::uint8_t> view() const noexcept { return {bytes.data(), size}; }
};

// Checks a PIN: 4 to 12 ASCII digits (ISO 9564-1:2017 8.1). kBadPinLength / kBadPinDigit.
[[nodiscard]] Result<void> ValidatePin(const SecretBytes& pin);

// Clear PIN block for formats 0, 1, 3 (ISO 9564-1:2017 9.3.1, 9.3.2, 9.3.4): the plaintext PIN
// field XOR the PAN field (formats 0 and 3). Format 4 has no single clear block: use
// EncipherPinBlock.
[[nodiscard]] Result<SecretBytes> BuildClearPinBlock(PinBlockFormat format, const SecretBytes& pin,
                                                     std::string_view pan, RandomSource& random);

// Recovers the PIN from a clear format 0, 1 or 3 block, checking the control field, the PIN
// length, the PIN digits, the fill and (formats 0, 3) the PAN binding.
[[nodiscard]] Result<SecretBytes> RecoverPinFromClearBlock(PinBlockFormat format,
                                                           const SecretBytes& clear_block,
                                                           std::string_view pan);

// Builds and enciphers a PIN block: TDES-ECB (16/24-byte key) for formats 0, 1, 3; for format 4
// (ISO 9564-1:2017 9.4.2.3) AES: E(K, E(K, PIN field) XOR PAN field).
[[nodiscard]] Result<PinBlock> EncipherPinBlock(PinBlockFormat format, const SecretBytes& key,
                                                const SecretBytes& pin, std::string_view pan,
                                                RandomSource& random);

// Deciphers a PIN block and recovers the PIN (checks as RecoverPinFromClearBlock; for format 4,
// ISO 9564-1:2017 9.4.2.4: PIN field = D(K, D(K, block) XOR PAN field)). Every intermediate is
// wiped.
[[nodiscard]] Result<SecretBytes> DecipherPinBlock(PinBlockFormat format, const SecretBytes& key,
                                                   std::span<const std::uint8_t> block,
                                                   std::string_view pan);

}  // namespace sy::crypto
