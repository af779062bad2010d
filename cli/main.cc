// The one `switchyard` program: dispatches to the subcommands in sy_cli.

#include <exception>
#include <iostream>
#include <string_view>
#include <vector>

#include "cli/commands.h"

namespace {

struct Subcommand {
  std::string_view name;
  int (*run)(sy::cli::Args, sy::cli::Io&);
  std::string_view summary;
};

constexpr Subcommand kSubcommands[] = {
    {"serve", sy::cli::RunServe, "run the switch daemon"},
    {"iso8583", sy::cli::RunIso8583, "decode and encode ISO 8583 messages"},
    {"term", sy::cli::RunTerm, "POS terminal simulator: sign on, purchase (TEST keys)"},
    {"issuer-sim", sy::cli::RunIssuerSim, "run the issuer host simulator (TEST card accounts)"},
    {"journal", sy::cli::RunJournal, "look transactions up, list in-flight and SAF, verify"},
    {"bench", sy::cli::RunBench, "load harness: many simulated terminals, latency, throughput"},
    {"settle", sy::cli::RunSettle, "settle a business date: reports, settlement files, batches"},
    {"keys", sy::cli::RunKeys, "derive, check and convert keys, PIN blocks and MACs"},
    {"admin", sy::cli::RunAdmin, "merchant applications, agreements, terminals, audit (admin API)"},
};

int Usage(std::ostream& os) {
  os << "usage: switchyard <command> [args]\n\ncommands:\n";
  for (const auto& c : kSubcommands) {
    os << "  " << c.name << "\t" << c.summary << "\n";
  }
  return sy::cli::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    return Usage(args.empty() ? std::cerr : std::cout) == sy::cli::kExitUsage && args.empty()
               ? sy::cli::kExitUsage
               : sy::cli::kExitOk;
  }
  sy::cli::Io io{std::cin, std::cout, std::cerr};
  for (const auto& c : kSubcommands) {
    if (c.name == args[0]) {
      try {
        return c.run(sy::cli::Args(args).subspan(1), io);
      } catch (const std::exception& e) {
        std::cerr << "switchyard " << c.name << ": " << e.what() << "\n";
        return sy::cli::kExitFailure;
      }
    }
  }
  std::cerr << "switchyard: unknown command '" << args[0] << "'\n";
  return Usage(std::cerr);
}
