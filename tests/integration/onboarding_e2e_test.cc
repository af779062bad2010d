// Merchant onboarding end to end over real processes on 127.0.0.1 (docs/admin.md):
//   issuer-a    `switchyard issuer-sim` on deploy/demo/issuer-a.yaml, on a free port
//   the switch  `switchyard serve` on the embedded demo defaults with a --config overlay: data_dir,
//               the HTTP port, the demo's routes block with the test's issuer ports, and `admin:`
//               with a port and three tokens (reviewer, operator, auditor) given as SHA-256 hex
// Through the admin API over HTTPS (AdminClient, the switch's self-signed certificate as CA): an
// application is submitted, reviewed and approved, an agreement in force today recorded and a
// terminal provisioned (DUKPT TDES under bdk-demo; the TID, MID and initial KSN allocated), and its
// IPEK exported as a TR-31 key block under the demo facility's transport key (kek-demo), which the
// test unwraps as the key-injection facility would. Then the real `switchyard term` with that TID,
// MID, the injected IPEK (no BDK) and the initial KSN: a purchase before sign-on gets 58, sign-on
// (reporting its software version) 00, a purchase with the TEST card 00 (MAC ok); suspended
// through the API, the terminal gets 58 again; reinstated, 00. The audit log shows every change
// with its actor, and a reviewer's token cannot provision (403). Maintenance with `switchyard
// admin`: the terminal listed as outdated, its transactions looked up (masked), BIN routes; its
// keys rotated: the old key gets 58 then 63, the new IPEK — taken as two components by two
// operators into 0600 files — signs on and buys. Cases run in declaration order and share the
// processes and the onboarded terminal. Every wait is bounded. Set SY_KEEP_PROCESS_DIR=1 to keep
// the directory with the logs.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "crypto/digest.h"
#include "crypto/dukpt_tdes.h"
#include "crypto/hex.h"
#include "crypto/kcv.h"
#include "crypto/tr31.h"
#include "switch/admin/admin_client.h"
#include "tests/integration/process_util.h"

namespace sy::proc_test {
namespace {

namespace json = boost::json;
using server::admin::AdminClient;
using server::admin::ClientResponse;
using std::chrono::seconds;

// issuer-a's TEST card (deploy/demo/issuer-a.yaml): PIN 1234, 1000.00 EUR.
const std::string kCard = "4761739001010010";
// The demo key store's TEST BDK bdk-demo (the X9.24-1 test BDK), used only to check what the
// switch exports, and its facility transport key kek-demo (AES, TEST).
const std::string kBdk = "0123456789ABCDEFFEDCBA9876543210";
const std::string kKek = "FEDCBA9876543210F1F1F1F1F1F1F1F1";

// The tokens, as their holders keep them; the configuration holds only their SHA-256.
const std::string kReviewerToken = "e2e-reviewer-rita-0123456789abcdef";
const std::string kOperatorToken = "e2e-operator-otto-0123456789abcdef";
const std::string kAuditorToken = "e2e-auditor-aude-0123456789abcdef";
const std::string kOperator2Token = "e2e-operator-olga-0123456789abcdef";  // a second custodian

// An individual's application that validates (tests/switch/admin_test.cc's sample).
constexpr std::string_view kApplication = R"({
  "type": "individual",
  "legal_name": "Zhang San",
  "id_document": {"type": "prc_resident_id", "number": "11010519491231002X"},
  "settlement_account": {"bank": "Bank of China", "account_name": "ZHANG  SAN",
                         "account_number": "6222 0212 3456 7890 128", "scheme": "card"},
  "mcc": "5411",
  "address": {"country": "CN", "region": "Beijing", "city": "Beijing", "line1": "1 Xidan St"},
  "contact": {"name": "Zhang San", "phone": "+86 138 0013 8000"}
})";

std::string Sha256Hex(const std::string& text) {
  return crypto::ToHex(
      crypto::Sha256(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size())));
}

// Today's date in UTC as YYYYMMDD (the switch counts days in UTC: no admin.utc_offset_minutes).
std::string TodayUtc() {
  const std::chrono::year_month_day d{
      std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now())};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d%02u%02u", static_cast<int>(d.year()),
                static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()));
  return buf;
}

// ---- JSON ------------------------------------------------------------------------------------

// A member as text: strings as they are, anything else serialized ("true", "3"); "" if absent.
std::string Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) {
    return {};
  }
  return v->is_string() ? std::string(v->as_string()) : json::serialize(*v);
}

json::object Obj(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_object() ? v->as_object() : json::object{};
}

json::array Arr(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_array() ? v->as_array() : json::array{};
}

json::object ParseObject(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return !ec && v.is_object() ? v.as_object() : json::object{};
}

// ---- the processes and what the cases share ----------------------------------------------------

