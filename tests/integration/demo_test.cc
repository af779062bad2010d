// The README's demo as real processes on 127.0.0.1, driven by the real `switchyard term` CLI (one
// subprocess per exchange, TLS checked against the switch's own certificate, `--json` output):
//   issuer-a, issuer-b  `switchyard issuer-sim` on deploy/demo/issuer-a.yaml and issuer-b.yaml,
//                       on free ports (--port) instead of 9583 and 9584
//   the switch          `switchyard serve` on the embedded demo defaults, with a --config overlay
//                       that sets only what a test must change (data_dir, the HTTP port, the
//                       routes' endpoint ports) and --port N for the listeners (N: TERM0001 and
//                       TERM0003 on iso87b, N+1: TERM0002 on iso87b-pin16)
// Cases, in declaration order (the master/session case restarts the switch):
//   1. scripts/run.sh's flow: TERM0001 (TDES DUKPT) sign-on, purchase, refund, void, pre-auth and
//      completion, a purchase at issuer-b reversed and repeated, batch close
//   2. TERM0002 (AES DUKPT, format 4 PIN blocks) on the second listener
//   3. TERM0003 (master/session under the TEST TMK): keys in 48, key change, restart
//   4. SIGHUP reloads the BIN table (a second switch with a `bins:` list in its --config file)
// Every wait is bounded. Set SY_KEEP_PROCESS_DIR=1 to keep the directory with the logs.

#include <gtest/gtest.h>
#include <sys/types.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/process_util.h"

