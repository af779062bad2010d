#pragma once

// `switchyard bench provision`: the switch configuration overlay and the issuer simulator
// configuration that a bench run needs (docs/bench.md).
//
//   WriteFile("bench-switch.yaml", sy::bench::SwitchOverlayYaml(64));
//   WriteFile("bench-issuer.yaml", sy::bench::IssuerConfigYaml());
//
// The overlay lists the demo merchants and terminals too: a list in an overlay replaces the
// embedded default list. Every key is a TEST key; every card a TEST card.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sy::bench {

// The cards the harness uses; IssuerConfigYaml gives each the behaviour the harness expects.
inline constexpr std::string_view kApprovePinPan = "4761739001010010";    // PIN 1234, approves
inline constexpr std::string_view kApproveNoPinPan = "4761739001010069";  // no PIN, approves
inline constexpr std::string_view kDeclinePan = "4761739001010036";       // do not honour (05)
inline constexpr std::string_view kBenchPin = "1234";
inline constexpr std::string_view kBenchExpiry = "3012";

// The overlay for `switchyard serve --config`: merchants (demo + BENCHMERCHANT01) and terminals
// (the demo's + `terminals` bench terminals from index 0), TDES DUKPT under bdk-demo.
[[nodiscard]] std::string SwitchOverlayYaml(std::uint32_t terminals);
// The configuration for `switchyard issuer-sim --config`: issuer-a's name, port 9583 and ZPK, no
// latency, the three bench cards with balances no run can exhaust.
[[nodiscard]] std::string IssuerConfigYaml();

}  // namespace sy::bench
