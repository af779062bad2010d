// Settlement beside a running switch, over real processes on 127.0.0.1 (docs/settlement.md):
//   issuer-a    `switchyard issuer-sim` on deploy/demo/issuer-a.yaml, on a free port
//   the switch  `switchyard serve` on the embedded demo defaults with a --config overlay: data_dir,
//               the HTTP port, the demo's routes with the test's issuer port, and `admin:` with
//               an operator token; no `settlement:` block, so its defaults apply
// The demo terminal TERM0001 (the real `switchyard term`) buys twice and reverses the second
// purchase; the switch delivers the 0420 to issuer-a from its SAF queue and records issuer-a's
// acknowledgement. Then, while the switch runs: `switchyard settle` (a read-only secondary
// instance of the store) settles today, and `switchyard admin settlement run` settles it again
// through the API — byte-identical, recorded as a re-run in the same ledger — and the issuer
// reconciliation shows the reversal acknowledged and the route balanced. The metrics count both
// runs. Every wait is bounded; SY_KEEP_PROCESS_DIR=1 keeps the directory with the logs.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "crypto/digest.h"
#include "crypto/hex.h"
#include "tests/integration/process_util.h"

namespace sy::proc_test {
namespace {

using std::chrono::seconds;

// issuer-a's TEST card (deploy/demo/issuer-a.yaml): PIN 1234, 1000.00 EUR.
const std::string kCard = "4761739001010010";
const std::string kOperatorToken = "e2e-settlement-operator-0123456789abcdef";

std::string Sha256Hex(const std::string& text) {
  return crypto::ToHex(
      crypto::Sha256(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size())));
}

// Today's business date: the demo's cutover is 00:00 UTC.
std::string TodayUtc() {
  const std::chrono::year_month_day d{
      std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now())};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d%02u%02u", static_cast<int>(d.year()),
                static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()));
  return buf;
}

class SettlementE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sy-settlement-e2e-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    bin_ = SY_SWITCHYARD_BIN;
    source_ = SY_SOURCE_DIR_PATH;
    data_ = dir_ + "/data";
    issuer_log_ = dir_ + "/issuer-a.log";
    switch_log_ = dir_ + "/switch.log";
    const std::uint16_t issuer_port = FreePort();
    const std::uint16_t issuer_b_port = FreePort();  // nothing listens: only issuer-a is needed
    port_ = FreeConsecutivePorts(2);
    http_ = FreePort();
    admin_ = FreePort();
    ASSERT_TRUE(issuer_port && issuer_b_port && port_ && http_ && admin_) << "no free ports";
    const std::string routes =
        DemoRoutes(ReadFile(source_ + "/deploy/demo/switchyard.yaml"), issuer_port, issuer_b_port);
    ASSERT_FALSE(routes.empty()) << "deploy/demo/switchyard.yaml: no routes block as expected";
    std::string y = "# Written by settlement_e2e_test: merged over the embedded demo defaults.\n";
    y += "data_dir: " + data_ + "\n";
    y += "http: {port: " + std::to_string(http_) + "}\n";
    y += routes;
    y += "admin:\n  port: " + std::to_string(admin_) + "\n  tokens:\n";
    y +=
        "    - {name: otto, role: operator, token_sha256: \"" + Sha256Hex(kOperatorToken) + "\"}\n";
    ASSERT_TRUE(WriteFile(dir_ + "/switch.yaml", y));
    ASSERT_TRUE(WriteFile(dir_ + "/otto.token", kOperatorToken + "\n"));

    issuer_pid_ = Spawn({bin_, "issuer-sim", "--config", source_ + "/deploy/demo/issuer-a.yaml",
                         "--port", std::to_string(issuer_port)},
                        issuer_log_);
    const std::string listening = "listening on 127.0.0.1:" + std::to_string(issuer_port);
    ASSERT_TRUE(
        issuer_pid_ > 0 &&
        WaitUntil([&] { return ReadFile(issuer_log_).find(listening) != std::string::npos; },
                  seconds(20)))
        << ReadFile(issuer_log_);
    switch_pid_ =
        Spawn({bin_, "serve", "--config", dir_ + "/switch.yaml", "--port", std::to_string(port_)},
              switch_log_);
    ASSERT_GT(switch_pid_, 0);
    ASSERT_TRUE(WaitUntil(
        [&] {
          const std::string m = HttpGet(http_, "/metrics", seconds(2)).body;
          return PromValue(m, "sy_routing_link_up{route=\"issuer-a\"}").value_or(0) == 1 &&
                 ReadFile(switch_log_).find("admin API on") != std::string::npos;
        },
        seconds(30), std::chrono::milliseconds(100)))
        << Logs();
  }

  void TearDown() override {
    if (switch_pid_ > 0) {
      StopProcess(switch_pid_, SIGTERM, seconds(15));
    }
    if (issuer_pid_ > 0) {
      StopProcess(issuer_pid_, SIGTERM, seconds(5));
    }
    if (std::getenv("SY_KEEP_PROCESS_DIR") != nullptr || HasFailure()) {
      std::fprintf(stderr, "settlement_e2e_test: logs and data kept in %s\n", dir_.c_str());
    } else {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }

  std::string Logs() const {
    return "\n--- switch log (tail) ---\n" + Tail(switch_log_, 40) +
           "--- issuer-a log (tail) ---\n" + Tail(issuer_log_, 15);
  }

  CommandResult Run(std::vector<std::string> argv) {
    argv.insert(argv.begin(), bin_);
    return RunCommand(argv, dir_ + "/cmd-" + std::to_string(++runs_) + ".out", seconds(60));
  }

  CommandResult Term(const std::vector<std::string>& command) {
    std::vector<std::string> argv{"term",
                                  "--host",
                                  "127.0.0.1",
                                  "--port",
                                  std::to_string(port_),
                                  "--ca",
                                  data_ + "/tls/switch.crt",
                                  "--state",
                                  dir_ + "/term.state",
                                  "--json"};
    argv.insert(argv.end(), command.begin(), command.end());
    return Run(argv);
  }

  std::string dir_, bin_, source_, data_, issuer_log_, switch_log_;
  std::uint16_t port_ = 0, http_ = 0, admin_ = 0;
  pid_t issuer_pid_ = -1, switch_pid_ = -1;
  int runs_ = 0;
};

