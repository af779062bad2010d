#pragma once

// The subcommands of the `switchyard` program. Each takes its arguments (without the program and
// subcommand names) and the streams to use, and returns the process exit status, so tests can run
// any command without a process.

#include <iosfwd>
#include <span>
#include <string_view>

namespace sy::cli {

struct Io {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
};

using Args = std::span<const std::string_view>;

// Exit statuses shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the input was read but is wrong (bad message, bad key)
inline constexpr int kExitUsage = 2;    // the command line is wrong

// switchyard serve [--config FILE] [--data DIR] [--port N] [--plain]: the switch daemon.
int RunServe(Args args, Io& io);

// switchyard iso8583 decode|encode|dialects ...
int RunIso8583(Args args, Io& io);

// switchyard journal show|inflight|saf|verify|prune --data DIR ...
int RunJournal(Args args, Io& io);

// switchyard issuer-sim --config FILE [--port N]: the issuer host simulator, until SIGINT/SIGTERM.
int RunIssuerSim(Args args, Io& io);

// switchyard term [--host H] [--port N] [--plain | --ca FILE | --insecure] ...
//   (signon | purchase ...): a POS terminal simulator with TEST keys.
int RunTerm(Args args, Io& io);

// switchyard bench [options] | bench provision --terminals N: the load harness (docs/bench.md).
int RunBench(Args args, Io& io);

// switchyard settle --data DIR --date YYYYMMDD --out DIR [--agreements FILE] [--holidays FILE]
//   [--config FILE] [--json]: the settlement run of one business date (docs/settlement.md).
int RunSettle(Args args, Io& io);

// switchyard keys ipek|dukpt|kcv|pinblock|mac|generate|combine|translate ...
int RunKeys(Args args, Io& io);

// switchyard admin --url URL --token-file FILE [--ca FILE] [--json] applications|agreements|
//   terminals|audit|health ...: the admin API's client (docs/admin.md).
int RunAdmin(Args args, Io& io);

}  // namespace sy::cli
