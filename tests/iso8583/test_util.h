#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "iso8583/dialect.h"
#include "iso8583/json.h"

namespace sy::iso8583::testing {

// Files under tests/data, found from the source tree whatever the working directory.
inline std::string DataPath(const std::string& rel) {
  const char* root = std::getenv("SY_SOURCE_DIR");
  return (root != nullptr ? std::string(root) : std::string(".")) + "/tests/data/" + rel;
}

inline std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) {
      lines.push_back(line);
    }
  }
  return lines;
}

inline std::shared_ptr<const Dialect> Builtin(std::string_view name) {
  auto d = LoadDialect(name);
  EXPECT_TRUE(d.has_value()) << (d ? "" : d.error().message);
  return d ? *d : nullptr;
}

inline std::string Bytes(std::string_view hex) {
  std::string out;
  EXPECT_TRUE(FromHex(hex, out)) << "bad hex in test: " << hex;
  return out;
}

}  // namespace sy::iso8583::testing
