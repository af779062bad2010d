// switchyard term — a POS terminal simulator (sy::sim::TerminalClient): network management,
// purchases, pre-authorizations and completions, refunds, voids, reversals and the batch close,
// with DUKPT (TDES or AES) or master/session TEST keys. Prints the request and answer fields
// (masked) and a summary line, or JSON.
//
//   switchyard term --ca data/tls/switch.crt signon
//   switchyard term --plain purchase --pan 4761739001010010 --amount 1000 --expiry 3012 --pin 1234
//   switchyard term --plain void --rrn 633100000123
//   switchyard term --plain batch-close

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <iomanip>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "iso8583/json.h"
#include "iso8583/mask.h"
#include "sim/terminal.h"

namespace sy::cli {

namespace {

namespace json = boost::json;

constexpr std::string_view kUsage =
    "usage: switchyard term [--host H] [--port N] [--plain | --ca FILE | --insecure]\n"
    "         [--tid TID] [--mid MID] [--scheme dukpt-tdes|dukpt-aes|master-session]\n"
    "         [--bdk HEX | --initial-key HEX] [--ksn HEX] [--tmk HEX [--tmk-algo tdes|aes]]\n"
    "         [--state FILE]\n"
    "         [--dialect NAME|FILE] [--framing nac|ascii4] [--no-tpdu] [--timeout-ms N] [--json]\n"
    "         COMMAND [OPTIONS]\n"
    "commands:\n"
    "  signon [--software-version V]             0800 70 = 001 (48 = V: 1 to 32 printable)\n"
    "  signoff | echo | keychange                 0800 (70 = 002, 301, 101)\n"
    "  purchase --pan PAN --amount MINOR [--currency 978] [--expiry YYMM (default 3012)]\n"
    "           [--pin DIGITS] [--icc HEX]        0200 3 = 000000\n"
    "  preauth  (as purchase)                     0100\n"
    "  completion --rrn RRN --amount MINOR [--auth-code CODE] [--pan PAN] [--expiry YYMM]\n"
    "                                             0220 of the pre-authorization RRN\n"
    "  refund --rrn RRN --amount MINOR [--pan PAN] [--expiry YYMM] [--currency C] [--pin DIGITS]\n"
    "                                             0200 3 = 200000 of the purchase RRN\n"
    "  void --rrn RRN [--pan PAN] [--amount MINOR] [--expiry YYMM]\n"
    "                                             0200 3 = 020000 of the batch item RRN\n"
    "  reversal [--stan N] [--repeat]             0400 (0401) of the last request or STAN N\n"
    "  batch-close                                0500 with the batch totals; uploads on 95\n"
    "  --host, --port   the switch's terminal listener (default 127.0.0.1 8583)\n"
    "  --plain          plain TCP instead of TLS\n"
    "  --ca FILE        verify the switch's certificate against FILE (demo: data/tls/switch.crt)\n"
    "  --insecure       TLS without verifying the switch (demo only)\n"
    "  --tid, --mid     terminal and merchant (default TERM0001, MERCHANT0000001; with\n"
    "                   --scheme dukpt-aes TERM0002, MERCHANT0000002)\n"
    "  --scheme         key scheme (default dukpt-tdes)\n"
    "  --bdk, --ksn     DUKPT TEST BDK and initial KSN (default: the demo terminal's)\n"
    "  --initial-key HEX  DUKPT: the terminal's initial key as injected (TDES IPEK, AES initial\n"
    "                   key) instead of --bdk, as `switchyard admin terminals export-keys` gives\n"
    "  --tmk HEX        master-session: the TEST terminal master key; --tmk-algo tdes (default;\n"
    "                   aes for 64 hex digits)\n"
    "  --state FILE     the terminal's counters, batch and keys (default ./term-<TID>.state;\n"
    "                   it holds the batch's TEST PANs)\n"
    "  --dialect        iso87b (default), another shipped dialect or a dialect YAML file\n"
    "  --framing        nac (default, with the TPDU 60 0001 0000 unless --no-tpdu) or ascii4\n"
    "  --json           print each exchange as JSON (PANs masked)\n"
    "PAN, amount, expiry and currency of void, refund and completion default to the original's\n"
    "in the terminal's state. Exit status: 0 an answer came (whatever field 39 says), 1 transport\n"
    "or protocol failure, 2 usage error.\n";

int Usage(Io& io, const std::string& why) {
  io.err << "switchyard term: " << why << "\n" << kUsage;
  return kExitUsage;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

bool IsHex(std::string_view s) {
  return !s.empty() && s.size() % 2 == 0 &&
         s.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
}

// Which command options each command takes; the first `required` of them must be given.
struct CommandSpec {
  std::string_view name;
  std::vector<std::string_view> required;
  std::vector<std::string_view> optional;
};

const std::vector<CommandSpec>& Commands() {
  static const std::vector<CommandSpec> kCommands = {
      {"signon", {}, {"--software-version"}},
      {"signoff", {}, {}},
      {"echo", {}, {}},
      {"keychange", {}, {}},
      {"purchase", {"--pan", "--amount"}, {"--currency", "--expiry", "--pin", "--icc"}},
      {"preauth", {"--pan", "--amount"}, {"--currency", "--expiry", "--pin", "--icc"}},
      {"completion", {"--rrn", "--amount"}, {"--auth-code", "--pan", "--expiry", "--currency"}},
      {"refund", {"--rrn", "--amount"}, {"--pan", "--expiry", "--currency", "--pin"}},
      {"void", {"--rrn"}, {"--pan", "--amount", "--expiry"}},
      {"reversal", {}, {"--stan", "--repeat"}},
      {"batch-close", {}, {}},
  };
  return kCommands;
}

const CommandSpec* FindCommand(std::string_view name) {
  for (const CommandSpec& c : Commands()) {
    if (c.name == name) {
      return &c;
    }
  }
  return nullptr;
}

// A field's value as safe to show: masked PAN and track, '*' for PIN blocks, hex for binary.
std::string Shown(const iso8583::FieldSpec& f, std::string_view v) {
  if (f.type == iso8583::FieldType::kBinary) {
    std::string hex = iso8583::ToHex(v);
    if (f.sensitivity != iso8583::Sensitivity::kNone) {
      hex.assign(hex.size(), '*');
    }
    return hex;
  }
  return "'" + iso8583::MaskValue(f, v) + "'";
}

void PrintMessage(const iso8583::Dialect& d, const iso8583::Message& m, std::string_view arrow,
                  std::ostream& os) {
  os << arrow << " " << m.mti() << "\n";
  for (int n : m.present_fields()) {
    const iso8583::FieldSpec& f = d.field(n);
    os << "   " << std::setw(4) << n << "  " << Shown(f, m.Get(n)) << "  " << f.name << "\n";
  }
}

// Today's one-line summary: "0210 39=00 approved auth=A1B2C3 rrn=633100000123 MAC ok".
std::string Summary(const sim::Answer& a) {
  const iso8583::Message& r = a.response;
  std::string line = std::string(r.mti()) + " 39=" + a.response_code + " " +
                     std::string(sim::DescribeResponseCode(a.response_code));
  if (r.Has(38)) {
    line += " auth=" + std::string(r.Get(38));
  }
  if (r.Has(37)) {
    line += " rrn=" + std::string(r.Get(37));
  }
  line += " MAC " + std::string(sim::MacStatus(a));
  if (a.keys_installed) {
    line += " (new working keys)";
  }
  return line;
}

json::object ToJson(const iso8583::Dialect& d, const sim::Answer& a) {
  const iso8583::Message& r = a.response;
  json::object o;
  o["mti"] = r.mti();
  o["response_code"] = a.response_code;
  o["description"] = sim::DescribeResponseCode(a.response_code);
  if (r.Has(38)) {
    o["auth"] = r.Get(38);
  }
  if (r.Has(37)) {
    o["rrn"] = r.Get(37);
  }
  o["stan"] = r.Get(11);
  if (!a.ksn_hex.empty()) {
    o["ksn"] = a.ksn_hex;
  }
  o["mac"] = sim::MacStatus(a);
  if (a.request.Has(2)) {
    o["pan"] = iso8583::MaskPan(a.request.Get(2));
  }
  if (a.keys_installed) {
    o["keys_installed"] = true;
  }
  o["request"] = iso8583::ToJson(d, a.request);  // masked: PAN, track, PIN block
  o["response"] = iso8583::ToJson(d, r);
  return o;
}

void Print(const iso8583::Dialect& d, const sim::Answer& a, std::ostream& os) {
  PrintMessage(d, a.request, ">", os);
  PrintMessage(d, a.response, "<", os);
  os << Summary(a) << "\n";
}

// The option values of one run.
struct Values {
  std::map<std::string, std::string, std::less<>> v;
  [[nodiscard]] bool has(std::string_view k) const { return v.find(k) != v.end(); }
  [[nodiscard]] std::string get(std::string_view k, std::string fallback = {}) const {
    auto it = v.find(k);
    return it == v.end() ? fallback : it->second;
  }
};

}  // namespace

int RunTerm(Args args, Io& io) {
  static constexpr std::string_view kGlobalValued[] = {
      "--host",     "--port",  "--ca",          "--tid",     "--mid",
      "--scheme",   "--bdk",   "--initial-key", "--ksn",     "--tmk",
      "--tmk-algo", "--state", "--timeout-ms",  "--dialect", "--framing"};
  static constexpr std::string_view kCommandValued[] = {
      "--pan", "--amount", "--currency",  "--expiry", "--pin",
      "--icc", "--rrn",    "--auth-code", "--stan",   "--software-version"};
  bool plain = false;
  bool insecure = false;
  bool json_out = false;
  bool no_tpdu = false;
  std::string command;
  Values g;                        // global options
  Values c;                        // command options
  std::vector<std::string> given;  // command options in the order given

  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "--help" || a == "-h") {
      io.out << kUsage;
      return kExitOk;
    }
    if (a == "--plain" || a == "--insecure" || a == "--json" || a == "--no-tpdu") {
      (a == "--plain"      ? plain
       : a == "--insecure" ? insecure
       : a == "--json"     ? json_out
                           : no_tpdu) = true;
      continue;
    }
    if (a == "--repeat") {
      c.v["--repeat"] = "";
      given.emplace_back(a);
      continue;
    }
    if (FindCommand(a) != nullptr) {
      if (!command.empty()) {
        return Usage(io, "one command only ('" + command + "' and '" + std::string(a) + "')");
      }
      command = std::string(a);
      continue;
    }
    const bool global =
        std::find(std::begin(kGlobalValued), std::end(kGlobalValued), a) != std::end(kGlobalValued);
    const bool of_command = std::find(std::begin(kCommandValued), std::end(kCommandValued), a) !=
                            std::end(kCommandValued);
    if (!global && !of_command) {
      return Usage(io, "unknown argument '" + std::string(a) + "'");
    }
    if (i + 1 >= args.size()) {
      return Usage(io, std::string(a) + " needs a value");
    }
    (global ? g : c).v[std::string(a)] = std::string(args[++i]);
    if (of_command) {
      given.emplace_back(a);
    }
  }
  if (command.empty()) {
    return Usage(io,
                 "which command? (signon, signoff, echo, keychange, purchase, preauth, "
                 "completion, refund, void, reversal, batch-close)");
  }
  const CommandSpec& spec = *FindCommand(command);
  for (const std::string& o : given) {
    if (std::find(spec.required.begin(), spec.required.end(), o) == spec.required.end() &&
        std::find(spec.optional.begin(), spec.optional.end(), o) == spec.optional.end()) {
      return Usage(io, o + " is not an option of " + command);
    }
  }
  for (std::string_view o : spec.required) {
    if (!c.has(o)) {
      return Usage(io, command + " needs " + std::string(o));
    }
  }

