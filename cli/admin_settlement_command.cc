// switchyard admin settlement run|list|show — settlement runs through the admin API.

#include "cli/admin_settlement_command.h"

#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <iomanip>
#include <ostream>
#include <thread>

#include "proto/onboarding.pb.h"
#include "proto/settlement.pb.h"

namespace sy::cli {
namespace {

namespace pb = google::protobuf;

// How long `run` waits for the run to be recorded: a day of 1,000,000 records settles in
// seconds, so this bounds a switch that stopped answering, not a slow run.
constexpr auto kRunDeadline = std::chrono::minutes(30);
constexpr auto kPoll = std::chrono::milliseconds(250);

template <class M>
bool Parse(const std::string& body, M& m) {
  pb::util::JsonParseOptions o;
  o.ignore_unknown_fields = true;  // a newer switch may say more
  return pb::util::JsonStringToMessage(body, &m, o).ok();
}

std::string Json(const pb::Message& m) {
  pb::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.always_print_primitive_fields = true;
  std::string out;
  (void)pb::util::MessageToJsonString(m, &out, o).ok();  // our own message prints
  return out;
}

int Failure(const server::admin::ClientResponse& r, bool json, Io& io) {
  if (!r.error.empty()) {
    io.err << "switchyard admin: " << r.error << "\n";
    return kExitFailure;
  }
  if (json) {
    io.out << r.body << "\n";
  }
  proto::ErrorBody e;
  if (!Parse(r.body, e)) {
    io.err << "switchyard admin: HTTP " << r.status << ": " << r.body << "\n";
    return kExitFailure;
  }
  io.err << "switchyard admin: HTTP " << r.status << " " << e.code() << ": "
         << (e.field().empty() ? "" : e.field() + ": ") << e.message() << "\n";
  return kExitFailure;
}

bool Ok(const server::admin::ClientResponse& r) {
  return r.error.empty() && r.status >= 200 && r.status <= 299;
}

std::string Seconds(std::int64_t micros) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(3) << static_cast<double>(micros) / 1e6 << " s";
  return os.str();
}

void PrintList(const proto::SettlementRunList& list, std::ostream& os) {
  os << std::left << std::setw(14) << "RUN" << std::setw(9) << "RESULT" << std::setw(5) << "SRC"
     << std::setw(14) << "BY" << std::right << std::setw(11) << "DURATION" << std::setw(10)
     << "RECORDS" << std::setw(10) << "SETTLED" << std::setw(7) << "ROWS" << std::setw(10)
     << "UNMATCHED"
     << "  NOTE\n";
  for (const auto& r : list.runs()) {
    std::string note;
    if (r.result() == "failed") {
      note = r.error();
    } else if (r.rerun()) {
      note = r.identical_to_previous() ? "re-run, identical files" : "re-run, files changed";
    }
    os << std::left << std::setw(14) << r.run_id() << std::setw(9) << r.result() << std::setw(5)
       << r.source() << std::setw(14) << r.by() << std::right << std::setw(11)
       << (r.result() == "running" ? "-" : Seconds(r.duration_micros())) << std::setw(10)
       << r.records_read() << std::setw(10) << r.records_settled() << std::setw(7) << r.rows()
       << std::setw(10) << r.unmatched_issuer_items() << "  " << note << "\n";
  }
}

void PrintRun(const proto::SettlementRunRecord& r, std::ostream& os) {
  os << r.run_id() << "  " << r.result() << "  by " << r.by() << " (" << r.source() << ")"
     << (r.rerun()
             ? (r.identical_to_previous() ? "  re-run, identical files" : "  re-run, files changed")
             : "")
     << "\n";
  if (r.result() == "failed") {
    os << "  error        " << r.error() << "\n";
  }
  if (r.result() == "running") {
    return;
  }
  os << "  duration     " << Seconds(r.duration_micros()) << "\n"
     << "  records      " << r.records_read() << " read, " << r.records_settled() << " settled, "
     << r.rows() << " merchant rows, " << r.exceptions() << " exceptions\n"
     << "  batches      " << r.batches() << " (" << r.unbalanced_batches() << " not balanced)\n"
     << "  issuers      " << r.issuer_routes() << " route lines, " << r.unmatched_issuer_items()
     << " unmatched items\n";
  for (const auto& t : r.totals()) {
    os << "  currency " << std::setw(3) << std::setfill('0') << t.currency() << std::setfill(' ')
       << "  count " << t.transaction_count() << "  gross " << t.gross_minor() << "  refunds "
       << t.refund_minor() << "  fees " << t.fees_minor() << "  net " << t.net_minor()
       << "  payable " << t.payable_minor() << "  carried " << t.carried_forward_minor() << "\n";
  }
  for (const auto& f : r.files()) {
    os << "  file         " << std::left << std::setw(32) << f.name() << std::right << " "
       << f.sha256() << "\n";
  }
}

}  // namespace

