// switchyard term — a POS terminal simulator (sy::sim::TerminalClient): signs on or sends one
// purchase to the switch and prints the answer on one line (or as JSON).
//
//   switchyard term --ca data/tls/switch.crt signon
//   switchyard term --plain purchase --pan 4761739001010010 --amount 1000 --expiry 3012 --pin 1234

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>

#include "cli/commands.h"
#include "iso8583/mask.h"
#include "sim/terminal.h"

namespace sy::cli {

namespace {

constexpr std::string_view kUsage =
    "usage: switchyard term [--host H] [--port N] [--plain | --ca FILE | --insecure]\n"
    "                       [--tid TID] [--mid MID] [--bdk HEX] [--ksn HEX] [--state FILE]\n"
    "                       [--timeout-ms N] [--json]\n"
    "                       (signon | purchase --pan PAN --amount MINOR [--currency 978]\n"
    "                                          [--expiry YYMM (default 3012)] [--pin DIGITS])\n"
    "  --host, --port   the switch's terminal listener (default 127.0.0.1 8583)\n"
    "  --plain          plain TCP instead of TLS\n"
    "  --ca FILE        verify the switch's certificate against FILE (demo: data/tls/switch.crt)\n"
    "  --insecure       TLS without verifying the switch (demo only)\n"
    "  --tid, --mid     terminal and merchant (default TERM0001, MERCHANT0000001)\n"
    "  --bdk, --ksn     TEST BDK (32 hex) and initial KSN (20 hex) of the demo terminal by "
    "default\n"
    "  --state FILE     where the KSN counter is kept (default ./term-<TID>.state)\n"
    "  --json           print the answer as one JSON object\n"
    "Exit status: 0 an answer came (whatever field 39 says), 1 transport or protocol failure,\n"
    "2 usage error.\n";

int Usage(Io& io, const std::string& why) {
  io.err << "switchyard term: " << why << "\n" << kUsage;
  return kExitUsage;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

std::string JsonString(std::string_view s) {
  std::string r = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      r += '\\';
      r += c;
    } else if (u < 0x20 || u >= 0x7F) {
      static constexpr char kHex[] = "0123456789abcdef";
      r += "\\u00";
      r += kHex[u >> 4];
      r += kHex[u & 0xF];
    } else {
      r += c;
    }
  }
  return r + "\"";
}

}  // namespace