struct Env {
  std::string dir, bin, source;
  std::string issuer_log, switch_log, switch_config, data;
  std::uint16_t issuer_port = 0, issuer_b_port = 0, port = 0, http = 0, admin = 0;
  pid_t issuer_pid = -1, switch_pid = -1;
  std::string setup_error;
  int runs = 0;  // term runs, for their output files
  // Filled in by the onboarding case.
  std::string app_id, mid, tid, initial_ksn, agreement_id;
  std::string ipek;  // hex: the terminal's initial key as injected (from the TR-31 export)
  [[nodiscard]] std::string ca() const { return data + "/tls/switch.crt"; }
  [[nodiscard]] std::string url() const { return "https://127.0.0.1:" + std::to_string(admin); }
};

Env* env = nullptr;

std::string Logs() {
  return "\n--- switch log (" + env->switch_log + ", tail) ---\n" + Tail(env->switch_log, 40) +
         "--- issuer-a log (" + env->issuer_log + ", tail) ---\n" + Tail(env->issuer_log, 15);
}

bool SwitchRunning() {
  if (env->switch_pid <= 0) {
    return false;
  }
  if (WaitExit(env->switch_pid, std::chrono::milliseconds(0)).has_value()) {
    env->switch_pid = -1;
    return false;
  }
  return true;
}

// ---- the admin API -----------------------------------------------------------------------------

struct Answer {
  ClientResponse response;
  json::object body;
  [[nodiscard]] std::string Describe() const {
    return "\n  status " + std::to_string(response.status) + " error '" + response.error +
           "'\n  body: " + response.body;
  }
};

Answer Admin(const std::string& token, std::string_view method, const std::string& target,
             std::string_view body = {}) {
  AdminClient client(
      {.url = env->url(), .token = token, .ca_file = env->ca(), .timeout = seconds(10)});
  Answer a;
  a.response = client.Request(method, target, body);
  a.body = ParseObject(a.response.body);
  return a;
}

Answer Transition(const std::string& id, const std::string& to, std::uint64_t version,
                  const std::string& reason) {
  const std::string body = R"({"to": ")" + to + R"(", "version": )" + std::to_string(version) +
                           R"(, "reason": ")" + reason + "\"}";
  return Admin(kReviewerToken, "POST", "/v1/applications/" + id + "/transitions", body);
}

Answer SetStatus(const std::string& status, const std::string& reason) {
  return Admin(kOperatorToken, "POST", "/v1/terminals/" + env->tid + "/status",
               R"({"status": ")" + status + R"(", "reason": ")" + reason + "\"}");
}

// ---- the terminal: `switchyard term` -----------------------------------------------------------

struct TermRun {
  std::string command;
  CommandResult result;
  std::optional<json::object> answer;
  [[nodiscard]] std::string Text(std::string_view key) const {
    return answer ? Str(*answer, key) : std::string();
  }
  [[nodiscard]] std::string Request(std::string_view field) const {
    return answer ? Str(Obj(*answer, "request"), field) : std::string();
  }
  [[nodiscard]] std::string rc() const { return Text("response_code"); }
  [[nodiscard]] std::string Describe() const {
    return "\n  command: " + command + "\n  status: " + DescribeStatus(result.status) +
           "\n  output:\n" + result.output;
  }
};

// `switchyard term` as the onboarded terminal: its TID, MID, the TEST BDK and its initial KSN.
TermRun RunTerm(const std::vector<std::string>& command) {
  // The state file belongs to one initial KSN: a rotated terminal starts a new one.
  std::vector<std::string> argv{
      env->bin,        "term",
      "--host",        "127.0.0.1",
      "--port",        std::to_string(env->port),
      "--ca",          env->ca(),
      "--state",       env->dir + "/term-" + env->tid + "-" + env->initial_ksn + ".state",
      "--scheme",      "dukpt-tdes",
      "--tid",         env->tid,
      "--mid",         env->mid,
      "--initial-key", env->ipek,
      "--ksn",         env->initial_ksn,
      "--json"};
  argv.insert(argv.end(), command.begin(), command.end());
  TermRun r;
  for (const auto& a : argv) {
    r.command += (r.command.empty() ? "" : " ") + a;
  }
  r.result =
      RunCommand(argv, env->dir + "/term-" + std::to_string(++env->runs) + ".out", seconds(20));
  r.answer = LastJsonObject(r.result.output);
  return r;
}

std::vector<std::string> Purchase(int amount) {
  return {"purchase", "--pan", kCard, "--amount", std::to_string(amount), "--pin", "1234"};
}

// The run ended with status 0 and its JSON answer has this MTI, response code and MAC status
// ("ok": the answer's MAC verified under the terminal's response key), and 41 is the terminal's.
::testing::AssertionResult Answered(const TermRun& r, std::string_view mti, std::string_view rc,
                                    std::string_view mac = "ok") {
  if (!r.result.ok() || !r.answer) {
    return ::testing::AssertionFailure() << "no answer" << r.Describe();
  }
  if (r.Text("mti") != mti || r.rc() != rc || r.Text("mac") != mac) {
    return ::testing::AssertionFailure()
           << "expected " << mti << " 39=" << rc << " MAC " << mac << ", got " << r.Text("mti")
           << " 39=" << r.rc() << " MAC " << r.Text("mac") << r.Describe();
  }
  if (r.Request("41") != env->tid) {
    return ::testing::AssertionFailure() << "41 is not " << env->tid << r.Describe();
  }
  if (r.result.output.find(kCard) != std::string::npos) {
    return ::testing::AssertionFailure() << "a clear PAN in term's output" << r.Describe();
  }
  return ::testing::AssertionSuccess();
}