  // Global options.
  sim::TerminalOptions options;
  if (g.has("--scheme")) {
    auto scheme = sim::KeySchemeFromName(g.get("--scheme"));
    if (!scheme) {
      return Usage(io, "--scheme: '" + g.get("--scheme") +
                           "' is not dukpt-tdes, dukpt-aes or master-session");
    }
    options.key_scheme = *scheme;
  }
  const bool dukpt = options.key_scheme != sim::KeyScheme::kMasterSession;
  if (options.key_scheme == sim::KeyScheme::kDukptAes) {
    // The demo's AES DUKPT terminal (deploy/demo/switchyard.yaml) and its TEST keys.
    options.tid = "TERM0002";
    options.mid = "MERCHANT0000002";
    options.bdk_hex = "FEDCBA9876543210F1F1F1F1F1F1F1F1";
    options.initial_ksn_hex = "123456789012345600000000";
  }
  if (dukpt && (g.has("--tmk") || g.has("--tmk-algo"))) {
    return Usage(io, "--tmk and --tmk-algo are for --scheme master-session");
  }
  if (g.has("--bdk") && g.has("--initial-key")) {
    return Usage(io, "--bdk and --initial-key exclude one another (a terminal holds one)");
  }
  if (!dukpt && g.has("--initial-key")) {
    return Usage(io, "--initial-key is for the DUKPT schemes (master-session: --tmk)");
  }
  options.initial_key_hex = g.get("--initial-key");
  options.software_version = c.get("--software-version");
  if (!dukpt && (g.has("--bdk") || g.has("--ksn"))) {
    return Usage(io, "--bdk and --ksn are for the DUKPT schemes, not master-session");
  }
  if (!dukpt && !g.has("--tmk")) {
    return Usage(io, "--scheme master-session needs --tmk HEX (the terminal master key)");
  }
  options.host = g.get("--host", options.host);
  if (g.has("--port")) {
    const std::string v = g.get("--port");
    if (!AllDigits(v) || v.size() > 5 || std::stoul(v) == 0 || std::stoul(v) > 65535) {
      return Usage(io, "--port: '" + v + "' is not a port number");
    }
    options.port = static_cast<std::uint16_t>(std::stoul(v));
  }
  options.ca_file = g.get("--ca");
  options.insecure = insecure;
  options.tid = g.get("--tid", options.tid);
  options.mid = g.get("--mid", options.mid);
  options.bdk_hex = g.get("--bdk", options.bdk_hex);
  options.initial_ksn_hex = g.get("--ksn", options.initial_ksn_hex);
  options.tmk_hex = g.get("--tmk");
  if (g.has("--tmk-algo")) {
    const std::string v = g.get("--tmk-algo");
    if (v != "tdes" && v != "aes") {
      return Usage(io, "--tmk-algo: '" + v + "' is not tdes or aes");
    }
    options.tmk_algorithm = v == "aes" ? crypto::KeyAlgorithm::kAes : crypto::KeyAlgorithm::kTdes;
  } else if (options.tmk_hex.size() == 64) {
    options.tmk_algorithm = crypto::KeyAlgorithm::kAes;  // no TDES key is 32 bytes long
  }
  options.dialect = g.get("--dialect", options.dialect);
  if (g.has("--framing")) {
    const std::string v = g.get("--framing");
    if (v != "nac" && v != "ascii4") {
      return Usage(io, "--framing: '" + v + "' is not nac or ascii4");
    }
    options.framing = v == "nac" ? iso8583::FrameKind::kNac : iso8583::FrameKind::kAscii4;
  }
  if (no_tpdu && options.framing != iso8583::FrameKind::kNac) {
    return Usage(io, "--no-tpdu is for --framing nac (ascii4 never has a TPDU)");
  }
  options.tpdu = !no_tpdu;
  if (g.has("--timeout-ms")) {
    const std::string v = g.get("--timeout-ms");
    if (!AllDigits(v) || v.size() > 7 || std::stol(v) == 0) {
      return Usage(io, "--timeout-ms: '" + v + "' is not 1 to 9999999");
    }
    options.timeout = std::chrono::milliseconds(std::stol(v));
  }

