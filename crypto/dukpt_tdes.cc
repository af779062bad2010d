#include "crypto/dukpt_tdes.h"

#include <bit>
#include <cstring>

#include "crypto/cipher.h"
#include "crypto/internal/openssl_cipher.h"
#include "crypto/internal/openssl_util.h"

namespace sy::crypto {
namespace {

using Block8 = std::array<std::uint8_t, 8>;

std::uint32_t CounterOf(std::span<const std::uint8_t> ksn) {
  return (static_cast<std::uint32_t>(ksn[7] & 0x1F) << 16) |
         (static_cast<std::uint32_t>(ksn[8]) << 8) | ksn[9];
}

// The rightmost 8 bytes of the KSN with the counter replaced by `counter` (the R8 register).
Block8 RegisterFor(std::span<const std::uint8_t> ksn, std::uint32_t counter) {
  Block8 r8{};
  std::memcpy(r8.data(), ksn.data() + 2, 8);
  r8[5] = static_cast<std::uint8_t>((r8[5] & 0xE0) | ((counter >> 16) & 0x1F));
  r8[6] = static_cast<std::uint8_t>(counter >> 8);
  r8[7] = static_cast<std::uint8_t>(counter);
  return r8;
}

// ANSI X9.24-1:2009 A.4.1 Table A-1: the variant constant is XORed into bytes 7 and 15 (PIN),
// 6 and 14 (MAC request), 4 and 12 (MAC response), 5 and 13 (data request), 3 and 11 (data
// response).
int VariantByte(TdesDukptVariant v) {
  switch (v) {
    case TdesDukptVariant::kPin:
      return 7;
    case TdesDukptVariant::kMacRequest:
      return 6;
    case TdesDukptVariant::kMacResponse:
      return 4;
    case TdesDukptVariant::kDataRequest:
      return 5;
    case TdesDukptVariant::kDataResponse:
      return 3;
  }
  return 7;
}

}  // namespace

namespace internal {

Result<SecretBytes> TdesNonReversibleKeyGen(const SecretBytes& key,
                                            std::span<const std::uint8_t> r8) {
  if (key.size() != 16 || r8.size() != 8) {
    return Error::kBadKeyLength;
  }
  // X9.24-1:2009 A.2, non-reversible key generation process, steps 1-8.
  SecretBytes out(16);
  std::array<std::uint8_t, 16> reg{};
  ScopedWipe wipe_reg(reg);
  std::memcpy(reg.data(), key.data(), 16);
  const auto half = [&](std::uint8_t* dst) -> Result<void> {
    // dst = DES(left, r8 xor right) xor right
    for (int i = 0; i < 8; ++i) {
      dst[i] = r8[i] ^ reg[8 + i];
    }
    auto r = Crypt(BlockCipher::kDes, Mode::kEcb, true, std::span(reg).first(8), {},
                   std::span<const std::uint8_t>(dst, 8), std::span<std::uint8_t>(dst, 8));
    for (int i = 0; i < 8; ++i) {
      dst[i] ^= reg[8 + i];
    }
    return r;
  };
  // Right half of the new key from the key as is ...
  auto r = half(out.data() + 8);
  // ... left half from the key XOR C0C0C0C000000000C0C0C0C000000000.
  for (int i : {0, 1, 2, 3, 8, 9, 10, 11}) {
    reg[i] ^= 0xC0;
  }
  if (r) {
    r = half(out.data());
  }
  if (!r) {
    return r.error();
  }
  return out;
}

}  // namespace internal

Result<std::uint32_t> TdesKsnCounter(std::span<const std::uint8_t> ksn) {
  if (ksn.size() != kTdesKsnSize) {
    return Error::kBadKsnLength;
  }
  return CounterOf(ksn);
}

Result<void> ValidateTdesKsn(std::span<const std::uint8_t> ksn) {
  auto counter = TdesKsnCounter(ksn);
  if (!counter) {
    return counter.error();
  }
  if (*counter == 0) {
    return Error::kKsnCounterZero;
  }
  // X9.24-1:2009 A.3: the originating device uses only counters with 10 or fewer one-bits.
  if (std::popcount(*counter) > kTdesMaxCounterBits) {
    return Error::kKsnCounterExhausted;
  }
  return {};
}

Result<SecretBytes> DeriveTdesIpek(const SecretBytes& bdk, std::span<const std::uint8_t> ksn) {
  if (ksn.size() != kTdesKsnSize) {
    return Error::kBadKsnLength;
  }
  if (bdk.size() != 16) {
    return Error::kBadKeyLength;
  }
  Block8 base{};
  std::memcpy(base.data(), ksn.data(), 8);
  base[7] &= 0xE0;
  SecretBytes ipek(16);
  SecretBytes variant = bdk.Clone();
  for (int i : {0, 1, 2, 3, 8, 9, 10, 11}) {
    variant.data()[i] ^= 0xC0;
  }
  auto r = EncryptEcb(KeyAlgorithm::kTdes, bdk, base, ipek.mutable_view().first(8));
  if (r) {
    r = EncryptEcb(KeyAlgorithm::kTdes, variant, base, ipek.mutable_view().last(8));
  }
  if (!r) {
    return r.error();
  }
  return ipek;
}

Result<SecretBytes> DeriveTdesTransactionKey(const SecretBytes& ipek,
                                             std::span<const std::uint8_t> ksn) {
  if (auto v = ValidateTdesKsn(ksn); !v) {
    return v.error();
  }
  if (ipek.size() != 16) {
    return Error::kBadKeyLength;
  }
  // X9.24-1:2009 A.3: set the counter's one-bits into R8 from the most significant, deriving a new
  // key at each.
  const std::uint32_t counter = CounterOf(ksn);
  SecretBytes key = ipek.Clone();
  std::uint32_t prefix = 0;
  for (int bit = 20; bit >= 0; --bit) {
    const std::uint32_t mask = std::uint32_t{1} << bit;
    if ((counter & mask) == 0) {
      continue;
    }
    prefix |= mask;
    auto next = internal::TdesNonReversibleKeyGen(key, RegisterFor(ksn, prefix));
    if (!next) {
      return next.error();
    }
    key = std::move(*next);
  }
  return key;
}

Result<SecretBytes> ApplyTdesVariant(const SecretBytes& transaction_key, TdesDukptVariant variant) {
  if (transaction_key.size() != 16) {
    return Error::kBadKeyLength;
  }
  SecretBytes key = transaction_key.Clone();
  const int b = VariantByte(variant);
  key.data()[b] ^= 0xFF;
  key.data()[b + 8] ^= 0xFF;
  if (variant == TdesDukptVariant::kDataRequest || variant == TdesDukptVariant::kDataResponse) {
    // The data variants are then made one-way: each half is TDES-encrypted under the whole
    // variant key (X9.24-1:2009 A.4.1; X9.24-3:2017 C.5.2).
    SecretBytes out(16);
    auto r = EncryptEcb(KeyAlgorithm::kTdes, key, key.view().first(8), out.mutable_view().first(8));
    if (r) {
      r = EncryptEcb(KeyAlgorithm::kTdes, key, key.view().last(8), out.mutable_view().last(8));
    }
    if (!r) {
      return r.error();
    }
    return out;
  }
  return key;
}

Result<SecretBytes> DeriveTdesWorkingKey(const SecretBytes& bdk, std::span<const std::uint8_t> ksn,
                                         TdesDukptVariant variant) {
  auto ipek = DeriveTdesIpek(bdk, ksn);
  if (!ipek) {
    return ipek.error();
  }
  auto key = DeriveTdesTransactionKey(*ipek, ksn);
  if (!key) {
    return key.error();
  }
  return ApplyTdesVariant(*key, variant);
}

Result<SecretBytes> TdesDukptHostCache::TransactionKey(const SecretBytes& bdk,
                                                       std::span<const std::uint8_t> ksn) {
  if (auto v = ValidateTdesKsn(ksn); !v) {
    return v.error();
  }
  Block8 initial{};
  std::memcpy(initial.data(), ksn.data(), 8);
  initial[7] &= 0xE0;
  const bool changed = !have_ipek_ || initial != initial_ksn_;
  if (changed) {
    auto ipek = DeriveTdesIpek(bdk, ksn);
    if (!ipek) {
      have_ipek_ = false;
      return ipek.error();
    }
    ipek_ = std::move(*ipek);
    initial_ksn_ = initial;
    have_ipek_ = true;
  }
  return path_.Derive(ipek_, CounterOf(ksn), changed,
                      [&](const SecretBytes& parent, std::uint32_t prefix) {
                        return internal::TdesNonReversibleKeyGen(parent, RegisterFor(ksn, prefix));
                      });
}

Result<SecretBytes> TdesDukptHostCache::WorkingKey(const SecretBytes& bdk,
                                                   std::span<const std::uint8_t> ksn,
                                                   TdesDukptVariant variant) {
  auto key = TransactionKey(bdk, ksn);
  if (!key) {
    return key.error();
  }
  return ApplyTdesVariant(*key, variant);
}

Result<TdesDukptTerminal> TdesDukptTerminal::Load(const SecretBytes& ipek,
                                                  std::span<const std::uint8_t> initial_ksn) {
  if (initial_ksn.size() != kTdesKsnSize) {
    return Error::kBadKsnLength;
  }
  if (ipek.size() != 16) {
    return Error::kBadKeyLength;
  }
  TdesDukptTerminal t;
  std::memcpy(t.ksn_.data(), initial_ksn.data(), kTdesKsnSize);
  t.ksn_[7] &= 0xE0;
  t.ksn_[8] = 0;
  t.ksn_[9] = 0;
  // X9.24-1:2009 A.2 "Load Initial Key" then "New Key-3": one future key per counter bit.
  for (int bit = 20; bit >= 0; --bit) {
    auto k = internal::TdesNonReversibleKeyGen(ipek, RegisterFor(t.ksn_, std::uint32_t{1} << bit));
    if (!k) {
      return k.error();
    }
    t.future_[bit] = std::move(*k);
  }
  return t;
}

Result<void> TdesDukptTerminal::Advance() {
  // The next counter with at most 10 one-bits: adding the lowest one-bit skips every counter that
  // would have more (X9.24-1:2009 A.2 "New Key-2").
  std::uint32_t next = counter_ + 1;
  while (next <= kTdesCounterMask && std::popcount(next) > kTdesMaxCounterBits) {
    next += next & (~next + 1);
  }
  if (next > kTdesCounterMask) {
    current_.Wipe();
    return Error::kKsnCounterExhausted;
  }
  const int low = std::countr_zero(next);
  current_ = std::move(future_[low]);  // the register is cleared by the move
  counter_ = next;
  ksn_[7] = static_cast<std::uint8_t>((ksn_[7] & 0xE0) | ((next >> 16) & 0x1F));
  ksn_[8] = static_cast<std::uint8_t>(next >> 8);
  ksn_[9] = static_cast<std::uint8_t>(next);
  // "New Key-1": refill the registers below the lowest one-bit with this key's children, unless
  // they would carry more than 10 one-bits and so will never be used.
  if (std::popcount(next) < kTdesMaxCounterBits) {
    for (int bit = low - 1; bit >= 0; --bit) {
      auto k = internal::TdesNonReversibleKeyGen(
          current_, RegisterFor(ksn_, next | (std::uint32_t{1} << bit)));
      if (!k) {
        return k.error();
      }
      future_[bit] = std::move(*k);
    }
  }
  return {};
}

}  // namespace sy::crypto
