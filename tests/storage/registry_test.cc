#include "storage/registry.h"

#include <gtest/gtest.h>

#include "tests/storage/store_fixture.h"

namespace sy::storage {
namespace {

using RegistryTest = testing::StoreTest;

// Any protobuf record will do for the store; AuditEntry is one at hand.
proto::AuditEntry Record(std::string_view reason) {
  proto::AuditEntry r;
  r.set_reason(std::string(reason));
  return r;
}

TEST_F(RegistryTest, PutsGetsAndListsRecordsByKind) {
  Registry reg(*store_);
  ASSERT_FALSE(reg.Put("terminal", "TERM0002", Record("b"), {.actor = "config"}));
  ASSERT_FALSE(reg.Put("terminal", "TERM0001", Record("a"), {.actor = "config"}));
  ASSERT_FALSE(reg.Put("merchant", "M1", Record("m"), {.actor = "config"}));
  EXPECT_EQ(reg.Get<proto::AuditEntry>("terminal", "TERM0001").value().reason(), "a");
  EXPECT_EQ(reg.List("terminal").value(), (std::vector<std::string>{"TERM0001", "TERM0002"}));
  EXPECT_EQ(reg.GetRaw("terminal", "TERM0009").error(), make_error_code(Error::kNotFound));
}

TEST_F(RegistryTest, AuditsEveryChangeWithBeforeAndAfter) {
  {
    Registry reg(*store_);
    ASSERT_FALSE(reg.Put("terminal", "T1", Record("v1"),
                         {.actor = "ops:alice", .reason = "new", .at_micros = 1}));
    ASSERT_FALSE(reg.Put("terminal", "T1", Record("v2"),
                         {.actor = "ops:bob", .reason = "suspend", .at_micros = 2}));
    ASSERT_FALSE(
        reg.Delete("terminal", "T1", {.actor = "ops:carol", .reason = "retire", .at_micros = 3}));
    EXPECT_EQ(reg.Delete("terminal", "T1", {.actor = "ops:carol"}),
              make_error_code(Error::kNotFound));
  }
  Reopen();
  Registry reg(*store_);
  ASSERT_FALSE(reg.Put("terminal", "T2", Record("x"), {.actor = "config"}));
  auto history = reg.History("terminal", "T1").value();
  ASSERT_EQ(history.size(), 3U);
  EXPECT_EQ(history[0].actor(), "ops:alice");
  EXPECT_TRUE(history[0].before().empty());
  EXPECT_EQ(history[1].before(), Record("v1").SerializeAsString());
  EXPECT_EQ(history[1].after(), Record("v2").SerializeAsString());
  EXPECT_EQ(history[2].reason(), "retire");
  EXPECT_TRUE(history[2].after().empty());
  // Audit sequence numbers keep increasing across the restart.
  auto all = reg.History("", "").value();
  ASSERT_EQ(all.size(), 4U);
  EXPECT_LT(all[2].seq(), all[3].seq());
  EXPECT_EQ(reg.GetRaw("terminal", "T1").error(), make_error_code(Error::kNotFound));
}

}  // namespace
}  // namespace sy::storage