namespace sy::proc_test {
namespace {

namespace json = boost::json;
using std::chrono::seconds;

// issuer-a's TEST card (deploy/demo/issuer-a.yaml): PIN 1234, 1000.00 EUR.
const std::string kCard = "4761739001010010";
const std::string kCardMasked = "476173******0010";
// issuer-b's TEST card (deploy/demo/issuer-b.yaml): PIN 1234, 500.00 EUR.
const std::string kCardB = "5500000000000004";
// The demo's tmk-demo (deploy/demo/switchyard.yaml's TERM0003).
const std::string kTmk = "0123456789ABCDEFFEDCBA9876543210";

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

std::size_t Occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

// ---- the processes -----------------------------------------------------------------------------

struct Issuer {
  std::string config;  // deploy/demo/issuer-*.yaml as it is
  std::string log;
  std::uint16_t port = 0;
  pid_t pid = -1;
};

struct Switch {
  std::string name;        // for file names
  std::string data;        // its data directory
  std::string config;      // the --config overlay
  std::string log;         // stdout and stderr
  std::uint16_t port = 0;  // --port: listeners on port and port + 1
  std::uint16_t http = 0;
  pid_t pid = -1;
  [[nodiscard]] std::string ca() const { return data + "/tls/switch.crt"; }
};

struct Env {
  std::string dir, bin, source;
  std::string routes;  // the demo's `routes:` block with the test's issuer ports
  std::map<std::string, Issuer> issuers;
  Switch demo;  // cases 1 to 3
  Switch hup;   // case 4
  std::string setup_error;
  int runs = 0;  // term runs, for their output files
};

Env* env = nullptr;

// The --config overlay: merged over the embedded demo defaults by `serve`.
std::string Overlay(const Switch& s, const std::string& bins = {}) {
  std::string y = "# Written by demo_test: merged over the embedded demo defaults.\n";
  y += "data_dir: " + s.data + "\n";
  y += "http: {port: " + std::to_string(s.http) + "}\n";
  y += env->routes;
  y += bins;
  return y;
}

Switch NewSwitch(const std::string& name) {
  Switch s;
  s.name = name;
  s.data = env->dir + "/" + name + "-data";
  s.config = env->dir + "/" + name + ".yaml";
  s.log = env->dir + "/" + name + ".log";
  s.port = FreeConsecutivePorts(2);
  s.http = FreePort();
  return s;
}

bool Start(Switch& s) {
  s.pid = Spawn({env->bin, "serve", "--config", s.config, "--port", std::to_string(s.port)}, s.log);
  return s.pid > 0;
}

// SIGTERM with a bounded grace; the wait status.
int Stop(Switch& s, bool* killed = nullptr) {
  const int status = StopProcess(s.pid, SIGTERM, seconds(15), killed);
  s.pid = -1;
  return status;
}

bool LinksUp(const Switch& s) {
  const std::string m = HttpGet(s.http, "/metrics", seconds(2)).body;
  for (const auto& [id, issuer] : env->issuers) {
    if (PromValue(m, "sy_routing_link_up{route=\"" + id + "\"}").value_or(0) != 1) {
      return false;
    }
  }
  return true;
}

// Whether it is still running (when it is not, it is reaped and its pid forgotten).
bool Running(Switch& s) {
  if (s.pid <= 0) {
    return false;
  }
  if (WaitExit(s.pid, std::chrono::milliseconds(0)).has_value()) {
    s.pid = -1;
    return false;
  }
  return true;
}

// /readyz answers 200 and both issuer links are up, bounded; false at once if it died.
bool WaitReady(Switch& s, std::chrono::milliseconds timeout) {
  bool ready = false;
  WaitUntil(
      [&] {
        if (!Running(s)) {
          return true;
        }
        ready = HttpGet(s.http, "/readyz", seconds(2)).status == 200 && LinksUp(s);
        return ready;
      },
      timeout, std::chrono::milliseconds(100));
  return ready;
}

std::string Logs() {
  std::string s;
  for (const Switch* sw : {&env->demo, &env->hup}) {
    if (!sw->log.empty()) {
      s += "\n--- switch " + sw->name + " log (" + sw->log + ", tail) ---\n" + Tail(sw->log, 40);
    }
  }
  for (const auto& [id, i] : env->issuers) {
    s += "--- " + id + " log (" + i.log + ", tail) ---\n" + Tail(i.log, 15);
  }
  return s;
}

// ---- the terminal: `switchyard term` -----------------------------------------------------------

struct TermProfile {
  std::uint16_t port = 0;
  std::string ca;
  std::string state;
  std::vector<std::string> flags;  // --scheme, --tid, --tmk, --dialect
};

struct TermRun {
  std::string command;  // the command line, for messages
  CommandResult result;
  std::optional<json::object> answer;  // the --json object
  [[nodiscard]] std::string Text(std::string_view key) const {
    return answer ? Str(*answer, key) : std::string();
  }
  [[nodiscard]] std::string Request(std::string_view field) const {
    return answer ? Str(Obj(*answer, "request"), field) : std::string();
  }
  [[nodiscard]] std::string Response(std::string_view field) const {
    return answer ? Str(Obj(*answer, "response"), field) : std::string();
  }
  [[nodiscard]] std::string rc() const { return Text("response_code"); }
  [[nodiscard]] std::string Describe() const {
    return "\n  command: " + command + "\n  status: " + DescribeStatus(result.status) +
           "\n  output:\n" + result.output;
  }
};

TermRun RunTerm(const TermProfile& t, const std::vector<std::string>& command) {
  std::vector<std::string> argv{
      env->bin, "term", "--host",  "127.0.0.1", "--port", std::to_string(t.port),
      "--ca",   t.ca,   "--state", t.state,     "--json"};
  argv.insert(argv.end(), t.flags.begin(), t.flags.end());
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

// The run ended with status 0 and its JSON answer has this MTI, response code and MAC status
// ("ok": the answer's MAC verified under the terminal's response key).
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
  if (r.result.output.find(kCard) != std::string::npos ||
      r.result.output.find(kCardB) != std::string::npos) {
    return ::testing::AssertionFailure() << "a clear PAN in term's output" << r.Describe();
  }
  return ::testing::AssertionSuccess();
}

// The purchase command for `amount` (minor units) with a PIN.
std::vector<std::string> Purchase(const std::string& pan, int amount, const std::string& pin) {
  return {"purchase", "--pan", pan, "--amount", std::to_string(amount), "--pin", pin};
}

// The demo terminals.
TermProfile Term0001(const Switch& s, const std::string& state_name) {
  return {s.port, s.ca(), env->dir + "/" + state_name, {}};
}
TermProfile Term0002(const Switch& s) {
  // --scheme dukpt-aes defaults to TERM0002, MERCHANT0000002, the demo's AES BDK and KSN.
  return {static_cast<std::uint16_t>(s.port + 1),
          s.ca(),
          env->dir + "/term-TERM0002.state",
          {"--scheme", "dukpt-aes", "--dialect", "iso87b-pin16"}};
}
TermProfile Term0003(const Switch& s, const std::string& state_name) {
  return {s.port,
          s.ca(),
          env->dir + "/" + state_name,
          {"--scheme", "master-session", "--tid", "TERM0003", "--tmk", kTmk}};
}

// The state file's session_keys line (the TR-31 blocks as received).
std::string SessionKeysLine(const std::string& state_path) {
  const std::string text = ReadFile(state_path);
  const std::size_t at = text.find("\"session_keys\"");
  if (at == std::string::npos) {
    return {};
  }
  return text.substr(at, text.find('\n', at) - at);
}

class DemoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env = new Env;
    char pattern[] = "/tmp/sy-demo-XXXXXX";
    if (mkdtemp(pattern) == nullptr) {
      env->setup_error = "mkdtemp failed";
      return;
    }
    env->dir = pattern;
    env->bin = SY_SWITCHYARD_BIN;
    env->source = SY_SOURCE_DIR_PATH;
    for (const char* id : {"issuer-a", "issuer-b"}) {
      Issuer i;
      i.config = env->source + "/deploy/demo/" + id + ".yaml";
      i.log = env->dir + "/" + id + ".log";
      i.port = FreePort();
      env->issuers[id] = i;
    }
    env->routes = DemoRoutes(ReadFile(env->source + "/deploy/demo/switchyard.yaml"),
                             env->issuers["issuer-a"].port, env->issuers["issuer-b"].port);
    if (env->routes.empty()) {
      env->setup_error =
          "deploy/demo/switchyard.yaml: no routes block with one endpoint on port 9583 and one on "
          "9584";
      return;
    }
    for (auto& [id, i] : env->issuers) {
      i.pid = Spawn(
          {env->bin, "issuer-sim", "--config", i.config, "--port", std::to_string(i.port)}, i.log);
      if (i.pid < 0) {
        env->setup_error = "cannot start " + id;
        return;
      }
    }
    for (auto& [id, i] : env->issuers) {
      const std::string needle = "listening on 127.0.0.1:" + std::to_string(i.port);
      if (!WaitUntil([&] { return ReadFile(i.log).find(needle) != std::string::npos; },
                     seconds(20))) {
        env->setup_error = id + " did not start listening:\n" + ReadFile(i.log);
        return;
      }
    }
    env->demo = NewSwitch("switch");
    if (env->demo.port == 0 || env->demo.http == 0) {
      env->setup_error = "no free ports";
      return;
    }
    WriteFile(env->demo.config, Overlay(env->demo));
    if (!Start(env->demo) || !WaitReady(env->demo, seconds(30))) {
      env->setup_error = "the switch did not become ready with both issuer links up" + Logs();
    }
  }

