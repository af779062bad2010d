#include "crypto/mac.h"

#include <cstring>

#include "crypto/internal/openssl_cipher.h"
#include "crypto/internal/openssl_util.h"

namespace sy::crypto {
namespace {

using internal::BlockCipher;

// Splits `data` into the whole blocks that need no padding and one padded final block (8 bytes),
// per ISO/IEC 9797-1:2011 6.1. Method 1 adds nothing to data that already fills its last block,
// and pads an empty message to one block of zeros; method 2 always appends 0x80.
struct Padded {
  std::span<const std::uint8_t> whole;
  std::array<std::uint8_t, 8> tail{};
  std::size_t tail_size = 0;  // 0 or 8
  ~Padded() { internal::Cleanse(tail.data(), tail.size()); }
};

void Pad(std::span<const std::uint8_t> data, MacPadding padding, Padded& out) {
  const std::size_t rest = data.size() % 8;
  if (padding == MacPadding::kMethod1 && rest == 0 && !data.empty()) {
    out.whole = data;
    out.tail_size = 0;
    return;
  }
  out.whole = data.first(data.size() - rest);
  if (rest != 0) {
    std::memcpy(out.tail.data(), data.data() + out.whole.size(), rest);
  }
  if (padding == MacPadding::kMethod2) {
    out.tail[rest] = 0x80;
  }
  out.tail_size = 8;
}

bool ValidPadding(MacPadding p) { return p == MacPadding::kMethod1 || p == MacPadding::kMethod2; }

}  // namespace

Result<MacPadding> MacPaddingFromNumber(int method) {
  if (method == 1) {
    return MacPadding::kMethod1;
  }
  if (method == 2) {
    return MacPadding::kMethod2;
  }
  return Error::kBadPaddingMethod;
}

Result<Mac8> Iso9797Alg1Mac(const SecretBytes& key, std::span<const std::uint8_t> data,
                            MacPadding padding) {
  if (!ValidPadding(padding)) {
    return Error::kBadPaddingMethod;
  }
  const BlockCipher cipher = key.size() == 8 ? BlockCipher::kDes : BlockCipher::kTdes;
  Padded p;
  Pad(data, padding, p);
  static constexpr std::array<std::uint8_t, 8> kZeroIv{};
  Mac8 mac{};
  // ISO/IEC 9797-1:2011 7.2 (algorithm 1): H_q is the MAC; output transformation 1 is the identity.
  auto r = internal::CbcMacBlocks(cipher, key.view(), kZeroIv, p.whole,
                                  std::span(p.tail.data(), p.tail_size), mac);
  if (!r) {
    return r.error();
  }
  return mac;
}

Result<Mac8> RetailMac(const SecretBytes& key, std::span<const std::uint8_t> data,
                       MacPadding padding) {
  if (!ValidPadding(padding)) {
    return Error::kBadPaddingMethod;
  }
  if (key.size() != 16) {
    return Error::kBadKeyLength;
  }
  Padded p;
  Pad(data, padding, p);
  static constexpr std::array<std::uint8_t, 8> kZeroIv{};
  const auto k = key.view().first(8);
  const auto k_prime = key.view().last(8);
  Mac8 h{};
  // ISO/IEC 9797-1:2011 7.4 (algorithm 3): single-DES CBC under K over every block ...
  auto r = internal::CbcMacBlocks(BlockCipher::kDes, k, kZeroIv, p.whole,
                                  std::span(p.tail.data(), p.tail_size), h);
  // ... then output transformation 3 (7.3.3): G = e_K(d_K'(H_q)).
  if (r) {
    r = internal::Crypt(BlockCipher::kDes, internal::Mode::kEcb, false, k_prime, {}, h, h);
  }
  if (r) {
    r = internal::Crypt(BlockCipher::kDes, internal::Mode::kEcb, true, k, {}, h, h);
  }
  if (!r) {
    internal::Cleanse(h.data(), h.size());
    return r.error();
  }
  return h;
}

Result<Mac16> AesCmac(const SecretBytes& key, std::span<const std::uint8_t> data) {
  Mac16 mac{};
  auto r = internal::AesCmac(key.view(), data, mac);
  if (!r) {
    return r.error();
  }
  return mac;
}

Result<Mac8> TdesCmac(const SecretBytes& key, std::span<const std::uint8_t> data) {
  Mac8 mac{};
  auto r = internal::Cmac(BlockCipher::kTdes, key.view(), data, mac);
  if (!r) {
    return r.error();
  }
  return mac;
}

Result<void> VerifyRetailMac(const SecretBytes& key, std::span<const std::uint8_t> data,
                             std::span<const std::uint8_t> mac, MacPadding padding) {
  if (mac.size() < 4 || mac.size() > 8) {
    return Error::kBadMacLength;
  }
  auto computed = RetailMac(key, data, padding);
  if (!computed) {
    return computed.error();
  }
  const bool equal = internal::ConstantTimeEqual(std::span(computed->data(), mac.size()), mac);
  internal::Cleanse(computed->data(), computed->size());
  if (!equal) {
    return Error::kMacMismatch;
  }
  return {};
}

Result<void> VerifyAesCmac(const SecretBytes& key, std::span<const std::uint8_t> data,
                           std::span<const std::uint8_t> mac) {
  if (mac.size() < 8 || mac.size() > 16) {
    return Error::kBadMacLength;
  }
  auto computed = AesCmac(key, data);
  if (!computed) {
    return computed.error();
  }
  const bool equal = internal::ConstantTimeEqual(std::span(computed->data(), mac.size()), mac);
  internal::Cleanse(computed->data(), computed->size());
  if (!equal) {
    return Error::kMacMismatch;
  }
  return {};
}

}  // namespace sy::crypto
