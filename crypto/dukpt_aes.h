#pragma once

// AES DUKPT, ANSI X9.24-3:2017: the host derives the initial key from the BDK and the 8-byte
// initial key ID, the derivation key for the KSN's 32-bit counter, and a working key for one key
// usage and key type. The terminal side (with its 32 intermediate derivation key registers) is
// here too so tests can check that both sides agree.
//
//   AesDukptHostCache cache;   // one per terminal, owned by the terminal's shard
//   SecretBytes pek = cache.WorkingKey(bdk, ksn, AesDukptKeyUsage::kPinEncryption,
//                                      AesDukptKeyType::kAes128).value();

#include <array>
#include <cstdint>
#include <span>

#include "crypto/error.h"
#include "crypto/internal/dukpt_chain.h"
#include "crypto/secret_bytes.h"

namespace sy::crypto {

inline constexpr std::size_t kAesKsnSize = 12;          // initial key ID (8) + counter (4)
inline constexpr std::size_t kAesInitialKeyIdSize = 8;  // BDK ID (4) + derivation ID (4)
inline constexpr int kAesMaxCounterBits = 16;           // X9.24-3:2017 6.1

// X9.24-3:2017 6.3.2 Table 2: the algorithm indicator; the value is the indicator.
enum class AesDukptKeyType : std::uint16_t {
  kTdes2 = 0x0000,
  kTdes3 = 0x0001,
  kAes128 = 0x0002,
  kAes192 = 0x0003,
  kAes256 = 0x0004,
};

// X9.24-3:2017 6.3.2 Table 2: the key usage indicator; the value is the indicator.
enum class AesDukptKeyUsage : std::uint16_t {
  kKeyEncryption = 0x0002,
  kPinEncryption = 0x1000,
  kMacGeneration = 0x2000,
  kMacVerification = 0x2001,
  kMacBoth = 0x2002,
  kDataEncrypt = 0x3000,
  kDataDecrypt = 0x3001,
  kDataBoth = 0x3002,
};

// Key length in bytes of a key type.
[[nodiscard]] std::size_t AesDukptKeySize(AesDukptKeyType type) noexcept;

// The counter of a 12-byte KSN. kBadKsnLength.
[[nodiscard]] Result<std::uint32_t> AesKsnCounter(std::span<const std::uint8_t> ksn);

// Accepts a KSN a host may derive a key for: 12 bytes, counter not zero, at most 16 one-bits.
[[nodiscard]] Result<void> ValidateAesKsn(std::span<const std::uint8_t> ksn);

// X9.24-3:2017 6.3.3 / 6.5: the initial key from an AES BDK (16, 24 or 32 bytes) and the initial
// key ID (the leftmost 8 bytes of a KSN may be passed). The initial key is as long as the BDK.
[[nodiscard]] Result<SecretBytes> DeriveAesInitialKey(const SecretBytes& bdk,
                                                      std::span<const std::uint8_t> initial_key_id);

// X9.24-3:2017 6.1 / 6.4: the derivation key for the KSN's counter, from the initial key.
[[nodiscard]] Result<SecretBytes> DeriveAesDerivationKey(const SecretBytes& initial_key,
                                                         std::span<const std::uint8_t> ksn);

// X9.24-3:2017 6.6: a working key of `type` for `usage` from the counter's derivation key.
// kKeyTypeNotAllowed when `type` is longer than the derivation key.
[[nodiscard]] Result<SecretBytes> DeriveAesWorkingKeyFromDerivationKey(
    const SecretBytes& derivation_key, std::span<const std::uint8_t> ksn, AesDukptKeyUsage usage,
    AesDukptKeyType type);

// BDK -> initial key -> derivation key -> working key, from scratch.
[[nodiscard]] Result<SecretBytes> DeriveAesWorkingKey(const SecretBytes& bdk,
                                                      std::span<const std::uint8_t> ksn,
                                                      AesDukptKeyUsage usage, AesDukptKeyType type);

// Host-side derivation for one terminal with the initial key and the intermediate keys of the last
// counter cached. Results equal the from-scratch functions. Not thread-safe; one BDK per cache.
class AesDukptHostCache {
 public:
  [[nodiscard]] Result<SecretBytes> DerivationKey(const SecretBytes& bdk,
                                                  std::span<const std::uint8_t> ksn);
  [[nodiscard]] Result<SecretBytes> WorkingKey(const SecretBytes& bdk,
                                               std::span<const std::uint8_t> ksn,
                                               AesDukptKeyUsage usage, AesDukptKeyType type);

 private:
  bool have_initial_ = false;
  std::array<std::uint8_t, kAesInitialKeyIdSize> initial_key_id_{};
  SecretBytes initial_key_;
  internal::PathCache path_;
};

// Terminal-side (originating) AES DUKPT with 32 intermediate derivation key registers
// (X9.24-3:2017 6.1, B.x "update state for next transaction").
class AesDukptTerminal {
 public:
  [[nodiscard]] static Result<AesDukptTerminal> Load(const SecretBytes& initial_key,
                                                     std::span<const std::uint8_t> initial_key_id);
  // Next counter with at most 16 one-bits; kKsnCounterExhausted after the last one.
  [[nodiscard]] Result<void> Advance();

  [[nodiscard]] std::span<const std::uint8_t> ksn() const noexcept { return ksn_; }
  [[nodiscard]] std::uint32_t counter() const noexcept { return counter_; }
  [[nodiscard]] const SecretBytes& derivation_key() const noexcept { return current_; }

 private:
  AesDukptTerminal() = default;
  std::array<std::uint8_t, kAesKsnSize> ksn_{};
  std::uint32_t counter_ = 0;
  bool exhausted_ = false;
  std::array<SecretBytes, 32> future_;
  SecretBytes current_;
};

}  // namespace sy::crypto
