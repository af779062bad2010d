#pragma once

// sy::bench — the load harness behind `switchyard bench` (docs/bench.md): many simulated POS
// terminals on a few threads, Boost.Asio C++20 coroutines, each terminal with its own TID, TDES
// DUKPT key (TEST BDK) and KSN counter, talking to the switch exactly as sim/terminal.cc does.
//
//   auto options = sy::bench::ParseOptions(args);   // or fill BenchOptions by hand
//   if (!options) { std::cerr << options.error(); }
//   sy::bench::Report report = sy::bench::RunBench(*options, std::cerr);
//   std::cout << sy::bench::FormatText(report);
//   return report.ok() ? 0 : 1;
//
// This header holds the options and their parsing; harness.h runs them.

#include <array>
#include <boost/system/result.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sy::bench {

// The kinds of request a terminal sends (docs/terminal-messages.md).
enum class TxnKind { kPurchase, kRefund, kVoid, kReversal, kPreauth };
inline constexpr int kTxnKinds = 5;
[[nodiscard]] std::string_view TxnKindName(TxnKind kind);

// Relative weights of each kind; they need not add up to 100.
struct Mix {
  std::array<std::uint32_t, kTxnKinds> weight{100, 0, 0, 0, 0};
  [[nodiscard]] std::uint32_t total() const;
};

// "purchase=80,refund=5,void=5,reversal=5,preauth=5" (kinds left out weigh 0), or the same
// written one per line / with '#' comments when read from a file. An error names the part at
// fault.
[[nodiscard]] boost::system::result<Mix, std::string> ParseMix(std::string_view text);

enum class ConnectionMode {
  kPersistent,      // one connection per terminal, kept for the run
  kShared,          // terminals_per_connection terminals pipelined on one connection
  kPerTransaction,  // a new TCP (+TLS) connection per transaction
  kIdle,            // connect, sign on, hold: memory per idle terminal
  kHandshakeOnly,   // connect, TLS handshake, close: bare handshakes per second
};
[[nodiscard]] std::string_view ConnectionModeName(ConnectionMode mode);

struct BenchOptions {
  // The switch's terminal listener. Default: 127.0.0.1:8583.
  std::string host = "127.0.0.1";
  std::uint16_t port = 8583;
  // TLS unless plain. ca_file verifies the switch (else insecure must be set). Default: TLS.
  bool plain = false;
  std::string ca_file;
  bool insecure = false;
  // Reuse TLS sessions (tickets or session ids) across connections of one terminal, in the
  // per-transaction and handshake-only modes. Default: false.
  bool resume = false;

  // Simulated terminals BEN00001.. (see TerminalId). Default: 1.
  std::uint32_t terminals = 1;
  // The first terminal's index (0-based), so that several harnesses can share a provisioning.
  // Default: 0.
  std::uint32_t first_terminal = 0;
  std::uint32_t threads = 1;
  ConnectionMode mode = ConnectionMode::kPersistent;
  std::uint32_t terminals_per_connection = 1;  // kShared only (>1 selects it). Default: 1

  // Open loop when > 0: requests per second in total, each at its intended time. Default: 0
  // (closed loop: each terminal sends its next request when the answer arrives).
  double rate = 0;
  // Stop after duration (measured window, after warmup) or after count transactions in the
  // measured window, whichever is set. Default: 10 s.
  std::chrono::milliseconds duration{10000};
  std::uint64_t count = 0;
  std::chrono::milliseconds warmup{0};
  // How long one request may wait for its answer (and a connect + handshake may take).
  // Default: 10 s.
  std::chrono::milliseconds timeout{10000};
  // kIdle: how long to hold the connections once every terminal has signed on. Default: 5 s.
  std::chrono::milliseconds hold{5000};
  // Connections opened at once (kIdle and the sign-on phase). Default: 200.
  std::uint32_t connect_concurrency = 200;

  Mix mix;
  double pin_share = 1.0;      // of purchases and pre-authorizations carrying a PIN
  double decline_share = 0.0;  // of purchases / pre-authorizations on the do-not-honour card
  std::int64_t min_amount = 100;
  std::int64_t max_amount = 10000;
  std::uint64_t seed = 1;

  // Per-terminal KSN counters, so that runs never replay a KSN. Default: ./bench.state.
  std::string state_file = "./bench.state";
  // The switch's process: CPU per authorization and (kIdle) RSS per terminal. 0: none.
  int switch_pid = 0;
  bool json = false;
  bool progress = true;  // a line per second on the progress stream
  // Skip the sign-on of each terminal before the load (it is needed once per provisioning).
  // Default: false.
  bool skip_signon = false;
};

// The terminal id of index i (0-based): "BEN" + 5 digits of i + 1 (TIDs are 8 characters).
[[nodiscard]] std::string TerminalId(std::uint32_t index);
// The initial KSN (20 hex digits, counter 0) of terminal i: KSI FFFF9876B0, device id i + 1.
[[nodiscard]] std::string TerminalInitialKsn(std::uint32_t index);
// The merchant every bench terminal belongs to.
inline constexpr std::string_view kBenchMid = "BENCHMERCHANT01";
// The demo TEST BDK (ANSI X9.24-1 test key), the switch's bdk-demo.
inline constexpr std::string_view kBenchBdkHex = "0123456789ABCDEFFEDCBA9876543210";

// Parses `switchyard bench` arguments (without "bench"). An error is one line naming the option.
[[nodiscard]] boost::system::result<BenchOptions, std::string> ParseOptions(
    std::span<const std::string_view> args);

}  // namespace sy::bench
