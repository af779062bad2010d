#pragma once

// The switch's configuration: the embedded demo defaults (deploy/demo/switchyard.yaml), merged
// with an optional file, filled with each option's documented default, and validated as a whole.
// Every problem is reported with the path of the key at fault.
//
//   std::vector<std::string> problems;
//   auto config = sy::server::LoadConfig("/etc/switchyard.yaml", problems);
//   if (!config) { for (auto& p : problems) std::cerr << p << "\n"; return 2; }

#include <optional>
#include <string>
#include <vector>

#include "proto/config.pb.h"
#include "routing/bin_table.h"

namespace sy::server {

// The embedded default configuration's YAML text.
[[nodiscard]] std::string_view DefaultConfigYaml() noexcept;

// Loads the defaults, then `path` over them when not empty. Returns nullopt and fills problems
// when anything is wrong (unknown key, bad value, dangling reference, duplicate id, ...).
[[nodiscard]] std::optional<proto::SwitchConfig> LoadConfig(const std::string& path,
                                                            std::vector<std::string>& problems);

// Sets every zero-valued option to its default (the "Default:" of proto/config.proto).
void ApplyDefaults(proto::SwitchConfig& config);

// The BIN table the configuration describes (validated: overlaps, unknown routes).
[[nodiscard]] routing::Result<routing::BinTable> BuildBinTable(const proto::SwitchConfig& config);

// Checks a complete configuration; appends one sentence per problem.
void Validate(const proto::SwitchConfig& config, std::vector<std::string>& problems);

}  // namespace sy::server
