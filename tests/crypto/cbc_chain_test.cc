// CBC encryption and decryption and the CBC-based MACs against OpenSSL used directly (a fresh
// context per call). The crypto module keeps keyed contexts per thread and does not reset a CBC
// context's IV between calls: it folds the IV it wants into the first block instead
// (crypto/internal/openssl_cipher.cc). These tests make keys, IVs, directions, lengths and
// in-place calls take turns, with more keys than a thread keeps, so every answer depends on that
// bookkeeping being exact.

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "crypto/cipher.h"
#include "crypto/mac.h"
#include "tests/crypto/test_util.h"

namespace sy::crypto {
namespace {

using testing::Hex;
using testing::Key;
using Buffer = std::vector<std::uint8_t>;

// Runs `in` through a brand-new EVP context of `name` (no padding).
Buffer Oracle(const char* name, bool encrypt, std::span<const std::uint8_t> key,
              std::span<const std::uint8_t> iv, std::span<const std::uint8_t> in) {
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, name, nullptr);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  Buffer out(in.size() + 32);
  int n = 0;
  int total = 0;
  EXPECT_EQ(EVP_CipherInit_ex2(ctx, cipher, key.data(), iv.empty() ? nullptr : iv.data(),
                               encrypt ? 1 : 0, nullptr),
            1);
  EVP_CIPHER_CTX_set_padding(ctx, 0);
  EXPECT_EQ(EVP_CipherUpdate(ctx, out.data(), &n, in.data(), static_cast<int>(in.size())), 1);
  total = n;
  EXPECT_EQ(EVP_CipherFinal_ex(ctx, out.data() + total, &n), 1);
  total += n;
  out.resize(static_cast<std::size_t>(total));
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(cipher);
  return out;
}

const char* CbcName(KeyAlgorithm a, std::size_t key_size) {
  if (a == KeyAlgorithm::kTdes) {
    return key_size == 16 ? "DES-EDE-CBC" : "DES-EDE3-CBC";
  }
  return key_size == 16 ? "AES-128-CBC" : key_size == 24 ? "AES-192-CBC" : "AES-256-CBC";
}

// ISO/IEC 9797-1 padding method 2: 0x80, then zeros to a whole block.
Buffer Pad2(std::span<const std::uint8_t> data) {
  Buffer p(data.begin(), data.end());
  p.push_back(0x80);
  while (p.size() % 8 != 0) {
    p.push_back(0x00);
  }
  return p;
}

// The last block of a zero-IV CBC encryption.
Buffer LastBlock(const char* name, std::span<const std::uint8_t> key,
                 std::span<const std::uint8_t> data, std::size_t block) {
  const Buffer zero(block, 0);
  const Buffer c = Oracle(name, true, key, zero, data);
  return Buffer(c.end() - static_cast<std::ptrdiff_t>(block), c.end());
}

// ISO/IEC 9797-1 MAC algorithm 3 (X9.19 retail MAC): single DES computed as three-key TDES with
// K = K1 = K2 = K3, so the oracle needs no legacy provider.
Buffer OracleRetailMac(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data) {
  std::array<std::uint8_t, 24> k{};
  std::array<std::uint8_t, 24> k_prime{};
  for (int i = 0; i < 3; ++i) {
    std::copy_n(key.begin(), 8, k.begin() + 8 * i);
    std::copy_n(key.begin() + 8, 8, k_prime.begin() + 8 * i);
  }
  Buffer h = LastBlock("DES-EDE3-CBC", k, Pad2(data), 8);
  h = Oracle("DES-EDE3-ECB", false, k_prime, {}, h);
  return Oracle("DES-EDE3-ECB", true, k, {}, h);
}

Buffer OracleCmac(const char* cbc_name, std::span<const std::uint8_t> key,
                  std::span<const std::uint8_t> data) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "CMAC", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, const_cast<char*>(cbc_name), 0),
      OSSL_PARAM_construct_end()};
  Buffer out(16);
  std::size_t len = 0;
  EXPECT_EQ(EVP_MAC_init(ctx, key.data(), key.size(), params), 1);
  EXPECT_EQ(EVP_MAC_update(ctx, data.data(), data.size()), 1);
  EXPECT_EQ(EVP_MAC_final(ctx, out.data(), &len, out.size()), 1);
  out.resize(len);
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  return out;
}

struct TestKey {
  KeyAlgorithm algorithm;
  SecretBytes key;
};