  static void TearDownTestSuite() {
    if (env == nullptr) {
      return;
    }
    for (Switch* s : {&env->demo, &env->hup}) {
      if (s->pid > 0) {
        Stop(*s);
      }
    }
    for (auto& [id, i] : env->issuers) {
      if (i.pid > 0) {
        StopProcess(i.pid, SIGTERM, seconds(5));
      }
    }
    RemoveProcessDir(env->dir, "demo_test");
    delete env;
    env = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(env != nullptr && env->setup_error.empty()) << env->setup_error;
    if (env->demo.pid <= 0) {  // an earlier case left it stopped
      ASSERT_TRUE(Start(env->demo) && WaitReady(env->demo, seconds(30))) << Logs();
    }
  }

  void TearDown() override {
    if (HasFailure()) {
      std::fprintf(stderr, "%s\n", Logs().c_str());
    }
  }
};

// 1. scripts/run.sh and the README: sign on, buy with the TEST card and PIN 1234, then every other
// terminal transaction through `switchyard term`, and close the batch with totals the switch
// agrees with.
TEST_F(DemoTest, ReadmeRunFlowWithTheTermCommand) {
  const TermProfile t = Term0001(env->demo, "term-TERM0001.state");

  TermRun r = RunTerm(t, {"signon"});
  ASSERT_TRUE(Answered(r, "0810", "00"));
  EXPECT_EQ(r.Request("41"), "TERM0001");
  EXPECT_EQ(r.Text("ksn").size(), 20u) << r.Describe();

  r = RunTerm(t, Purchase(kCard, 1250, "1234"));
  ASSERT_TRUE(Answered(r, "0210", "00"));
  EXPECT_EQ(r.Text("pan"), kCardMasked);
  EXPECT_EQ(r.Request("22"), "051") << r.Describe();
  EXPECT_FALSE(r.Request("52").empty()) << "no PIN block sent" << r.Describe();
  EXPECT_EQ(r.Response("4"), "000000001250");
  EXPECT_EQ(r.Text("auth").size(), 6u) << r.Describe();
  const std::string purchase_rrn = r.Text("rrn");
  ASSERT_EQ(purchase_rrn.size(), 12u) << r.Describe();

  // A partial refund of that purchase.
  r = RunTerm(t, {"refund", "--rrn", purchase_rrn, "--amount", "250"});
  ASSERT_TRUE(Answered(r, "0210", "00"));
  EXPECT_EQ(r.Request("3"), "200000");
  EXPECT_EQ(r.Request("37"), purchase_rrn);

  // A second purchase, voided.
  r = RunTerm(t, Purchase(kCard, 800, "1234"));
  ASSERT_TRUE(Answered(r, "0210", "00"));
  const std::string voided_rrn = r.Text("rrn");
  r = RunTerm(t, {"void", "--rrn", voided_rrn});
  ASSERT_TRUE(Answered(r, "0210", "00"));
  EXPECT_EQ(r.Request("3"), "020000");
  EXPECT_EQ(r.Request("4"), "000000000800");

  // A pre-authorization and its completion for less.
  r = RunTerm(t, {"preauth", "--pan", kCard, "--amount", "3000", "--pin", "1234"});
  ASSERT_TRUE(Answered(r, "0110", "00"));
  const std::string preauth_rrn = r.Text("rrn");
  const std::string preauth_auth = r.Text("auth");
  r = RunTerm(t, {"completion", "--rrn", preauth_rrn, "--amount", "2800"});
  ASSERT_TRUE(Answered(r, "0230", "00"));
  EXPECT_EQ(r.Request("37"), preauth_rrn);
  EXPECT_EQ(r.Request("38"), preauth_auth);

  // A purchase at issuer-b, reversed, and the reversal repeated.
  r = RunTerm(t, Purchase(kCardB, 900, "1234"));
  ASSERT_TRUE(Answered(r, "0210", "00"));
  const std::string reversed_stan = r.Text("stan");
  r = RunTerm(t, {"reversal"});
  ASSERT_TRUE(Answered(r, "0410", "00"));
  EXPECT_EQ(r.Request("0"), "0400");
  EXPECT_EQ(r.Request("11"), reversed_stan);
  r = RunTerm(t, {"reversal", "--repeat"});
  ASSERT_TRUE(Answered(r, "0410", "00"));
  EXPECT_EQ(r.Request("0"), "0401");
  EXPECT_EQ(r.Request("11"), reversed_stan);
  // The switch owes issuer-b a 0420 for it (store and forward).
  const std::string& b_log = env->issuers["issuer-b"].log;
  EXPECT_TRUE(
      WaitUntil([&] { return ReadFile(b_log).find("0420") != std::string::npos; }, seconds(15)))
      << "issuer-b never got the reversal's 0420" << Logs();

  // Batch close: debits 1250 + 2800 (the void and the reversal took theirs out), credits 250.
  r = RunTerm(t, {"batch-close"});
  ASSERT_TRUE(r.result.ok() && r.answer) << r.Describe();
  EXPECT_EQ(r.Text("closed"), "true") << r.Describe();
  EXPECT_EQ(r.Text("batch"), "000001") << r.Describe();
  const json::value* exchanges = r.answer->if_contains("exchanges");
  ASSERT_TRUE(exchanges != nullptr && exchanges->is_array() && !exchanges->as_array().empty())
      << r.Describe();
  ASSERT_EQ(exchanges->as_array().size(), 1u)
      << "the totals did not agree: an upload" << r.Describe();
  const json::object close = exchanges->as_array()[0].as_object();
  EXPECT_EQ(Str(close, "mti"), "0510");
  EXPECT_EQ(Str(close, "response_code"), "00") << r.Describe();
  const json::object req = Obj(close, "request");
  EXPECT_EQ(Str(req, "3"), "920000");
  EXPECT_EQ(Str(req, "74"), "0000000001");
  EXPECT_EQ(Str(req, "86"), "0000000000000250");
  EXPECT_EQ(Str(req, "76"), "0000000002");
  EXPECT_EQ(Str(req, "88"), "0000000000004050");
}

