#include "switch/log.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace sy::server {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_format{static_cast<int>(LogFormat::kText)};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      break;
  }
  return "debug";
}

// `text` as a JSON string, quotes included: quote, backslash and control characters escaped.
void AppendJsonString(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof(esc), "\\u%04x", u);
      out += esc;
    } else {
      out += c;
    }
  }
  out += '"';
}
}  // namespace

bool ParseLogFormat(std::string_view name, LogFormat& out) {
  if (name.empty() || name == "text") {
    out = LogFormat::kText;
  } else if (name == "json") {
    out = LogFormat::kJson;
  } else {
    return false;
  }
  return true;
}

void SetLogFormat(LogFormat format) { g_format.store(static_cast<int>(format)); }

LogFormat CurrentLogFormat() noexcept {
  return static_cast<LogFormat>(g_format.load(std::memory_order_relaxed));
}

std::string FormatLogLine(LogFormat format, LogLevel level, std::int64_t micros,
                          std::string_view text, std::span<const LogField> fields) {
  if (format == LogFormat::kText) {
    return std::string(text);
  }
  const std::time_t seconds = static_cast<std::time_t>(micros / 1000000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[96];  // room for any int the compiler cannot bound (format-truncation)
  std::snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(micros % 1000000));
  std::string out = "{\"ts\":\"";
  out += stamp;
  out += "\",\"level\":\"";
  out += LevelName(level);
  out += "\",\"msg\":";
  AppendJsonString(out, text);
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const LogField& f = fields[i];
    bool skip = f.key == "ts" || f.key == "level" || f.key == "msg";
    for (std::size_t j = 0; j < i && !skip; ++j) {
      skip = fields[j].key == f.key;
    }
    if (skip) {
      continue;
    }
    out += ',';
    AppendJsonString(out, f.key);
    out += ':';
    if (f.number) {
      out += f.value;
    } else {
      AppendJsonString(out, f.value);
    }
  }
  out += '}';
  return out;
}

bool ParseLogLevel(std::string_view name, LogLevel& out) {
  if (name == "error") {
    out = LogLevel::kError;
  } else if (name == "warning") {
    out = LogLevel::kWarning;
  } else if (name == "info" || name.empty()) {
    out = LogLevel::kInfo;
  } else if (name == "debug") {
    out = LogLevel::kDebug;
  } else {
    return false;
  }
  return true;
}

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

bool LogEnabled(LogLevel level) noexcept {
  return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed);
}

LogLine::~LogLine() {
  if (!enabled_) {
    return;
  }
  std::string text = std::move(out_).str();
  while (!text.empty() && text.back() == '\n') {
    text.pop_back();  // stream-style statements end in "\n"; the writer adds the line's own
  }
  std::string line = !json_ ? std::move(text)
                            : FormatLogLine(LogFormat::kJson, level_,
                                            std::chrono::duration_cast<std::chrono::microseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count(),
                                            text, fields_);
  line += '\n';
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;  // nowhere to log to: nothing better to do
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace sy::server
