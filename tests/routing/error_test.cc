#include "routing/error.h"

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <string>

namespace sy::routing {
namespace {

TEST(RoutingErrorTest, EveryEnumeratorHasItsOwnMessageInTheSyRoutingCategory) {
  std::set<std::string> seen;
  for (int ev = static_cast<int>(kFirstError); ev <= static_cast<int>(kLastError); ++ev) {
    const boost::system::error_code ec = make_error_code(static_cast<Error>(ev));
    EXPECT_STREQ(ec.category().name(), "sy.routing");
    const std::string msg = ec.message();
    EXPECT_FALSE(msg.empty());
    EXPECT_EQ(msg.find("unknown"), std::string::npos) << "enumerator " << ev << " has no message";
    EXPECT_TRUE(seen.insert(msg).second) << "duplicate message: " << msg;
  }
  EXPECT_EQ(seen.size(),
            static_cast<std::size_t>(kLastError) - static_cast<std::size_t>(kFirstError) + 1);
}

TEST(RoutingErrorTest, ValuesOutsideTheEnumAreReportedAsUnknown) {
  const boost::system::error_code ec(static_cast<int>(kLastError) + 1, RoutingCategory());
  EXPECT_NE(ec.message().find("unknown"), std::string::npos);
}

TEST(RoutingErrorTest, ErrorConvertsToAnErrorCodeThroughTheEnumTrait) {
  const boost::system::error_code ec = Error::kOverlappingRanges;
  EXPECT_EQ(ec, make_error_code(Error::kOverlappingRanges));
  EXPECT_NE(ec.message().find("overlap"), std::string::npos);
}

TEST(RoutingErrorTest, ValueOnAFailedResultThrowsWithTheDescription) {
  Result<int> r = BinTableError{Error::kUnknownRoute, 3, BinTableError::kNoEntry, "BIN entry 3: x"};
  EXPECT_EQ(r.error().error_code(), make_error_code(Error::kUnknownRoute));
  try {
    (void)r.value();
    FAIL() << "value() of a failed result did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "BIN entry 3: x");
  }
}

}  // namespace
}  // namespace sy::routing