class OnboardingE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env = new Env;
    char pattern[] = "/tmp/sy-onboarding-XXXXXX";
    if (mkdtemp(pattern) == nullptr) {
      env->setup_error = "mkdtemp failed";
      return;
    }
    env->dir = pattern;
    env->bin = SY_SWITCHYARD_BIN;
    env->source = SY_SOURCE_DIR_PATH;
    env->issuer_log = env->dir + "/issuer-a.log";
    env->switch_log = env->dir + "/switch.log";
    env->switch_config = env->dir + "/switch.yaml";
    env->data = env->dir + "/switch-data";
    env->issuer_port = FreePort();
    env->issuer_b_port = FreePort();  // nothing listens there: only issuer-a is needed
    env->port = FreeConsecutivePorts(2);
    env->http = FreePort();
    env->admin = FreePort();
    if (env->issuer_port == 0 || env->issuer_b_port == 0 || env->port == 0 || env->http == 0 ||
        env->admin == 0) {
      env->setup_error = "no free ports";
      return;
    }
    const std::string routes = DemoRoutes(ReadFile(env->source + "/deploy/demo/switchyard.yaml"),
                                          env->issuer_port, env->issuer_b_port);
    if (routes.empty() || routes.find("zak_id: zak-issuer-a") == std::string::npos) {
      env->setup_error =
          "deploy/demo/switchyard.yaml: no routes block with issuer-a (zak_id zak-issuer-a) on "
          "port 9583 and issuer-b on 9584";
      return;
    }
    std::string y = "# Written by onboarding_e2e_test: merged over the embedded demo defaults.\n";
    y += "data_dir: " + env->data + "\n";
    y += "http: {port: " + std::to_string(env->http) + "}\n";
    y += routes;
    y += "admin:\n";
    y += "  port: " + std::to_string(env->admin) + "\n";
    y += "  tokens:\n";
    y +=
        "    - {name: rita, role: reviewer, token_sha256: \"" + Sha256Hex(kReviewerToken) + "\"}\n";
    y +=
        "    - {name: otto, role: operator, token_sha256: \"" + Sha256Hex(kOperatorToken) + "\"}\n";
    y += "    - {name: aude, role: auditor, token_sha256: \"" + Sha256Hex(kAuditorToken) + "\"}\n";
    y += "    - {name: olga, role: operator, token_sha256: \"" + Sha256Hex(kOperator2Token) +
         "\"}\n";
    y += "  terminal_software_minimum: \"2.4.0\"\n";
    y += "  key_transport_key_id: kek-demo\n";
    if (!WriteFile(env->switch_config, y)) {
      env->setup_error = "cannot write " + env->switch_config;
      return;
    }

    env->issuer_pid =
        Spawn({env->bin, "issuer-sim", "--config", env->source + "/deploy/demo/issuer-a.yaml",
               "--port", std::to_string(env->issuer_port)},
              env->issuer_log);
    const std::string listening = "listening on 127.0.0.1:" + std::to_string(env->issuer_port);
    if (env->issuer_pid < 0 ||
        !WaitUntil([&] { return ReadFile(env->issuer_log).find(listening) != std::string::npos; },
                   seconds(20))) {
      env->setup_error = "issuer-a did not start listening:\n" + ReadFile(env->issuer_log);
      return;
    }
    env->switch_pid = Spawn(
        {env->bin, "serve", "--config", env->switch_config, "--port", std::to_string(env->port)},
        env->switch_log);
    if (env->switch_pid < 0) {
      env->setup_error = "cannot start the switch";
      return;
    }
    // Ready: /readyz 200, the link to issuer-a up and the admin API answering /v1/health.
    bool ready = false;
    WaitUntil(
        [&] {
          if (!SwitchRunning()) {
            return true;
          }
          if (HttpGet(env->http, "/readyz", seconds(2)).status != 200) {
            return false;
          }
          const std::string m = HttpGet(env->http, "/metrics", seconds(2)).body;
          if (PromValue(m, "sy_routing_link_up{route=\"issuer-a\"}").value_or(0) != 1) {
            return false;
          }
          ready = Admin("", "GET", "/v1/health").response.status == 200;
          return ready;
        },
        seconds(30), std::chrono::milliseconds(100));
    if (!ready) {
      env->setup_error =
          "the switch did not become ready (issuer-a link up, admin API answering)" + Logs();
    }
  }

  static void TearDownTestSuite() {
    if (env == nullptr) {
      return;
    }
    if (env->switch_pid > 0) {
      StopProcess(env->switch_pid, SIGTERM, seconds(15));
    }
    if (env->issuer_pid > 0) {
      StopProcess(env->issuer_pid, SIGTERM, seconds(5));
    }
    RemoveProcessDir(env->dir, "onboarding_e2e_test");
    delete env;
    env = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(env != nullptr && env->setup_error.empty()) << env->setup_error;
    ASSERT_TRUE(SwitchRunning()) << "the switch died" << Logs();
  }

  void TearDown() override {
    if (HasFailure()) {
      std::fprintf(stderr, "%s\n", Logs().c_str());
    }
  }

  // For the cases after the first: the onboarding case provisioned the terminal.
  static void RequireTerminal() {
    ASSERT_FALSE(env->tid.empty()) << "no terminal: the onboarding case failed";
  }
};

