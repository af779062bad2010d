// switchyard settle — the settlement run of one business date (docs/settlement.md): reads the
// journal and batches on a read-only secondary instance (so it works beside a running switch),
// writes the settlement report, settlement files and reconciliation to files, and records the run
// in the output directory's ledger.

#include <chrono>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <string>

#include "cli/commands.h"
#include "storage/store.h"
#include "switch/config.h"
#include "switch/settlement/agreement_file.h"
#include "switch/settlement/output.h"
#include "switch/settlement/settlement.h"

namespace sy::cli {
namespace {

namespace st = sy::server::settlement;

constexpr std::string_view kUsage =
    "usage: switchyard settle --data DIR --date YYYYMMDD --out DIR [--agreements FILE.yaml]\n"
    "                         [--holidays FILE] [--config FILE] [--json]\n"
    "  settles one business date: per merchant and currency, purchases, completions and refunds\n"
    "  approved and not reversed or voided, less fees; writes <out>/<date>/ (docs/settlement.md)\n"
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
  if (f.data.empty() || f.date.empty() || f.out.empty()) {
    return "--data, --date and --out are required";
  }
  if (!server::onboarding::ParseDate(f.date)) {
    return "--date must be a date as YYYYMMDD";
  }
  if (f.agreements.empty()) {
    f.agreements = f.data + "/agreements.yaml";
  }
  return {};
}

bool Slurp(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

int Fail(Io& io, const st::Problem& p) {
  io.err << "switchyard settle: " << p.Describe() << "\n";
  return kExitFailure;
}

std::int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
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
  std::string text;
  if (!Slurp(f.agreements, text)) {
    io.err << "switchyard settle: cannot read agreements file " << f.agreements << "\n";
    return kExitFailure;
  }
  auto book = st::LoadAgreementBook(text, f.agreements);
  if (!book) {
    return Fail(io, book.error());
  }
  server::onboarding::HolidayCalendar holidays;
  if (!f.holidays.empty()) {
    if (!Slurp(f.holidays, text)) {
      io.err << "switchyard settle: cannot read holidays file " << f.holidays << "\n";
      return kExitFailure;
    }
    auto h = st::LoadHolidays(text, f.holidays);
    if (!h) {
      return Fail(io, h.error());
    }
    holidays = std::move(*h);
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

  const std::int64_t started = NowMicros();
  std::string why;
  auto store = storage::Store::Open({.path = f.data + "/store", .read_only = true}, &why);
  if (!store) {
    io.err << "switchyard settle: " << why << "\n";
    return kExitFailure;
  }
  auto carried = st::ReadCarriedForward(f.out, f.date);
  if (!carried) {
    return Fail(io, carried.error());
  }
  st::SettlementInputs in;
  in.store = store->get();
  in.business_date = f.date;
  in.agreements = &*book;
  in.holidays = &holidays;
  in.brand_of = st::MakeBrandResolver(&*bins, book->route_brands);
  in.carried_in = std::move(*carried);
  auto run = st::Settle(in);
  if (!run) {
    return Fail(io, run.error());
  }
  auto written = st::WriteRun(*run, f.out);
  if (!written) {
    return Fail(io, written.error());
  }
  if (auto l = st::AppendLedger(f.out, *run, *written, started, NowMicros() - started); !l) {
    return Fail(io, l.error());
  }

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
  for (const auto& w : *written) {
    io.out << " " << w.name;
  }
  io.out << "\n";
  return kExitOk;
}

}  // namespace sy::cli
