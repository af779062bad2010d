// PanProtector against OpenSSL used directly (one-shot HMAC, a fresh AES-256-GCM context): the
// protector keeps keyed contexts per thread, so these tests switch keys back and forth and check
// every answer against an oracle that keeps nothing. Stored journals depend on both: a look-up
// hash or a sealed PAN computed differently would no longer be found or opened.

#include "crypto/pan_protector.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <string>
#include <string_view>

#include "tests/crypto/test_util.h"

namespace sy::crypto {
namespace {

using testing::Key;

std::string OracleHmac(std::span<const std::uint8_t> key, std::string_view data) {
  std::array<unsigned char, 32> out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return std::string(reinterpret_cast<const char*>(out.data()), len);
}

// HMAC(HMAC(data key, label), PAN): the look-up hash as pan_protector.cc defines it.
std::string OracleLookupHash(const SecretBytes& data_key, std::string_view pan) {
  const std::string lookup_key = OracleHmac(data_key.view(), "sy.pan.lookup.v1");
  return OracleHmac({reinterpret_cast<const std::uint8_t*>(lookup_key.data()), lookup_key.size()},
                    pan);
}

// AES-256-GCM decryption with the key id as associated data, in a context made for this call.
std::string OracleOpen(const SecretBytes& key, std::string_view key_id,
                       const PanProtector::Sealed& s) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  const std::size_t n = s.ciphertext.size() - 16;
  std::string out(n, '\0');
  int len = 0;
  const auto u = [](const std::string& x) {
    return reinterpret_cast<const unsigned char*>(x.data());
  };
  std::string tag = s.ciphertext.substr(n);
  const bool ok =
      EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key.view().data(), u(s.nonce)) == 1 &&
      EVP_DecryptUpdate(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(key_id.data()),
                        static_cast<int>(key_id.size())) == 1 &&
      EVP_DecryptUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()), &len, u(s.ciphertext),
                        static_cast<int>(n)) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag.data()) == 1 &&
      EVP_DecryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()) + len, &len) == 1;
  EVP_CIPHER_CTX_free(ctx);
  return ok ? out : std::string("<did not open>");
}

const SecretBytes kKeyA = Key("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
const SecretBytes kKeyB = Key("F0E0D0C0B0A090807060504030201000FFEEDDCCBBAA99887766554433221100");

TEST(PanProtectorTest, LookupHashesMatchHmacSha256WhileKeysTakeTurns) {
  auto a = PanProtector::Create("data-a", kKeyA).value();
  auto b = PanProtector::Create("data-b", kKeyB).value();
  for (int round = 0; round < 3; ++round) {
    for (std::string_view pan : {"4761739001010010", "5413330089010434", "12345678"}) {
      EXPECT_EQ(a.LookupHash(pan), OracleLookupHash(kKeyA, pan)) << pan << " round " << round;
      EXPECT_EQ(b.LookupHash(pan), OracleLookupHash(kKeyB, pan)) << pan << " round " << round;
      EXPECT_NE(a.LookupHash(pan), b.LookupHash(pan));
    }
  }
}

TEST(PanProtectorTest, SealsWhatAFreshGcmContextOpensWhileKeysTakeTurns) {
  auto a = PanProtector::Create("data-a", kKeyA).value();
  auto b = PanProtector::Create("data-b", kKeyB).value();
  std::string previous_nonce;
  for (int round = 0; round < 3; ++round) {
    const std::string pan = "476173900101001" + std::to_string(round);
    auto sa = a.Seal(pan).value();
    auto sb = b.Seal(pan).value();
    EXPECT_EQ(OracleOpen(kKeyA, "data-a", sa), pan);
    EXPECT_EQ(OracleOpen(kKeyB, "data-b", sb), pan);
    EXPECT_EQ(sa.lookup_hash, OracleLookupHash(kKeyA, pan));
    EXPECT_EQ(a.Open(sa.ciphertext, sa.nonce).value(), pan);
    EXPECT_EQ(b.Open(sb.ciphertext, sb.nonce).value(), pan);
    // The other key, or a changed byte, does not open it.
    EXPECT_FALSE(b.Open(sa.ciphertext, sa.nonce).has_value());
    std::string tampered = sa.ciphertext;
    tampered[0] = static_cast<char>(tampered[0] ^ 1);
    EXPECT_FALSE(a.Open(tampered, sa.nonce).has_value());
    // ...and the next good one still opens: a failed open leaves nothing behind.
    EXPECT_EQ(a.Open(sa.ciphertext, sa.nonce).value(), pan);
    EXPECT_NE(sa.nonce, previous_nonce);
    previous_nonce = sa.nonce;
  }
}

}  // namespace
}  // namespace sy::crypto
