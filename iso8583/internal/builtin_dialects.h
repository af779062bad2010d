#pragma once

#include <span>
#include <string_view>

namespace sy::iso8583::internal {

struct BuiltinDialectText {
  std::string_view name;
  std::string_view yaml;
};

// The YAML files of iso8583/dialects/, embedded at build time (see iso8583/CMakeLists.txt).
std::span<const BuiltinDialectText> BuiltinDialectTexts() noexcept;

}  // namespace sy::iso8583::internal
