// switchyard admin — the admin API's client (docs/admin.md): merchant applications and their
// review, agreements, terminals and the audit log, over HTTPS with a bearer token read from a
// file. Tables for people; --json prints the API's JSON as it came, for scripts.

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <unistd.h>

#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli/admin_settlement_command.h"
#include "cli/commands.h"
#include "crypto/secret_bytes.h"
#include "proto/onboarding.pb.h"
#include "switch/admin/admin_client.h"

namespace sy::cli {
namespace {

namespace pb = google::protobuf;

constexpr std::string_view kUsage =
    "usage: switchyard admin --url https://HOST:PORT --token-file FILE [--ca FILE] [--json]\n"
    "                        <command>\n"
    "  applications submit FILE.json          file a merchant's application (operator)\n"
    "  applications list [--state STATE]      applications with their business days waiting\n"
    "  applications show ID                   one application and every review step\n"
    "  applications transition ID --to STATE --version N [--reason R] [--fields FILE.json]\n"
    "      in_review | more_info_requested | approved | rejected (reviewer);\n"
    "      resubmitted (with amended --fields) | withdrawn (operator)\n"
    "  agreements sign MID FILE.json          record the merchant's next agreement version\n"
    "  agreements list MID                    the merchant's agreements and the one in force\n"
    "  terminals provision FILE.json          a terminal for an approved merchant (operator)\n"
    "  terminals status TID --to suspended|retired|active --reason R\n"
    "  terminals show TID                     with last seen and software version\n"
    "  terminals list [--silent-days N] [--outdated] [--mid MID] [--status S]\n"
    "      silent: not heard from for N days (active ones never heard from too); outdated:\n"
    "      below admin.terminal_software_minimum\n"
    "  terminals export-keys TID --form tr31 [--transport-key KEK] [--out FILE] [--reason R]\n"
    "      the terminal's initial key (IPEK, AES initial key or TMK) as a TR-31 key block under\n"
    "      the facility's transport key (operator)\n"
    "  terminals export-keys TID --form components [--components 2|3] [--reason R]\n"
    "      split into XOR components held by the switch, each for a different custodian:\n"
    "  terminals export-keys TID --take EXPORT --component N --out FILE\n"
    "      takes component N once into FILE (mode 0600, must not exist); a custodian takes one\n"
    "  terminals exports TID                  the terminal's key exports (check values only)\n"
    "  terminals rotate-keys TID --reason R [--key-set-id HEX]\n"
    "      new initial KSN (DUKPT) or new TMK; provisioned again until it signs on with it\n"
    "  transactions --rrn R | --tid TID --stan S | --tid TID --date YYYYMMDD\n"
    "               | --mid MID --date YYYYMMDD  journal look-up, masked PANs (operator, auditor)\n"
    "  bins                                   the BIN routes in force\n"
    "  audit [--kind K [--id I]]              the audit log (auditor)\n"
    "  settlement run YYYYMMDD                settle a business date and wait for it (operator)\n"
    "  settlement list [YYYYMMDD]             the settlement runs recorded (CLI and API)\n"
    "  settlement show YYYYMMDD               a date's runs: totals, files and their SHA-256\n"
    "  health\n"
    "FILE may be '-' for standard input. The token file holds the bearer token on one line.\n";

struct Flags {
  std::string url, token_file, ca, state, to, reason, version, kind, id, fields;
  std::string silent_days, mid, status, form, transport_key, components, take, component, out,
      key_set_id, tid, date, rrn, stan;
  bool json = false;
  bool outdated = false;
  std::vector<std::string> positional;
};

int Usage(Io& io, const std::string& what) {
  io.err << "switchyard admin: " << what << "\n" << kUsage;
  return kExitUsage;
}

std::string ParseFlags(Args args, Flags& f) {
  const std::map<std::string_view, std::string Flags::*> valued = {
      {"--url", &Flags::url},
      {"--token-file", &Flags::token_file},
      {"--ca", &Flags::ca},
      {"--state", &Flags::state},
      {"--to", &Flags::to},
      {"--reason", &Flags::reason},
      {"--version", &Flags::version},
      {"--kind", &Flags::kind},
      {"--id", &Flags::id},
      {"--fields", &Flags::fields},
      {"--silent-days", &Flags::silent_days},
      {"--mid", &Flags::mid},
      {"--status", &Flags::status},
      {"--form", &Flags::form},
      {"--transport-key", &Flags::transport_key},
      {"--components", &Flags::components},
      {"--take", &Flags::take},
      {"--component", &Flags::component},
      {"--out", &Flags::out},
      {"--key-set-id", &Flags::key_set_id},
      {"--tid", &Flags::tid},
      {"--date", &Flags::date},
      {"--rrn", &Flags::rrn},
      {"--stan", &Flags::stan}};
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "--json") {
      f.json = true;
      continue;
    }
    if (a == "--outdated") {
      f.outdated = true;
      continue;
    }
    if (auto it = valued.find(a); it != valued.end()) {
      if (i + 1 >= args.size()) {
        return std::string(a) + " needs a value";
      }
      f.*(it->second) = std::string(args[++i]);
      continue;
    }
    if (a.size() > 1 && a.starts_with("--")) {
      return "unknown argument '" + std::string(a) + "'";
    }
    f.positional.emplace_back(a);
  }
  if (f.url.empty()) {
    return "--url is required";
  }
  return {};
}

