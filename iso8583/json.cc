#include "iso8583/json.h"

#include <boost/json.hpp>
#include <charconv>
#include <stdexcept>

#include "iso8583/mask.h"
#include "iso8583/tlv.h"

namespace sy::iso8583 {
namespace {

// ISO-8859-1 bytes to UTF-8, and back (refusing code points above U+00FF).
std::string Latin1ToUtf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (unsigned char c : in) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

bool Utf8ToLatin1(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    const auto c = static_cast<unsigned char>(in[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if ((c & 0xFE) == 0xC2 && i + 1 < in.size()) {
      out += static_cast<char>(((c & 0x03) << 6) | (static_cast<unsigned char>(in[++i]) & 0x3F));
    } else {
      return false;
    }
  }
  return true;
}

boost::json::array TlvToJson(std::span<const std::uint8_t> data, int depth, bool& ok) {
  boost::json::array out;
  TlvReader reader(data);
  while (true) {
    auto next = reader.Next();
    if (!next) {
      ok = false;
      return out;
    }
    if (!next->has_value()) {
      return out;
    }
    const Tlv& t = **next;
    boost::json::object node;
    // The tag's bytes, big-endian, without leading zero bytes.
    char tag_bytes[4];
    std::size_t tag_len = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
      const auto b = static_cast<char>((t.tag >> shift) & 0xFF);
      if (tag_len > 0 || b != 0 || shift == 0) {
        tag_bytes[tag_len++] = b;
      }
    }
    const std::string tag_hex = ToHex({tag_bytes, tag_len});
    node["tag"] = tag_hex;
    node["len"] = t.value.size();
    if (t.constructed && depth < 8) {
      node["tlv"] = TlvToJson(t.value, depth + 1, ok);
    } else {
      node["value"] = ToHex({reinterpret_cast<const char*>(t.value.data()), t.value.size()});
    }
    out.push_back(std::move(node));
  }
}

}  // namespace

std::string ToHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 0x0F];
  }
  return out;
}

bool FromHex(std::string_view hex, std::string& out) {
  out.clear();
  if (hex.size() % 2 != 0) {
    return false;
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    return -1;
  };
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]);
    const int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    out += static_cast<char>((hi << 4) | lo);
  }
  return true;
}

boost::json::object ToJson(const Dialect& dialect, const Message& msg, const JsonOptions& options) {
  boost::json::object out;
  out["0"] = std::string(msg.mti());
  for (int n : msg.present_fields()) {
    const FieldSpec& spec = dialect.field(n);
    const std::string_view v = msg.Get(n);
    const bool mask = !options.unmask && spec.sensitivity != Sensitivity::kNone;
    const std::string key = std::to_string(n);
    if (spec.type == FieldType::kBinary) {
      std::string hex = ToHex(v);
      if (mask) {
        hex.assign(hex.size(), '*');
      }
      out[key] = boost::json::object{{"bin", hex}};
    } else {
      out[key] = Latin1ToUtf8(mask ? MaskValue(spec, v) : std::string(v));
    }
  }
  if (options.tlv && msg.Has(55)) {
    const std::string_view v = msg.Get(55);
    bool ok = true;
    auto tree = TlvToJson({reinterpret_cast<const std::uint8_t*>(v.data()), v.size()}, 0, ok);
    if (ok) {
      out["55_tlv"] = std::move(tree);
    }
  }
  return out;
}

void throw_exception_from_error(const JsonError& e, const boost::source_location&) {
  throw std::runtime_error(e.message);
}

boost::system::result<void, JsonError> FromJson(const boost::json::object& json, Message& msg) {
  msg.Reset();
  std::string bytes;
  for (const auto& kv : json) {
    const std::string_view key = kv.key();
    if (key.ends_with("_tlv")) {
      continue;
    }
    int n = -1;
    auto [p, ec] = std::from_chars(key.data(), key.data() + key.size(), n);
    if (ec != std::errc() || p != key.data() + key.size() || n < 0 || n == 1 ||
        n > Message::kMaxField) {
      return JsonError{"key \"" + std::string(key) +
                       "\" is not \"0\" (the MTI) or a field number from 2 to 192"};
    }
    const boost::json::value& v = kv.value();
    if (v.is_string()) {
      if (!Utf8ToLatin1(v.get_string(), bytes)) {
        return JsonError{"field " + std::string(key) + ": text has characters outside ISO-8859-1"};
      }
    } else if (v.is_object() && v.get_object().size() == 1 && v.get_object().contains("bin") &&
               v.get_object().at("bin").is_string()) {
      if (!FromHex(v.get_object().at("bin").get_string(), bytes)) {
        return JsonError{"field " + std::string(key) +
                         ": \"bin\" is not an even number of hex digits"};
      }
    } else {
      return JsonError{"field " + std::string(key) + ": value must be a string or {\"bin\": HEX}"};
    }
    if (n == 0) {
      if (bytes.size() != 4) {
        return JsonError{"field 0: the MTI must be 4 digits"};
      }
      msg.SetMti(bytes);
    } else {
      msg.Set(n, bytes);
    }
  }
  if (msg.mti().empty()) {
    return JsonError{"field 0: missing (the MTI)"};
  }
  return {};
}

}  // namespace sy::iso8583
