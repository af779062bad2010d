#include "proto/yaml.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

namespace sy::proto {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

struct Failure {
  std::string message;
};

[[noreturn]] void Fail(const std::string& path, const std::string& what) {
  throw Failure{(path.empty() ? std::string("(top)") : path) + ": " + what};
}

std::string Scalar(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) {
    Fail(path, "expected a single value");
  }
  return node.Scalar();
}

template <class T>
T ParseInteger(const YAML::Node& node, const std::string& path, const char* what) {
  const std::string text = Scalar(node, path);
  T v{};
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if (!text.empty() && text[0] == '+') {
    ++begin;
  }
  auto [p, ec] = std::from_chars(begin, end, v);
  if (ec == std::errc::result_out_of_range) {
    Fail(path, "'" + text + "' is out of range for " + what);
  }
  if (ec != std::errc() || p != end || begin == end) {
    Fail(path, "'" + text + "' is not " + what);
  }
  return v;
}

double ParseDouble(const YAML::Node& node, const std::string& path) {
  const std::string text = Scalar(node, path);
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || !std::isfinite(v)) {
    Fail(path, "'" + text + "' is not a number");
  }
  return v;
}

bool ParseBool(const YAML::Node& node, const std::string& path) {
  const std::string text = Scalar(node, path);
  if (text == "true") {
    return true;
  }
  if (text == "false") {
    return false;
  }
  Fail(path, "'" + text + "' is not true or false");
}

void MergeMessage(const YAML::Node& node, const std::string& path, Message& msg);

// Sets (or adds, for repeated fields) one value of a field from a YAML node.
void SetValue(const YAML::Node& node, const std::string& path, Message& msg,
              const FieldDescriptor* f) {
  const Reflection* r = msg.GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: {
      auto v = ParseInteger<std::int32_t>(node, path, "a 32-bit whole number");
      rep ? r->AddInt32(&msg, f, v) : r->SetInt32(&msg, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      auto v = ParseInteger<std::int64_t>(node, path, "a 64-bit whole number");
      rep ? r->AddInt64(&msg, f, v) : r->SetInt64(&msg, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      auto v = ParseInteger<std::uint32_t>(node, path, "a non-negative 32-bit whole number");
      rep ? r->AddUInt32(&msg, f, v) : r->SetUInt32(&msg, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      auto v = ParseInteger<std::uint64_t>(node, path, "a non-negative 64-bit whole number");
      rep ? r->AddUInt64(&msg, f, v) : r->SetUInt64(&msg, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      const double v = ParseDouble(node, path);
      rep ? r->AddDouble(&msg, f, v) : r->SetDouble(&msg, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_FLOAT: {
      const auto v = static_cast<float>(ParseDouble(node, path));
      rep ? r->AddFloat(&msg, f, v) : r->SetFloat(&msg, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      const bool v = ParseBool(node, path);
      rep ? r->AddBool(&msg, f, v) : r->SetBool(&msg, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string v = Scalar(node, path);
      rep ? r->AddString(&msg, f, std::move(v)) : r->SetString(&msg, f, std::move(v));
      break;
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const std::string text = Scalar(node, path);
      const auto* value = f->enum_type()->FindValueByName(text);
      if (value == nullptr) {
        std::string names;
        for (int i = 0; i < f->enum_type()->value_count(); ++i) {
          const auto* ev = f->enum_type()->value(i);
          if (ev->number() != 0) {
            names += names.empty() ? ev->name() : ", " + ev->name();
          }
        }
        Fail(path, "'" + text + "' is not one of " + names);
      }
      rep ? r->AddEnum(&msg, f, value) : r->SetEnum(&msg, f, value);
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      Message* sub = rep ? r->AddMessage(&msg, f) : r->MutableMessage(&msg, f);
      MergeMessage(node, path, *sub);
      break;
    }
  }
}

void MergeMessage(const YAML::Node& node, const std::string& path, Message& msg) {
  if (node.IsNull()) {
    return;  // "key:" with nothing after it: keep the defaults
  }
  if (!node.IsMap()) {
    Fail(path, "expected a mapping of keys to values");
  }
  const Descriptor* d = msg.GetDescriptor();
  const Reflection* r = msg.GetReflection();
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const std::string here = path.empty() ? key : path + "." + key;
    const FieldDescriptor* f = d->FindFieldByName(key);
    if (f == nullptr) {
      Fail(here, "unknown key");
    }
    const YAML::Node& value = kv.second;
    if (f->is_map()) {
      if (!value.IsMap() && !value.IsNull()) {
        Fail(here, "expected a mapping");
      }
      r->ClearField(&msg, f);
      const FieldDescriptor* key_field = f->message_type()->map_key();
      const FieldDescriptor* value_field = f->message_type()->map_value();
      for (const auto& entry : value) {
        const std::string k = entry.first.as<std::string>();
        Message* e = r->AddMessage(&msg, f);
        SetValue(entry.first, here + "[" + k + "]", *e, key_field);
        SetValue(entry.second, here + "." + k, *e, value_field);
      }
    } else if (f->is_repeated()) {
      if (!value.IsSequence() && !value.IsNull()) {
        Fail(here, "expected a list");
      }
      r->ClearField(&msg, f);  // a list in the file replaces the default list
      int i = 0;
      for (const auto& item : value) {
        SetValue(item, here + "[" + std::to_string(i++) + "]", msg, f);
      }
    } else {
      SetValue(value, here, msg, f);
    }
  }
}

}  // namespace

std::string MergeYaml(std::string_view yaml, std::string_view origin, Message& msg) {
  try {
    MergeMessage(YAML::Load(std::string(yaml)), "", msg);
    return {};
  } catch (const Failure& f) {
    return std::string(origin) + ": " + f.message;
  } catch (const YAML::Exception& e) {
    return std::string(origin) + ": " + e.what();
  }
}

std::string MergeYamlFile(const std::string& path, Message& msg) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return path + ": cannot open the file";
  }
  std::ostringstream text;
  text << in.rdbuf();
  return MergeYaml(text.str(), path, msg);
}

}  // namespace sy::proto