bool ReadInput(const std::string& path, Io& io, std::string& out) {
  if (path == "-") {
    std::ostringstream s;
    s << io.in.rdbuf();
    out = s.str();
    return true;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    io.err << "switchyard admin: cannot read " << path << "\n";
    return false;
  }
  std::ostringstream s;
  s << in.rdbuf();
  out = s.str();
  return true;
}

std::string Encode(std::string_view v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

template <class M>
bool ParseAnswer(const std::string& body, M& m) {
  pb::util::JsonParseOptions o;
  o.ignore_unknown_fields = true;  // a newer switch may say more
  return pb::util::JsonStringToMessage(body, &m, o).ok();
}

std::string Time(const pb::Timestamp& t) {
  std::string s = pb::util::TimeUtil::ToString(t);
  // "2026-03-02T02:00:00.123456Z" → "2026-03-02 02:00:00Z"
  if (const auto dot = s.find('.'); dot != std::string::npos) {
    s = s.substr(0, dot) + "Z";
  }
  if (s.size() > 10 && s[10] == 'T') {
    s[10] = ' ';
  }
  return s;
}

void PrintApplication(const proto::ApplicationView& v, std::ostream& os) {
  const auto& a = v.application();
  const auto& f = a.fields();
  os << a.id() << "  " << a.state() << "  version " << a.version() << "\n"
     << "  merchant     " << a.merchant_id() << " (" << f.type() << ")\n"
     << "  legal name   " << f.legal_name() << "\n"
     << "  mcc          " << f.mcc() << "\n"
     << "  address      " << f.address().line1() << ", " << f.address().city() << " "
     << f.address().country() << "\n"
     << "  waiting      " << v.business_days_waiting() << " business day(s)"
     << (v.overdue() ? "  OVERDUE" : "") << "\n"
     << "  steps:\n";
  for (const auto& s : a.steps()) {
    os << "    v" << s.version() << "  " << Time(s.at()) << "  " << std::left << std::setw(22)
       << s.to() << std::setw(12) << s.actor() << s.reason() << "\n";
  }
}

void PrintTerminal(const proto::TerminalView& t, std::ostream& os) {
  os << t.tid() << "  " << t.status() << (t.live_status().empty() ? "" : " (running: ")
     << t.live_status() << (t.live_status().empty() ? "" : ")") << "\n"
     << "  merchant     " << t.mid() << "\n"
     << "  device       " << t.model() << " serial " << t.serial() << "\n"
     << "  keys         " << t.key_scheme();
  if (!t.bdk_id().empty()) {
    os << "  bdk " << t.bdk_id() << "  initial KSN " << t.initial_ksn();
  }
  if (!t.tmk_id().empty()) {
    os << "  tmk " << t.tmk_id();
  }
  os << "\n"
     << "  last seen    " << (t.has_last_seen() ? Time(t.last_seen()) : std::string("never"))
     << "\n"
     << "  software     " << (t.software_version().empty() ? "unknown" : t.software_version())
     << (t.outdated() ? "  OUTDATED" : "") << "\n";
}

void PrintExport(const proto::KeyExport& x, std::ostream& os) {
  os << x.id() << "  " << x.tid() << "  " << x.form();
  os << "\n  key          " << x.key() << " (" << x.algorithm() << ", " << x.key_length()
     << " bytes)  kcv " << x.key_kcv() << "\n";
  if (!x.initial_ksn().empty()) {
    os << "  initial KSN  " << x.initial_ksn() << "\n";
  }
  if (!x.initial_key_id().empty()) {
    os << "  initial key ID " << x.initial_key_id() << "\n";
  }
  if (!x.tmk_id().empty()) {
    os << "  tmk          " << x.tmk_id() << "\n";
  }
  if (!x.transport_key_id().empty()) {
    os << "  under        " << x.transport_key_id() << " (kcv " << x.transport_key_kcv() << ")\n";
  }
  for (int i = 0; i < x.component_kcvs_size(); ++i) {
    std::string by;
    for (const auto& t : x.taken()) {
      if (t.index() == static_cast<std::uint32_t>(i + 1)) {
        by = "taken by " + t.by() + " at " + Time(t.at());
      }
    }
    os << "  component " << i + 1 << "  kcv " << x.component_kcvs(i) << "  "
       << (by.empty() ? "waiting" : by) << "\n";
  }
  os << "  by           " << x.created_by() << " at " << Time(x.created_at())
     << (x.reason().empty() ? "" : "  (" + x.reason() + ")") << "\n";
}

// Creates `path` with mode 0600; false when it exists or cannot be written.
bool WritePrivate(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    return false;
  }
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  return ::close(fd) == 0 && ok;
}