TEST(CbcChainTest, EveryCallMatchesAFreshOpensslContextWhileKeysIvsAndDirectionsTakeTurns) {
  // Six TDES and four AES keys: more than the four a thread keeps per cipher and direction, so
  // entries are evicted and keyed again in the middle of the run.
  std::vector<TestKey> keys;
  for (const char* hex :
       {"0123456789ABCDEFFEDCBA9876543210", "89ABCDEF0123456776543210FEDCBA98",
        "111111111111111122222222222222223333333333333333", "0F1E2D3C4B5A69788796A5B4C3D2E1F0",
        "C1C1C1C1C1C1C1C1C2C2C2C2C2C2C2C2", "00112233445566778899AABBCCDDEEFF0011223344556677"}) {
    keys.push_back({KeyAlgorithm::kTdes, Key(hex)});
  }
  for (const char* hex :
       {"2B7E151628AED2A6ABF7158809CF4F3C", "8E73B0F7DA0E6452C810F32B809079E562F8EAD2522C6B7B",
        "603DEB1015CA71BE2B73AEF0857D77811F352C073B6108D72D9810A30914DFF4",
        "000102030405060708090A0B0C0D0E0F"}) {
    keys.push_back({KeyAlgorithm::kAes, Key(hex)});
  }
  std::mt19937 rng(20261127);
  auto pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  Buffer last_iv(16, 0);
  for (int round = 0; round < 3000; ++round) {
    const TestKey& k = keys[pick(keys.size())];
    const std::size_t block = BlockSize(k.algorithm);
    // Up to 90 blocks: a MAC's data crosses the 512-byte buffer it is streamed through.
    Buffer data(block * (1 + pick(90)));
    for (auto& b : data) {
      b = static_cast<std::uint8_t>(pick(256));
    }
    Buffer iv(block);
    switch (pick(3)) {
      case 0:
        break;  // zero
      case 1:
        std::copy_n(last_iv.begin(), block, iv.begin());  // the same IV again
        break;
      default:
        for (auto& b : iv) {
          b = static_cast<std::uint8_t>(pick(256));
        }
    }
    std::copy(iv.begin(), iv.end(), last_iv.begin());
    const std::string where = "round " + std::to_string(round);
    const std::size_t op = pick(5);
    if (op <= 1) {
      const bool encrypt = op == 0;
      const Buffer expected =
          Oracle(CbcName(k.algorithm, k.key.size()), encrypt, k.key.view(), iv, data);
      Buffer out(data.size());
      const bool in_place = pick(2) == 0;
      if (in_place) {
        out = data;
      }
      const auto r = encrypt ? EncryptCbc(k.algorithm, k.key, iv, in_place ? out : data, out)
                             : DecryptCbc(k.algorithm, k.key, iv, in_place ? out : data, out);
      ASSERT_TRUE(r.has_value()) << where;
      ASSERT_EQ(Hex(out), Hex(expected))
          << where << (encrypt ? " encrypt" : " decrypt") << (in_place ? " in place" : "");
    } else if (op == 2 && k.algorithm == KeyAlgorithm::kTdes && k.key.size() == 16) {
      const auto mac = RetailMac(k.key, data, MacPadding::kMethod2);
      ASSERT_TRUE(mac.has_value()) << where;
      ASSERT_EQ(Hex(*mac), Hex(OracleRetailMac(k.key.view(), data))) << where << " retail MAC";
    } else if (op == 3 && k.algorithm == KeyAlgorithm::kTdes) {
      const auto mac = Iso9797Alg1Mac(k.key, data, MacPadding::kMethod2);
      ASSERT_TRUE(mac.has_value()) << where;
      ASSERT_EQ(Hex(*mac),
                Hex(LastBlock(CbcName(k.algorithm, k.key.size()), k.key.view(), Pad2(data), 8)))
          << where << " MAC algorithm 1";
    } else {
      // CMAC over a length that is not always a whole number of blocks.
      const std::span<const std::uint8_t> message(data.data(), data.size() - pick(block));
      const auto check = [&](const auto& mac, const char* what) {
        ASSERT_TRUE(mac.has_value()) << where;
        ASSERT_EQ(Hex(*mac),
                  Hex(OracleCmac(CbcName(k.algorithm, k.key.size()), k.key.view(), message)))
            << where << what;
      };
      if (k.algorithm == KeyAlgorithm::kAes) {
        check(AesCmac(k.key, message), " AES-CMAC");
      } else {
        check(TdesCmac(k.key, message), " TDES-CMAC");
      }
      ASSERT_FALSE(HasFatalFailure());  // the lambda's ASSERTs return from the lambda only
    }
  }
}

}  // namespace
}  // namespace sy::crypto
