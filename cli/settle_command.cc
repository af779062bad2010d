// switchyard settle — the settlement run of one business date (docs/settlement.md): reads the
// journal and batches on a read-only secondary instance (so it works beside a running switch),
// writes the settlement report, settlement files and reconciliation, and records the run in the
// output directory's ledger — the same run, directory and ledger as POST /v1/settlement-runs.

#include <pwd.h>
#include <unistd.h>

#include <iomanip>
#include <ostream>
#include <string>

#include "cli/commands.h"
#include "storage/store.h"
#include "switch/config.h"
#include "switch/settlement/output.h"
#include "switch/settlement/run.h"
#include "switch/settlement/settlement.h"

namespace sy::cli {
namespace {

namespace st = sy::server::settlement;

constexpr std::string_view kUsage =
    "usage: switchyard settle --data DIR --date YYYYMMDD [--out DIR] [--agreements FILE.yaml]\n"
    "                         [--holidays FILE] [--config FILE] [--json]\n"
    "  settles one business date: per merchant and currency, purchases, completions and refunds\n"
    "  approved and not reversed or voided, less fees; reconciles batches and issuer routes;\n"
    "  writes <out>/<date>/ and records the run in <out>/runs.jsonl (docs/settlement.md)\n"
    "  --out          default: <data>/settlement (where the switch's admin API settles too)\n"
    "  --agreements   merchants' agreements (default: <data>/agreements.yaml)\n"
    "  --holidays     one YYYYMMDD holiday (or +YYYYMMDD working weekend day) a line\n"
    "  --config       the switch's configuration, for the BIN table's card brands\n"
    "  --json         print the run's settlement.json instead of a table\n"
    "DIR is the switch's data directory (the store is DIR/store); the switch may be running.\n";

struct Flags {
  std::string data, date, out, agreements, holidays, config;
  bool json = false;
};

int Usage(Io& io, const std::string& what) {
  io.err << "switchyard settle: " << what << "\n" << kUsage;
  return kExitUsage;
}

std::string ParseFlags(Args args, Flags& f) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "--json") {
      f.json = true;
      continue;
    }
    std::string* target = nullptr;
    if (a == "--data") {
      target = &f.data;
    } else if (a == "--date") {
      target = &f.date;
    } else if (a == "--out") {
      target = &f.out;
    } else if (a == "--agreements") {
      target = &f.agreements;
    } else if (a == "--holidays") {
      target = &f.holidays;
    } else if (a == "--config") {
      target = &f.config;
    } else {
      return "unknown argument '" + std::string(a) + "'";
    }
    if (i + 1 >= args.size()) {
      return std::string(a) + " needs a value";
    }
    *target = std::string(args[++i]);
  }
  if (f.data.empty() || f.date.empty()) {
    return "--data and --date are required";
  }
  if (f.out.empty()) {
    f.out = f.data + "/settlement";
  }
  if (!server::onboarding::ParseDate(f.date)) {
    return "--date must be a date as YYYYMMDD";
  }
  if (f.agreements.empty()) {
    f.agreements = f.data + "/agreements.yaml";
  }
  return {};
}

int Fail(Io& io, const st::Problem& p) {
  io.err << "switchyard settle: " << p.Describe() << "\n";
  return kExitFailure;
}

// Who ran it, for the ledger: the login name, else the user id.
std::string User() {
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_name != nullptr) {
    return pw->pw_name;
  }
  return "uid " + std::to_string(::geteuid());
}

}  // namespace

