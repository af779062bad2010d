#include "crypto/kcv.h"

#include <algorithm>

#include "crypto/cipher.h"
#include "crypto/internal/openssl_util.h"
#include "crypto/mac.h"

namespace sy::crypto {
namespace {

template <std::size_t N>
Kcv First3(std::array<std::uint8_t, N>& block) {
  Kcv kcv{};
  std::copy_n(block.begin(), 3, kcv.begin());
  internal::Cleanse(block.data(), block.size());
  return kcv;
}

Result<Kcv> EncryptZeros(KeyAlgorithm algorithm, const SecretBytes& key) {
  if (!IsValidKeySize(algorithm, key.size())) {
    return Error::kBadKeyLength;
  }
  std::array<std::uint8_t, 16> block{};
  const auto b = std::span(block).first(BlockSize(algorithm));
  auto r = EncryptEcb(algorithm, key, b, b);
  if (!r) {
    return r.error();
  }
  return First3(block);
}

}  // namespace

Result<Kcv> TdesKcv(const SecretBytes& key) { return EncryptZeros(KeyAlgorithm::kTdes, key); }

Result<Kcv> AesKcvLegacy(const SecretBytes& key) { return EncryptZeros(KeyAlgorithm::kAes, key); }

Result<Kcv> AesKcv(const SecretBytes& key) {
  if (!IsValidKeySize(KeyAlgorithm::kAes, key.size())) {
    return Error::kBadKeyLength;
  }
  static constexpr std::array<std::uint8_t, 16> kZeros{};
  auto mac = AesCmac(key, kZeros);
  if (!mac) {
    return mac.error();
  }
  return First3(*mac);
}

}  // namespace sy::crypto
