#include "crypto/master_session.h"

#include <gtest/gtest.h>

#include "tests/crypto/test_util.h"

namespace sy::crypto {
namespace {

using testing::Bytes;
using testing::Hex;
using testing::Key;

constexpr const char* kTmk = "0123456789ABCDEFFEDCBA9876543210";

TEST(MasterSessionTest, ExportedWorkingKeyImportsBackWithItsKcv) {
  const SecretBytes tmk = Key(kTmk);
  const SecretBytes pin_key = Key("89ABCDEF0123456776543210FEDCBA98");
  auto wire = ExportWorkingKey(tmk, pin_key).value();
  EXPECT_EQ(wire.key().size(), 16u);
  EXPECT_NE(Hex(wire.key()), "89ABCDEF0123456776543210FEDCBA98");
  auto back = ImportWorkingKey(tmk, wire.key(), wire.kcv);
  ASSERT_TRUE(back);
  EXPECT_TRUE(*back == pin_key);
}

// The KCV of the X9.24 test key (08D7B4, widely published) is carried alongside the key.
TEST(MasterSessionTest, KcvOfTheClearKeyTravelsWithTheEncipheredKey) {
  auto wire = ExportWorkingKey(Key(kTmk), Key(kTmk)).value();
  EXPECT_EQ(Hex(wire.kcv), "08D7B4");
}

TEST(MasterSessionTest, WrongMasterKeyIsCaughtByTheKcv) {
  const SecretBytes pin_key = Key("89ABCDEF0123456776543210FEDCBA98");
  auto wire = ExportWorkingKey(Key(kTmk), pin_key).value();
  auto r = ImportWorkingKey(Key("FEDCBA98765432100123456789ABCDEF"), wire.key(), wire.kcv);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kKcvMismatch);
}

TEST(MasterSessionTest, ImportsPinAndMacKeysTogetherAndNamesNeitherOnFailure) {
  const SecretBytes tmk = Key(kTmk);
  auto pin = ExportWorkingKey(tmk, Key("89ABCDEF0123456776543210FEDCBA98")).value();
  // A 20-byte key is not a TDES key.
  auto odd = ExportWorkingKey(tmk, Key("1111111111111111222222222222222233333333"));
  ASSERT_FALSE(odd);
  EXPECT_EQ(odd.error(), Error::kBadKeyLength);
  auto mac = ExportWorkingKey(tmk, Key("111111111111111122222222222222223333333333333333")).value();
  auto keys = ImportSessionKeys(tmk, pin.key(), pin.kcv, mac.key(), mac.kcv);
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->mac_key.size(), 24u);
  auto bad = ImportSessionKeys(tmk, pin.key(), pin.kcv, mac.key(), Bytes("000000"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), Error::kKcvMismatch);
}

}  // namespace
}  // namespace sy::crypto

namespace sy::crypto {
namespace {

TEST(SessionKeyBlockTest, PinAndMacKeysTravelAsTr31BlocksBoundToTheirRole) {
  const SecretBytes tmk = testing::Key("0123456789ABCDEFFEDCBA9876543210");
  const SecretBytes pin_key = testing::Key("89ABCDEF0123456776543210FEDCBA98");
  auto block = WrapSessionKey(tmk, KeyAlgorithm::kTdes, SessionKeyRole::kPin, KeyAlgorithm::kTdes,
                              pin_key, SystemRandom());
  ASSERT_TRUE(block);
  EXPECT_EQ(block->substr(0, 1), "B");  // TDES TMK: version B
  EXPECT_EQ(block->substr(5, 4), "P0TB");
  const Kcv kcv = TdesKcv(pin_key).value();
  auto back = UnwrapSessionKey(tmk, KeyAlgorithm::kTdes, SessionKeyRole::kPin, *block, kcv);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_TRUE(*back == pin_key);
  // The same block offered as a MAC key is refused: usage is bound in the MACed header.
  auto as_mac = UnwrapSessionKey(tmk, KeyAlgorithm::kTdes, SessionKeyRole::kMac, *block);
  ASSERT_FALSE(as_mac);
  EXPECT_EQ(as_mac.error(), Error::kKeyBlockAttributeMismatch);
  // A wrong expected KCV is caught.
  auto wrong = UnwrapSessionKey(tmk, KeyAlgorithm::kTdes, SessionKeyRole::kPin, *block,
                                testing::Bytes("000000"));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error(), Error::kKcvMismatch);
}

TEST(SessionKeyBlockTest, AesTmkUsesVersionDAndAnAesMacKeyIsM6) {
  const SecretBytes tmk = testing::Key("000102030405060708090A0B0C0D0E0F");
  const SecretBytes mac_key = testing::Key("2B7E151628AED2A6ABF7158809CF4F3C");
  auto block = WrapSessionKey(tmk, KeyAlgorithm::kAes, SessionKeyRole::kMac, KeyAlgorithm::kAes,
                              mac_key, SystemRandom());
  ASSERT_TRUE(block);
  EXPECT_EQ(block->substr(0, 1), "D");
  EXPECT_EQ(block->substr(5, 4), "M6AC");
  auto back = UnwrapSessionKey(tmk, KeyAlgorithm::kAes, SessionKeyRole::kMac, *block,
                               AesKcv(mac_key).value());
  ASSERT_TRUE(back);
  EXPECT_TRUE(*back == mac_key);
  // A version D block under a TMK declared TDES is refused before any cryptography.
  auto mismatch = UnwrapSessionKey(testing::Key("0123456789ABCDEFFEDCBA9876543210"),
                                   KeyAlgorithm::kTdes, SessionKeyRole::kMac, *block);
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error(), Error::kKeyBlockUnsupported);
}

}  // namespace
}  // namespace sy::crypto
