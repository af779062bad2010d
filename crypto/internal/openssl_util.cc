#include "crypto/internal/openssl_util.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

namespace sy::crypto::internal {

void Cleanse(void* p, std::size_t size) noexcept {
  if (size != 0) {
    OPENSSL_cleanse(p, size);
  }
}

bool ConstantTimeEqual(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  if (a.empty()) {
    return true;
  }
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void RandomBytes(std::span<std::uint8_t> out) noexcept {
  if (out.empty()) {
    return;
  }
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    std::fputs("sy.crypto: RAND_bytes failed; refusing to continue without randomness\n", stderr);
    std::abort();
  }
}

}  // namespace sy::crypto::internal
