#pragma once

// Memory and randomness helpers backed by libcrypto (only internal/openssl_*.cc include OpenSSL).

#include <cstddef>
#include <cstdint>
#include <span>

namespace sy::crypto::internal {

// Overwrites `size` bytes at `p` with zeros in a way the compiler cannot elide (OPENSSL_cleanse).
void Cleanse(void* p, std::size_t size) noexcept;

// Compares two equal-length buffers in time independent of their contents (CRYPTO_memcmp).
// Buffers of different lengths compare unequal (the lengths are not secret).
[[nodiscard]] bool ConstantTimeEqual(std::span<const std::uint8_t> a,
                                     std::span<const std::uint8_t> b) noexcept;

// Fills `out` from the DRBG (RAND_bytes). Aborts if the DRBG fails: a switch without randomness
// must not keep running.
void RandomBytes(std::span<std::uint8_t> out) noexcept;

}  // namespace sy::crypto::internal
