#pragma once

// AES-256-GCM and HMAC-SHA-256 through libcrypto (only internal/openssl_*.cc include OpenSSL).

#include <cstdint>
#include <span>
#include <string>

namespace sy::crypto::internal {

inline constexpr std::size_t kGcmNonceSize = 12;
inline constexpr std::size_t kGcmTagSize = 16;

// Encrypts plaintext under a 32-byte key; out = ciphertext || 16-byte tag. False on a libcrypto
// failure.
[[nodiscard]] bool Aes256GcmSeal(std::span<const std::uint8_t> key,
                                 std::span<const std::uint8_t> nonce,
                                 std::span<const std::uint8_t> aad,
                                 std::span<const std::uint8_t> plaintext, std::string& out);

// Decrypts ciphertext || tag; false when the tag does not verify (or on a libcrypto failure).
// On failure out is wiped and emptied.
[[nodiscard]] bool Aes256GcmOpen(std::span<const std::uint8_t> key,
                                 std::span<const std::uint8_t> nonce,
                                 std::span<const std::uint8_t> aad,
                                 std::span<const std::uint8_t> sealed, std::string& out);

// HMAC-SHA-256 of data under key (32 bytes out).
void HmacSha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data,
                std::span<std::uint8_t, 32> out);

}  // namespace sy::crypto::internal
