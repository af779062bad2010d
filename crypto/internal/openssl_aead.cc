#include "crypto/internal/openssl_aead.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <memory>

#include "crypto/digest.h"
#include "crypto/internal/openssl_util.h"

namespace sy::crypto::internal {
namespace {

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

// One context per thread, re-keyed per call: allocation of a context costs more than the
// encryption of a PAN.
EVP_CIPHER_CTX* ThreadContext() {
  thread_local CtxPtr ctx(EVP_CIPHER_CTX_new());
  return ctx.get();
}

}  // namespace

bool Aes256GcmSeal(std::span<const std::uint8_t> key, std::span<const std::uint8_t> nonce,
                   std::span<const std::uint8_t> aad, std::span<const std::uint8_t> plaintext,
                   std::string& out) {
  if (key.size() != 32 || nonce.size() != kGcmNonceSize) {
    return false;
  }
  EVP_CIPHER_CTX* ctx = ThreadContext();
  int len = 0;
  out.resize(plaintext.size() + kGcmTagSize);
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  const bool ok =
      ctx != nullptr &&
      EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key.data(), nonce.data()) == 1 &&
      (aad.empty() ||
       EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1) &&
      EVP_EncryptUpdate(ctx, o, &len, plaintext.data(), static_cast<int>(plaintext.size())) == 1 &&
      EVP_EncryptFinal_ex(ctx, o + len, &len) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kGcmTagSize),
                          o + plaintext.size()) == 1;
  if (!ok) {
    out.clear();
  }
  return ok;
}

bool Aes256GcmOpen(std::span<const std::uint8_t> key, std::span<const std::uint8_t> nonce,
                   std::span<const std::uint8_t> aad, std::span<const std::uint8_t> sealed,
                   std::string& out) {
  if (key.size() != 32 || nonce.size() != kGcmNonceSize || sealed.size() < kGcmTagSize) {
    return false;
  }
  const std::size_t n = sealed.size() - kGcmTagSize;
  EVP_CIPHER_CTX* ctx = ThreadContext();
  int len = 0;
  out.resize(n);
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  // The tag is passed as non-const by the API only; it is not modified.
  auto* tag = const_cast<std::uint8_t*>(sealed.data() + n);
  const bool ok =
      ctx != nullptr &&
      EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key.data(), nonce.data()) == 1 &&
      (aad.empty() ||
       EVP_DecryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1) &&
      EVP_DecryptUpdate(ctx, o, &len, sealed.data(), static_cast<int>(n)) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kGcmTagSize), tag) == 1 &&
      EVP_DecryptFinal_ex(ctx, o + len, &len) == 1;
  if (!ok) {
    Cleanse(out.data(), out.size());
    out.clear();
  }
  return ok;
}

void HmacSha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data,
                std::span<std::uint8_t, 32> out) {
  unsigned int len = 32;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(),
           out.data(), &len) == nullptr) {
    std::abort();  // HMAC-SHA-256 cannot fail with valid arguments; a broken libcrypto must stop
  }
}

}  // namespace sy::crypto::internal

namespace sy::crypto {

std::array<std::uint8_t, 32> Sha256(std::span<const std::uint8_t> data) {
  std::array<std::uint8_t, 32> out{};
  unsigned int len = 32;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1) {
    std::abort();  // SHA-256 cannot fail with valid arguments; a broken libcrypto must stop
  }
  return out;
}

}  // namespace sy::crypto
