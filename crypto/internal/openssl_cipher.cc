#include "crypto/internal/openssl_cipher.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <optional>

namespace sy::crypto::internal {
namespace {

// Key variants, each a separately fetched EVP cipher.
enum Variant : int { kDes = 0, kTdes2, kTdes3, kAes128, kAes192, kAes256, kVariantCount };

constexpr std::array<std::array<const char*, 2>, kVariantCount> kNames = {{
    {"DES-ECB", "DES-CBC"},
    {"DES-EDE-ECB", "DES-EDE-CBC"},
    {"DES-EDE3-ECB", "DES-EDE3-CBC"},
    {"AES-128-ECB", "AES-128-CBC"},
    {"AES-192-ECB", "AES-192-CBC"},
    {"AES-256-ECB", "AES-256-CBC"},
}};

// Single DES lives in OpenSSL 3's legacy provider. We load "legacy" and "default" into a private
// library context (OSSL_LIB_CTX) so the process-wide default context, which TLS uses, is left
// exactly as it was. If the legacy module is missing, single DES is computed as TDES with
// K1 = K2 = K3, which is the same function (E(K) D(K) E(K) = E(K)); it is merely 3x slower.
struct Library {
  OSSL_LIB_CTX* libctx = nullptr;
  std::array<std::array<EVP_CIPHER*, 2>, kVariantCount> ciphers{};
  bool native_des = false;
};

Library Load() {
  Library lib;
  lib.libctx = OSSL_LIB_CTX_new();
  if (lib.libctx != nullptr) {
    OSSL_PROVIDER* def = OSSL_PROVIDER_load(lib.libctx, "default");
    OSSL_PROVIDER* legacy = OSSL_PROVIDER_load(lib.libctx, "legacy");
    (void)def;  // providers stay loaded for the life of the process
    lib.native_des = legacy != nullptr;
  }
  for (int v = 0; v < kVariantCount; ++v) {
    for (int m = 0; m < 2; ++m) {
      if (v == kDes && !lib.native_des) {
        continue;
      }
      lib.ciphers[v][m] = EVP_CIPHER_fetch(lib.libctx, kNames[v][m], nullptr);
    }
  }
  if (lib.native_des && (lib.ciphers[kDes][0] == nullptr || lib.ciphers[kDes][1] == nullptr)) {
    lib.native_des = false;
  }
  return lib;
}

const Library& Lib() {
  static const Library lib = Load();
  return lib;
}

// Keyed contexts per (variant, mode, direction) per thread. Setting a key is most of the cost of
// a short DES operation (the key schedule, and the provider's parameter handling), and the same
// keys come back within a transaction and across transactions: a DUKPT MAC key verifies the
// request and then MACs the answer, an issuer link's ZAK MACs every message on the link. So each
// slot remembers the last kWays keys it was keyed with; a repeat costs nothing but the cipher.
// The cached key bytes, schedules and chaining values are cleansed when an entry is reused for
// another key and when the thread ends.
//
// A CBC context is not re-initialised for a new IV either: in OpenSSL 3 that is a provider
// parameter round trip per call, as much as a short MAC's DES blocks. The entry remembers the
// context's chaining value instead (what OpenSSL will XOR into the next block: the last
// ciphertext block it produced or consumed), and CbcUpdate folds the difference between that
// value and the IV the call wants into the first block (encryption) or the first plaintext block
// (decryption). CBC is E(P1 ^ IV), so E((P1 ^ IV ^ chain) ^ chain) is the same block.
constexpr std::size_t kWays = 4;
constexpr std::size_t kMaxKey = 32;

struct KeyedContext {
  EVP_CIPHER_CTX* ctx = nullptr;
  std::array<std::uint8_t, kMaxKey> key{};
  std::size_t key_size = 0;              // 0: not keyed
  std::uint64_t used = 0;                // last use, for least-recently-used replacement
  std::array<std::uint8_t, 16> chain{};  // CBC: the context's chaining value (see above)
};

struct ThreadContexts {
  std::array<std::array<KeyedContext, kWays>, kVariantCount * 2 * 2> slots{};
  std::uint64_t clock = 0;
  ~ThreadContexts() {
    for (auto& slot : slots) {
      for (KeyedContext& e : slot) {
        EVP_CIPHER_CTX_free(e.ctx);  // also cleanses the key schedule
        OPENSSL_cleanse(e.key.data(), e.key.size());
        OPENSSL_cleanse(e.chain.data(), e.chain.size());
      }
    }
  }
};

thread_local ThreadContexts tls_contexts;

std::size_t KeySize(Variant v) {
  switch (v) {
    case kDes:
      return 8;
    case kTdes2:
    case kAes128:
      return 16;
    case kTdes3:
    case kAes192:
      return 24;
    default:
      return 32;
  }
}

bool ResolveVariant(BlockCipher cipher, std::size_t key_size, Variant& v) {
  switch (cipher) {
    case BlockCipher::kDes:
      v = kDes;
      return key_size == 8;
    case BlockCipher::kTdes:
      v = key_size == 16 ? kTdes2 : kTdes3;
      return key_size == 16 || key_size == 24;
    case BlockCipher::kAes:
      v = key_size == 16 ? kAes128 : key_size == 24 ? kAes192 : kAes256;
      return key_size == 16 || key_size == 24 || key_size == 32;
  }
  return false;
}

// Returns an entry keyed for the call, or nullptr. A CBC entry comes with its chaining value in
// `chain`; callers go through CbcUpdate, which starts from the IV they want.
KeyedContext* Prepare(Variant v, Mode mode, bool encrypt, const std::uint8_t* key,
                      std::size_t key_size) {
  const Library& lib = Lib();
  const int m = mode == Mode::kCbc ? 1 : 0;
  EVP_CIPHER* cipher = lib.ciphers[v][m];
  if (cipher == nullptr || key_size == 0 || key_size > kMaxKey) {
    return nullptr;
  }
  auto& slot = tls_contexts.slots[static_cast<std::size_t>((v * 2 + m) * 2 + (encrypt ? 1 : 0))];
  const std::uint64_t now = ++tls_contexts.clock;
  KeyedContext* victim = &slot[0];
  for (KeyedContext& e : slot) {
    if (e.key_size == key_size && CRYPTO_memcmp(e.key.data(), key, key_size) == 0) {
      e.used = now;
      return &e;
    }
    if (e.used < victim->used) {
      victim = &e;
    }
  }
  const bool fresh = victim->ctx == nullptr;
  if (fresh) {
    victim->ctx = EVP_CIPHER_CTX_new();
    if (victim->ctx == nullptr) {
      return nullptr;
    }
  }
  OPENSSL_cleanse(victim->key.data(), victim->key.size());
  OPENSSL_cleanse(victim->chain.data(), victim->chain.size());  // now all zero: the IV below
  victim->key_size = 0;
  if (EVP_CipherInit_ex2(victim->ctx, fresh ? cipher : nullptr, key,
                         m == 1 ? victim->chain.data() : nullptr, encrypt ? 1 : 0, nullptr) != 1) {
    return nullptr;
  }
  EVP_CIPHER_CTX_set_padding(victim->ctx, 0);
  std::memcpy(victim->key.data(), key, key_size);
  victim->key_size = key_size;
  victim->used = now;
  return victim;
}

// An entry whose context failed mid-call: its chaining value is unknown, so it is keyed afresh
// next time.
void Forget(KeyedContext& e) {
  OPENSSL_cleanse(e.key.data(), e.key.size());
  OPENSSL_cleanse(e.chain.data(), e.chain.size());
  e.key_size = 0;
}

bool Update(EVP_CIPHER_CTX* ctx, const std::uint8_t* in, std::uint8_t* out, std::size_t n) {
  int outl = 0;
  return EVP_CipherUpdate(ctx, out, &outl, in, static_cast<int>(n)) == 1 &&
         static_cast<std::size_t>(outl) == n;
}

// CBC over n bytes (a whole number of blocks, n > 0) of `in` into `out` (may alias `in` exactly),
// chained from `iv` (one block), or from where the entry's previous call ended when `iv` is null.
// The fold is done whatever the IV, so no branch depends on the chaining value.
bool CbcUpdate(KeyedContext& e, bool encrypt, std::size_t block, const std::uint8_t* iv,
               const std::uint8_t* in, std::uint8_t* out, std::size_t n) {
  std::array<std::uint8_t, 16> delta{};
  if (iv != nullptr) {
    for (std::size_t i = 0; i < block; ++i) {
      delta[i] = static_cast<std::uint8_t>(e.chain[i] ^ iv[i]);
    }
  }
  bool ok = false;
  if (encrypt) {
    // The first plaintext block, folded, is encrypted in place in `out`.
    if (out != in) {
      std::memcpy(out, in, n);
    }
    for (std::size_t i = 0; i < block; ++i) {
      out[i] = static_cast<std::uint8_t>(out[i] ^ delta[i]);
    }
    ok = Update(e.ctx, out, out, n);
    if (ok) {
      std::memcpy(e.chain.data(), out + n - block, block);
    }
  } else {
    std::array<std::uint8_t, 16> last_in{};
    std::memcpy(last_in.data(), in + n - block, block);  // before an in-place call overwrites it
    ok = Update(e.ctx, in, out, n);
    if (ok) {
      for (std::size_t i = 0; i < block; ++i) {
        out[i] = static_cast<std::uint8_t>(out[i] ^ delta[i]);
      }
      std::memcpy(e.chain.data(), last_in.data(), block);
    }
    OPENSSL_cleanse(last_in.data(), last_in.size());
  }
  OPENSSL_cleanse(delta.data(), delta.size());
  if (!ok) {
    Forget(e);
  }
  return ok;
}

// For single DES without the legacy provider: K || K || K as a three-key TDES key.
struct DesAsTdes {
  std::array<std::uint8_t, 24> key{};
  explicit DesAsTdes(std::span<const std::uint8_t> k) {
    for (int i = 0; i < 3; ++i) {
      std::memcpy(key.data() + 8 * i, k.data(), 8);
    }
  }
  ~DesAsTdes() { OPENSSL_cleanse(key.data(), key.size()); }
};

}  // namespace

Result<void> Crypt(BlockCipher cipher, Mode mode, bool encrypt, std::span<const std::uint8_t> key,
                   std::span<const std::uint8_t> iv, std::span<const std::uint8_t> in,
                   std::span<std::uint8_t> out) {
  Variant v{};
  if (!ResolveVariant(cipher, key.size(), v)) {
    return Error::kBadKeyLength;
  }
  const std::size_t block = BlockSize(cipher);
  if (in.size() != out.size() || in.size() % block != 0 || in.size() > INT_MAX / 2) {
    return Error::kBadInputLength;
  }
  if (mode == Mode::kCbc && iv.size() != block) {
    return Error::kBadInputLength;
  }
  if (in.empty()) {
    return {};
  }
  const std::uint8_t* key_ptr = key.data();
  std::optional<DesAsTdes> widened;
  if (v == kDes && !Lib().native_des) {
    widened.emplace(key);
    key_ptr = widened->key.data();
    v = kTdes3;
  }
  KeyedContext* e = Prepare(v, mode, encrypt, key_ptr, KeySize(v));
  if (e == nullptr) {
    return Error::kCipherFailure;
  }
  const bool ok = mode == Mode::kCbc
                      ? CbcUpdate(*e, encrypt, block, iv.data(), in.data(), out.data(), in.size())
                      : Update(e->ctx, in.data(), out.data(), in.size());
  if (!ok) {
    if (mode != Mode::kCbc) {
      Forget(*e);
    }
    return Error::kCipherFailure;
  }
  return {};
}

namespace {

// CBC-encrypts `in` (whole blocks, may be empty) through the entry, from `iv` or, when null, from
// where its previous call ended. An empty `in` does nothing, not even the restart from `iv`: a
// caller whose first part may be empty passes the IV to the next part. Only the chaining value is
// kept (the entry's `chain`): the ciphertext goes through a small stack buffer, wiped afterwards,
// since intermediate chaining values are as sensitive as a MAC.
bool CbcFeed(KeyedContext& e, std::span<const std::uint8_t> in, std::size_t block,
             const std::uint8_t* iv) {
  std::array<std::uint8_t, 512> scratch;
  std::size_t done = 0;
  bool ok = true;
  while (ok && done < in.size()) {
    const std::size_t n = std::min(scratch.size(), in.size() - done);
    ok = CbcUpdate(e, true, block, done == 0 ? iv : nullptr, in.data() + done, scratch.data(), n);
    done += n;
  }
  OPENSSL_cleanse(scratch.data(), std::min(scratch.size(), in.size()));
  return ok;
}

}  // namespace

Result<void> CbcMacBlocks(BlockCipher cipher, std::span<const std::uint8_t> key,
                          std::span<const std::uint8_t> iv, std::span<const std::uint8_t> data,
                          std::span<const std::uint8_t> tail, std::span<std::uint8_t> last) {
  Variant v{};
  if (!ResolveVariant(cipher, key.size(), v)) {
    return Error::kBadKeyLength;
  }
  const std::size_t block = BlockSize(cipher);
  if (data.size() % block != 0 || tail.size() % block != 0 || iv.size() != block ||
      last.size() != block || data.size() > INT_MAX / 2) {
    return Error::kBadInputLength;
  }
  std::memcpy(last.data(), iv.data(), block);
  if (data.empty() && tail.empty()) {
    return {};
  }
  const std::uint8_t* key_ptr = key.data();
  std::optional<DesAsTdes> widened;
  if (v == kDes && !Lib().native_des) {
    widened.emplace(key);
    key_ptr = widened->key.data();
    v = kTdes3;
  }
  KeyedContext* e = Prepare(v, Mode::kCbc, true, key_ptr, KeySize(v));
  if (e == nullptr || !CbcFeed(*e, data, block, iv.data()) ||
      !CbcFeed(*e, tail, block, data.empty() ? iv.data() : nullptr)) {
    OPENSSL_cleanse(last.data(), last.size());
    return Error::kCipherFailure;
  }
  std::memcpy(last.data(), e->chain.data(), block);
  return {};
}

Result<void> Cmac(BlockCipher cipher, std::span<const std::uint8_t> key,
                  std::span<const std::uint8_t> data, std::span<std::uint8_t> mac) {
  Variant v{};
  if (cipher == BlockCipher::kDes || !ResolveVariant(cipher, key.size(), v)) {
    return Error::kBadKeyLength;
  }
  const std::size_t n = BlockSize(cipher);
  if (n > 16 || mac.size() != n || data.size() > INT_MAX / 2) {
    return Error::kBadInputLength;
  }
  static constexpr std::array<std::uint8_t, 16> kZero{};
  const auto zero = std::span(kZero).first(n);
  KeyedContext* e = Prepare(v, Mode::kCbc, true, key.data(), KeySize(v));
  if (e == nullptr) {
    return Error::kCipherFailure;
  }
  // NIST SP 800-38B 6.1: L = CIPH_K(0^b); K1 = dbl(L); K2 = dbl(K1), with R_128 = 0x87 and
  // R_64 = 0x1B.
  std::array<std::uint8_t, 16> subkey{};
  std::array<std::uint8_t, 16> last{};
  bool ok = CbcFeed(*e, zero, n, kZero.data());
  if (ok) {
    std::memcpy(subkey.data(), e->chain.data(), n);
  }
  const std::uint8_t rb = n == 16 ? 0x87 : 0x1B;
  const auto dbl = [n, rb](std::array<std::uint8_t, 16>& k) {
    const std::uint8_t carry = k[0] >> 7;
    for (std::size_t i = 0; i + 1 < n; ++i) {
      k[i] = static_cast<std::uint8_t>((k[i] << 1) | (k[i + 1] >> 7));
    }
    k[n - 1] = static_cast<std::uint8_t>((k[n - 1] << 1) ^ (carry ? rb : 0x00));
  };
  // NIST SP 800-38B 6.2: the last block is complete (XOR K1) or padded with 10* (XOR K2).
  const bool complete = !data.empty() && data.size() % n == 0;
  const std::size_t prefix = complete ? data.size() - n : data.size() - data.size() % n;
  dbl(subkey);
  if (!complete) {
    dbl(subkey);
  }
  const std::size_t rest = data.size() - prefix;
  for (std::size_t i = 0; i < n && i < last.size(); ++i) {
    const std::uint8_t m = i < rest ? data[prefix + i] : (i == rest ? 0x80 : 0x00);
    last[i] = m ^ subkey[i];
  }
  // The MAC's chain starts again from a zero IV.
  ok = ok && CbcFeed(*e, data.first(prefix), n, kZero.data());
  ok = ok && CbcFeed(*e, std::span(last).first(n), n, prefix == 0 ? kZero.data() : nullptr);
  if (ok) {
    std::memcpy(mac.data(), e->chain.data(), n);
  }
  OPENSSL_cleanse(subkey.data(), subkey.size());
  OPENSSL_cleanse(last.data(), last.size());
  if (!ok) {
    OPENSSL_cleanse(mac.data(), mac.size());
    return Error::kCipherFailure;
  }
  return {};
}

}  // namespace sy::crypto::internal
