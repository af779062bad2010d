#pragma once

// Block cipher operations on SecretBytes keys, for the rest of Switchyard (which must not call
// libcrypto's ciphers itself). TDES keys are 16 bytes (keying option 2) or 24 (option 1); AES keys
// 16, 24 or 32 bytes. Data must be a whole number of blocks; no padding is added.

#include <cstdint>
#include <span>

#include "crypto/error.h"
#include "crypto/secret_bytes.h"

namespace sy::crypto {

enum class KeyAlgorithm { kTdes, kAes };

[[nodiscard]] constexpr std::size_t BlockSize(KeyAlgorithm a) noexcept {
  return a == KeyAlgorithm::kAes ? 16 : 8;
}

// True when `size` is a valid key length for `algorithm`.
[[nodiscard]] bool IsValidKeySize(KeyAlgorithm algorithm, std::size_t size) noexcept;

// `out` must be as long as `in`; they may be the same buffer.
[[nodiscard]] Result<void> EncryptEcb(KeyAlgorithm algorithm, const SecretBytes& key,
                                      std::span<const std::uint8_t> in,
                                      std::span<std::uint8_t> out);
[[nodiscard]] Result<void> DecryptEcb(KeyAlgorithm algorithm, const SecretBytes& key,
                                      std::span<const std::uint8_t> in,
                                      std::span<std::uint8_t> out);
[[nodiscard]] Result<void> EncryptCbc(KeyAlgorithm algorithm, const SecretBytes& key,
                                      std::span<const std::uint8_t> iv,
                                      std::span<const std::uint8_t> in,
                                      std::span<std::uint8_t> out);
[[nodiscard]] Result<void> DecryptCbc(KeyAlgorithm algorithm, const SecretBytes& key,
                                      std::span<const std::uint8_t> iv,
                                      std::span<const std::uint8_t> in,
                                      std::span<std::uint8_t> out);

}  // namespace sy::crypto
