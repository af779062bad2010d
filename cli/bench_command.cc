// switchyard bench — the load harness (bench/harness, docs/bench.md), and `bench provision`,
// which writes the switch overlay and issuer-simulator configuration a bench run needs.

#include <charconv>
#include <fstream>
#include <ostream>
#include <stdexcept>
#include <string>

#include "bench/harness/harness.h"
#include "bench/harness/options.h"
#include "bench/harness/provision.h"
#include "bench/harness/report.h"
#include "cli/commands.h"

namespace sy::cli {
namespace {

constexpr std::string_view kUsage =
    "usage: switchyard bench [options]        load a switch with simulated terminals\n"
    "       switchyard bench provision --terminals N [--out-switch FILE] [--out-issuer FILE]\n"
    "connection:\n"
    "  --host H --port N          the switch's terminal listener. Default: 127.0.0.1:8583\n"
    "  --ca FILE | --insecure | --plain   verify TLS against FILE, skip verification, or no TLS\n"
    "  --persistent               one connection per terminal (default)\n"
    "  --terminals-per-connection K   K terminals pipelined on each connection\n"
    "  --per-transaction [--resume]   a new connection per transaction (resume TLS sessions)\n"
    "  --handshake-only [--resume]    connect, TLS handshake, close: handshakes per second\n"
    "  --idle [--hold S]          connect, sign on, hold S seconds: switch RSS per terminal\n"
    "load:\n"
    "  --terminals N --threads T  terminals BEN00001.. on T threads. Default: 1, 1\n"
    "  --rate R                   open loop, R requests/s in total (default: closed loop)\n"
    "  --duration S | --count N   measured window. Default: 10 s\n"
    "  --warmup S                 excluded from the figures. Default: 0\n"
    "  --timeout S                per request. Default: 10\n"
    "  --mix purchase=80,refund=5,void=5,reversal=5,preauth=5 | FILE. Default: purchase=100\n"
    "  --pin-share F              purchases with a PIN. Default: 1.0\n"
    "  --decline-share F          purchases on the do-not-honour card. Default: 0\n"
    "  --amount MIN-MAX           minor units. Default: 100-10000\n"
    "  --state FILE               KSN counters per terminal. Default: ./bench.state\n"
    "  --switch-pid P             measure the switch's CPU per transaction (and RSS with --idle)\n"
    "  --json                     the report as JSON\n"
    "  --no-progress              no line per second on stderr\n"
    "Exit status 1 when any answer was wrong or any request failed or timed out.\n";

bool WriteText(const std::string& path, const std::string& text, std::ostream& err) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.flush();
  if (!out) {
    err << "switchyard bench provision: cannot write " << path << "\n";
    return false;
  }
  return true;
}

int Provision(Args args, Io& io) {
  std::uint32_t terminals = 0;
  std::string out_switch = "bench-switch.yaml";
  std::string out_issuer = "bench-issuer.yaml";
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (i + 1 >= args.size()) {
      io.err << "switchyard bench provision: " << a
             << (a.starts_with("--") ? " needs a value\n" : ": unexpected\n") << kUsage;
      return kExitUsage;
    }
    const std::string_view v = args[++i];
    if (a == "--terminals") {
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), terminals);
      if (ec != std::errc() || p != v.data() + v.size() || terminals == 0 || terminals > 99999) {
        io.err << "switchyard bench provision: --terminals: '" << v
               << "' is not a terminal count (1-99999)\n";
        return kExitUsage;
      }
    } else if (a == "--out-switch") {
      out_switch = std::string(v);
    } else if (a == "--out-issuer") {
      out_issuer = std::string(v);
    } else {
      io.err << "switchyard bench provision: unknown option '" << a << "'\n" << kUsage;
      return kExitUsage;
    }
  }
  if (terminals == 0) {
    io.err << "switchyard bench provision: --terminals N is required\n" << kUsage;
    return kExitUsage;
  }
  if (!WriteText(out_switch, bench::SwitchOverlayYaml(terminals), io.err) ||
      !WriteText(out_issuer, bench::IssuerConfigYaml(), io.err)) {
    return kExitFailure;
  }
  io.out << "wrote " << out_switch << " (" << terminals << " bench terminals "
         << bench::TerminalId(0) << ".." << bench::TerminalId(terminals - 1) << ") and "
         << out_issuer << "\n"
         << "run:  switchyard issuer-sim --config " << out_issuer << "\n"
         << "      switchyard serve --config " << out_switch << " --data DIR\n"
         << "      switchyard bench --ca DIR/tls/switch.crt --terminals " << terminals << " ...\n";
  return kExitOk;
}

}  // namespace

int RunBench(Args args, Io& io) {
  if (!args.empty() && args[0] == "provision") {
    return Provision(args.subspan(1), io);
  }
  for (auto a : args) {
    if (a == "--help" || a == "-h") {
      io.out << kUsage;
      return kExitOk;
    }
  }
  auto options = bench::ParseOptions(args);
  if (!options) {
    io.err << "switchyard bench: " << options.error() << "\n" << kUsage;
    return kExitUsage;
  }
  bench::Report report;
  try {
    report = bench::RunBench(*options, io.err);
  } catch (const std::invalid_argument& e) {
    io.err << "switchyard bench: " << e.what() << "\n";
    return kExitUsage;
  }
  io.out << (options->json ? bench::FormatJson(report) + "\n" : bench::FormatText(report));
  return report.ok() ? kExitOk : kExitFailure;
}

}  // namespace sy::cli
