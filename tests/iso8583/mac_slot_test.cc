#include "iso8583/mac_slot.h"

#include <gtest/gtest.h>

#include "iso8583/json.h"
#include "tests/iso8583/test_util.h"

namespace sy::iso8583 {
namespace {

// A stand-in MAC for the layout tests: the XOR of the covered bytes in 8 lanes, plus the count.
bool XorMac(std::span<const std::uint8_t> data, std::array<std::uint8_t, 8>& out) {
  out.fill(0);
  for (std::size_t i = 0; i < data.size(); ++i) {
    out[i % 8] ^= data[i];
  }
  out[7] ^= static_cast<std::uint8_t>(data.size());
  return true;
}

Message Request() {
  Message m;
  m.SetMti("0200");
  m.Set(3, "000000");
  m.Set(11, "000001");
  m.Set(41, "TERM0001");
  return m;
}

TEST(MacSlotTest, UsesField64WithoutASecondaryBitmapAnd128WithOne) {
  Message m = Request();
  EXPECT_EQ(MacField(m), 64);
  m.Set(90, std::string(42, '0'));
  EXPECT_EQ(MacField(m), 128);
}

TEST(MacSlotTest, MacsEverythingBeforeTheMacWithTheMacBitSet) {
  for (auto name : {"iso87b", "iso87a"}) {
    auto d = testing::Builtin(name);
    Message m = Request();
    std::string wire;
    ASSERT_TRUE(PackWithMac(*d, m, XorMac, wire).has_value());
    Message back;
    ASSERT_TRUE(Unpack(*d, wire, back).has_value());
    ASSERT_TRUE(back.Has(64));
    auto input = MacInput(*d, back, wire);
    ASSERT_TRUE(input.has_value());
    // The input ends where the MAC's wire bytes begin: 8 raw bytes, or 16 hex characters in A.
    EXPECT_EQ(input->size(), wire.size() - (std::string_view(name) == "iso87a" ? 16U : 8U));
    std::array<std::uint8_t, 8> expected{};
    ASSERT_TRUE(
        XorMac({reinterpret_cast<const std::uint8_t*>(input->data()), input->size()}, expected));
    EXPECT_EQ(back.Get(64), std::string_view(reinterpret_cast<const char*>(expected.data()), 8));
  }
}

TEST(MacSlotTest, PutsTheMacIn128WhenThereIsASecondaryBitmap) {
  auto d = testing::Builtin("iso87b");
  Message m = Request();
  m.Set(70, "301");
  std::string wire;
  ASSERT_TRUE(PackWithMac(*d, m, XorMac, wire).has_value());
  EXPECT_TRUE(m.Has(128));
  EXPECT_FALSE(m.Has(64));
  Message back;
  ASSERT_TRUE(Unpack(*d, wire, back).has_value());
  EXPECT_EQ(MacInput(*d, back, wire)->size(), wire.size() - 8);
}

TEST(MacSlotTest, ReportsAMissingMacAndAFailingMacFunction) {
  auto d = testing::Builtin("iso87b");
  Message m = Request();
  std::string wire;
  ASSERT_TRUE(Pack(*d, m, wire).has_value());
  auto input = MacInput(*d, m, wire);
  ASSERT_FALSE(input.has_value());
  EXPECT_EQ(input.error().field, 64);
  std::string out = "keep";
  auto r = PackWithMac(
      *d, m, [](auto, auto&) { return false; }, out);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(out, "keep");
}

}  // namespace
}  // namespace sy::iso8583
