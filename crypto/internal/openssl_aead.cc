#include "crypto/internal/openssl_aead.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#include <array>
#include <cstring>
#include <memory>

#include "crypto/digest.h"
#include "crypto/internal/openssl_util.h"

namespace sy::crypto::internal {
namespace {

// A context per thread and direction that remembers the key it holds: the PAN data key is the
// same for every record, so a repeat sets only the nonce, skipping the AES key schedule and the
// GHASH table. The copy of the key is cleansed when another key replaces it and at thread exit.
struct KeyedGcm {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  std::array<std::uint8_t, 32> key{};
  bool keyed = false;
  ~KeyedGcm() {
    EVP_CIPHER_CTX_free(ctx);
    Cleanse(key.data(), key.size());
  }
  // Ready for one message under `key` and `nonce` (key.size() == 32), or false.
  bool Init(bool encrypt, std::span<const std::uint8_t> k, std::span<const std::uint8_t> nonce) {
    if (ctx == nullptr) {
      return false;
    }
    if (keyed && CRYPTO_memcmp(key.data(), k.data(), key.size()) == 0) {
      return EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, nonce.data(), encrypt ? 1 : 0) == 1;
    }
    keyed = false;
    Cleanse(key.data(), key.size());
    if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), nullptr, k.data(), nonce.data(),
                          encrypt ? 1 : 0) != 1) {
      return false;
    }
    std::memcpy(key.data(), k.data(), key.size());
    keyed = true;
    return true;
  }
};

KeyedGcm& ThreadGcm(bool encrypt) {
  thread_local KeyedGcm seal;
  thread_local KeyedGcm open;
  return encrypt ? seal : open;
}

// HMAC-SHA-256 with the key kept in a per-thread context: the one-shot HMAC() fetches the
// algorithms on every call, which cost more than hashing a PAN.
struct KeyedHmac {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = mac != nullptr ? EVP_MAC_CTX_new(mac) : nullptr;
  std::array<std::uint8_t, 64> key{};
  std::size_t key_size = 0;  // 0: not keyed
  ~KeyedHmac() {
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    Cleanse(key.data(), key.size());
  }
  bool Run(std::span<const std::uint8_t> k, std::span<const std::uint8_t> data,
           std::span<std::uint8_t, 32> out) {
    if (ctx == nullptr || k.empty() || k.size() > key.size()) {
      return false;
    }
    const bool same = key_size == k.size() && CRYPTO_memcmp(key.data(), k.data(), key_size) == 0;
    if (same) {
      if (EVP_MAC_init(ctx, nullptr, 0, nullptr) != 1) {  // the key it holds, restarted
        return false;
      }
    } else {
      key_size = 0;
      Cleanse(key.data(), key.size());
      char digest[] = "SHA256";
      const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                                   OSSL_PARAM_construct_end()};
      if (EVP_MAC_init(ctx, k.data(), k.size(), params) != 1) {
        return false;
      }
      std::memcpy(key.data(), k.data(), k.size());
      key_size = k.size();
    }
    std::size_t len = 0;
    return EVP_MAC_update(ctx, data.data(), data.size()) == 1 &&
           EVP_MAC_final(ctx, out.data(), &len, out.size()) == 1 && len == out.size();
  }
};

}  // namespace

bool Aes256GcmSeal(std::span<const std::uint8_t> key, std::span<const std::uint8_t> nonce,
                   std::span<const std::uint8_t> aad, std::span<const std::uint8_t> plaintext,
                   std::string& out) {
  if (key.size() != 32 || nonce.size() != kGcmNonceSize) {
    return false;
  }
  KeyedGcm& gcm = ThreadGcm(true);
  EVP_CIPHER_CTX* ctx = gcm.ctx;
  int len = 0;
  out.resize(plaintext.size() + kGcmTagSize);
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  const bool ok =
      gcm.Init(true, key, nonce) &&
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
  KeyedGcm& gcm = ThreadGcm(false);
  EVP_CIPHER_CTX* ctx = gcm.ctx;
  int len = 0;
  out.resize(n);
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  // The tag is passed as non-const by the API only; it is not modified.
  auto* tag = const_cast<std::uint8_t*>(sealed.data() + n);
  const bool ok =
      gcm.Init(false, key, nonce) &&
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
  thread_local KeyedHmac hmac;
  if (hmac.Run(key, data, out)) {
    return;
  }
  unsigned int len = 32;  // a key longer than 64 bytes, or no context
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
