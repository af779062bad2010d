#include "iso8583/error.h"

#include <gtest/gtest.h>

#include <set>

namespace sy::iso8583 {
namespace {

TEST(ErrorTest, EveryEnumeratorHasItsOwnMessageInTheCategory) {
  std::set<std::string> messages;
  for (int ev = static_cast<int>(Error::kTruncated); ev <= static_cast<int>(Error::kTlvTooDeep);
       ++ev) {
    const boost::system::error_code ec = make_error_code(static_cast<Error>(ev));
    EXPECT_STREQ(ec.category().name(), "sy.iso8583");
    const std::string m = ec.message();
    EXPECT_EQ(m.find("unknown"), std::string::npos) << ev;
    EXPECT_TRUE(messages.insert(m).second) << "duplicate message: " << m;
  }
  EXPECT_EQ(messages.size(), 20U);
}

TEST(ErrorTest, ConvertsToErrorCode) {
  const boost::system::error_code ec = Error::kBadMti;
  EXPECT_EQ(ec, make_error_code(Error::kBadMti));
}

TEST(ErrorTest, ResultValueThrowsTheDescription) {
  Result<int> r = CodecError{Error::kBadMti, CodecError::kMtiField, 0};
  EXPECT_THROW((void)r.value(), std::runtime_error);
}

}  // namespace
}  // namespace sy::iso8583