// 1. An application through review to approval, an agreement, a terminal: every step over HTTPS
// with the token of the role the step needs; a reviewer cannot provision.
TEST_F(OnboardingE2eTest, OnboardsAMerchantAndProvisionsATerminal) {
  // Submitted by the operator for the merchant: version 1, its MID allocated.
  Answer a = Admin(kOperatorToken, "POST", "/v1/applications", kApplication);
  ASSERT_EQ(a.response.status, 201) << a.Describe();
  json::object app = Obj(a.body, "application");
  env->app_id = Str(app, "id");
  env->mid = Str(app, "merchant_id");
  ASSERT_FALSE(env->app_id.empty()) << a.Describe();
  ASSERT_EQ(env->mid.size(), 15u) << a.Describe();
  EXPECT_EQ(env->mid.substr(0, 2), "MA") << a.Describe();
  EXPECT_EQ(Str(app, "state"), "submitted");
  EXPECT_EQ(Str(app, "version"), "1") << a.Describe();

  // Nothing for a merchant that is not approved.
  a = Admin(kOperatorToken, "POST", "/v1/terminals",
            R"({"mid": ")" + env->mid +
                R"(", "serial": "E2E-0001", "model": "A920", "key_scheme": "dukpt-tdes",
                   "bdk_id": "bdk-demo"})");
  EXPECT_EQ(a.response.status, 409) << a.Describe();
  EXPECT_EQ(Str(a.body, "code"), "merchant_not_approved") << a.Describe();

  // The reviewer's queue has it; in review, then approved, each step naming the version read.
  a = Admin(kReviewerToken, "GET", "/v1/applications?state=submitted");
  ASSERT_EQ(a.response.status, 200) << a.Describe();
  EXPECT_NE(a.response.body.find(env->app_id), std::string::npos) << a.Describe();
  a = Transition(env->app_id, "in_review", 1, "");
  ASSERT_EQ(a.response.status, 200) << a.Describe();
  EXPECT_EQ(Str(Obj(a.body, "application"), "state"), "in_review") << a.Describe();
  // A step against the version before is stale.
  a = Transition(env->app_id, "approved", 1, "documents complete");
  EXPECT_EQ(a.response.status, 409) << a.Describe();
  EXPECT_EQ(Str(a.body, "code"), "stale_version") << a.Describe();
  // An operator cannot approve.
  a = Admin(kOperatorToken, "POST", "/v1/applications/" + env->app_id + "/transitions",
            R"({"to": "approved", "version": 2, "reason": "self-approval"})");
  EXPECT_EQ(a.response.status, 403) << a.Describe();
  a = Transition(env->app_id, "approved", 2, "documents complete");
  ASSERT_EQ(a.response.status, 200) << a.Describe();
  app = Obj(a.body, "application");
  EXPECT_EQ(Str(app, "state"), "approved") << a.Describe();
  EXPECT_EQ(Str(app, "version"), "3") << a.Describe();
  EXPECT_EQ(Str(app, "merchant_id"), env->mid) << a.Describe();

  // An agreement in force today.
  const std::string today = TodayUtc();
  a = Admin(kOperatorToken, "POST", "/v1/merchants/" + env->mid + "/agreements",
            R"({"effective_from": ")" + today + R"(",
                "fees": [{"currency": 978, "rates": {"visa": 12500}, "fixed_fee_minor": 0,
                          "min_fee_minor": 0}],
                "settlement_cycle_days": 1,
                "deposit": {"amount_minor": 100000, "currency": 978},
                "signed_by": "Zhang San"})");
  ASSERT_EQ(a.response.status, 201) << a.Describe();
  EXPECT_EQ(Str(a.body, "version"), "1") << a.Describe();
  EXPECT_EQ(Str(a.body, "merchant_id"), env->mid) << a.Describe();
  env->agreement_id = env->mid + "/000001";
  a = Admin(kAuditorToken, "GET", "/v1/merchants/" + env->mid + "/agreements");
  ASSERT_EQ(a.response.status, 200) << a.Describe();
  EXPECT_EQ(Str(a.body, "in_force_version"), "1") << a.Describe();

  // A reviewer cannot provision a terminal.
  const std::string terminal = R"({"mid": ")" + env->mid +
                               R"(", "serial": "E2E-0001", "model": "A920",
                                  "key_scheme": "dukpt-tdes", "bdk_id": "bdk-demo"})";
  a = Admin(kReviewerToken, "POST", "/v1/terminals", terminal);
  EXPECT_EQ(a.response.status, 403) << a.Describe();
  EXPECT_EQ(Str(a.body, "code"), "forbidden") << a.Describe();

  // The operator provisions it: TID, and the initial KSN under the default key set FFFF000000.
  a = Admin(kOperatorToken, "POST", "/v1/terminals", terminal);
  ASSERT_EQ(a.response.status, 201) << a.Describe();
  const std::string tid = Str(a.body, "tid");
  const std::string ksn = Str(a.body, "initial_ksn");
  ASSERT_EQ(tid.size(), 8u) << a.Describe();
  EXPECT_EQ(tid[0], 'T') << a.Describe();
  ASSERT_EQ(ksn.size(), 20u) << a.Describe();
  EXPECT_EQ(ksn.substr(0, 10), "FFFF000000") << a.Describe();
  EXPECT_EQ(Str(a.body, "mid"), env->mid) << a.Describe();
  EXPECT_EQ(Str(a.body, "status"), "provisioned") << a.Describe();

  // Read back: the record and what the running pipeline holds (served at once, no restart).
  a = Admin(kReviewerToken, "GET", "/v1/terminals/" + tid);
  ASSERT_EQ(a.response.status, 200) << a.Describe();
  EXPECT_EQ(Str(a.body, "initial_ksn"), ksn) << a.Describe();
  EXPECT_EQ(Str(a.body, "bdk_id"), "bdk-demo") << a.Describe();
  EXPECT_EQ(Str(a.body, "key_scheme"), "dukpt-tdes") << a.Describe();
  EXPECT_EQ(Str(a.body, "live_status"), "provisioned") << a.Describe();

  // Its initial key for the key-injection facility: a TR-31 block under the facility's transport
  // key (kek-demo, the configured default). A reviewer may not; the operator may.
  a = Admin(kReviewerToken, "POST", "/v1/terminals/" + tid + "/keys/exports",
            R"({"form": "tr31"})");
  EXPECT_EQ(a.response.status, 403) << a.Describe();
  a = Admin(kOperatorToken, "POST", "/v1/terminals/" + tid + "/keys/exports",
            R"({"form": "tr31", "reason": "first injection"})");
  ASSERT_EQ(a.response.status, 201) << a.Describe();
  EXPECT_EQ(Str(a.body, "initial_ksn"), ksn) << a.Describe();
  EXPECT_EQ(Str(a.body, "transport_key_id"), "kek-demo") << a.Describe();
  const std::string block = Str(a.body, "key_block");
  ASSERT_FALSE(block.empty()) << a.Describe();
  EXPECT_EQ(block[0], 'D') << "an AES transport key makes version D blocks";
  // The facility unwraps it: the IPEK of bdk-demo and the initial KSN, its check value as stated.
  auto unwrapped = crypto::UnwrapKeyBlock(crypto::SecretFromHex(kKek).value(), block,
                                          {.usage = "B1", .algorithm = 'T', .modes = "X"});
  ASSERT_TRUE(unwrapped) << unwrapped.error().message();
  auto expected =
      crypto::DeriveTdesIpek(crypto::SecretFromHex(kBdk).value(), crypto::FromHex(ksn).value());
  ASSERT_TRUE(expected);
  EXPECT_TRUE(unwrapped->key == *expected);
  EXPECT_EQ(Str(a.body, "key_kcv"), crypto::ToHex(crypto::TdesKcv(unwrapped->key).value()));
  env->tid = tid;
  env->initial_ksn = ksn;
  env->ipek = crypto::ToHex(unwrapped->key.view());
}