// A component answer into its file, in `switchyard keys generate`'s format (so `keys combine`
// takes it); the terminal shows only its check values.
int WriteComponent(std::string body, const std::string& path, Io& io) {
  proto::KeyComponentView c;
  const bool parsed = ParseAnswer(body, c);
  crypto::WipeString(body);
  if (!parsed || c.component().empty()) {
    io.err << "switchyard admin: the answer holds no component\n";
    return kExitFailure;
  }
  std::string text = "component " + std::to_string(c.index()) + " of " + std::to_string(c.count()) +
                     "\nkey: " + c.component() + "\nkcv: " + c.kcv() + "\n";
  const bool ok = WritePrivate(path, text);
  crypto::WipeString(text);
  crypto::WipeString(*c.mutable_component());
  if (!ok) {
    io.err << "switchyard admin: cannot create " << path
           << " (it must not exist); the component is spent: export the key again\n";
    return kExitFailure;
  }
  io.out << c.export_id() << " component " << c.index() << " of " << c.count() << " ("
         << c.algorithm() << ", kcv " << c.kcv() << ") written to " << path
         << "; the whole key's kcv is " << c.key_kcv() << "\n";
  return kExitOk;
}

// Prints an answer that is not 2xx; the exit status.
int PrintFailure(const server::admin::ClientResponse& r, bool json, Io& io) {
  if (!r.error.empty()) {
    io.err << "switchyard admin: " << r.error << "\n";
    return kExitFailure;
  }
  if (json) {
    io.out << r.body << "\n";
  }
  proto::ErrorBody e;
  if (!ParseAnswer(r.body, e)) {
    io.err << "switchyard admin: HTTP " << r.status << ": " << r.body << "\n";
    return kExitFailure;
  }
  io.err << "switchyard admin: HTTP " << r.status << " " << e.code() << ": "
         << (e.field().empty() ? "" : e.field() + ": ") << e.message() << "\n";
  for (const auto& p : e.errors()) {
    io.err << "  " << p.field() << ": " << p.message() << " (" << p.code() << ")\n";
  }
  return kExitFailure;
}

}  // namespace

