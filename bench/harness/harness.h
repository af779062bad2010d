#pragma once

// The load harness: runs BenchOptions against a switch and returns what it measured. See
// options.h for the banner and docs/bench.md for the command.
//
// Every answer is checked as it arrives: MTI = request + 10, 11, 41 and 4 echoed, the TPDU
// swapped, the MAC verified under the MAC-response variant of the request's KSN, and the
// response code one that the card and the request call for (approving card 00, declining card 05
// or 51, void 00). Report::ok() is false as soon as one
// answer was wrong or one request failed or timed out.
//
// Thread-safety: RunBench runs its own threads and returns when they are done; call it from one
// thread at a time.

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "bench/harness/histogram.h"
#include "bench/harness/options.h"

namespace sy::bench {

struct Report {
  BenchOptions options;
  // The measured window (after warmup) and what completed in it.
  double window_seconds = 0;
  std::uint64_t transactions = 0;  // answered (or, handshake-only, handshakes) in the window
  double throughput = 0;           // per second
  Histogram latency_ns;            // from the intended send time to the checked answer
  std::map<std::string, std::uint64_t> response_codes;  // field 39, measured window
  std::array<std::uint64_t, kTxnKinds> sent_by_kind{};  // measured window

  // Problems, over the whole run (warm-up and sign-on included).
  std::uint64_t timeouts = 0;
  std::uint64_t errors = 0;             // transport: connect, TLS, closed connection, state file
  std::uint64_t wrong_match = 0;        // MTI, STAN, TID, amount, TPDU, or undecodable answer
  std::uint64_t wrong_mac = 0;          // missing or failing response MAC
  std::uint64_t wrong_code = 0;         // a response code the card / request does not call for
  std::uint64_t unmatched_answers = 0;  // an answer to no outstanding request
  std::uint64_t late_answers = 0;       // an answer after its request timed out
  std::uint64_t signon_failures = 0;
  std::uint64_t signons = 0;
  std::vector<std::string> problems;  // the first few, one line each (no PAN, key or PIN)

  // TLS handshakes (per-transaction and handshake-only modes): full and resumed.
  std::uint64_t handshakes_full = 0;
  std::uint64_t handshakes_resumed = 0;
  // Open loop: requests due in the window that were never sent because the terminal was still
  // waiting for earlier answers when the window closed (the switch did not keep up).
  std::uint64_t open_loop_unsent = 0;

  // The switch's CPU (utime + stime of --switch-pid) over the window, per transaction.
  std::optional<double> switch_cpu_seconds;
  std::optional<double> switch_cpu_us_per_txn;
  // The same CPU by thread name (/proc/<pid>/task/*/stat; threads of one name summed), most
  // first. Threads that ended during the window are left out, so the sum can fall short of
  // switch_cpu_seconds.
  std::vector<std::pair<std::string, double>> switch_cpu_seconds_by_thread;
  // kIdle: the switch's VmRSS before connecting and while holding the connections.
  std::optional<std::int64_t> switch_rss_before_kib;
  std::optional<std::int64_t> switch_rss_after_kib;
  std::optional<double> switch_rss_per_terminal_kib;
  std::uint64_t idle_connections = 0;

  [[nodiscard]] bool ok() const noexcept {
    return timeouts == 0 && errors == 0 && wrong_match == 0 && wrong_mac == 0 && wrong_code == 0 &&
           unmatched_answers == 0 && signon_failures == 0;
  }
};

// Runs the options; progress lines (one per second) go to `progress` when options.progress.
// Throws std::invalid_argument for a start-up problem (CA file, host that does not resolve,
// unreadable state file); everything after start-up is counted in the report.
[[nodiscard]] Report RunBench(const BenchOptions& options, std::ostream& progress);

// The switch's utime + stime in seconds (/proc/<pid>/stat), or std::nullopt.
[[nodiscard]] std::optional<double> ProcessCpuSeconds(int pid);
// utime + stime in seconds of each thread of the process, summed by thread name
// (/proc/<pid>/task/*/stat), or std::nullopt when the process is not there.
[[nodiscard]] std::optional<std::map<std::string, double>> ThreadCpuSeconds(int pid);
// What each thread name used between two ThreadCpuSeconds readings: names with CPU time in the
// interval, the most first.
[[nodiscard]] std::vector<std::pair<std::string, double>> ThreadCpuDelta(
    const std::map<std::string, double>& before, const std::map<std::string, double>& after);
// The switch's VmRSS in KiB (/proc/<pid>/status), or std::nullopt.
[[nodiscard]] std::optional<std::int64_t> ProcessRssKib(int pid);
// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft limit.
std::uint64_t RaiseFileLimit();

}  // namespace sy::bench
