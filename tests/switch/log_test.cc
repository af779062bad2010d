// The log's line formats: text as given; JSON one object per line with the text escaped.

#include "switch/log.h"

#include <gtest/gtest.h>

namespace sy::server {
namespace {

TEST(LogTest, TextLinesAreTheTextAndJsonLinesAreOneEscapedObject) {
  EXPECT_EQ(FormatLogLine(LogFormat::kText, LogLevel::kInfo, 0, "pipeline: a \"b\""),
            "pipeline: a \"b\"");
  // 2026-11-27T09:00:00.000123Z
  const std::int64_t micros = 1795770000LL * 1000000 + 123;
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, LogLevel::kWarning, micros, "pipeline: \"x\\y\"\ttab"),
            "{\"ts\":\"2026-11-27T09:00:00.000123Z\",\"level\":\"warning\","
            "\"msg\":\"pipeline: \\\"x\\\\y\\\"\\u0009tab\"}");
}

TEST(LogTest, ParsesLevelsAndFormatsAndRefusesOthers) {
  LogLevel level = LogLevel::kError;
  EXPECT_TRUE(ParseLogLevel("debug", level));
  EXPECT_EQ(level, LogLevel::kDebug);
  EXPECT_TRUE(ParseLogLevel("", level));
  EXPECT_EQ(level, LogLevel::kInfo);
  EXPECT_FALSE(ParseLogLevel("verbose", level));
  LogFormat format = LogFormat::kText;
  EXPECT_TRUE(ParseLogFormat("json", format));
  EXPECT_EQ(format, LogFormat::kJson);
  EXPECT_FALSE(ParseLogFormat("xml", format));
  SetLogLevel(LogLevel::kWarning);
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  EXPECT_FALSE(LogEnabled(LogLevel::kInfo));
  SetLogLevel(LogLevel::kInfo);
}

}  // namespace
}  // namespace sy::server
