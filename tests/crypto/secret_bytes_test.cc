#include "crypto/secret_bytes.h"

#include <gtest/gtest.h>

#include <sstream>
#include <type_traits>

#include "tests/crypto/test_util.h"

namespace sy::crypto {
namespace {

using testing::Key;

static_assert(!std::is_copy_constructible_v<SecretBytes>);
static_assert(!std::is_copy_assignable_v<SecretBytes>);
static_assert(std::is_nothrow_move_constructible_v<SecretBytes>);

TEST(SecretBytesTest, CloneIsEqualAndIndependent) {
  SecretBytes a = Key("00112233445566778899AABBCCDDEEFF");
  SecretBytes b = a.Clone();
  EXPECT_TRUE(a == b);
  b.data()[0] ^= 1;
  EXPECT_FALSE(a == b);
}

TEST(SecretBytesTest, MoveLeavesTheSourceEmptyAndZeroed) {
  SecretBytes a = Key("0102030405060708");
  SecretBytes b = std::move(a);
  EXPECT_EQ(b.size(), 8u);
  EXPECT_EQ(a.size(), 0u);  // NOLINT(bugprone-use-after-move): checking the moved-from state
  for (std::size_t i = 0; i < SecretBytes::kCapacity; ++i) {
    EXPECT_EQ(a.data()[i], 0) << i;  // NOLINT(bugprone-use-after-move)
  }
}

TEST(SecretBytesTest, WipeZeroesTheContents) {
  SecretBytes a = Key("FFFFFFFFFFFFFFFF");
  a.Wipe();
  EXPECT_TRUE(a.empty());
  for (std::size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(a.data()[i], 0);
  }
}

TEST(SecretBytesTest, DifferentSizesAreNotEqual) { EXPECT_FALSE(Key("0011") == Key("001122")); }

TEST(SecretBytesTest, CopyRejectsMoreThanCapacity) {
  std::vector<std::uint8_t> big(SecretBytes::kCapacity + 1);
  auto r = SecretBytes::Copy(big);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), Error::kBadInputLength);
}

TEST(SecretBytesTest, GoogleTestPrintsAPlaceholderNotTheBytes) {
  SecretBytes a = Key("DEADBEEF");
  const std::string printed = ::testing::PrintToString(a);
  EXPECT_EQ(printed.find("DE"), std::string::npos);
  EXPECT_NE(printed.find("redacted"), std::string::npos);
}

TEST(SecretBytesTest, ScopedWipeZeroesALocalOnScopeExit) {
  std::array<std::uint8_t, 4> local{1, 2, 3, 4};
  { ScopedWipe wipe(local); }
  EXPECT_EQ(local, (std::array<std::uint8_t, 4>{}));
}

}  // namespace
}  // namespace sy::crypto
