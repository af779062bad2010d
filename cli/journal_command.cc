// switchyard journal — operators' view of the durable store: look a transaction up (PAN masked),
// list in-flight transactions and the store-and-forward queue, verify integrity, apply retention.
// The tool needs no data key: it never shows or decrypts a PAN.

#include <google/protobuf/util/json_util.h>

#include <iomanip>
#include <ostream>
#include <string>

#include "cli/commands.h"
#include "storage/journal.h"
#include "storage/saf_queue.h"

namespace sy::cli {
namespace {

constexpr std::string_view kUsage =
    "usage: switchyard journal <command> --data DIR [options]\n"
    "  show (--rrn RRN | --tid TID --stan STAN [--time MMDDhhmmss] | --id N) [--json]\n"
    "      one transaction's record, PAN masked\n"
    "  inflight [--json]   transactions forwarded to an issuer with no outcome journaled\n"
    "  saf [--json]        reversals and advices waiting for their issuer, in delivery order\n"
    "  verify              check every record, index entry and block checksum\n"
    "  prune --before YYYYMMDD   delete finished records of earlier business dates\n"
    "      (the switch must be stopped; the other commands work beside a running switch)\n"
    "DIR is the switch's data directory (the store is DIR/store).\n";

struct Flags {
  std::string data, rrn, tid, stan, time, id, before;
  bool json = false;
};

int Usage(Io& io, const std::string& what) {
  io.err << "switchyard journal: " << what << "\n" << kUsage;
  return kExitUsage;
}

std::string ParseFlags(Args args, Flags& f) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    std::string* target = nullptr;
    if (a == "--json") {
      f.json = true;
      continue;
    }
    if (a == "--data") {
      target = &f.data;
    } else if (a == "--rrn") {
      target = &f.rrn;
    } else if (a == "--tid") {
      target = &f.tid;
    } else if (a == "--stan") {
      target = &f.stan;
    } else if (a == "--time") {
      target = &f.time;
    } else if (a == "--id") {
      target = &f.id;
    } else if (a == "--before") {
      target = &f.before;
    } else {
      return "unknown argument '" + std::string(a) + "'";
    }
    if (i + 1 >= args.size()) {
      return std::string(a) + " needs a value";
    }
    *target = std::string(args[++i]);
  }
  if (f.data.empty()) {
    return "--data is required";
  }
  return {};
}

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(m, &out, o).ok()) {
    return "{}";
  }
  return out;
}

void Print(const proto::TransactionRecord& rec, bool json, std::ostream& os) {
  if (json) {
    proto::TransactionRecord shown = rec;
    // Only the masked PAN leaves the store through this tool.
    shown.mutable_pan()->clear_ciphertext();
    shown.mutable_pan()->clear_nonce();
    shown.mutable_pan()->clear_lookup_hash();
    os << ToJson(shown) << "\n";
    return;
  }
  os << "id " << rec.id() << "  " << rec.business_date() << "  " << rec.tid() << " stan "
     << rec.stan() << " time " << rec.transmission_time() << "  " << rec.mti() << " pc "
     << rec.processing_code() << "  " << rec.amount_minor() << " (" << rec.currency() << ")  pan "
     << rec.pan().masked() << "  rrn " << rec.rrn() << "  rc " << rec.response_code() << "  "
     << proto::TxnState_Name(rec.state()) << (rec.stand_in() ? "  stand-in" : "") << "\n";
}

struct Opened {
  std::unique_ptr<storage::Store> store;
};

bool OpenStore(const Flags& f, bool writable, Io& io, Opened& out) {
  std::string why;
  // Look-ups open a read-only secondary instance, so they work beside a running switch; prune
  // writes, and needs the switch stopped.
  auto store = storage::Store::Open({.path = f.data + "/store", .read_only = !writable}, &why);
  if (!store) {
    io.err << "switchyard journal: " << why << "\n";
    return false;
  }
  out.store = std::move(*store);
  return true;
}

int Fail(Io& io, const std::string& what, boost::system::error_code ec) {
  io.err << "switchyard journal: " << what << ": " << ec.message() << "\n";
  return kExitFailure;
}

}  // namespace

