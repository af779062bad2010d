#pragma once

// The switch's log: one line per event on standard error, written with a single write(2) so that
// lines from different threads never interleave and a busy switch does not pay a system call per
// `<<`. Lines below the configured level cost one atomic load and build nothing.
//
//   SY_LOG(kInfo) << "pipeline: " << tid << " stan " << stan << " -> " << rc;
//
// Never log a clear PAN, PIN, PIN block, key or track data: mask PANs (iso8583/mask.h).

#include <atomic>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

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
// The line as written in `format` (without its newline), at `level`, stamped `micros` since the
// epoch (JSON only). For tests and the writer.
[[nodiscard]] std::string FormatLogLine(LogFormat format, LogLevel level, std::int64_t micros,
                                        std::string_view text);

// Collects one line and writes it (with its newline) when destroyed.
class LogLine {
 public:
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;
  explicit LogLine(LogLevel level = LogLevel::kInfo) : level_(level) {}
  ~LogLine();
  template <class T>
  LogLine& operator<<(const T& value) {
    out_ << value;
    return *this;
  }

 private:
  LogLevel level_;
  std::ostringstream out_;
};

}  // namespace sy::server

// A statement: SY_LOG(kWarning) << ...;  The operands are not evaluated below the level.
#define SY_LOG(level)                                             \
  if (!::sy::server::LogEnabled(::sy::server::LogLevel::level)) { \
  } else                                                          \
    ::sy::server::LogLine(::sy::server::LogLevel::level)
