#pragma once

// The one place that drives libcrypto's block ciphers (EVP). Callers pass raw key bytes; the
// public wrappers in crypto/cipher.h check key types first.
//
// Speed: each thread keeps keyed EVP_CIPHER_CTXs per (algorithm, mode, direction), the last few
// keys of each, so no context is allocated or re-keyed on the transaction path, and a CBC call
// with another IV does not re-initialise its context (openssl_cipher.cc). Ciphers are fetched
// once per process.

#include <cstddef>
#include <cstdint>
#include <span>

#include "crypto/error.h"

namespace sy::crypto::internal {

enum class BlockCipher {
  kDes,   // single DES, 8-byte key (ISO 9797-1 MAC algorithms 1 and 3, DUKPT's non-reversible step)
  kTdes,  // TDEA keying option 2 (16-byte key) or 1 (24-byte key)
  kAes,   // AES-128/192/256 by key length
};

enum class Mode { kEcb, kCbc };

// Encrypts (`encrypt`) or decrypts `in` into `out` (same length, a whole number of blocks, may
// alias exactly). `iv` must be one block for CBC and is ignored for ECB. No padding.
// Errors: kBadKeyLength, kBadInputLength, kCipherFailure.
[[nodiscard]] Result<void> Crypt(BlockCipher cipher, Mode mode, bool encrypt,
                                 std::span<const std::uint8_t> key,
                                 std::span<const std::uint8_t> iv, std::span<const std::uint8_t> in,
                                 std::span<std::uint8_t> out);

// CBC encryption of `data` then `tail` (each a whole number of blocks, either may be empty) from
// the IV `iv`, keeping only the last ciphertext block, written to `last` (one block): the core of
// ISO/IEC 9797-1 MAC algorithms 1 and 3. One key schedule; the data is streamed through a small
// stack buffer that is wiped afterwards. Errors as Crypt.
[[nodiscard]] Result<void> CbcMacBlocks(BlockCipher cipher, std::span<const std::uint8_t> key,
                                        std::span<const std::uint8_t> iv,
                                        std::span<const std::uint8_t> data,
                                        std::span<const std::uint8_t> tail,
                                        std::span<std::uint8_t> last);

// CMAC (NIST SP 800-38B) of `data` under `key` into `mac` (one block: 16 bytes for AES, 8 for
// TDES), with a single key schedule: the subkey block L = CIPH(K, 0) comes from the same context.
[[nodiscard]] Result<void> Cmac(BlockCipher cipher, std::span<const std::uint8_t> key,
                                std::span<const std::uint8_t> data, std::span<std::uint8_t> mac);

inline Result<void> AesCmac(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data,
                            std::span<std::uint8_t> mac) {
  return Cmac(BlockCipher::kAes, key, data, mac);
}

[[nodiscard]] constexpr std::size_t BlockSize(BlockCipher c) noexcept {
  return c == BlockCipher::kAes ? 16 : 8;
}

}  // namespace sy::crypto::internal
