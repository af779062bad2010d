#pragma once

// Helpers for tests that run real processes: spawn with output to a file, stop with a bounded
// wait, run a command and capture its output, pick a free port, plain HTTP GET, bounded waits.
// Everything here is bounded in time; nothing waits forever.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace sy::proc_test {

using std::chrono::milliseconds;
using ProcessClock = std::chrono::steady_clock;

// Starts argv[0] (a path) with argv, stdin from /dev/null, stdout and stderr appended to
// log_path. The child dies with the calling thread (PR_SET_PDEATHSIG), so a test killed by its
// runner leaves no process behind: call it from the main test thread. -1 on failure.
inline pid_t Spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) {
    return pid;  // the parent (or -1)
  }
  // The child: async-signal-safe calls only until exec.
  (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) {
    _exit(126);
  }
  const int in = open("/dev/null", O_RDONLY);
  const int out = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) {
    _exit(126);
  }
  close(in);
  close(out);
  execv(args[0], args.data());
  _exit(127);
}

// Waits up to `timeout` for pid to end; its wait status, or nullopt when it is still running.
inline std::optional<int> WaitExit(pid_t pid, milliseconds timeout) {
  const auto deadline = ProcessClock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      return status;
    }
    if (r < 0) {
      return std::nullopt;  // not our child (already reaped)
    }
    if (ProcessClock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
}

// Sends `sig`, waits up to `grace`, then SIGKILLs (and reaps). The wait status; `killed` tells
// whether SIGKILL was needed.
inline int StopProcess(pid_t pid, int sig, milliseconds grace, bool* killed = nullptr) {
  if (killed != nullptr) {
    *killed = false;
  }
  if (pid <= 0) {
    return -1;
  }
  (void)kill(pid, SIGCONT);  // a stopped process cannot act on SIGTERM
  (void)kill(pid, sig);
  if (auto status = WaitExit(pid, grace)) {
    return *status;
  }
  if (killed != nullptr) {
    *killed = true;
  }
  (void)kill(pid, SIGKILL);
  return WaitExit(pid, milliseconds(10000)).value_or(-1);
}

// Removes a test's scratch directory (logs and data) at the end, unless a case failed or
// SY_KEEP_PROCESS_DIR is set: then it stays and its path is printed for the post-mortem.
inline void RemoveProcessDir(const std::string& dir, const char* test_name) {
  if (dir.empty()) {
    return;
  }
  if (std::getenv("SY_KEEP_PROCESS_DIR") != nullptr ||
      ::testing::UnitTest::GetInstance()->failed_test_count() > 0) {
    std::fprintf(stderr, "%s: logs and data kept in %s\n", test_name, dir.c_str());
    return;
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

inline std::string DescribeStatus(int status) {
  if (status == -1) {
    return "unknown (not reaped)";
  }
  if (WIFEXITED(status)) {
    return "exit " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return std::string("signal ") + std::to_string(WTERMSIG(status));
  }
  return "status " + std::to_string(status);
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

// The last `lines` lines of a file, for failure messages.
inline std::string Tail(const std::string& path, std::size_t lines) {
  const std::string text = ReadFile(path);
  std::size_t pos = text.size();
  for (std::size_t n = 0; n <= lines && pos > 0; ++n) {
    const std::size_t nl = text.rfind('\n', pos - 1);
    if (nl == std::string::npos) {
      pos = 0;
      break;
    }
    pos = nl;
    if (n == lines) {
      ++pos;
    }
  }
  return text.substr(pos);
}

struct CommandResult {
  int status = -1;     // wait status; -1 when it did not end in time (then it was killed)
  std::string output;  // stdout and stderr
  [[nodiscard]] bool ok() const {
    return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
};

// Runs argv to completion (at most `timeout`), its output through the file out_path.
inline CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& out_path,
                                milliseconds timeout) {
  CommandResult r;
  (void)std::remove(out_path.c_str());
  const pid_t pid = Spawn(argv, out_path);
  if (pid < 0) {
    r.output = "cannot fork";
    return r;
  }
  if (auto status = WaitExit(pid, timeout)) {
    r.status = *status;
  } else {
    (void)kill(pid, SIGKILL);
    (void)WaitExit(pid, milliseconds(10000));
  }
  r.output = ReadFile(out_path);
  return r;
}

// A TCP port free on 127.0.0.1 at the time of the call (bind port 0, read it, close).
inline std::uint16_t FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return 0;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  std::uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

// Whether `port` can be bound on 127.0.0.1 right now (bind, then close).
inline bool PortBindable(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return false;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

// The first of `count` consecutive TCP ports N, N+1, ... free on 127.0.0.1 at the time of the
// call (for `switchyard serve --port N`, which numbers its listeners N, N+1, ...); 0 when a few
// tries found none.
inline std::uint16_t FreeConsecutivePorts(int count) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    const std::uint16_t first = FreePort();
    if (first == 0 || first > 65535 - count) {
      continue;
    }
    bool all = true;
    for (int i = 1; i < count && all; ++i) {
      all = PortBindable(static_cast<std::uint16_t>(first + i));
    }
    if (all) {
      return first;
    }
  }
  return 0;
}

struct HttpResult {
  int status = 0;  // 0: no answer
  std::string body;
};

// GET http://127.0.0.1:port/path, one request per connection, at most `timeout` in all.
inline HttpResult HttpGet(std::uint16_t port, const std::string& path, milliseconds timeout) {
  HttpResult result;
  const auto deadline = ProcessClock::now() + timeout;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    return result;
  }
  auto left_ms = [&] {
    const auto left =
        std::chrono::duration_cast<milliseconds>(deadline - ProcessClock::now()).count();
    return static_cast<int>(std::max<long long>(0, left));
  };
  auto wait_for = [&](short events) {
    pollfd p{fd, events, 0};
    return poll(&p, 1, left_ms()) == 1 && (p.revents & (events | POLLHUP | POLLERR)) != 0;
  };
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool connected = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (!connected && errno == EINPROGRESS && wait_for(POLLOUT)) {
    int err = 0;
    socklen_t len = sizeof err;
    connected = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
  }
  if (!connected) {
    close(fd);
    return result;
  }
  const std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait_for(POLLOUT)) {
      continue;
    } else {
      close(fd);
      return result;
    }
  }
  std::string response;
  char buf[4096];
  while (true) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      response.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      break;
    } else if ((errno == EAGAIN || errno == EWOULDBLOCK) && left_ms() > 0 && wait_for(POLLIN)) {
      continue;
    } else {
      break;
    }
  }
  close(fd);
  int status = 0;
  if (std::sscanf(response.c_str(), "HTTP/1.%*d %d", &status) == 1) {
    result.status = status;
    const std::size_t body = response.find("\r\n\r\n");
    result.body = body == std::string::npos ? std::string() : response.substr(body + 4);
  }
  return result;
}