int RunSettle(Args args, Io& io) {
  if (!args.empty() && args[0] == "--help") {
    io.out << kUsage;
    return kExitOk;
  }
  Flags f;
  if (auto e = ParseFlags(args, f); !e.empty()) {
    return Usage(io, e);
  }
  // Card brands come from the switch's BIN table (the embedded demo's without --config).
  std::vector<std::string> problems;
  auto config = server::LoadConfig(f.config, problems);
  if (!config) {
    for (const auto& p : problems) {
      io.err << "switchyard settle: " << p << "\n";
    }
    return kExitFailure;
  }
  auto bins = server::BuildBinTable(*config);
  if (!bins) {
    io.err << "switchyard settle: BIN table: " << bins.error().Describe() << "\n";
    return kExitFailure;
  }

  // One run at a time per output directory, whoever runs it: wait for one in progress.
  auto lock = st::RunLock::Acquire(f.out, /*wait=*/false);
  if (!lock && lock.error().code == st::make_error_code(st::Error::kBusy)) {
    io.err << "switchyard settle: another settlement run is in progress in " << f.out
           << "; waiting for it\n";
    lock = st::RunLock::Acquire(f.out, /*wait=*/true);
  }
  if (!lock) {
    return Fail(io, lock.error());
  }
  std::string why;
  auto store = storage::Store::Open({.path = f.data + "/store", .read_only = true}, &why);
  st::RunRequest req;
  if (store) {
    req.store = store->get();
  } else {
    req.store_error = why.empty() ? store.error().message() : why;
  }
  req.business_date = f.date;
  req.agreements_path = f.agreements;
  req.holidays_path = f.holidays;
  req.bins = &*bins;
  req.source = "cli";
  req.by = User();
  st::RunOutcome outcome = st::RunSettlement(req, *lock);
  if (outcome.problem) {
    io.err << "switchyard settle: run " << outcome.record.run_id() << " failed (recorded in "
           << f.out << "/runs.jsonl)\n";
    return Fail(io, *outcome.problem);
  }
  const st::SettlementRun* run = &*outcome.run;

  if (f.json) {
    io.out << st::RenderJson(*run);
    return kExitOk;
  }
  io.out << "business date " << run->business_date << ": " << run->records_read << " records read, "
         << run->records_settled << " settled, " << run->rows.size() << " merchant rows, "
         << run->exceptions.size() << " exceptions\n";
  io.out << std::left << std::setw(16) << "mid" << std::right << std::setw(5) << "cur"
         << std::setw(10) << "settle" << std::setw(8) << "count" << std::setw(15) << "gross"
         << std::setw(13) << "refunds" << std::setw(11) << "fees" << std::setw(15) << "payable"
         << std::setw(13) << "carried"
         << "\n";
  for (const auto& r : run->rows) {
    io.out << std::left << std::setw(16) << r.mid << std::right << std::setw(5) << r.currency
           << std::setw(10) << r.settlement_date << std::setw(8) << r.transaction_count()
           << std::setw(15) << r.gross_minor << std::setw(13) << r.refund_minor << std::setw(11)
           << r.fees_minor << std::setw(15) << r.payable_minor << std::setw(13)
           << r.carried_forward_minor << "\n";
  }
  std::size_t unbalanced = 0;
  for (const auto& b : run->batches) {
    unbalanced += b.balanced() ? 0 : 1;
  }
  io.out << run->batches.size() << " batches (" << unbalanced << " not balanced); files in "
         << f.out << "/" << run->business_date << ":";
  for (const auto& w : outcome.record.files()) {
    io.out << " " << w.name();
  }
  io.out << "\n";
  std::size_t routes_unbalanced = 0;
  for (const auto& r : run->routes) {
    routes_unbalanced += r.balanced() ? 0 : 1;
  }
  io.out << run->routes.size() << " issuer route lines (" << routes_unbalanced << " not balanced), "
         << run->unmatched.size() << " unmatched issuer items\n";
  io.out << "run " << outcome.record.run_id()
         << (outcome.record.rerun()
                 ? (outcome.record.identical_to_previous() ? " (re-run, identical files)"
                                                           : " (re-run, files changed)")
                 : "")
         << " recorded in " << f.out << "/runs.jsonl\n";
  return kExitOk;
}

}  // namespace sy::cli
