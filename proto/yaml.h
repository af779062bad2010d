#pragma once

// YAML into protobuf, by reflection: how configuration files (and the simulators' data files)
// are validated against their schema. Keys are the fields' proto names; unknown keys, values of
// the wrong type and out-of-range numbers are errors naming the key's path
// ("listeners[0].port: 'http' is not a whole number").
//
//   sy::proto::Config config;
//   if (auto e = sy::proto::MergeYaml(yaml_text, "switchyard.yaml", config); !e.empty()) {
//     std::cerr << e << "\n";   // "switchyard.yaml: routes[1].timeout_ms: unknown key"
//   }
//
// Merging follows protobuf's rules for scalars and messages (a key present in the YAML replaces
// the value), except that a repeated field given in the YAML replaces the whole list, so that a
// file can override a default list instead of appending to it.

#include <google/protobuf/message.h>

#include <string>
#include <string_view>

namespace sy::proto {

// Merges the YAML document into msg. Returns an empty string on success, else one sentence
// naming the origin and the key path at fault (msg may then be partly merged).
[[nodiscard]] std::string MergeYaml(std::string_view yaml, std::string_view origin,
                                    google::protobuf::Message& msg);

// Reads a YAML file and merges it; the error names the file.
[[nodiscard]] std::string MergeYamlFile(const std::string& path, google::protobuf::Message& msg);

}  // namespace sy::proto