// 2. The AES DUKPT terminal on the second listener (iso87b-pin16): its 16-byte format 4 PIN
// block is translated by the switch to format 0 under issuer-a's ZPK, and issuer-a checks it (a
// wrong PIN gets 55 from the issuer).
TEST_F(DemoTest, AesDukptTerminalOnTheSecondListener) {
  const TermProfile t = Term0002(env->demo);

  TermRun r = RunTerm(t, {"signon"});
  ASSERT_TRUE(Answered(r, "0810", "00"));
  EXPECT_EQ(r.Request("41"), "TERM0002");
  EXPECT_EQ(r.Text("ksn").size(), 24u) << r.Describe();

  r = RunTerm(t, Purchase(kCard, 1250, "1234"));
  ASSERT_TRUE(Answered(r, "0210", "00"));
  EXPECT_EQ(r.Request("42"), "MERCHANT0000002");
  EXPECT_FALSE(r.Request("52").empty()) << "no PIN block sent" << r.Describe();
  EXPECT_EQ(r.Text("auth").size(), 6u) << r.Describe();

  r = RunTerm(t, Purchase(kCard, 1260, "9999"));
  ASSERT_TRUE(Answered(r, "0210", "55"));

  r = RunTerm(t, Purchase(kCard, 1270, "1234"));
  ASSERT_TRUE(Answered(r, "0210", "00"));
}