int RunJournal(Args args, Io& io) {
  if (args.empty() || args[0] == "--help") {
    (args.empty() ? io.err : io.out) << kUsage;
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::string_view command = args[0];
  Flags f;
  if (auto e = ParseFlags(args.subspan(1), f); !e.empty()) {
    return Usage(io, e);
  }
  if (command != "show" && command != "inflight" && command != "saf" && command != "verify" &&
      command != "prune") {
    return Usage(io, "unknown command '" + std::string(command) + "'");
  }
  if (command == "prune" &&
      (f.before.size() != 8 || f.before.find_first_not_of("0123456789") != std::string::npos)) {
    return Usage(io, "prune needs --before YYYYMMDD");
  }
  Opened o;
  if (!OpenStore(f, command == "prune", io, o)) {
    return kExitFailure;
  }
  storage::Journal journal(*o.store, nullptr);

  if (command == "show") {
    std::vector<proto::TransactionRecord> found;
    if (!f.rrn.empty()) {
      auto r = journal.FindByRrn(f.rrn);
      if (!r) {
        return Fail(io, "RRN " + f.rrn, r.error());
      }
      found.push_back(std::move(*r));
    } else if (!f.id.empty()) {
      std::uint64_t id = 0;
      try {
        id = std::stoull(f.id);
      } catch (const std::exception&) {
        return Usage(io, "--id must be a number");
      }
      auto r = journal.Get(id);
      if (!r) {
        return Fail(io, "id " + f.id, r.error());
      }
      found.push_back(std::move(*r));
    } else if (!f.tid.empty() && !f.stan.empty()) {
      if (!f.time.empty()) {
        auto r = journal.FindByStan(f.tid, f.stan, f.time);
        if (!r) {
          return Fail(io, "terminal " + f.tid + " STAN " + f.stan, r.error());
        }
        found.push_back(std::move(*r));
      } else {
        auto r = journal.ListByStan(f.tid, f.stan);
        if (!r) {
          return Fail(io, "terminal " + f.tid + " STAN " + f.stan, r.error());
        }
        if (r->empty()) {
          return Fail(io, "terminal " + f.tid + " STAN " + f.stan,
                      storage::make_error_code(storage::Error::kNotFound));
        }
        found = std::move(*r);
      }
    } else {
      return Usage(io, "show needs --rrn, --id, or --tid with --stan");
    }
    for (const auto& rec : found) {
      Print(rec, f.json, io.out);
    }
    return kExitOk;
  }
  if (command == "inflight") {
    auto r = journal.InFlight();
    if (!r) {
      return Fail(io, "in-flight list", r.error());
    }
    for (const auto& rec : *r) {
      Print(rec, f.json, io.out);
    }
    if (!f.json) {
      io.out << r->size() << " in flight\n";
    }
    return kExitOk;
  }
  if (command == "saf") {
    storage::SafQueue saf(*o.store);
    auto r = saf.List();
    if (!r) {
      return Fail(io, "SAF queue", r.error());
    }
    for (const auto& e : *r) {
      if (f.json) {
        io.out << ToJson(e) << "\n";
      } else {
        io.out << e.destination() << " #" << e.seq() << "  " << e.message_type() << " txn "
               << e.txn_id() << "  reason " << e.reason_code() << "  attempts " << e.attempts()
               << "\n";
      }
    }
    if (!f.json) {
      io.out << r->size() << " queued\n";
    }
    return kExitOk;
  }
  if (command == "verify") {
    if (auto ec = o.store->VerifyChecksums(); ec) {
      io.err << "switchyard journal: checksum verification failed: " << o.store->last_error()
             << "\n";
      return kExitFailure;
    }
    std::string problem;
    auto r = journal.Verify(&problem);
    if (!r) {
      io.err << "switchyard journal: " << (problem.empty() ? r.error().message() : problem) << "\n";
      return kExitFailure;
    }
    io.out << "ok: " << *r << " records, every index entry and block checksum verified\n";
    return kExitOk;
  }
  auto r = journal.Prune(f.before);
  if (!r) {
    return Fail(io, "prune", r.error());
  }
  io.out << "pruned " << *r << " records of business dates before " << f.before << "\n";
  return kExitOk;
}

}  // namespace sy::cli
