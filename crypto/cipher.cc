#include "crypto/cipher.h"

#include "crypto/internal/openssl_cipher.h"

namespace sy::crypto {
namespace {

internal::BlockCipher ToInternal(KeyAlgorithm a) {
  return a == KeyAlgorithm::kAes ? internal::BlockCipher::kAes : internal::BlockCipher::kTdes;
}

}  // namespace

bool IsValidKeySize(KeyAlgorithm algorithm, std::size_t size) noexcept {
  if (algorithm == KeyAlgorithm::kTdes) {
    return size == 16 || size == 24;
  }
  return size == 16 || size == 24 || size == 32;
}

Result<void> EncryptEcb(KeyAlgorithm algorithm, const SecretBytes& key,
                        std::span<const std::uint8_t> in, std::span<std::uint8_t> out) {
  return internal::Crypt(ToInternal(algorithm), internal::Mode::kEcb, true, key.view(), {}, in,
                         out);
}

Result<void> DecryptEcb(KeyAlgorithm algorithm, const SecretBytes& key,
                        std::span<const std::uint8_t> in, std::span<std::uint8_t> out) {
  return internal::Crypt(ToInternal(algorithm), internal::Mode::kEcb, false, key.view(), {}, in,
                         out);
}

Result<void> EncryptCbc(KeyAlgorithm algorithm, const SecretBytes& key,
                        std::span<const std::uint8_t> iv, std::span<const std::uint8_t> in,
                        std::span<std::uint8_t> out) {
  return internal::Crypt(ToInternal(algorithm), internal::Mode::kCbc, true, key.view(), iv, in,
                         out);
}

Result<void> DecryptCbc(KeyAlgorithm algorithm, const SecretBytes& key,
                        std::span<const std::uint8_t> iv, std::span<const std::uint8_t> in,
                        std::span<std::uint8_t> out) {
  return internal::Crypt(ToInternal(algorithm), internal::Mode::kCbc, false, key.view(), iv, in,
                         out);
}

}  // namespace sy::crypto