// 2. The real `switchyard term` as the new terminal: refused before sign-on, signs on, buys;
// suspended through the API it is refused at once. No restart.
TEST_F(OnboardingE2eTest, TheProvisionedTerminalSignsOnBuysAndIsRefusedWhenSuspended) {
  RequireTerminal();
  if (HasFatalFailure()) {
    return;
  }
  // Not signed on yet: 58 (transaction not permitted to the terminal).
  TermRun r = RunTerm(Purchase(1000));
  ASSERT_TRUE(Answered(r, "0210", "58"));

  r = RunTerm({"signon", "--software-version", "2.3.7"});
  ASSERT_TRUE(Answered(r, "0810", "00"));
  EXPECT_EQ(r.Text("ksn").substr(0, 15), env->initial_ksn.substr(0, 15)) << r.Describe();
  Answer a = Admin(kOperatorToken, "GET", "/v1/terminals/" + env->tid);
  EXPECT_EQ(Str(a.body, "live_status"), "active") << a.Describe();
  EXPECT_EQ(Str(a.body, "software_version"), "2.3.7") << a.Describe();
  EXPECT_EQ(Str(a.body, "outdated"), "true") << a.Describe();
  EXPECT_FALSE(Str(a.body, "last_seen").empty()) << a.Describe();

  r = RunTerm(Purchase(1250));
  ASSERT_TRUE(Answered(r, "0210", "00"));
  EXPECT_EQ(r.Request("42"), env->mid) << r.Describe();
  EXPECT_EQ(r.Text("auth").size(), 6u) << r.Describe();
  EXPECT_FALSE(r.Request("52").empty()) << "no PIN block sent" << r.Describe();

  // Suspended by the operator: the running switch refuses it at once.
  a = SetStatus("suspended", "chargebacks under investigation");
  ASSERT_EQ(a.response.status, 200) << a.Describe();
  EXPECT_EQ(Str(a.body, "status"), "suspended") << a.Describe();
  // live_status follows once the terminal's shard has applied the change (bounded).
  EXPECT_TRUE(WaitUntil(
      [] {
        return Str(Admin(kOperatorToken, "GET", "/v1/terminals/" + env->tid).body, "live_status") ==
               "suspended";
      },
      seconds(5)))
      << "live_status never became suspended" << Logs();
  r = RunTerm(Purchase(1300));
  ASSERT_TRUE(Answered(r, "0210", "58"));
}

