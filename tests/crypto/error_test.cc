#include "crypto/error.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace sy::crypto {
namespace {

TEST(CryptoErrorTest, EveryEnumeratorHasItsOwnMessageInTheSyCryptoCategory) {
  std::set<std::string> seen;
  for (int ev = static_cast<int>(kFirstError); ev <= static_cast<int>(kLastError); ++ev) {
    const boost::system::error_code ec = make_error_code(static_cast<Error>(ev));
    EXPECT_STREQ(ec.category().name(), "sy.crypto");
    const std::string msg = ec.message();
    EXPECT_FALSE(msg.empty());
    EXPECT_EQ(msg.find("unknown"), std::string::npos) << "enumerator " << ev << " has no message";
    EXPECT_TRUE(seen.insert(msg).second) << "duplicate message: " << msg;
  }
}

TEST(CryptoErrorTest, ValuesOutsideTheEnumAreReportedAsUnknown) {
  const boost::system::error_code ec(static_cast<int>(kLastError) + 1, CryptoCategory());
  EXPECT_NE(ec.message().find("unknown"), std::string::npos);
}

TEST(CryptoErrorTest, ErrorConvertsToAnErrorCodeThroughTheEnumTrait) {
  const boost::system::error_code ec = Error::kKsnCounterExhausted;
  EXPECT_EQ(ec, make_error_code(Error::kKsnCounterExhausted));
  EXPECT_NE(ec.message().find("KSN counter exhausted"), std::string::npos);
}

}  // namespace
}  // namespace sy::crypto
