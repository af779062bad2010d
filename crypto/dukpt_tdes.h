#pragma once

// TDES DUKPT, ANSI X9.24-1:2009 Annex A (equivalently ANSI X9.24-3:2017 Annex C): the host
// (receiving) side derives the initial PIN encryption key (IPEK) from the base derivation key
// (BDK) and the key serial number (KSN), then the transaction key for the KSN's 21-bit counter,
// then the variant for the key's use. The terminal (originating) side with its future key
// registers is here too, so tests can check that both sides agree.
//
//   TdesDukptHostCache cache;   // one per terminal, owned by the terminal's shard
//   SecretBytes pin_key = cache.WorkingKey(bdk, ksn, TdesDukptVariant::kPin).value();

#include <array>
#include <cstdint>
#include <span>

#include "crypto/error.h"
#include "crypto/internal/dukpt_chain.h"
#include "crypto/secret_bytes.h"

namespace sy::crypto {

inline constexpr std::size_t kTdesKsnSize = 10;
inline constexpr std::uint32_t kTdesCounterMask = 0x1FFFFF;  // the rightmost 21 bits of the KSN
inline constexpr int kTdesMaxCounterBits = 10;               // X9.24-1:2009 A.3

// ANSI X9.24-1:2009 A.4.1 Table A-1 (and, for the data keys, the one-way step of A.4.1 /
// X9.24-3:2017 C.5.2 that encrypts the variant key with itself).
enum class TdesDukptVariant { kPin, kMacRequest, kMacResponse, kDataRequest, kDataResponse };

// The counter of a 10-byte KSN. kBadKsnLength.
[[nodiscard]] Result<std::uint32_t> TdesKsnCounter(std::span<const std::uint8_t> ksn);

// Accepts a KSN a host may derive a key for: 10 bytes, counter not zero, at most 10 one-bits.
// Errors: kBadKsnLength, kKsnCounterZero, kKsnCounterExhausted.
[[nodiscard]] Result<void> ValidateTdesKsn(std::span<const std::uint8_t> ksn);

// X9.24-1:2009 A.6: IPEK = TDES(BDK, KSN') || TDES(BDK xor C0C0C0C000000000C0C0C0C000000000, KSN')
// with KSN' the leftmost 8 bytes of the KSN after clearing the 21 counter bits. BDK: 16 bytes.
[[nodiscard]] Result<SecretBytes> DeriveTdesIpek(const SecretBytes& bdk,
                                                 std::span<const std::uint8_t> ksn);

// X9.24-1:2009 A.2/A.3: the transaction key for the KSN's counter, from the IPEK, from scratch.
[[nodiscard]] Result<SecretBytes> DeriveTdesTransactionKey(const SecretBytes& ipek,
                                                           std::span<const std::uint8_t> ksn);

// X9.24-1:2009 A.4.1: the key variant for one use of a transaction key.
[[nodiscard]] Result<SecretBytes> ApplyTdesVariant(const SecretBytes& transaction_key,
                                                   TdesDukptVariant variant);

// BDK -> IPEK -> transaction key -> variant, from scratch.
[[nodiscard]] Result<SecretBytes> DeriveTdesWorkingKey(const SecretBytes& bdk,
                                                       std::span<const std::uint8_t> ksn,
                                                       TdesDukptVariant variant);

// Host-side derivation for one terminal (one initial KSN) with its IPEK and the intermediate keys
// of the last counter cached, so a terminal's next KSN costs one or two steps. Results equal the
// from-scratch functions above. Not thread-safe: owned by the terminal's shard. Contract: use one
// BDK per cache (a different initial KSN resets it).
class TdesDukptHostCache {
 public:
  [[nodiscard]] Result<SecretBytes> TransactionKey(const SecretBytes& bdk,
                                                   std::span<const std::uint8_t> ksn);
  [[nodiscard]] Result<SecretBytes> WorkingKey(const SecretBytes& bdk,
                                               std::span<const std::uint8_t> ksn,
                                               TdesDukptVariant variant);

 private:
  bool have_ipek_ = false;
  std::array<std::uint8_t, 8> initial_ksn_{};  // leftmost 8 bytes, counter bits cleared
  SecretBytes ipek_;
  internal::PathCache path_;
};

// Terminal-side (originating) DUKPT with the 21 future key registers of X9.24-1:2009 A.2: each
// transaction takes its key from a register and refills the registers below it, so the terminal
// never holds a key from which an earlier transaction's key could be recomputed.
class TdesDukptTerminal {
 public:
  // Loads the IPEK and the initial KSN (its counter bits are cleared); generates the future keys.
  [[nodiscard]] static Result<TdesDukptTerminal> Load(const SecretBytes& ipek,
                                                      std::span<const std::uint8_t> initial_ksn);

  // Moves to the next valid counter (skipping counters with more than 10 one-bits) and makes its
  // transaction key current. kKsnCounterExhausted after the last one.
  [[nodiscard]] Result<void> Advance();

  [[nodiscard]] std::span<const std::uint8_t> ksn() const noexcept { return ksn_; }
  [[nodiscard]] std::uint32_t counter() const noexcept { return counter_; }
  [[nodiscard]] const SecretBytes& transaction_key() const noexcept { return current_; }

 private:
  TdesDukptTerminal() = default;
  std::array<std::uint8_t, kTdesKsnSize> ksn_{};
  std::uint32_t counter_ = 0;
  std::array<SecretBytes, 21> future_;  // future_[b]: key for the counter that sets bit b next
  SecretBytes current_;
};

namespace internal {
// X9.24-1:2009 A.2 "non-reversible key generation process": the child of `key` (16 bytes) for the
// 8-byte register `r8` (the rightmost 8 KSN bytes with the counter prefix).
[[nodiscard]] Result<SecretBytes> TdesNonReversibleKeyGen(const SecretBytes& key,
                                                          std::span<const std::uint8_t> r8);
}  // namespace internal

}  // namespace sy::crypto
