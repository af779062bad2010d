// switchyard iso8583 — how an operator reads a captured message, and writes one for a test.
//
//   switchyard iso8583 decode --dialect NAME [--hex HEX | --file F] [--json] [--unmask]
//   switchyard iso8583 encode --dialect NAME [--file F]      (JSON in, hex out)
//   switchyard iso8583 dialects

#include <boost/json.hpp>
#include <fstream>
#include <iomanip>
#include <istream>
#include <ostream>
#include <sstream>
#include <string>

#include "cli/commands.h"
#include "iso8583/codec.h"
#include "iso8583/json.h"
#include "iso8583/mask.h"

namespace sy::cli {
namespace {

using iso8583::Dialect;
using iso8583::Message;

constexpr std::string_view kUsage =
    "usage:\n"
    "  switchyard iso8583 decode --dialect NAME [--hex HEX | --file FILE] [--json] [--unmask]\n"
    "      Prints a packed message (MTI, bitmap and fields; no length or TPDU). With neither\n"
    "      --hex nor --file, reads hex from standard input. --file reads raw bytes.\n"
    "      PAN, track and PIN block fields are masked unless --unmask is given.\n"
    "  switchyard iso8583 encode --dialect NAME [--file FILE]\n"
    "      Reads a message as JSON ({\"0\": MTI, \"2\": \"digits\", \"52\": {\"bin\": HEX}, ...})\n"
    "      from FILE or standard input and prints the packed message as hex.\n"
    "  switchyard iso8583 dialects\n"
    "      Lists the shipped dialects. NAME may also be a path to a dialect .yaml file.\n";

struct Options {
  std::string dialect;
  std::string hex;
  std::string file;
  bool have_hex = false;
  bool json = false;
  bool unmask = false;
};

int UsageError(Io& io, const std::string& what) {
  io.err << "switchyard iso8583: " << what << "\n" << kUsage;
  return kExitUsage;
}

// Parses flags; returns an error sentence, or empty on success.
std::string ParseFlags(Args args, bool decode, Options& o) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    auto value = [&](std::string& out) -> bool {
      if (i + 1 >= args.size()) {
        return false;
      }
      out = std::string(args[++i]);
      return true;
    };
    if (a == "--dialect") {
      if (!value(o.dialect)) {
        return "--dialect needs a value";
      }
    } else if (a == "--file") {
      if (!value(o.file)) {
        return "--file needs a value";
      }
    } else if (decode && a == "--hex") {
      if (!value(o.hex)) {
        return "--hex needs a value";
      }
      o.have_hex = true;
    } else if (decode && a == "--json") {
      o.json = true;
    } else if (decode && a == "--unmask") {
      o.unmask = true;
    } else {
      return "unknown argument '" + std::string(a) + "'";
    }
  }
  if (o.dialect.empty()) {
    return "--dialect is required";
  }
  if (o.have_hex && !o.file.empty()) {
    return "give --hex or --file, not both";
  }
  return {};
}

bool ReadFile(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return false;
  }
  std::ostringstream s;
  s << in.rdbuf();
  out = s.str();
  return true;
}

std::string StripSpace(std::string_view in) {
  std::string out;
  for (char c : in) {
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
      out += c;
    }
  }
  return out;
}

const char* TypeName(iso8583::FieldType t) {
  switch (t) {
    case iso8583::FieldType::kNumeric:
      return "n";
    case iso8583::FieldType::kAlpha:
      return "a";
    case iso8583::FieldType::kAlphaNumeric:
      return "an";
    case iso8583::FieldType::kText:
      return "ans";
    case iso8583::FieldType::kBinary:
      return "b";
    case iso8583::FieldType::kTrack:
      return "z";
    case iso8583::FieldType::kAmount:
      return "x+n";
  }
  return "?";
}