// 3. Reinstated through the API, a terminal that had signed on is active again and buys.
TEST_F(OnboardingE2eTest, AReinstatedTerminalIsActiveAgainAndBuys) {
  RequireTerminal();
  if (HasFatalFailure()) {
    return;
  }
  Answer a = Admin(kOperatorToken, "GET", "/v1/terminals/" + env->tid);
  ASSERT_EQ(Str(a.body, "status"), "suspended")
      << "the previous case did not suspend it" << a.Describe();
  a = SetStatus("active", "cleared");
  ASSERT_EQ(a.response.status, 200) << a.Describe();
  // The registry's record says "provisioned" (activation happens in the switch at sign-on);
  // reinstatement asks the switch whether the terminal ever activated itself.
  EXPECT_EQ(Str(a.body, "status"), "active") << a.Describe();
  EXPECT_TRUE(WaitUntil(
      [] {
        return Str(Admin(kOperatorToken, "GET", "/v1/terminals/" + env->tid).body, "live_status") ==
               "active";
      },
      seconds(5)))
      << "live_status never became active" << Logs();
  TermRun r = RunTerm(Purchase(1400));
  ASSERT_TRUE(Answered(r, "0210", "00"));
}

// 4. The audit log, for the auditor only, names who made every change.
TEST_F(OnboardingE2eTest, TheAuditLogListsEveryChangeWithItsActor) {
  RequireTerminal();
  if (HasFatalFailure()) {
    return;
  }
  EXPECT_EQ(Admin(kOperatorToken, "GET", "/v1/audit").response.status, 403);
  EXPECT_EQ(Admin("", "GET", "/v1/audit").response.status, 401);
  EXPECT_EQ(Admin("not-a-configured-token", "GET", "/v1/audit").response.status, 401);

  Answer a = Admin(kAuditorToken, "GET", "/v1/audit");
  ASSERT_EQ(a.response.status, 200) << a.Describe();
  struct Entry {
    std::string actor, kind, id, reason;
  };
  std::vector<Entry> entries;
  for (const json::value& v : Arr(a.body, "entries")) {
    if (v.is_object()) {
      const json::object& o = v.as_object();
      entries.push_back({Str(o, "actor"), Str(o, "kind"), Str(o, "id"), Str(o, "reason")});
    }
  }
  ASSERT_FALSE(entries.empty()) << a.Describe();
  // The key export, by the operator, with check values only.
  EXPECT_NE(a.response.body.find("first injection"), std::string::npos) << a.Describe();
  EXPECT_EQ(a.response.body.find(env->ipek), std::string::npos) << "a clear key in the audit log";
  auto has = [&](const std::string& actor, const std::string& kind, const std::string& id,
                 const std::string& reason_prefix) {
    for (const Entry& e : entries) {
      if (e.actor == actor && e.kind == kind && e.id == id &&
          e.reason.compare(0, reason_prefix.size(), reason_prefix) == 0) {
        return true;
      }
    }
    return false;
  };
  std::string listing;
  for (const Entry& e : entries) {
    listing += "\n  " + e.actor + " " + e.kind + " " + e.id + " '" + e.reason + "'";
  }
  EXPECT_TRUE(has("otto", "application", env->app_id, "submitted")) << listing;
  EXPECT_TRUE(has("rita", "application", env->app_id, "in_review")) << listing;
  EXPECT_TRUE(has("rita", "application", env->app_id, "approved")) << listing;
  EXPECT_TRUE(has("rita", "merchant", env->mid, "approved")) << listing;
  EXPECT_TRUE(has("otto", "agreement", env->agreement_id, "")) << listing;
  EXPECT_TRUE(has("otto", "terminal", env->tid, "")) << listing;
  // The status changes, by the operator, with the reasons given.
  bool suspended = false;
  bool reinstated = false;
  for (const Entry& e : entries) {
    if (e.actor == "otto" && e.kind == "terminal" && e.id == env->tid) {
      suspended = suspended || e.reason.find("chargebacks") != std::string::npos;
      reinstated = reinstated || e.reason.find("cleared") != std::string::npos;
    }
  }
  EXPECT_TRUE(suspended) << listing;
  EXPECT_TRUE(reinstated) << listing;
  // No change by the other tokens' holders that they could not make.
  for (const Entry& e : entries) {
    EXPECT_NE(e.actor, "aude") << "the auditor changed something:" << listing;
    if (e.actor == "rita") {
      EXPECT_TRUE(e.kind == "application" || e.kind == "merchant") << listing;
    }
  }

  // Filtered by kind and id: the terminal's history, before and after as JSON.
  a = Admin(kAuditorToken, "GET", "/v1/audit?kind=terminal&id=" + env->tid);
  ASSERT_EQ(a.response.status, 200) << a.Describe();
  const json::array history = Arr(a.body, "entries");
  ASSERT_GE(history.size(), 3u) << a.Describe();
  const json::object first = history.front().as_object();
  EXPECT_EQ(Str(first, "actor"), "otto") << a.Describe();
  EXPECT_EQ(Str(first, "before"), "null") << a.Describe();
  EXPECT_EQ(Str(Obj(first, "after"), "status"), "provisioned") << a.Describe();
  for (const json::value& v : history) {
    EXPECT_EQ(Str(v.as_object(), "id"), env->tid) << a.Describe();
  }
}