  // Command options.
  std::optional<std::int64_t> amount;
  if (c.has("--amount")) {
    const std::string v = c.get("--amount");
    if (!AllDigits(v) || v.size() > 12) {
      return Usage(io, "--amount: '" + v + "' is not minor units (1 to 12 digits)");
    }
    amount = std::stoll(v);
  }
  if (c.has("--pan")) {
    const std::string v = c.get("--pan");
    if (!AllDigits(v) || v.size() < 8 || v.size() > 19) {
      return Usage(io, "--pan: 8 to 19 digits");
    }
  }
  if (c.has("--currency") && (!AllDigits(c.get("--currency")) || c.get("--currency").size() != 3)) {
    return Usage(
        io, "--currency: '" + c.get("--currency") + "' is not an ISO 4217 numeric code (3 digits)");
  }
  if (c.has("--expiry") && (!AllDigits(c.get("--expiry")) || c.get("--expiry").size() != 4)) {
    return Usage(io, "--expiry: '" + c.get("--expiry") + "' is not YYMM");
  }
  std::optional<std::string> pin;
  if (c.has("--pin")) {
    pin = c.v["--pin"];
    std::fill(c.v["--pin"].begin(), c.v["--pin"].end(), '\0');
    if (!AllDigits(*pin) || pin->size() < 4 || pin->size() > 12) {
      return Usage(io, "--pin: 4 to 12 digits");
    }
  }
  std::string icc;
  if (c.has("--icc")) {
    if (!IsHex(c.get("--icc")) || !iso8583::FromHex(c.get("--icc"), icc)) {
      return Usage(io, "--icc: EMV data in hex (an even number of hex digits)");
    }
  }
  if (c.has("--rrn") && (c.get("--rrn").empty() || c.get("--rrn").size() > 12)) {
    return Usage(io, "--rrn: '" + c.get("--rrn") + "' is not an RRN (1 to 12 characters)");
  }
  if (c.has("--auth-code") && (c.get("--auth-code").empty() || c.get("--auth-code").size() > 6)) {
    return Usage(io, "--auth-code: 1 to 6 characters");
  }
  if (c.has("--stan") && (!AllDigits(c.get("--stan")) || c.get("--stan").size() > 6)) {
    return Usage(io, "--stan: '" + c.get("--stan") + "' is not 1 to 6 digits");
  }
  // The demo cards' expiry when a card is presented: a terminal reads it from the card.
  const std::string expiry = c.get(
      "--expiry", command == "purchase" || command == "preauth" || c.has("--pan") ? "3012" : "");

