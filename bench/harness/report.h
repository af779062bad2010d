#pragma once

// Formatting of a bench Report: a text table for people and JSON for scripts.
//
//   std::cout << sy::bench::FormatText(report);
//   std::cout << sy::bench::FormatJson(report) << "\n";

#include <string>

#include "bench/harness/harness.h"

namespace sy::bench {

[[nodiscard]] std::string FormatText(const Report& report);
[[nodiscard]] std::string FormatJson(const Report& report);
// "1.23 ms", "456 µs": a duration in nanoseconds for a person.
[[nodiscard]] std::string FormatNanos(std::uint64_t ns);

}  // namespace sy::bench
