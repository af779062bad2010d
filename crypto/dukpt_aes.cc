#include "crypto/dukpt_aes.h"

#include <bit>
#include <cstring>

#include "crypto/cipher.h"

namespace sy::crypto {
namespace {

constexpr std::uint16_t kUsageKeyDerivation = 0x8000;            // intermediate derivation keys
constexpr std::uint16_t kUsageKeyDerivationInitialKey = 0x8001;  // the initial key

std::uint32_t CounterOf(std::span<const std::uint8_t> ksn) {
  return (static_cast<std::uint32_t>(ksn[8]) << 24) | (static_cast<std::uint32_t>(ksn[9]) << 16) |
         (static_cast<std::uint32_t>(ksn[10]) << 8) | ksn[11];
}

Result<AesDukptKeyType> AesTypeForSize(std::size_t size) {
  switch (size) {
    case 16:
      return AesDukptKeyType::kAes128;
    case 24:
      return AesDukptKeyType::kAes192;
    case 32:
      return AesDukptKeyType::kAes256;
    default:
      return Error::kBadKeyLength;
  }
}

// X9.24-3:2017 6.3.2 Tables 2 and 3: version 01, key block counter, key usage, algorithm, length
// in bits, then either the initial key ID or the derivation ID (rightmost 4 bytes of the initial
// key ID) and the counter, all big-endian.
std::array<std::uint8_t, 16> DerivationData(std::uint16_t usage, AesDukptKeyType type,
                                            std::span<const std::uint8_t> id_and_counter) {
  const std::uint16_t bits = static_cast<std::uint16_t>(AesDukptKeySize(type) * 8);
  const std::uint16_t algo = static_cast<std::uint16_t>(type);
  std::array<std::uint8_t, 16> dd{0x01,
                                  0x01,
                                  static_cast<std::uint8_t>(usage >> 8),
                                  static_cast<std::uint8_t>(usage),
                                  static_cast<std::uint8_t>(algo >> 8),
                                  static_cast<std::uint8_t>(algo),
                                  static_cast<std::uint8_t>(bits >> 8),
                                  static_cast<std::uint8_t>(bits)};
  std::memcpy(dd.data() + 8, id_and_counter.data(), 8);
  return dd;
}

std::array<std::uint8_t, 8> DerivationIdAndCounter(std::span<const std::uint8_t> ksn,
                                                   std::uint32_t counter) {
  std::array<std::uint8_t, 8> out{};
  std::memcpy(out.data(), ksn.data() + 4, 4);
  out[4] = static_cast<std::uint8_t>(counter >> 24);
  out[5] = static_cast<std::uint8_t>(counter >> 16);
  out[6] = static_cast<std::uint8_t>(counter >> 8);
  out[7] = static_cast<std::uint8_t>(counter);
  return out;
}

// X9.24-3:2017 6.3.1: AES-ECB of the derivation data under `key`, one block per 128 bits of the
// derived key (the key block counter counts them), truncated to the key type's length.
Result<SecretBytes> DeriveKey(const SecretBytes& key, std::array<std::uint8_t, 16> dd,
                              AesDukptKeyType type) {
  const std::size_t size = AesDukptKeySize(type);
  SecretBytes material(32);
  Result<void> r;
  for (std::size_t off = 0; off < size && r; off += 16) {
    dd[1] = static_cast<std::uint8_t>(1 + off / 16);
    r = EncryptEcb(KeyAlgorithm::kAes, key, dd, material.mutable_view().subspan(off, 16));
  }
  if (!r) {
    return r.error();
  }
  material.Resize(size);
  return material;
}

}  // namespace

std::size_t AesDukptKeySize(AesDukptKeyType type) noexcept {
  switch (type) {
    case AesDukptKeyType::kTdes2:
    case AesDukptKeyType::kAes128:
      return 16;
    case AesDukptKeyType::kTdes3:
    case AesDukptKeyType::kAes192:
      return 24;
    case AesDukptKeyType::kAes256:
      return 32;
  }
  return 16;
}

Result<std::uint32_t> AesKsnCounter(std::span<const std::uint8_t> ksn) {
  if (ksn.size() != kAesKsnSize) {
    return Error::kBadKsnLength;
  }
  return CounterOf(ksn);
}

Result<void> ValidateAesKsn(std::span<const std::uint8_t> ksn) {
  auto counter = AesKsnCounter(ksn);
  if (!counter) {
    return counter.error();
  }
  if (*counter == 0) {
    return Error::kKsnCounterZero;
  }
  // X9.24-3:2017 6.1: counters with more than 16 one-bits are never used.
  if (std::popcount(*counter) > kAesMaxCounterBits) {
    return Error::kKsnCounterExhausted;
  }
  return {};
}

Result<SecretBytes> DeriveAesInitialKey(const SecretBytes& bdk,
                                        std::span<const std::uint8_t> initial_key_id) {
  if (initial_key_id.size() < kAesInitialKeyIdSize) {
    return Error::kBadKsnLength;
  }
  auto type = AesTypeForSize(bdk.size());
  if (!type) {
    return type.error();
  }
  return DeriveKey(bdk,
                   DerivationData(kUsageKeyDerivationInitialKey, *type,
                                  initial_key_id.first(kAesInitialKeyIdSize)),
                   *type);
}

Result<SecretBytes> DeriveAesDerivationKey(const SecretBytes& initial_key,
                                           std::span<const std::uint8_t> ksn) {
  if (auto v = ValidateAesKsn(ksn); !v) {
    return v.error();
  }
  auto type = AesTypeForSize(initial_key.size());
  if (!type) {
    return type.error();
  }
  // X9.24-3:2017 6.1: from the most significant one-bit down, each set bit derives the next key.
  const std::uint32_t counter = CounterOf(ksn);
  SecretBytes key = initial_key.Clone();
  std::uint32_t prefix = 0;
  for (int bit = 31; bit >= 0; --bit) {
    const std::uint32_t mask = std::uint32_t{1} << bit;
    if ((counter & mask) == 0) {
      continue;
    }
    prefix |= mask;
    auto next = DeriveKey(
        key, DerivationData(kUsageKeyDerivation, *type, DerivationIdAndCounter(ksn, prefix)),
        *type);
    if (!next) {
      return next.error();
    }
    key = std::move(*next);
  }
  return key;
}

Result<SecretBytes> DeriveAesWorkingKeyFromDerivationKey(const SecretBytes& derivation_key,
                                                         std::span<const std::uint8_t> ksn,
                                                         AesDukptKeyUsage usage,
                                                         AesDukptKeyType type) {
  if (auto v = ValidateAesKsn(ksn); !v) {
    return v.error();
  }
  if (!AesTypeForSize(derivation_key.size())) {
    return Error::kBadKeyLength;
  }
  // X9.24-3:2017 6.2: a derived key may not be stronger than the key it is derived from.
  if (AesDukptKeySize(type) > derivation_key.size()) {
    return Error::kKeyTypeNotAllowed;
  }
  return DeriveKey(derivation_key,
                   DerivationData(static_cast<std::uint16_t>(usage), type,
                                  DerivationIdAndCounter(ksn, CounterOf(ksn))),
                   type);
}

Result<SecretBytes> DeriveAesWorkingKey(const SecretBytes& bdk, std::span<const std::uint8_t> ksn,
                                        AesDukptKeyUsage usage, AesDukptKeyType type) {
  if (auto v = ValidateAesKsn(ksn); !v) {
    return v.error();
  }
  auto initial = DeriveAesInitialKey(bdk, ksn);
  if (!initial) {
    return initial.error();
  }
  auto derivation = DeriveAesDerivationKey(*initial, ksn);
  if (!derivation) {
    return derivation.error();
  }
  return DeriveAesWorkingKeyFromDerivationKey(*derivation, ksn, usage, type);
}

Result<SecretBytes> AesDukptHostCache::DerivationKey(const SecretBytes& bdk,
                                                     std::span<const std::uint8_t> ksn) {
  if (auto v = ValidateAesKsn(ksn); !v) {
    return v.error();
  }
  std::array<std::uint8_t, kAesInitialKeyIdSize> id{};
  std::memcpy(id.data(), ksn.data(), id.size());
  const bool changed = !have_initial_ || id != initial_key_id_;
  if (changed) {
    auto initial = DeriveAesInitialKey(bdk, ksn);
    if (!initial) {
      have_initial_ = false;
      return initial.error();
    }
    initial_key_ = std::move(*initial);
    initial_key_id_ = id;
    have_initial_ = true;
  }
  const AesDukptKeyType type = *AesTypeForSize(initial_key_.size());
  return path_.Derive(
      initial_key_, CounterOf(ksn), changed, [&](const SecretBytes& parent, std::uint32_t prefix) {
        return DeriveKey(
            parent, DerivationData(kUsageKeyDerivation, type, DerivationIdAndCounter(ksn, prefix)),
            type);
      });
}

Result<SecretBytes> AesDukptHostCache::WorkingKey(const SecretBytes& bdk,
                                                  std::span<const std::uint8_t> ksn,
                                                  AesDukptKeyUsage usage, AesDukptKeyType type) {
  auto derivation = DerivationKey(bdk, ksn);
  if (!derivation) {
    return derivation.error();
  }
  return DeriveAesWorkingKeyFromDerivationKey(*derivation, ksn, usage, type);
}

Result<AesDukptTerminal> AesDukptTerminal::Load(const SecretBytes& initial_key,
                                                std::span<const std::uint8_t> initial_key_id) {
  if (initial_key_id.size() < kAesInitialKeyIdSize) {
    return Error::kBadKsnLength;
  }
  auto type = AesTypeForSize(initial_key.size());
  if (!type) {
    return type.error();
  }
  AesDukptTerminal t;
  std::memcpy(t.ksn_.data(), initial_key_id.data(), kAesInitialKeyIdSize);
  // One intermediate derivation key per counter bit, children of the initial key.
  for (int bit = 31; bit >= 0; --bit) {
    auto k = DeriveKey(initial_key,
                       DerivationData(kUsageKeyDerivation, *type,
                                      DerivationIdAndCounter(t.ksn_, std::uint32_t{1} << bit)),
                       *type);
    if (!k) {
      return k.error();
    }
    t.future_[bit] = std::move(*k);
  }
  return t;
}

Result<void> AesDukptTerminal::Advance() {
  if (exhausted_) {
    return Error::kKsnCounterExhausted;
  }
  std::uint64_t next = std::uint64_t{counter_} + 1;
  while (next <= 0xFFFFFFFFu && std::popcount(next) > kAesMaxCounterBits) {
    next += next & (~next + 1);
  }
  if (next > 0xFFFFFFFFu) {
    exhausted_ = true;
    current_.Wipe();
    return Error::kKsnCounterExhausted;
  }
  const auto c = static_cast<std::uint32_t>(next);
  const int low = std::countr_zero(c);
  current_ = std::move(future_[low]);
  counter_ = c;
  ksn_[8] = static_cast<std::uint8_t>(c >> 24);
  ksn_[9] = static_cast<std::uint8_t>(c >> 16);
  ksn_[10] = static_cast<std::uint8_t>(c >> 8);
  ksn_[11] = static_cast<std::uint8_t>(c);
  if (std::popcount(c) < kAesMaxCounterBits) {
    const AesDukptKeyType type = *AesTypeForSize(current_.size());
    for (int bit = low - 1; bit >= 0; --bit) {
      auto k =
          DeriveKey(current_,
                    DerivationData(kUsageKeyDerivation, type,
                                   DerivationIdAndCounter(ksn_, c | (std::uint32_t{1} << bit))),
                    type);
      if (!k) {
        return k.error();
      }
      future_[bit] = std::move(*k);
    }
  }
  return {};
}

}  // namespace sy::crypto
