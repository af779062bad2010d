// The log's line formats: text as given; JSON one object per line with the text escaped and the
// structured fields (With) as members of their own; lines below the level evaluate nothing.

#include "switch/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace sy::server {
namespace {

// Standard error redirected to a temporary file for the object's life; Text() reads what was
// written so far.
class StderrCapture {
 public:
  StderrCapture() {
    char pattern[] = "/tmp/sy-log-test-XXXXXX";
    const int fd = mkstemp(pattern);
    path_ = pattern;
    std::fflush(stderr);
    saved_ = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
  }
  ~StderrCapture() {
    std::fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    std::remove(path_.c_str());
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  [[nodiscard]] std::string Text() const {
    std::ifstream in(path_);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  std::string path_;
  int saved_ = -1;
};

// Restores the process-wide level and format whatever a test set.
class LogLineTest : public ::testing::Test {
 protected:
  void TearDown() override {
    SetLogLevel(LogLevel::kInfo);
    SetLogFormat(LogFormat::kText);
  }
};

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

TEST(LogTest, JsonLinesCarryFieldsAsMembersAfterTheMessage) {
  const std::int64_t micros = 1795770000LL * 1000000 + 123;
  const std::vector<LogField> fields = {
      {"tid", "TERM0001", false},         {"stan", "000123", false},
      {"rrn", "633109000042", false},     {"amount_minor", "1250", true},
      {"pan", "476173******0010", false}, {"note", "a \"quoted\"\nline", false}};
  EXPECT_EQ(
      FormatLogLine(LogFormat::kJson, LogLevel::kInfo, micros, "pipeline: done", fields),
      "{\"ts\":\"2026-11-27T09:00:00.000123Z\",\"level\":\"info\",\"msg\":\"pipeline: done\","
      "\"tid\":\"TERM0001\",\"stan\":\"000123\",\"rrn\":\"633109000042\",\"amount_minor\":1250,"
      "\"pan\":\"476173******0010\",\"note\":\"a \\\"quoted\\\"\\u000aline\"}");
  // Text lines are the message alone, as before fields existed.
  EXPECT_EQ(FormatLogLine(LogFormat::kText, LogLevel::kInfo, micros, "pipeline: done", fields),
            "pipeline: done");
}

TEST(LogTest, FieldsCannotReplaceTheLinesOwnMembersAndTheFirstOfARepeatedKeyWins) {
  const std::vector<LogField> fields = {{"msg", "forged", false},
                                        {"ts", "0", true},
                                        {"level", "error", false},
                                        {"stan", "000001", false},
                                        {"stan", "999999", false}};
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, LogLevel::kWarning, 0, "real", fields),
            "{\"ts\":\"1970-01-01T00:00:00.000000Z\",\"level\":\"warning\",\"msg\":\"real\","
            "\"stan\":\"000001\"}");
}

TEST_F(LogLineTest, SyLogWritesFieldsInJsonAndOnlyTheMessageInText) {
  StderrCapture capture;
  SetLogFormat(LogFormat::kJson);
  SY_LOG(kWarning).With("tid", "TERM0009").With("stan", std::string("000042")).With("n", 7)
      << "pipeline: "
      << "TERM0009";
  SetLogFormat(LogFormat::kText);
  SY_LOG(kWarning).With("tid", "TERM0009") << "pipeline: text " << 1;
  const std::string out = capture.Text();
  const std::size_t nl = out.find('\n');
  ASSERT_NE(nl, std::string::npos) << out;
  const std::string json = out.substr(0, nl);
  EXPECT_EQ(json.rfind("{\"ts\":\"", 0), 0u) << json;
  EXPECT_NE(json.find("\"level\":\"warning\",\"msg\":\"pipeline: TERM0009\",\"tid\":\"TERM0009\","
                      "\"stan\":\"000042\",\"n\":7}"),
            std::string::npos)
      << json;
  EXPECT_EQ(out.substr(nl + 1), "pipeline: text 1\n");
}

int g_evaluated = 0;
std::string Evaluated() {
  ++g_evaluated;
  return "x";
}

TEST_F(LogLineTest, NeitherMessageNorFieldsAreEvaluatedBelowTheLevel) {
  StderrCapture capture;
  SetLogFormat(LogFormat::kJson);
  SetLogLevel(LogLevel::kInfo);
  g_evaluated = 0;
  SY_LOG(kDebug).With("tid", Evaluated()).With("stan", Evaluated()) << Evaluated();
  EXPECT_EQ(g_evaluated, 0);
  EXPECT_EQ(capture.Text(), "");
  SY_LOG(kInfo).With("tid", Evaluated()) << Evaluated();
  EXPECT_EQ(g_evaluated, 2);
  EXPECT_NE(capture.Text().find("\"tid\":\"x\"}"), std::string::npos) << capture.Text();
}

TEST_F(LogLineTest, AStreamStyleStatementThroughALogSinkIsOneLineAtTheSinksLevel) {
  StderrCapture capture;
  constexpr LogSink kInfoSink(LogLevel::kInfo);
  constexpr LogSink kDebugSink(LogLevel::kDebug);
  SetLogFormat(LogFormat::kText);
  kInfoSink << "saf: "
            << "issuer-a"
            << " entry " << 7 << " acknowledged\n";
  kDebugSink << "below the level\n";
  SetLogFormat(LogFormat::kJson);
  kInfoSink << "listening on " << 8583 << "\n";
  const std::string out = capture.Text();
  EXPECT_EQ(out.rfind("saf: issuer-a entry 7 acknowledged\n{\"ts\":", 0), 0u) << out;
  EXPECT_NE(out.find("\"level\":\"info\",\"msg\":\"listening on 8583\"}\n"), std::string::npos)
      << out;
  EXPECT_EQ(out.find("below the level"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << out;
}

}  // namespace
}  // namespace sy::server