TEST_F(SettlementE2eTest, SettlesBesideTheRunningSwitchFromTheCliAndTheApi) {
  const std::string date = TodayUtc();
  for (const auto& cmd : std::vector<std::vector<std::string>>{
           {"signon"},
           {"purchase", "--pan", kCard, "--amount", "1250", "--pin", "1234"},
           {"purchase", "--pan", kCard, "--amount", "900", "--pin", "1234"},
           {"reversal"}}) {
    const CommandResult r = Term(cmd);
    ASSERT_TRUE(r.ok()) << cmd[0] << ": " << r.output << Logs();
    ASSERT_NE(r.output.find("\"response_code\":\"00\""), std::string::npos)
        << cmd[0] << ": " << r.output;
  }
  // The 0420 reaches issuer-a and its acknowledgement is recorded.
  ASSERT_TRUE(WaitUntil(
      [&] {
        const std::string m = HttpGet(http_, "/metrics", seconds(2)).body;
        return PromValue(m, "sy_switch_saf_depth{route=\"issuer-a\"}").value_or(1) == 0 &&
               ReadFile(switch_log_).find("0420 for transaction") != std::string::npos;
      },
      seconds(30)))
      << Logs();
  ASSERT_TRUE(
      WriteFile(data_ + "/agreements.yaml",
                "merchants:\n"
                "  - mid: \"MERCHANT0000001\"\n"
                "    versions:\n"
                "      - {version: 1, effective_from: \"20260101\", cycle_days: 1,\n"
                "         fees: [{currency: 978, rates: {visa: 1250}, fixed_fee_minor: 5}]}\n"));

  // The CLI beside the running switch, into the default directory <data>/settlement.
  const CommandResult cli = Run({"settle", "--data", data_, "--date", date});
  ASSERT_TRUE(cli.ok()) << cli.output << Logs();
  EXPECT_NE(cli.output.find("run " + date + "-1 recorded"), std::string::npos) << cli.output;
  const std::string out = data_ + "/settlement/" + date;
  const std::string csv = ReadFile(out + "/settlement.csv");
  // One purchase of 12.50 stands (visa): 0.125 % of 1250 = 1.5625 -> 2, plus 5 fixed = 7.
  EXPECT_NE(csv.find(",MERCHANT0000001,978,1,1,1,1250,0,0,0,0,0,1,1250,7,1243,0,1243,0\n"),
            std::string::npos)
      << csv;
  const std::string issuers = ReadFile(out + "/issuer-reconciliation.csv");
  // issuer-a in EUR: the switch settles 12.50, issuer-a holds 12.50 (the 9.00 reversed and
  // acknowledged), one reversal owed and acknowledged, nothing unmatched.
  EXPECT_NE(issuers.find(date + ",issuer-a,978,1,1250,0,0,1,1250,0,0,0,0,0,1,1,0,yes\n"),
            std::string::npos)
      << issuers;
  EXPECT_EQ(issuers.substr(issuers.find("\n\n") + 2),
            "route,currency,txn_id,tid,mid,mti,processing_code,stan,rrn,masked_pan,amount_minor,"
            "message,reason\n")
      << issuers;

  // The same run through the admin API: identical files, the same ledger.
  const CommandResult api =
      Run({"admin", "--url", "https://127.0.0.1:" + std::to_string(admin_), "--token-file",
           dir_ + "/otto.token", "--ca", data_ + "/tls/switch.crt", "settlement", "run", date});
  ASSERT_TRUE(api.ok()) << api.output << Logs();
  EXPECT_NE(api.output.find(date + "-2  ok  by otto (api)  re-run, identical files"),
            std::string::npos)
      << api.output;
  EXPECT_EQ(ReadFile(out + "/issuer-reconciliation.csv"), issuers);
  const std::string ledger = ReadFile(data_ + "/settlement/runs.jsonl");
  EXPECT_NE(ledger.find("\"source\":\"cli\""), std::string::npos) << ledger;
  EXPECT_NE(ledger.find("\"source\":\"api\""), std::string::npos) << ledger;

  const std::string m = HttpGet(http_, "/metrics", seconds(2)).body;
  EXPECT_EQ(PromValue(m, "sy_settlement_runs_total{result=\"ok\"}"), 2.0) << m;
  EXPECT_EQ(PromValue(m, "sy_settlement_runs_total{result=\"failed\"}"), 0.0);
  EXPECT_EQ(PromValue(m, "sy_settlement_last_success_business_date"), std::stod(date));
  EXPECT_TRUE(PromValue(m, "sy_settlement_last_run_duration_seconds").has_value());
  // No clear PAN in any output.
  for (const auto& e : std::filesystem::directory_iterator(out)) {
    EXPECT_EQ(ReadFile(e.path().string()).find(kCard), std::string::npos) << e.path();
  }
}

}  // namespace
}  // namespace sy::proc_test