  // Transport.
  if (static_cast<int>(plain) + static_cast<int>(options.insecure) +
          static_cast<int>(!options.ca_file.empty()) >
      1) {
    return Usage(io, "--plain, --ca and --insecure exclude one another");
  }
  options.tls = !plain;
  if (plain) {
    io.err << "switchyard term: WARNING: plain TCP, nothing on the wire is protected\n";
  } else if (options.insecure) {
    io.err << "switchyard term: WARNING: --insecure: the switch's certificate is not verified\n";
  } else if (options.ca_file.empty()) {
    io.err << "switchyard term: TLS needs the switch's certificate to verify it: "
              "--ca data/tls/switch.crt (the demo's self-signed one), or --insecure, or --plain "
              "for a plain listener\n";
    return kExitUsage;
  }
  options.state_file = g.get("--state", "./term-" + options.tid + ".state");

  std::optional<sim::TerminalClient> client;
  try {
    client.emplace(options);
  } catch (const std::exception& e) {
    return Usage(io, e.what());
  }
  const iso8583::Dialect& dialect = client->dialect();

  auto fail = [&](const sim::TerminalError& e) {
    for (const sim::Answer& a : e.completed) {
      if (json_out) {
        io.out << json::serialize(ToJson(dialect, a)) << "\n";
      } else {
        Print(dialect, a, io.out);
      }
    }
    io.err << "switchyard term: " << e.message << "\n";
    return e.kind == sim::TerminalError::Kind::kUsage ? kExitUsage : kExitFailure;
  };