void PrintText(const Dialect& d, const Message& m, bool unmask, std::ostream& os) {
  os << "MTI " << m.mti() << "  (" << d.name() << ", " << m.field_count() << " fields)\n";
  for (int n : m.present_fields()) {
    const iso8583::FieldSpec& f = d.field(n);
    const std::string_view v = m.Get(n);
    std::string shown;
    if (f.type == iso8583::FieldType::kBinary) {
      shown = iso8583::ToHex(v);
      if (!unmask && f.sensitivity != iso8583::Sensitivity::kNone) {
        shown.assign(shown.size(), '*');
      }
    } else {
      shown = unmask ? std::string(v) : iso8583::MaskValue(f, v);
      shown = "'" + shown + "'";
    }
    std::string type = TypeName(f.type);
    type += f.is_fixed() ? std::to_string(f.max_length) : ".." + std::to_string(f.max_length);
    os << std::setw(4) << n << "  " << std::left << std::setw(8) << type << std::right << " "
       << shown << "  " << f.name << "\n";
  }
}

int Decode(Args args, Io& io) {
  Options o;
  if (auto e = ParseFlags(args, true, o); !e.empty()) {
    return UsageError(io, e);
  }
  auto dialect = iso8583::LoadDialect(o.dialect);
  if (!dialect) {
    io.err << "switchyard iso8583: " << dialect.error().message << "\n";
    return kExitUsage;
  }
  std::string bytes;
  if (!o.file.empty()) {
    if (!ReadFile(o.file, bytes)) {
      io.err << "switchyard iso8583: cannot read " << o.file << "\n";
      return kExitFailure;
    }
  } else {
    std::string hex = o.have_hex ? o.hex : std::string(std::istreambuf_iterator<char>(io.in), {});
    if (!iso8583::FromHex(StripSpace(hex), bytes)) {
      io.err << "switchyard iso8583: the message is not an even number of hex digits\n";
      return kExitFailure;
    }
  }
  Message msg;
  if (auto r = iso8583::Unpack(**dialect, bytes, msg); !r) {
    io.err << "switchyard iso8583: cannot decode as " << (*dialect)->name() << ": "
           << r.error().Describe() << "\n";
    return kExitFailure;
  }
  if (o.unmask) {
    io.err << "switchyard iso8583: warning: --unmask shows clear card data (PAN, track, PIN "
              "block); use it only with test cards\n";
  }
  if (o.json) {
    io.out << boost::json::serialize(iso8583::ToJson(**dialect, msg, {.unmask = o.unmask})) << "\n";
  } else {
    PrintText(**dialect, msg, o.unmask, io.out);
  }
  return kExitOk;
}

int Encode(Args args, Io& io) {
  Options o;
  if (auto e = ParseFlags(args, false, o); !e.empty()) {
    return UsageError(io, e);
  }
  auto dialect = iso8583::LoadDialect(o.dialect);
  if (!dialect) {
    io.err << "switchyard iso8583: " << dialect.error().message << "\n";
    return kExitUsage;
  }
  std::string text;
  if (!o.file.empty()) {
    if (!ReadFile(o.file, text)) {
      io.err << "switchyard iso8583: cannot read " << o.file << "\n";
      return kExitFailure;
    }
  } else {
    text.assign(std::istreambuf_iterator<char>(io.in), {});
  }
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(text, ec);
  if (ec || !doc.is_object()) {
    io.err << "switchyard iso8583: the input is not a JSON object"
           << (ec ? " (" + ec.message() + ")" : std::string()) << "\n";
    return kExitFailure;
  }
  Message msg;
  if (auto r = iso8583::FromJson(doc.get_object(), msg); !r) {
    io.err << "switchyard iso8583: " << r.error().message << "\n";
    return kExitFailure;
  }
  std::string out;
  if (auto r = iso8583::Pack(**dialect, msg, out); !r) {
    io.err << "switchyard iso8583: cannot encode as " << (*dialect)->name() << ": "
           << r.error().Describe() << "\n";
    return kExitFailure;
  }
  io.out << iso8583::ToHex(out) << "\n";
  return kExitOk;
}

}  // namespace

int RunIso8583(Args args, Io& io) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    (args.empty() ? io.err : io.out) << kUsage;
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] == "decode") {
    return Decode(args.subspan(1), io);
  }
  if (args[0] == "encode") {
    return Encode(args.subspan(1), io);
  }
  if (args[0] == "dialects") {
    for (auto name : iso8583::BuiltinDialectNames()) {
      io.out << name << "\n";
    }
    return kExitOk;
  }
  return UsageError(io, "unknown subcommand '" + std::string(args[0]) + "'");
}

}  // namespace sy::cli