// `switchyard admin` as a process: the CLI over HTTPS with a token file.
CommandResult RunAdmin(const std::string& token, const std::vector<std::string>& command) {
  const std::string token_file = env->dir + "/token-" + Sha256Hex(token).substr(0, 8);
  if (ReadFile(token_file).empty()) {
    EXPECT_TRUE(WriteFile(token_file, token + "\n"));
  }
  std::vector<std::string> argv{env->bin, "admin",   "--url",        env->url(),
                                "--ca",   env->ca(), "--token-file", token_file};
  argv.insert(argv.end(), command.begin(), command.end());
  return RunCommand(argv, env->dir + "/admin-" + std::to_string(++env->runs) + ".out", seconds(20));
}

// 5. Maintenance through `switchyard admin`: the terminal is outdated (2.3.7 < 2.4.0) but not
// silent; its purchases are in the journal with masked PANs; the BIN routes are listed.
TEST_F(OnboardingE2eTest, TheCliListsOutdatedTerminalsTransactionsAndBins) {
  RequireTerminal();
  if (HasFatalFailure()) {
    return;
  }
  CommandResult c = RunAdmin(kOperatorToken, {"terminals", "list", "--outdated"});
  ASSERT_TRUE(c.ok()) << c.output;
  EXPECT_NE(c.output.find(env->tid), std::string::npos) << c.output;
  EXPECT_NE(c.output.find("OUTDATED"), std::string::npos) << c.output;
  c = RunAdmin(kOperatorToken, {"--json", "terminals", "list", "--silent-days", "1"});
  ASSERT_TRUE(c.ok()) << c.output;
  EXPECT_EQ(c.output.find(env->tid), std::string::npos) << "heard from today: " << c.output;

  c = RunAdmin(kAuditorToken, {"--json", "transactions", "--tid", env->tid, "--date", TodayUtc()});
  ASSERT_TRUE(c.ok()) << c.output;
  auto list = LastJsonObject(c.output);
  ASSERT_TRUE(list) << c.output;
  int approved = 0;
  for (const json::value& v : Arr(*list, "transactions")) {
    const json::object& t = v.as_object();
    EXPECT_EQ(Str(t, "masked_pan").substr(0, 6), kCard.substr(0, 6)) << c.output;
    approved += Str(t, "response_code") == "00" && Str(t, "type") == "purchase" ? 1 : 0;
  }
  EXPECT_GE(approved, 2) << c.output;
  EXPECT_EQ(c.output.find(kCard), std::string::npos) << "a clear PAN: " << c.output;
  c = RunAdmin(kReviewerToken, {"transactions", "--tid", env->tid, "--date", TodayUtc()});
  EXPECT_FALSE(c.ok()) << "a reviewer looked up transactions: " << c.output;

  c = RunAdmin(kReviewerToken, {"bins"});
  ASSERT_TRUE(c.ok()) << c.output;
  EXPECT_NE(c.output.find("issuer-a"), std::string::npos) << c.output;
}

