#include "iso8583/dialect.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "iso8583/internal/builtin_dialects.h"

namespace sy::iso8583 {
namespace {

// Raised inside the loader only; FromYaml turns it into a DialectError.
struct LoadFailure {
  std::string message;
};

template <class E>
E Lookup(const std::map<std::string, E, std::less<>>& table, const YAML::Node& node,
         const std::string& path) {
  const std::string text = node.as<std::string>();
  auto it = table.find(text);
  if (it == table.end()) {
    std::string allowed;
    for (const auto& [k, v] : table) {
      allowed += allowed.empty() ? k : "|" + k;
    }
    throw LoadFailure{path + ": '" + text + "' is not one of " + allowed};
  }
  return it->second;
}

const std::map<std::string, Encoding, std::less<>> kEncodings = {{"ascii", Encoding::kAscii},
                                                                 {"bcd", Encoding::kBcd},
                                                                 {"binary", Encoding::kBinary},
                                                                 {"hex", Encoding::kHex},
                                                                 {"ebcdic", Encoding::kEbcdic}};
const std::map<std::string, FieldType, std::less<>> kTypes = {
    {"n", FieldType::kNumeric}, {"a", FieldType::kAlpha},  {"an", FieldType::kAlphaNumeric},
    {"ans", FieldType::kText},  {"b", FieldType::kBinary}, {"z", FieldType::kTrack},
    {"xn", FieldType::kAmount}};
const std::map<std::string, LengthType, std::less<>> kLengths = {{"fixed", LengthType::kFixed},
                                                                 {"LL", LengthType::kLl},
                                                                 {"LLL", LengthType::kLll},
                                                                 {"LLLL", LengthType::kLlll}};
const std::map<std::string, Side, std::less<>> kSides = {{"left", Side::kLeft},
                                                         {"right", Side::kRight}};
const std::map<std::string, Sensitivity, std::less<>> kSensitivities = {
    {"none", Sensitivity::kNone},
    {"pan", Sensitivity::kPan},
    {"track", Sensitivity::kTrack},
    {"pin_block", Sensitivity::kPinBlock},
    {"secret", Sensitivity::kSecret}};

void RejectUnknownKeys(const YAML::Node& map, std::initializer_list<std::string_view> known,
                       const std::string& path) {
  if (!map.IsMap()) {
    throw LoadFailure{path + ": expected a mapping"};
  }
  for (const auto& kv : map) {
    const std::string key = kv.first.as<std::string>();
    bool ok = false;
    for (auto k : known) {
      ok = ok || k == key;
    }
    if (!ok) {
      throw LoadFailure{(path.empty() ? key : path + "." + key) + ": unknown key"};
    }
  }
}

int ParseInt(const YAML::Node& node, const std::string& path, int lo, int hi) {
  const std::string text = node.as<std::string>();
  int v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < lo || v > hi) {
    throw LoadFailure{path + ": '" + text + "' is not a whole number from " + std::to_string(lo) +
                      " to " + std::to_string(hi)};
  }
  return v;
}

// The largest length a prefix of this kind and encoding can state.
int PrefixCapacity(LengthType lt, Encoding prefix) {
  if (prefix == Encoding::kBinary) {
    return lt == LengthType::kLl ? 255 : 65535;
  }
  switch (lt) {
    case LengthType::kLl:
      return 99;
    case LengthType::kLll:
      return 999;
    case LengthType::kLlll:
      return 9999;
    case LengthType::kFixed:
      break;
  }
  return 0;
}

FieldSpec ParseField(const YAML::Node& node, const std::string& path) {
  RejectUnknownKeys(node,
                    {"name", "type", "length", "size", "max", "prefix", "encoding", "bcd_pad",
                     "pad_nibble", "sensitivity"},
                    path);
  FieldSpec f;
  f.defined = true;
  if (!node["type"]) {
    throw LoadFailure{path + ".type: missing"};
  }
  if (!node["length"]) {
    throw LoadFailure{path + ".length: missing"};
  }
  f.name = node["name"] ? node["name"].as<std::string>() : std::string();
  f.type = Lookup(kTypes, node["type"], path + ".type");
  f.length_type = Lookup(kLengths, node["length"], path + ".length");
  const bool fixed = f.is_fixed();
  const char* size_key = fixed ? "size" : "max";
  if (node[fixed ? "max" : "size"]) {
    throw LoadFailure{path + "." + (fixed ? "max" : "size") + ": use '" + size_key + "' for " +
                      (fixed ? "a fixed" : "a variable") + "-length field"};
  }
  if (!node[size_key]) {
    throw LoadFailure{path + "." + size_key + ": missing"};
  }
  f.max_length =
      static_cast<std::uint16_t>(ParseInt(node[size_key], path + "." + size_key, 1, 9999));
  if (f.type == FieldType::kAmount && f.max_length < 2) {
    throw LoadFailure{path + ".size: an amount needs a sign and at least one digit"};
  }

  const bool digits =
      f.type == FieldType::kNumeric || f.type == FieldType::kTrack || f.type == FieldType::kAmount;
  f.encoding = node["encoding"]
                   ? Lookup(kEncodings, node["encoding"], path + ".encoding")
                   : (f.type == FieldType::kBinary ? Encoding::kBinary : Encoding::kAscii);
  if (f.encoding == Encoding::kBcd && !digits) {
    throw LoadFailure{path + ".encoding: bcd needs type n, z or xn"};
  }
  if ((f.encoding == Encoding::kBinary || f.encoding == Encoding::kHex) &&
      f.type != FieldType::kBinary) {
    throw LoadFailure{path + ".encoding: binary and hex need type b"};
  }
  if (f.type == FieldType::kBinary && f.encoding != Encoding::kBinary &&
      f.encoding != Encoding::kHex) {
    throw LoadFailure{path + ".encoding: type b needs encoding binary or hex"};
  }

  if (fixed) {
    if (node["prefix"]) {
      throw LoadFailure{path + ".prefix: a fixed-length field has no length prefix"};
    }
  } else {
    if (!node["prefix"]) {
      throw LoadFailure{path + ".prefix: missing (ascii, bcd, binary or ebcdic)"};
    }
    f.prefix = Lookup(kEncodings, node["prefix"], path + ".prefix");
    if (f.prefix == Encoding::kHex) {
      throw LoadFailure{path + ".prefix: must be ascii, bcd, binary or ebcdic"};
    }
    const int cap = PrefixCapacity(f.length_type, f.prefix);
    if (f.max_length > cap) {
      throw LoadFailure{path + ".max: " + std::to_string(f.max_length) +
                        " does not fit the length prefix (at most " + std::to_string(cap) + ")"};
    }
  }
  f.bcd_pad = fixed ? Side::kLeft : Side::kRight;
  if (node["bcd_pad"]) {
    if (f.encoding != Encoding::kBcd) {
      throw LoadFailure{path + ".bcd_pad: only for encoding bcd"};
    }
    f.bcd_pad = Lookup(kSides, node["bcd_pad"], path + ".bcd_pad");
  }
  if (node["pad_nibble"]) {
    const std::string v = node["pad_nibble"].as<std::string>();
    if (v != "0" && v != "F" && v != "f") {
      throw LoadFailure{path + ".pad_nibble: '" + v + "' is not 0 or F"};
    }
    f.pad_nibble = v == "0" ? 0 : 0xF;
  }
  if (node["sensitivity"]) {
    f.sensitivity = Lookup(kSensitivities, node["sensitivity"], path + ".sensitivity");
  }
  return f;
}

}  // namespace