// 3. The master/session terminal: the first sign-on is not MACed and brings the working keys in
// 48 (TR-31 under the TMK); a key change replaces them; keys and activation survive a restart of
// the switch (SIGTERM, started again on the same data directory).
TEST_F(DemoTest, MasterSessionTerminalKeepsKeysAndActivationAcrossARestart) {
  const TermProfile t = Term0003(env->demo, "term-TERM0003.state");

  TermRun r = RunTerm(t, {"signon"});
  ASSERT_TRUE(Answered(r, "0810", "00", "none"));  // unMACed request, unMACed answer
  EXPECT_EQ(r.Text("keys_installed"), "true") << r.Describe();
  EXPECT_FALSE(r.Response("48").empty()) << r.Describe();
  EXPECT_TRUE(r.Request("64").empty() && r.Request("128").empty()) << r.Describe();
  const std::string first_keys = SessionKeysLine(t.state);
  EXPECT_FALSE(first_keys.empty()) << ReadFile(t.state);

  r = RunTerm(t, Purchase(kCard, 1500, "1234"));
  ASSERT_TRUE(Answered(r, "0210", "00"));
  EXPECT_TRUE(r.Text("ksn").empty()) << "a master/session terminal sends no KSN" << r.Describe();

  r = RunTerm(t, {"keychange"});
  ASSERT_TRUE(Answered(r, "0810", "00"));
  EXPECT_EQ(r.Text("keys_installed"), "true") << r.Describe();
  EXPECT_EQ(r.Request("70"), "101");
  EXPECT_NE(SessionKeysLine(t.state), first_keys) << "the key change brought the same keys";

  r = RunTerm(t, Purchase(kCard, 1510, "1234"));
  ASSERT_TRUE(Answered(r, "0210", "00"));

  // Restart the switch on the same data directory.
  bool killed = false;
  const int status = Stop(env->demo, &killed);
  EXPECT_FALSE(killed) << "the switch did not stop on SIGTERM within 15 s" << Logs();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "serve ended with " << DescribeStatus(status) << Logs();
  ASSERT_TRUE(Start(env->demo) && WaitReady(env->demo, seconds(30)))
      << "the switch did not come back" << Logs();

  r = RunTerm(t, Purchase(kCard, 1520, "1234"));
  ASSERT_TRUE(Answered(r, "0210", "00"));

  // The terminal is known to hold keys: a sign-on without a MAC (a terminal that never got the
  // keys, fresh state) is refused with 30 and brings no keys.
  const TermProfile stranger = Term0003(env->demo, "term-TERM0003-fresh.state");
  r = RunTerm(stranger, {"signon"});
  ASSERT_TRUE(Answered(r, "0810", "30", "none"));
  EXPECT_NE(r.Text("keys_installed"), "true") << r.Describe();
  EXPECT_TRUE(r.Response("48").empty()) << r.Describe();

  // ... and the real terminal goes on with its keys.
  r = RunTerm(t, Purchase(kCard, 1530, "1234"));
  ASSERT_TRUE(Answered(r, "0210", "00"));
}

