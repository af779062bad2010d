#include "bench/harness/provision.h"

#include "bench/harness/options.h"

namespace sy::bench {

std::string SwitchOverlayYaml(std::uint32_t terminals) {
  std::string y;
  y.reserve(200 + 160 * static_cast<std::size_t>(terminals));
  y += "# Written by `switchyard bench provision`: merged over the embedded defaults with\n"
       "# `switchyard serve --config <this file>`. A list here replaces the default list, so the\n"
       "# demo merchants and terminals are repeated. TEST keys only (bdk-demo).\n"
       "merchants:\n"
       "  - {mid: \"MERCHANT0000001\", name: \"Demo Coffee Bar        Amsterdam    NL\", mcc: "
       "\"5814\", currency: 978}\n"
       "  - {mid: \"MERCHANT0000002\", name: \"Demo Books             Utrecht      NL\", mcc: "
       "\"5942\", currency: 978}\n"
       "  - {mid: \"";
  y += kBenchMid;
  y += "\", name: \"Bench Load Test        Amsterdam    NL\", mcc: \"5999\", currency: 978}\n"
       "terminals:\n"
       "  - {tid: TERM0001, mid: \"MERCHANT0000001\", key_scheme: dukpt-tdes, bdk_id: bdk-demo,\n"
       "     initial_ksn: \"FFFF9876543210E00000\", serial: \"DEMO-0001\", model: demo}\n"
       "  - {tid: TERM0002, mid: \"MERCHANT0000002\", key_scheme: dukpt-aes, bdk_id: "
       "bdk-demo-aes,\n"
       "     initial_ksn: \"123456789012345600000000\", serial: \"DEMO-0002\", model: demo}\n";
  for (std::uint32_t i = 0; i < terminals; ++i) {
    const std::string tid = TerminalId(i);
    y += "  - {tid: ";
    y += tid;
    y += ", mid: \"";
    y += kBenchMid;
    y += "\", key_scheme: dukpt-tdes, bdk_id: bdk-demo, initial_ksn: \"";
    y += TerminalInitialKsn(i);
    y += "\", serial: \"BENCH-";
    y += tid.substr(3);
    y += "\", model: bench}\n";
  }
  return y;
}

std::string IssuerConfigYaml() {
  std::string y =
      "# Written by `switchyard bench provision`: issuer-a (deploy/demo/issuer-a.yaml) for load\n"
      "# tests: same name, port, TEST ZPK and ZAK (the link is MACed, as in the demo), no\n"
      "# latency, cards no run can exhaust.\n"
      "# TEST DATA ONLY.\n"
      "name: issuer-a\n"
      "listen: {host: 127.0.0.1, port: 9583}\n"
      "dialect: iso87a\n"
      "zpk: 0123456789ABCDEFFEDCBA9876543210\n"
      "zak: 89ABCDEF0123456776543210FEDCBA98\n"
      "institution: \"476173\"\n"
      "latency: {min_ms: 0, max_ms: 0}\n"
      "drop_per_mille: 0\n"
      "stall_ms: 0\n"
      "cards:\n";
  auto card = [&](std::string_view pan, std::string_view pin, std::string_view extra) {
    y += "  - {pan: \"";
    y += pan;
    y += "\"";
    if (!pin.empty()) {
      y += ", pin: \"";
      y += pin;
      y += "\"";
    }
    y += ", expiry: \"";
    y += kBenchExpiry;
    y += "\", balance_minor: 900000000000000000, currency: 978, pin_tries: 1000000";
    y += extra;
    y += "}\n";
  };
  y += "  # Approves (PIN 1234).\n";
  card(kApprovePinPan, kBenchPin, "");
  y += "  # Always declined: 05.\n";
  card(kDeclinePan, kBenchPin, ", do_not_honour: true");
  y += "  # No PIN on file; approves.\n";
  card(kApproveNoPinPan, "", "");
  return y;
}

}  // namespace sy::bench
