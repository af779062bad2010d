#include "crypto/cipher.h"

#include <gtest/gtest.h>

#include "tests/crypto/test_util.h"

namespace sy::crypto {
namespace {

using testing::Bytes;
using testing::Hex;
using testing::Key;

// NIST SP 800-38A F.2.5 (CBC-AES256.Encrypt), block 1.
TEST(CipherTest, Aes256CbcMatchesSp800_38aExample) {
  const SecretBytes key = Key("603DEB1015CA71BE2B73AEF0857D77811F352C073B6108D72D9810A30914DFF4");
  const auto iv = Bytes("000102030405060708090A0B0C0D0E0F");
  const auto plain = Bytes("6BC1BEE22E409F96E93D7E117393172A");
  std::vector<std::uint8_t> out(16);
  ASSERT_TRUE(EncryptCbc(KeyAlgorithm::kAes, key, iv, plain, out));
  EXPECT_EQ(Hex(out), "F58C4C04D6E5F1BA779EABFB5F7BFBD6");  // SP 800-38A F.2.5; also openssl enc
  std::vector<std::uint8_t> back(16);
  ASSERT_TRUE(DecryptCbc(KeyAlgorithm::kAes, key, iv, out, back));
  EXPECT_EQ(back, plain);
}

// NIST SP 800-38A F.1.1 (ECB-AES128.Encrypt), block 1.
TEST(CipherTest, Aes128EcbMatchesSp800_38aExample) {
  const SecretBytes key = Key("2B7E151628AED2A6ABF7158809CF4F3C");
  std::vector<std::uint8_t> out(16);
  ASSERT_TRUE(EncryptEcb(KeyAlgorithm::kAes, key, Bytes("6BC1BEE22E409F96E93D7E117393172A"), out));
  EXPECT_EQ(Hex(out), "3AD77BB40D7A3660A89ECAF32466EF97");
}

// NIST SP 800-38A F.1.3 (ECB-AES192.Encrypt), block 1; also `openssl enc -aes-192-ecb`.
TEST(CipherTest, Aes192EcbMatchesSp800_38aExample) {
  const SecretBytes key = Key("8E73B0F7DA0E6452C810F32B809079E562F8EAD2522C6B7B");
  std::vector<std::uint8_t> out(16);
  ASSERT_TRUE(EncryptEcb(KeyAlgorithm::kAes, key, Bytes("6BC1BEE22E409F96E93D7E117393172A"), out));
  EXPECT_EQ(Hex(out), "BD334F1D6E45F25FF712A214571FA5CC");
}

// Cross-check (no published vector at hand): `openssl enc -des-ede3-cbc -K 0123456789ABCDEF
// FEDCBA987654321089ABCDEF01234567 -iv 0102030405060708 -nopad` over 00112233..EEFF.
TEST(CipherTest, ThreeKeyTdesCbcMatchesOpensslCommandLine) {
  const SecretBytes key = Key("0123456789ABCDEFFEDCBA987654321089ABCDEF01234567");
  const auto iv = Bytes("0102030405060708");
  const auto plain = Bytes("00112233445566778899AABBCCDDEEFF");
  std::vector<std::uint8_t> out(16);
  ASSERT_TRUE(EncryptCbc(KeyAlgorithm::kTdes, key, iv, plain, out));
  EXPECT_EQ(Hex(out), "A258FF3D9856580D8A9206FFF0D96CC5");
  std::vector<std::uint8_t> back(16);
  ASSERT_TRUE(DecryptCbc(KeyAlgorithm::kTdes, key, iv, out, back));
  EXPECT_EQ(back, plain);
}

// Cross-check: `openssl enc -des-ede-ecb -K 0123456789ABCDEFFEDCBA9876543210 -nopad` of 8 zeros
// (the widely published KCV 08D7B4 of this key is its first 3 bytes).
TEST(CipherTest, TwoKeyTdesEcbMatchesOpensslCommandLine) {
  std::vector<std::uint8_t> out(8);
  ASSERT_TRUE(EncryptEcb(KeyAlgorithm::kTdes, Key("0123456789ABCDEFFEDCBA9876543210"),
                         Bytes("0000000000000000"), out));
  EXPECT_EQ(Hex(out), "08D7B4FB629D0885");
}

TEST(CipherTest, RejectsKeyLengthsTheAlgorithmDoesNotAccept) {
  std::vector<std::uint8_t> out(8);
  auto r = EncryptEcb(KeyAlgorithm::kTdes, Key("0123456789ABCDEF"), Bytes("0000000000000000"), out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kBadKeyLength);
  std::vector<std::uint8_t> out16(16);
  r = EncryptEcb(KeyAlgorithm::kAes, Key("00112233445566778899AABBCCDDEEFF0011"),
                 Bytes("00000000000000000000000000000000"), out16);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kBadKeyLength);
}

TEST(CipherTest, RejectsDataThatIsNotWholeBlocks) {
  std::vector<std::uint8_t> out(7);
  auto r = EncryptEcb(KeyAlgorithm::kTdes, Key("0123456789ABCDEFFEDCBA9876543210"),
                      Bytes("00000000000000"), out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kBadInputLength);
}

TEST(CipherTest, ChangingOnlyTheKeyOnTheReusedContextGivesTheRightResult) {
  // The per-thread context is reused with a new key; alternate keys to catch a stale schedule.
  const SecretBytes k1 = Key("0123456789ABCDEFFEDCBA9876543210");
  const SecretBytes k2 = Key("FEDCBA98765432100123456789ABCDEF");
  const auto zero = Bytes("0000000000000000");
  std::vector<std::uint8_t> a(8), b(8), c(8);
  ASSERT_TRUE(EncryptEcb(KeyAlgorithm::kTdes, k1, zero, a));
  ASSERT_TRUE(EncryptEcb(KeyAlgorithm::kTdes, k2, zero, b));
  ASSERT_TRUE(EncryptEcb(KeyAlgorithm::kTdes, k1, zero, c));
  EXPECT_EQ(a, c);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace sy::crypto