// 4. SIGHUP reloads the BIN table from the --config file: a BIN the running table lacks gets 92,
// after the file gains it and SIGHUP it routes; a broken file (a BIN naming an unknown route)
// changes nothing.
TEST_F(DemoTest, SighupReloadsTheBinTableFromTheConfigFile) {
  env->hup = NewSwitch("switch-hup");
  Switch& s = env->hup;
  ASSERT_NE(s.port, 0);
  ASSERT_NE(s.http, 0);
  // The demo's BINs without 476173 (issuer-a's cards): 40..476172 and 476174..49 to issuer-a.
  const std::string others =
      "  - {low: \"400000\", high: \"476172\", brand: visa, route: issuer-a}\n"
      "  - {low: \"476174\", high: \"499999\", brand: visa, route: issuer-a}\n"
      "  - {low: \"510000\", high: \"559999\", brand: mastercard, route: issuer-b}\n";
  ASSERT_TRUE(WriteFile(s.config, Overlay(s, "bins:\n" + others)));
  ASSERT_TRUE(Start(s) && WaitReady(s, seconds(30))) << "the second switch did not start" << Logs();

  const TermProfile t = Term0001(s, "term-TERM0001-hup.state");
  TermRun r = RunTerm(t, {"signon"});
  ASSERT_TRUE(Answered(r, "0810", "00"));
  r = RunTerm(t, Purchase(kCard, 1100, "1234"));
  ASSERT_TRUE(Answered(r, "0210", "92"));  // no route
  r = RunTerm(t, Purchase(kCardB, 100, "1234"));
  ASSERT_TRUE(Answered(r, "0210", "00"));  // issuer-b's range is there

  // The file gains 476173 -> issuer-a; SIGHUP.
  ASSERT_TRUE(WriteFile(
      s.config,
      Overlay(s, "bins:\n  - {low: \"476173\", brand: visa, route: issuer-a}\n" + others)));
  ASSERT_EQ(kill(s.pid, SIGHUP), 0);
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(s.log).find("bins reloaded:") != std::string::npos; },
                        seconds(10)))
      << "no \"bins reloaded\" line after SIGHUP" << Logs();
  EXPECT_NE(ReadFile(s.log).find("476173"), std::string::npos)
      << "the reload's diff does not name 476173" << Logs();
  r = RunTerm(t, Purchase(kCard, 1110, "1234"));
  ASSERT_TRUE(Answered(r, "0210", "00"));

  // A broken file: 476173 gone and the 4 range on a route that does not exist. Were it applied,
  // the card would get 92.
  ASSERT_TRUE(WriteFile(
      s.config,
      Overlay(s,
              "bins:\n  - {low: \"400000\", high: \"499999\", brand: visa, route: issuer-nowhere}\n"
              "  - {low: \"510000\", high: \"559999\", brand: mastercard, route: issuer-b}\n")));
  ASSERT_EQ(kill(s.pid, SIGHUP), 0);
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(s.log).find("not reloaded") != std::string::npos; },
                        seconds(10)))
      << "no \"not reloaded\" line after SIGHUP with a broken file" << Logs();
  const std::string log = ReadFile(s.log);
  EXPECT_NE(log.find("issuer-nowhere"), std::string::npos)
      << "the log does not name the unknown route" << Logs();
  EXPECT_EQ(Occurrences(log, "bins reloaded:"), 1u) << Logs();
  r = RunTerm(t, Purchase(kCard, 1120, "1234"));
  ASSERT_TRUE(Answered(r, "0210", "00"));
  EXPECT_TRUE(Running(s)) << "the switch died" << Logs();

  bool killed = false;
  const int status = Stop(s, &killed);
  EXPECT_FALSE(killed) << Logs();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << DescribeStatus(status);
}

}  // namespace
}  // namespace sy::proc_test
