#include "crypto/kcv.h"

#include <gtest/gtest.h>

#include "tests/crypto/test_util.h"

namespace sy::crypto {
namespace {

using testing::Hex;
using testing::Key;

// The check value 08D7B4 of the X9.24 test key 0123456789ABCDEFFEDCBA9876543210 is published
// widely (e.g. with the ANSI X9.24-1:2009 Appendix A BDK); also `openssl enc -des-ede-ecb`.
TEST(KcvTest, TdesKcvOfTheX924TestKeyIs08D7B4) {
  EXPECT_EQ(Hex(TdesKcv(Key("0123456789ABCDEFFEDCBA9876543210")).value()), "08D7B4");
}

// Cross-check: `openssl mac -cipher AES-128-CBC -macopt hexkey:2B7E...4F3C CMAC` over 16 zero
// bytes gives 7AD386C3760FB3498361A1CB5563BD70.
TEST(KcvTest, AesKcvIsTheCmacOfSixteenZeroBytes) {
  EXPECT_EQ(Hex(AesKcv(Key("2B7E151628AED2A6ABF7158809CF4F3C")).value()), "7AD386");
}

// Cross-check: `openssl enc -aes-128-ecb -K 2B7E...4F3C -nopad` of 16 zero bytes gives 7DF76B0C...
TEST(KcvTest, LegacyAesKcvEncryptsSixteenZeroBytes) {
  EXPECT_EQ(Hex(AesKcvLegacy(Key("2B7E151628AED2A6ABF7158809CF4F3C")).value()), "7DF76B");
}

TEST(KcvTest, RejectsAKeyOfTheWrongLength) {
  auto r = TdesKcv(Key("0123456789ABCDEF"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kBadKeyLength);
  auto a = AesKcv(Key("0123456789ABCDEF"));
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error(), Error::kBadKeyLength);
}

}  // namespace
}  // namespace sy::crypto
