#pragma once

// The switch's log: one line per event on standard error, written with a single write(2) so that
// lines from different threads never interleave and a busy switch does not pay a system call per
// `<<`. Lines below the configured level cost one atomic load and build nothing: neither the
// message nor the fields are evaluated.
//
//   SY_LOG(kInfo).With("tid", tid).With("stan", stan).With("rc", rc)
//       << "pipeline: " << tid << " stan " << stan << " -> " << rc;
//
// Text lines (the default) are the message alone. JSON lines (log_format: json) are one object
// each, {"ts":..., "level":..., "msg":..., "tid":"TERM0001", "stan":"000123", ...}: the fields
// added with With() become members of their own, so a log collector can correlate a transaction's
// lines by TID, STAN and RRN without parsing the message.
//
// Never log a clear PAN, PIN, PIN block, key or track data, in the message or in a field: mask
// PANs (iso8583/mask.h).

#include <atomic>
#include <concepts>
#include <cstdint>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace sy::server {

enum class LogLevel { kError = 0, kWarning = 1, kInfo = 2, kDebug = 3 };

// "error", "warning", "info" (default), "debug"; false for anything else.
[[nodiscard]] bool ParseLogLevel(std::string_view name, LogLevel& out);
void SetLogLevel(LogLevel level);
[[nodiscard]] bool LogEnabled(LogLevel level) noexcept;

// Plain text lines (default), or one JSON object per line for log collectors:
// {"ts":"2026-11-27T09:00:00.123456Z","level":"info","msg":"pipeline: TERM0001 stan ..."}.
enum class LogFormat { kText, kJson };
// "text" (default, also for "") or "json"; false for anything else.
[[nodiscard]] bool ParseLogFormat(std::string_view name, LogFormat& out);
void SetLogFormat(LogFormat format);
[[nodiscard]] LogFormat CurrentLogFormat() noexcept;

// A structured field of a line. In a JSON line a member after ts, level and msg, in the order
// added; a field whose key is ts, level or msg, or repeats an earlier field's, is left out (the
// line's own members and the first value win). Text lines leave every field out: their message
// says the same in words.
struct LogField {
  std::string_view key;  // a string literal (LogLine::With takes only those)
  std::string value;
  bool number = false;  // written bare (an integer) rather than as a JSON string
};

// The line as written in `format` (without its newline), at `level`, stamped `micros` since the
// epoch (JSON only). For tests and the writer.
[[nodiscard]] std::string FormatLogLine(LogFormat format, LogLevel level, std::int64_t micros,
                                        std::string_view text,
                                        std::span<const LogField> fields = {});

// Collects one line and writes it (with its newline; trailing newlines of the text are dropped)
// when destroyed.
class LogLine {
 public:
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;
  explicit LogLine(LogLevel level = LogLevel::kInfo) : LogLine(level, true) {}
  ~LogLine();

  // A field of the line (see LogField); `key` must be a string literal. In text format nothing is
  // stored, not even a copy of the value.
  template <std::size_t N>
  LogLine& With(const char (&key)[N], std::string_view value) {
    if (json_) {
      fields_.push_back({std::string_view(key, N - 1), std::string(value), false});
    }
    return *this;
  }
  template <std::size_t N, std::integral T>
  requires(!std::same_as<T, bool> && !std::same_as<T, char>) LogLine& With(const char (&key)[N],
                                                                           T value) {
    if (json_) {
      fields_.push_back({std::string_view(key, N - 1), std::to_string(value), true});
    }
    return *this;
  }

  template <class T>
  LogLine& operator<<(const T& value) {
    out_ << value;
    return *this;
  }

 private:
  friend class LogSink;
  LogLine(LogLevel level, bool enabled)
      : level_(level), enabled_(enabled), json_(CurrentLogFormat() == LogFormat::kJson) {}
  template <class T>
  LogLine(LogLevel level, bool enabled, const T& first) : LogLine(level, enabled) {
    out_ << first;
  }

  LogLevel level_;
  bool enabled_;  // false: a LogSink line below the level, written nowhere
  bool json_;     // the format when the line began: a line is written whole in one format
  std::vector<LogField> fields_;
  std::ostringstream out_;
};

// For code written against a stream, `*log << "saf: " << route << " acknowledged\n";`: each such
// statement becomes one log line at the sink's level (its trailing newline dropped), in the
// configured format. Thread-safe: every statement builds its own line. Unlike SY_LOG the operands
// are evaluated even below the level (the line is then dropped): for start-up and other rare lines.
class LogSink {
 public:
  explicit constexpr LogSink(LogLevel level) : level_(level) {}
  template <class T>
  LogLine operator<<(const T& value) const {
    return LogLine(level_, LogEnabled(level_), value);
  }

 private:
  LogLevel level_;
};

}  // namespace sy::server

// A statement: SY_LOG(kWarning) << ...;  SY_LOG(kInfo).With("tid", tid) << ...;
// The operands (fields included) are not evaluated below the level.
#define SY_LOG(level)                                             \
  if (!::sy::server::LogEnabled(::sy::server::LogLevel::level)) { \
  } else                                                          \
    ::sy::server::LogLine(::sy::server::LogLevel::level)