// Polls `done` every `step` until it holds or `timeout` passes; whether it held.
template <class Predicate>
bool WaitUntil(Predicate done, milliseconds timeout, milliseconds step = milliseconds(50)) {
  const auto deadline = ProcessClock::now() + timeout;
  while (true) {
    if (done()) {
      return true;
    }
    if (ProcessClock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(step);
  }
}

// The last line of `text` that parses as a JSON object.
inline std::optional<boost::json::object> LastJsonObject(const std::string& text) {
  std::optional<boost::json::object> last;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      end = text.size();
    }
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line[0] != '{') {
      continue;
    }
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(line, ec);
    if (!ec && v.is_object()) {
      last = v.as_object();
    }
  }
  return last;
}

// "name{labels} value" from Prometheus text.
inline std::optional<double> PromValue(const std::string& body, const std::string& series) {
  const std::string needle = series + " ";
  std::size_t pos = 0;
  while ((pos = body.find(needle, pos)) != std::string::npos) {
    if (pos == 0 || body[pos - 1] == '\n') {
      return std::strtod(body.c_str() + pos + needle.size(), nullptr);
    }
    pos += needle.size();
  }
  return std::nullopt;
}

// The demo's `routes:` block (up to the next top-level key), its endpoint ports 9583 and 9584
// replaced by the test's issuer ports; empty when the block is not as expected.
inline std::string DemoRoutes(const std::string& demo_yaml, std::uint16_t port_a,
                              std::uint16_t port_b) {
  const std::size_t start = demo_yaml.find("\nroutes:\n");
  if (start == std::string::npos) {
    return {};
  }
  std::size_t end = start + 1;
  while (true) {
    end = demo_yaml.find('\n', end);
    if (end == std::string::npos || end + 1 >= demo_yaml.size()) {
      end = demo_yaml.size();
      break;
    }
    const char c = demo_yaml[end + 1];
    if (c != ' ' && c != '#' && c != '\n' && c != '-') {
      break;  // the next top-level key
    }
    ++end;
  }
  std::string block = demo_yaml.substr(start + 1, end - start);
  for (const auto& [from, to] : {std::pair{std::string("port: 9583}"), port_a},
                                 std::pair{std::string("port: 9584}"), port_b}}) {
    const std::size_t at = block.find(from);
    if (at == std::string::npos || block.find(from, at + 1) != std::string::npos) {
      return {};
    }
    block.replace(at, from.size(), "port: " + std::to_string(to) + "}");
  }
  return block;
}

}  // namespace sy::proc_test