void throw_exception_from_error(const DialectError& e, const boost::source_location&) {
  throw std::runtime_error(e.message);
}

boost::system::result<Dialect, DialectError> Dialect::FromYaml(std::string_view yaml,
                                                               std::string_view origin) {
  const std::string where(origin);
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    RejectUnknownKeys(root, {"name", "description", "mti", "bitmap", "tertiary_bitmap", "fields"},
                      "");
    Dialect d;
    if (!root["name"]) {
      throw LoadFailure{"name: missing"};
    }
    d.name_ = root["name"].as<std::string>();
    d.mti_ = root["mti"] ? Lookup(kEncodings, root["mti"], "mti") : Encoding::kAscii;
    if (d.mti_ == Encoding::kBinary || d.mti_ == Encoding::kHex) {
      throw LoadFailure{"mti: must be ascii, bcd or ebcdic"};
    }
    d.bitmap_ = root["bitmap"] ? Lookup(kEncodings, root["bitmap"], "bitmap") : Encoding::kBinary;
    if (d.bitmap_ == Encoding::kBcd || d.bitmap_ == Encoding::kAscii) {
      throw LoadFailure{"bitmap: must be binary, hex or ebcdic"};
    }
    d.tertiary_ = root["tertiary_bitmap"] && root["tertiary_bitmap"].as<bool>();
    const YAML::Node fields = root["fields"];
    if (!fields || !fields.IsMap()) {
      throw LoadFailure{"fields: missing or not a mapping"};
    }
    for (const auto& kv : fields) {
      const std::string key = kv.first.as<std::string>();
      const int n = ParseInt(kv.first, "fields." + key, 2, kMaxField);
      if (n == 65 && d.tertiary_) {
        throw LoadFailure{"fields.65: bit 65 announces the tertiary bitmap in this dialect"};
      }
      if (n > 128 && !d.tertiary_) {
        throw LoadFailure{"fields." + key + ": fields above 128 need tertiary_bitmap: true"};
      }
      if (d.fields_[n].defined) {
        throw LoadFailure{"fields." + key + ": defined twice"};
      }
      d.fields_[n] = ParseField(kv.second, "fields." + key);
    }
    return d;
  } catch (const LoadFailure& e) {
    return DialectError{"dialect " + where + ": " + e.message};
  } catch (const YAML::Exception& e) {
    return DialectError{"dialect " + where + ": " + e.what()};
  }
}