  if (command == "batch-close") {
    auto result = client->BatchClose();
    if (!result) {
      return fail(result.error());
    }
    const std::string& batch = result->closed_batch;
    if (json_out) {
      json::array exchanges;
      for (const sim::Answer& a : result->answers) {
        exchanges.push_back(ToJson(dialect, a));
      }
      json::object o{{"closed", result->closed}, {"exchanges", std::move(exchanges)}};
      if (result->closed) {
        o["batch"] = batch;
      }
      io.out << json::serialize(o) << "\n";
    } else {
      for (const sim::Answer& a : result->answers) {
        Print(dialect, a, io.out);
      }
      io.out << (result->closed ? "batch " + batch + " closed, now batch " +
                                      std::to_string(client->batch_number())
                                : std::string("batch not closed"))
             << "\n";
    }
    return kExitOk;
  }

  // Copies of the clear PIN are wiped as soon as the request is built.
  auto wipe = [](std::optional<std::string>& p) {
    if (p) {
      std::fill(p->begin(), p->end(), '\0');
    }
  };
  sim::TerminalResult<sim::Answer> answer = sim::TerminalError{};
  if (command == "signon") {
    answer = client->SignOn();
  } else if (command == "signoff") {
    answer = client->SignOff();
  } else if (command == "echo") {
    answer = client->Echo();
  } else if (command == "keychange") {
    answer = client->KeyChange();
  } else if (command == "purchase" || command == "preauth") {
    sim::PurchaseRequest r{.pan = c.get("--pan"),
                           .amount_minor = *amount,
                           .currency = c.get("--currency", "978"),
                           .expiry = expiry,
                           .pin = pin,
                           .icc = icc};
    answer = command == "purchase" ? client->Purchase(r) : client->PreAuth(r);
    wipe(r.pin);
  } else if (command == "completion") {
    answer = client->Completion({.rrn = c.get("--rrn"),
                                 .amount_minor = *amount,
                                 .auth_code = c.get("--auth-code"),
                                 .pan = c.get("--pan"),
                                 .expiry = expiry,
                                 .currency = c.get("--currency")});
  } else if (command == "refund") {
    sim::RefundRequest r{.rrn = c.get("--rrn"),
                         .amount_minor = *amount,
                         .pan = c.get("--pan"),
                         .expiry = expiry,
                         .currency = c.get("--currency"),
                         .pin = pin};
    answer = client->Refund(r);
    wipe(r.pin);
  } else if (command == "void") {
    answer = client->Void(
        {.rrn = c.get("--rrn"), .pan = c.get("--pan"), .amount_minor = amount, .expiry = expiry});
  } else if (command == "reversal") {
    std::optional<std::string> stan;
    if (c.has("--stan")) {
      stan = c.get("--stan");
    }
    answer = client->Reversal({.stan = stan, .repeat = c.has("--repeat")});
  }
  wipe(pin);
  if (!answer) {
    return fail(answer.error());
  }
  if (json_out) {
    io.out << json::serialize(ToJson(dialect, *answer)) << "\n";
  } else {
    Print(dialect, *answer, io.out);
  }
  return kExitOk;
}

}  // namespace sy::cli