int RunTerm(Args args, Io& io) {
  sim::TerminalOptions options;
  std::string state_file;
  bool plain = false;
  bool json = false;
  std::string command;
  std::optional<std::string> pan;
  std::optional<std::int64_t> amount;
  std::string currency = "978";
  std::string expiry = "3012";  // the demo cards' expiry: a terminal reads it from the card
  bool expiry_given = false;
  std::optional<std::string> pin;

  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "--help" || a == "-h") {
      io.out << kUsage;
      return kExitOk;
    }
    if (a == "--plain") {
      plain = true;
      continue;
    }
    if (a == "--insecure") {
      options.insecure = true;
      continue;
    }
    if (a == "--json") {
      json = true;
      continue;
    }
    if (a == "signon" || a == "purchase") {
      if (!command.empty()) {
        return Usage(io, "one command only ('" + command + "' and '" + std::string(a) + "')");
      }
      command = std::string(a);
      continue;
    }
    static constexpr std::string_view kValued[] = {
        "--host",  "--port", "--ca",     "--tid",      "--mid",    "--bdk", "--ksn",
        "--state", "--pan",  "--amount", "--currency", "--expiry", "--pin", "--timeout-ms"};
    if (std::find(std::begin(kValued), std::end(kValued), a) == std::end(kValued)) {
      return Usage(io, "unknown argument '" + std::string(a) + "'");
    }
    if (i + 1 >= args.size()) {
      return Usage(io, std::string(a) + " needs a value");
    }
    const std::string v(args[++i]);
    if (a == "--host") {
      options.host = v;
    } else if (a == "--port") {
      if (!AllDigits(v) || v.size() > 5 || std::stoul(v) == 0 || std::stoul(v) > 65535) {
        return Usage(io, "--port: '" + v + "' is not a port number");
      }
      options.port = static_cast<std::uint16_t>(std::stoul(v));
    } else if (a == "--ca") {
      options.ca_file = v;
    } else if (a == "--tid") {
      options.tid = v;
    } else if (a == "--mid") {
      options.mid = v;
    } else if (a == "--bdk") {
      options.bdk_hex = v;
    } else if (a == "--ksn") {
      options.initial_ksn_hex = v;
    } else if (a == "--state") {
      state_file = v;
    } else if (a == "--pan") {
      if (!AllDigits(v) || v.size() < 8 || v.size() > 19) {
        return Usage(io, "--pan: 8 to 19 digits");
      }
      pan = v;
    } else if (a == "--amount") {
      if (!AllDigits(v) || v.size() > 12) {
        return Usage(io, "--amount: minor units, 1 to 12 digits");
      }
      amount = std::stoll(v);
    } else if (a == "--currency") {
      if (!AllDigits(v) || v.size() != 3) {
        return Usage(io, "--currency: ISO 4217 numeric code, 3 digits");
      }
      currency = v;
    } else if (a == "--expiry") {
      if (!AllDigits(v) || v.size() != 4) {
        return Usage(io, "--expiry: YYMM");
      }
      expiry = v;
      expiry_given = true;
    } else if (a == "--pin") {
      if (!AllDigits(v) || v.size() < 4 || v.size() > 12) {
        return Usage(io, "--pin: 4 to 12 digits");
      }
      pin = v;
    } else if (a == "--timeout-ms") {
      if (!AllDigits(v) || v.size() > 7 || std::stol(v) == 0) {
        return Usage(io, "--timeout-ms: 1 to 9999999");
      }
      options.timeout = std::chrono::milliseconds(std::stol(v));
    }
  }
  if (command.empty()) {
    return Usage(io, "signon or purchase?");
  }
  if (command == "purchase" && (!pan || !amount)) {
    return Usage(io, "purchase needs --pan and --amount");
  }
  if (command == "signon" && (pan || amount || pin || expiry_given)) {
    return Usage(io, "signon takes no card data");
  }
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
  options.state_file = state_file.empty() ? "./term-" + options.tid + ".state" : state_file;

  std::optional<sim::TerminalClient> client;
  try {
    client.emplace(options);
  } catch (const std::exception& e) {
    return Usage(io, e.what());
  }
  sim::TerminalResult<sim::Answer> answer = command == "signon"
                                                ? client->SignOn()
                                                : client->Purchase({.pan = *pan,
                                                                    .amount_minor = *amount,
                                                                    .currency = currency,
                                                                    .expiry = expiry,
                                                                    .pin = pin});
  if (pin) {
    std::fill(pin->begin(), pin->end(), '\0');  // the clear PIN is not kept around
  }
  if (!answer) {
    io.err << "switchyard term: " << answer.error().message << "\n";
    return kExitFailure;
  }
  const iso8583::Message& r = answer->response;
  const std::string mac = !answer->mac_present ? "none" : answer->mac_ok ? "ok" : "BAD";
  const std::string_view description = sim::DescribeResponseCode(answer->response_code);
  if (json) {
    io.out << "{\"mti\":" << JsonString(r.mti())
           << ",\"response_code\":" << JsonString(answer->response_code)
           << ",\"description\":" << JsonString(description);
    if (r.Has(38)) {
      io.out << ",\"auth\":" << JsonString(r.Get(38));
    }
    if (r.Has(37)) {
      io.out << ",\"rrn\":" << JsonString(r.Get(37));
    }
    io.out << ",\"stan\":" << JsonString(r.Get(11)) << ",\"ksn\":" << JsonString(answer->ksn_hex)
           << ",\"mac\":" << JsonString(mac);
    if (pan) {
      io.out << ",\"pan\":" << JsonString(iso8583::MaskPan(*pan));
    }
    io.out << "}\n";
  } else {
    io.out << r.mti() << " 39=" << answer->response_code << " " << description;
    if (r.Has(38)) {
      io.out << " auth=" << r.Get(38);
    }
    if (r.Has(37)) {
      io.out << " rrn=" << r.Get(37);
    }
    io.out << " MAC " << mac << "\n";
  }
  return kExitOk;
}

}  // namespace sy::cli
