#include "switch/log.h"

#include <unistd.h>

#include <cerrno>
#include <string>

namespace sy::server {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
}  // namespace

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
  std::string line = std::move(out_).str();
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