boost::system::result<Dialect, DialectError> Dialect::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return DialectError{"dialect " + path + ": cannot open the file"};
  }
  std::ostringstream text;
  text << in.rdbuf();
  return FromYaml(text.str(), path);
}

std::span<const std::string_view> BuiltinDialectNames() noexcept {
  static constexpr std::string_view kNames[] = {"iso87a", "iso87b", "iso93a", "iso93b"};
  return kNames;
}

boost::system::result<std::shared_ptr<const Dialect>, DialectError> LoadDialect(
    std::string_view name_or_path) {
  const bool is_path = name_or_path.find('/') != std::string_view::npos ||
                       name_or_path.ends_with(".yaml") || name_or_path.ends_with(".yml");
  if (is_path) {
    auto d = Dialect::FromFile(std::string(name_or_path));
    if (!d) {
      return d.error();
    }
    return std::make_shared<const Dialect>(std::move(*d));
  }
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const Dialect>, std::less<>> cache;
  std::lock_guard lock(mu);
  if (auto it = cache.find(name_or_path); it != cache.end()) {
    return it->second;
  }
  for (const auto& t : internal::BuiltinDialectTexts()) {
    if (t.name == name_or_path) {
      auto d = Dialect::FromYaml(t.yaml, std::string(t.name) + ".yaml");
      if (!d) {
        return d.error();
      }
      auto p = std::make_shared<const Dialect>(std::move(*d));
      cache.emplace(std::string(name_or_path), p);
      return p;
    }
  }
  std::string names;
  for (auto n : BuiltinDialectNames()) {
    names += names.empty() ? std::string(n) : ", " + std::string(n);
  }
  return DialectError{"dialect '" + std::string(name_or_path) + "' is not shipped (shipped: " +
                      names + "; give a path to a .yaml file for another)"};
}

}  // namespace sy::iso8583
