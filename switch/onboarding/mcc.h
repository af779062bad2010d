#pragma once

// Merchant category codes (ISO 18245): whether a four-digit code is one the card networks have
// assigned. The list is data in mcc_codes.cc; see there for its sources and what it leaves out.
//
//   IsAssignedMcc("5411");  // true: grocery stores, supermarkets
//   IsAssignedMcc("9999");  // false: unassigned

#include <string_view>

namespace sy::server::onboarding {

// True when `mcc` is four ASCII digits naming an assigned merchant category.
[[nodiscard]] bool IsAssignedMcc(std::string_view mcc) noexcept;

}  // namespace sy::server::onboarding