// 6. Key rotation: the old key is refused at once; the new IPEK, taken as two components by two
// operators into their own 0600 files and combined by the facility, signs on and buys.
TEST_F(OnboardingE2eTest, ARotatedTerminalIsRefusedUntilItSignsOnWithTheNewKey) {
  RequireTerminal();
  if (HasFatalFailure()) {
    return;
  }
  const std::string old_ksn = env->initial_ksn;
  CommandResult c = RunAdmin(kOperatorToken, {"--json", "terminals", "rotate-keys", env->tid,
                                              "--reason", "e2e annual key change"});
  ASSERT_TRUE(c.ok()) << c.output;
  auto view = LastJsonObject(c.output);
  ASSERT_TRUE(view) << c.output;
  const std::string new_ksn = Str(*view, "initial_ksn");
  ASSERT_EQ(new_ksn.size(), 20u) << c.output;
  EXPECT_NE(new_ksn, old_ksn);
  EXPECT_EQ(Str(*view, "status"), "provisioned") << c.output;
  EXPECT_TRUE(WaitUntil(
      [] {
        return Str(Admin(kOperatorToken, "GET", "/v1/terminals/" + env->tid).body, "live_status") ==
               "provisioned";
      },
      seconds(5)));

  // The old key: not active any more (58, not MACed: its KSN is no longer the terminal's device,
  // so its MAC does not verify), and its sign-on is refused (63).
  TermRun r = RunTerm(Purchase(1500));
  ASSERT_TRUE(Answered(r, "0210", "58", "missing"));
  r = RunTerm({"signon"});
  ASSERT_TRUE(r.result.ok() && r.answer) << r.Describe();
  EXPECT_EQ(r.rc(), "63") << r.Describe();

  // Two components, each taken once by a different operator into a file of its own.
  c = RunAdmin(kOperatorToken, {"--json", "terminals", "export-keys", env->tid, "--form",
                                "components", "--reason", "re-injection"});
  ASSERT_TRUE(c.ok()) << c.output;
  auto x = LastJsonObject(c.output);
  ASSERT_TRUE(x) << c.output;
  const std::string id = Str(*x, "id");
  EXPECT_EQ(Str(*x, "initial_ksn"), new_ksn) << c.output;
  const std::string f1 = env->dir + "/component-1.txt";
  const std::string f2 = env->dir + "/component-2.txt";
  c = RunAdmin(kOperatorToken, {"terminals", "export-keys", env->tid, "--take", id, "--component",
                                "1", "--out", f1});
  ASSERT_TRUE(c.ok()) << c.output;
  c = RunAdmin(kOperatorToken, {"terminals", "export-keys", env->tid, "--take", id, "--component",
                                "2", "--out", f2});
  EXPECT_FALSE(c.ok()) << "one custodian took both components: " << c.output;
  EXPECT_NE(c.output.find("dual_control"), std::string::npos) << c.output;
  c = RunAdmin(kOperator2Token, {"terminals", "export-keys", env->tid, "--take", id, "--component",
                                 "2", "--out", f2});
  ASSERT_TRUE(c.ok()) << c.output;
  std::string combined;
  for (const std::string& f : {f1, f2}) {
    struct stat st {};
    ASSERT_EQ(::stat(f.c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
    const std::string text = ReadFile(f);
    const auto at = text.find("key: ");
    ASSERT_NE(at, std::string::npos) << text;
    auto part = crypto::FromHex(text.substr(at + 5, 32));
    ASSERT_TRUE(part) << text;
    if (combined.empty()) {
      combined.assign(part->begin(), part->end());
    } else {
      for (std::size_t i = 0; i < combined.size(); ++i) {
        combined[i] = static_cast<char>(combined[i] ^ (*part)[i]);
      }
    }
  }
  const std::string ipek =
      crypto::ToHex(std::span(reinterpret_cast<const std::uint8_t*>(combined.data()), 16));
  auto expected =
      crypto::DeriveTdesIpek(crypto::SecretFromHex(kBdk).value(), crypto::FromHex(new_ksn).value());
  ASSERT_TRUE(expected);
  EXPECT_EQ(ipek, crypto::ToHex(expected->view()));
  EXPECT_NE(ipek, env->ipek);

  // Injected: sign-on activates it, and it buys.
  env->initial_ksn = new_ksn;
  env->ipek = ipek;
  r = RunTerm({"signon", "--software-version", "2.4.1"});
  ASSERT_TRUE(Answered(r, "0810", "00"));
  r = RunTerm(Purchase(1600));
  ASSERT_TRUE(Answered(r, "0210", "00"));
  Answer a = Admin(kOperatorToken, "GET", "/v1/terminals/" + env->tid);
  EXPECT_EQ(Str(a.body, "live_status"), "active") << a.Describe();
  EXPECT_EQ(Str(a.body, "outdated"), "false") << a.Describe();
  // The audit log names both custodians and the rotation's reason.
  a = Admin(kAuditorToken, "GET", "/v1/audit?kind=key_export&id=" + id);
  EXPECT_NE(a.response.body.find("\"otto\""), std::string::npos) << a.Describe();
  EXPECT_NE(a.response.body.find("\"olga\""), std::string::npos) << a.Describe();
  a = Admin(kAuditorToken, "GET", "/v1/audit?kind=terminal&id=" + env->tid);
  EXPECT_NE(a.response.body.find("e2e annual key change"), std::string::npos) << a.Describe();
}

}  // namespace
}  // namespace sy::proc_test
