#include "iso8583/message.h"

#include <gtest/gtest.h>

#include <vector>

namespace sy::iso8583 {
namespace {

TEST(MessageTest, IteratesPresentFieldsInAscendingOrder) {
  Message m;
  for (int n : {128, 2, 64, 65, 192, 11}) {
    m.Set(n, "x");
  }
  std::vector<int> seen;
  for (int n : m.present_fields()) {
    seen.push_back(n);
  }
  EXPECT_EQ(seen, (std::vector<int>{2, 11, 64, 65, 128, 192}));
  EXPECT_EQ(m.field_count(), 6);
}

TEST(MessageTest, OverwritesUnsetsAndResets) {
  Message m;
  m.SetMti("0200");
  m.Set(4, "000000001000");
  m.Set(4, "000000002000");
  EXPECT_EQ(m.Get(4), "000000002000");
  m.Unset(4);
  EXPECT_FALSE(m.Has(4));
  EXPECT_EQ(m.Get(4), "");
  m.Set(3, "");
  EXPECT_TRUE(m.Has(3));
  m.Reset();
  EXPECT_TRUE(m.empty());
  EXPECT_FALSE(m.Has(3));
}

TEST(MessageTest, CopiesOwnTheirValues) {
  std::string buffer = "TERM0001";
  Message a;
  a.SetMti("0800");
  a.SetView(41, buffer);
  Message b = a;
  buffer = "XXXXXXXX";
  EXPECT_EQ(a.Get(41), "XXXXXXXX");
  EXPECT_EQ(b.Get(41), "TERM0001");
  EXPECT_EQ(b.mti(), "0800");
}

TEST(MessageTest, KeepsValuesValidWhenTheArenaGrows) {
  Message m;
  m.Set(2, "first");
  for (int n = 3; n < 120; ++n) {
    m.Set(n, std::string(200, 'x'));
  }
  EXPECT_EQ(m.Get(2), "first");
  EXPECT_EQ(m.Get(119).size(), 200U);
}

TEST(MessageTest, IgnoresOutOfRangeFieldNumbers) {
  Message m;
  EXPECT_FALSE(m.Has(-1));
  EXPECT_FALSE(m.Has(193));
  EXPECT_EQ(m.Get(500), "");
}

}  // namespace
}  // namespace sy::iso8583