int RunAdmin(Args args, Io& io) {
  if (args.empty() || args[0] == "--help") {
    (args.empty() ? io.err : io.out) << kUsage;
    return args.empty() ? kExitUsage : kExitOk;
  }
  Flags f;
  if (auto e = ParseFlags(args, f); !e.empty()) {
    return Usage(io, e);
  }
  const auto& p = f.positional;
  if (p.empty()) {
    return Usage(io, "a command is required");
  }
  std::string token;
  if (!f.token_file.empty()) {
    if (!ReadInput(f.token_file, io, token)) {
      return kExitFailure;
    }
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
      token.pop_back();
    }
    if (token.empty()) {
      io.err << "switchyard admin: the token file " << f.token_file << " is empty\n";
      return kExitFailure;
    }
  } else if (p[0] != "health") {
    return Usage(io, "--token-file is required");
  }
  server::admin::AdminClient client({.url = f.url, .token = token, .ca_file = f.ca});
  if (p[0] == "settlement") {
    return RunAdminSettlement(client, p, f.json, io);
  }

  std::string method = "GET";
  std::string target;
  std::string body;
  const std::string group = p[0];
  const std::string verb = p.size() > 1 ? p[1] : "";
  auto need = [&](std::size_t n) { return p.size() == n; };
  if (group == "health" && need(1)) {
    target = "/v1/health";
  } else if (group == "applications" && verb == "submit" && need(3)) {
    method = "POST";
    target = "/v1/applications";
    if (!ReadInput(p[2], io, body)) {
      return kExitFailure;
    }
  } else if (group == "applications" && verb == "list" && need(2)) {
    target = "/v1/applications" + (f.state.empty() ? "" : "?state=" + Encode(f.state));
  } else if (group == "applications" && verb == "show" && need(3)) {
    target = "/v1/applications/" + Encode(p[2]);
  } else if (group == "applications" && verb == "transition" && need(3)) {
    if (f.to.empty() || f.version.empty() ||
        f.version.find_first_not_of("0123456789") != std::string::npos) {
      return Usage(io, "transition needs --to STATE and --version N");
    }
    method = "POST";
    target = "/v1/applications/" + Encode(p[2]) + "/transitions";
    body = "{\"to\": " + JsonString(f.to) + ", \"version\": " + f.version +
           ", \"reason\": " + JsonString(f.reason);
    if (!f.fields.empty()) {
      std::string fields;
      if (!ReadInput(f.fields, io, fields)) {
        return kExitFailure;
      }
      body += ", \"fields\": " + fields;
    }
    body += "}";
  } else if (group == "agreements" && verb == "sign" && need(4)) {
    method = "POST";
    target = "/v1/merchants/" + Encode(p[2]) + "/agreements";
    if (!ReadInput(p[3], io, body)) {
      return kExitFailure;
    }
  } else if (group == "agreements" && verb == "list" && need(3)) {
    target = "/v1/merchants/" + Encode(p[2]) + "/agreements";
  } else if (group == "terminals" && verb == "provision" && need(3)) {
    method = "POST";
    target = "/v1/terminals";
    if (!ReadInput(p[2], io, body)) {
      return kExitFailure;
    }
  } else if (group == "terminals" && verb == "status" && need(3)) {
    if (f.to.empty() || f.reason.empty()) {
      return Usage(io, "terminals status needs --to STATUS and --reason R");
    }
    method = "POST";
    target = "/v1/terminals/" + Encode(p[2]) + "/status";
    body = "{\"status\": " + JsonString(f.to) + ", \"reason\": " + JsonString(f.reason) + "}";
  } else if (group == "terminals" && verb == "show" && need(3)) {
    target = "/v1/terminals/" + Encode(p[2]);
  } else if (group == "terminals" && verb == "list" && need(2)) {
    std::string q;
    auto add = [&q](std::string_view key, const std::string& value) {
      if (!value.empty()) {
        q += (q.empty() ? "?" : "&") + std::string(key) + "=" + Encode(value);
      }
    };
    add("silent_days", f.silent_days);
    add("outdated", f.outdated ? "true" : "");
    add("mid", f.mid);
    add("status", f.status);
    target = "/v1/terminals" + q;
  } else if (group == "terminals" && verb == "export-keys" && need(3) && !f.take.empty()) {
    if (f.component.empty() || f.out.empty()) {
      return Usage(io, "--take needs --component N and --out FILE");
    }
    method = "POST";
    target = "/v1/terminals/" + Encode(p[2]) + "/keys/exports/" + Encode(f.take) + "/components/" +
             Encode(f.component);
  } else if (group == "terminals" && verb == "export-keys" && need(3)) {
    if (f.form != "tr31" && f.form != "components") {
      return Usage(io, "export-keys needs --form tr31 or --form components (or --take)");
    }
    if (!f.components.empty() &&
        f.components.find_first_not_of("0123456789") != std::string::npos) {
      return Usage(io, "--components is 2 or 3");
    }
    method = "POST";
    target = "/v1/terminals/" + Encode(p[2]) + "/keys/exports";
    body = "{\"form\": " + JsonString(f.form) + ", \"reason\": " + JsonString(f.reason);
    if (!f.transport_key.empty()) {
      body += ", \"transport_key_id\": " + JsonString(f.transport_key);
    }
    if (!f.components.empty()) {
      body += ", \"components\": " + f.components;
    }
    body += "}";
  } else if (group == "terminals" && verb == "exports" && need(3)) {
    target = "/v1/terminals/" + Encode(p[2]) + "/keys/exports";
  } else if (group == "terminals" && verb == "rotate-keys" && need(3)) {
    if (f.reason.empty()) {
      return Usage(io, "rotate-keys needs --reason R");
    }
    method = "POST";
    target = "/v1/terminals/" + Encode(p[2]) + "/keys/rotate";
    body = "{\"reason\": " + JsonString(f.reason);
    if (!f.key_set_id.empty()) {
      body += ", \"key_set_id\": " + JsonString(f.key_set_id);
    }
    body += "}";
  } else if (group == "transactions" && need(1)) {
    std::string q;
    auto add = [&q](std::string_view key, const std::string& value) {
      if (!value.empty()) {
        q += (q.empty() ? "?" : "&") + std::string(key) + "=" + Encode(value);
      }
    };
    add("tid", f.tid);
    add("mid", f.mid);
    add("date", f.date);
    add("rrn", f.rrn);
    add("stan", f.stan);
    if (q.empty()) {
      return Usage(io, "transactions needs --rrn, --tid with --stan or --date, or --mid --date");
    }
    target = "/v1/transactions" + q;
  } else if (group == "bins" && need(1)) {
    target = "/v1/bins";
  } else if (group == "audit" && need(1)) {
    target = "/v1/audit";
    if (!f.kind.empty()) {
      target += "?kind=" + Encode(f.kind) + (f.id.empty() ? "" : "&id=" + Encode(f.id));
    } else if (!f.id.empty()) {
      return Usage(io, "--id needs --kind");
    }
  } else {
    std::string words;
    for (const auto& w : p) {
      words += (words.empty() ? "" : " ") + w;
    }
    return Usage(io, "unknown command '" + words + "'");
  }

  const auto r = client.Request(method, target, body);
  if (!r.error.empty() || r.status < 200 || r.status > 299) {
    return PrintFailure(r, f.json, io);
  }
  if (group == "terminals" && verb == "export-keys" && !f.take.empty()) {
    // The component goes to its file only (never to the terminal or --json output).
    return WriteComponent(r.body, f.out, io);
  }
  if (f.json) {
    io.out << r.body << "\n";
    return kExitOk;
  }
  auto unreadable = [&] {
    io.err << "switchyard admin: the answer is not what this version expects: " << r.body << "\n";
    return kExitFailure;
  };
  if (group == "health") {
    proto::Health h;
    if (!ParseAnswer(r.body, h)) {
      return unreadable();
    }
    io.out << h.status() << "\n";
  } else if (group == "applications" && verb == "list") {
    proto::ApplicationList list;
    if (!ParseAnswer(r.body, list)) {
      return unreadable();
    }
    io.out << std::left << std::setw(12) << "ID" << std::setw(17) << "MID" << std::setw(21)
           << "STATE" << std::setw(11) << "TYPE" << std::setw(5) << "VER" << std::setw(9)
           << "WAITING"
           << "NAME\n";
    for (const auto& v : list.applications()) {
      const auto& a = v.application();
      io.out << std::left << std::setw(12) << a.id() << std::setw(17) << a.merchant_id()
             << std::setw(21) << a.state() << std::setw(11) << a.fields().type() << std::setw(5)
             << a.version() << std::setw(9)
             << (std::to_string(v.business_days_waiting()) + (v.overdue() ? "!" : ""))
             << a.fields().legal_name() << "\n";
    }
    io.out << list.applications_size() << " application(s)\n";
  } else if (group == "applications") {
    proto::ApplicationView v;
    if (!ParseAnswer(r.body, v)) {
      return unreadable();
    }
    PrintApplication(v, io.out);
  } else if (group == "agreements" && verb == "list") {
    proto::AgreementList list;
    if (!ParseAnswer(r.body, list)) {
      return unreadable();
    }
    for (const auto& a : list.agreements()) {
      io.out << "v" << a.version() << (a.version() == list.in_force_version() ? " (in force)" : "")
             << "  from " << a.effective_from()
             << (a.effective_until().empty() ? "" : " until " + a.effective_until()) << "  T+"
             << a.settlement_cycle_days() << "  signed by " << a.signed_by() << "\n";
      for (const auto& s : a.fees()) {
        io.out << "    currency " << s.currency() << ":";
        for (const auto& [brand, rate] : s.rates()) {
          io.out << " " << brand << " " << rate << "/1e6";
        }
        io.out << "  fixed " << s.fixed_fee_minor() << "  min " << s.min_fee_minor() << "  max "
               << (s.has_max_fee_minor() ? std::to_string(s.max_fee_minor()) : "none") << "\n";
      }
    }
    if (list.in_force_version() == 0) {
      io.out << "no agreement in force today\n";
    }
  } else if (group == "agreements") {
    proto::Agreement a;
    if (!ParseAnswer(r.body, a)) {
      return unreadable();
    }
    io.out << a.merchant_id() << " agreement v" << a.version() << " from " << a.effective_from()
           << " recorded\n";
  } else if (group == "terminals" && verb == "list") {
    proto::TerminalList list;
    if (!ParseAnswer(r.body, list)) {
      return unreadable();
    }
    io.out << std::left << std::setw(10) << "TID" << std::setw(17) << "MID" << std::setw(13)
           << "STATUS" << std::setw(22) << "LAST SEEN"
           << "SOFTWARE\n";
    for (const auto& t : list.terminals()) {
      const std::string& status = t.live_status().empty() ? t.status() : t.live_status();
      io.out << std::left << std::setw(10) << t.tid() << std::setw(17) << t.mid() << std::setw(13)
             << status << std::setw(22) << (t.has_last_seen() ? Time(t.last_seen()) : "never")
             << t.software_version() << (t.outdated() ? "  OUTDATED" : "") << "\n";
    }
    io.out << list.terminals_size() << " terminal(s)"
           << (list.software_minimum().empty() ? ""
                                               : ", minimum software " + list.software_minimum())
           << "\n";
  } else if (group == "terminals" && verb == "export-keys") {
    proto::KeyExport x;
    if (!ParseAnswer(r.body, x)) {
      return unreadable();
    }
    PrintExport(x, io.out);
    if (!x.key_block().empty()) {
      if (!f.out.empty()) {
        if (!WritePrivate(f.out, x.key_block() + "\n")) {
          io.err << "switchyard admin: cannot create " << f.out << " (it must not exist)\n";
          return kExitFailure;
        }
        io.out << "  key block written to " << f.out << "\n";
      } else {
        io.out << "  key block    " << x.key_block() << "\n";
      }
    } else {
      io.out << "  each custodian takes one: switchyard admin ... terminals export-keys " << x.tid()
             << " --take " << x.id() << " --component N --out FILE\n";
    }
  } else if (group == "terminals" && verb == "exports") {
    proto::KeyExportList list;
    if (!ParseAnswer(r.body, list)) {
      return unreadable();
    }
    for (const auto& x : list.exports()) {
      PrintExport(x, io.out);
    }
    io.out << list.exports_size() << " export(s)\n";
  } else if (group == "transactions") {
    proto::TransactionList list;
    if (!ParseAnswer(r.body, list)) {
      return unreadable();
    }
    io.out << std::left << std::setw(8) << "ID" << std::setw(10) << "DATE" << std::setw(10) << "TID"
           << std::setw(11) << "TYPE" << std::setw(8) << "STAN" << std::setw(14) << "RRN"
           << std::setw(21) << "PAN" << std::setw(15) << "AMOUNT" << std::setw(4) << "RC"
           << "STATE\n";
    for (const auto& t : list.transactions()) {
      io.out << std::left << std::setw(8) << t.id() << std::setw(10) << t.business_date()
             << std::setw(10) << t.tid() << std::setw(11) << t.type() << std::setw(8) << t.stan()
             << std::setw(14) << t.rrn() << std::setw(21) << t.masked_pan() << std::setw(15)
             << (std::to_string(t.amount_minor()) + " " + std::to_string(t.currency()))
             << std::setw(4) << t.response_code() << t.state() << "\n";
    }
    io.out << list.transactions_size() << " transaction(s)\n";
  } else if (group == "bins") {
    proto::BinList list;
    if (!ParseAnswer(r.body, list)) {
      return unreadable();
    }
    io.out << std::left << std::setw(26) << "BINS" << std::setw(12) << "BRAND" << std::setw(7)
           << "ON-US"
           << "ROUTE\n";
    for (const auto& b : list.bins()) {
      io.out << std::left << std::setw(26)
             << (b.low() == b.high() ? b.low() : b.low() + "-" + b.high()) << std::setw(12)
             << b.brand() << std::setw(7) << (b.on_us() ? "yes" : "no") << b.route() << "\n";
    }
    io.out << list.bins_size() << " BIN route(s)\n";
  } else if (group == "terminals") {
    proto::TerminalView t;
    if (!ParseAnswer(r.body, t)) {
      return unreadable();
    }
    PrintTerminal(t, io.out);
  } else {
    proto::AuditList list;
    if (!ParseAnswer(r.body, list)) {
      return unreadable();
    }
    io.out << std::left << std::setw(7) << "SEQ" << std::setw(22) << "AT" << std::setw(12)
           << "ACTOR" << std::setw(12) << "KIND" << std::setw(24) << "ID"
           << "REASON\n";
    for (const auto& e : list.entries()) {
      io.out << std::left << std::setw(7) << e.seq() << std::setw(22) << Time(e.at())
             << std::setw(12) << e.actor() << std::setw(12) << e.kind() << std::setw(24) << e.id()
             << e.reason() << "\n";
    }
    io.out << list.entries_size() << " entr" << (list.entries_size() == 1 ? "y" : "ies")
           << " (--json shows each record before and after)\n";
  }
  return kExitOk;
}

}  // namespace sy::cli