int RunAdminSettlement(const server::admin::AdminClient& client, const std::vector<std::string>& p,
                       bool json, Io& io) {
  const std::string verb = p.size() > 1 ? p[1] : "";
  auto usage = [&](const std::string& what) {
    io.err
        << "switchyard admin: " << what
        << "\n  settlement run YYYYMMDD | settlement list [YYYYMMDD] | settlement show YYYYMMDD\n";
    return kExitUsage;
  };
  auto is_date = [](const std::string& d) {
    return d.size() == 8 && d.find_first_not_of("0123456789") == std::string::npos;
  };
  if (verb == "run" && p.size() == 3 && is_date(p[2])) {
    const auto started =
        client.Request("POST", "/v1/settlement-runs", "{\"business_date\": \"" + p[2] + "\"}");
    if (!Ok(started)) {
      return Failure(started, json, io);
    }
    proto::SettlementRunAnswer answer;
    if (!Parse(started.body, answer)) {
      io.err << "switchyard admin: the answer is not what this version expects: " << started.body
             << "\n";
      return kExitFailure;
    }
    const std::string id = answer.run().run_id();
    if (!json) {
      io.out << "run " << id << " started; waiting for it to be recorded\n";
    }
    const auto deadline = std::chrono::steady_clock::now() + kRunDeadline;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto r = client.Request("GET", "/v1/settlement-runs/" + p[2]);
      if (!Ok(r)) {
        return Failure(r, json, io);
      }
      proto::SettlementRunList list;
      if (!Parse(r.body, list)) {
        io.err << "switchyard admin: the answer is not what this version expects: " << r.body
               << "\n";
        return kExitFailure;
      }
      for (const auto& run : list.runs()) {
        if (run.run_id() == id && run.result() != "running") {
          if (json) {
            io.out << Json(run) << "\n";
          } else {
            PrintRun(run, io.out);
          }
          return run.result() == "ok" ? kExitOk : kExitFailure;
        }
      }
      std::this_thread::sleep_for(kPoll);
    }
    io.err << "switchyard admin: run " << id << " was not recorded within "
           << std::chrono::duration_cast<std::chrono::minutes>(kRunDeadline).count()
           << " minutes\n";
    return kExitFailure;
  }
  // GET a list of runs: the JSON as it came with --json, else printed by `print`.
  const auto show_runs = [&](const std::string& path, const auto& print) {
    const auto r = client.Request("GET", path);
    if (!Ok(r)) {
      return Failure(r, json, io);
    }
    if (json) {
      io.out << r.body << "\n";
      return kExitOk;
    }
    proto::SettlementRunList list;
    if (!Parse(r.body, list)) {
      io.err << "switchyard admin: the answer is not what this version expects: " << r.body << "\n";
      return kExitFailure;
    }
    print(list);
    return kExitOk;
  };
  if (verb == "list" && (p.size() == 2 || (p.size() == 3 && is_date(p[2])))) {
    return show_runs("/v1/settlement-runs" + (p.size() == 3 ? "?business_date=" + p[2] : ""),
                     [&](const proto::SettlementRunList& list) { PrintList(list, io.out); });
  }
  if (verb == "show" && p.size() == 3 && is_date(p[2])) {
    return show_runs("/v1/settlement-runs/" + p[2], [&](const proto::SettlementRunList& list) {
      for (const auto& run : list.runs()) {
        PrintRun(run, io.out);
      }
    });
  }
  return usage(verb.empty() ? "settlement needs run, list or show"
                            : "settlement " + verb + ": wrong arguments");
}

}  // namespace sy::cli
