// What operators observe, against the real daemon (docs/deploy.md, "Checking the files"):
//   issuer-a, issuer-b  `switchyard issuer-sim` on the demo's configurations
//   the switch          `switchyard serve` on the embedded demo defaults with an overlay: the
//   test's
//                       ports, `log_format: json`, and an admin token (the admin API, and with it
//                       the onboarding and settlement metrics, starts only with one)
//   the terminal        the real `switchyard term` CLI: sign-on, an approval, an issuer decline
//                       (wrong PIN), a purchase at issuer-b reversed (a SAF entry and its 0420)
//   Prometheus          Debian's `prometheus` on 127.0.0.1, scraping the switch every second and
//                       evaluating deploy/prometheus/alerts.yml, with its storage in the test's
//                       directory
// Cases:
//   1. `promtool check metrics` accepts the switch's real /metrics output;
//   2. Prometheus scrapes it (up == 1) and answers a switch counter through /api/v1/query with
//      the value /metrics shows; every alert rule evaluates without error on real series;
//   3. every metric name every Grafana panel and variable (deploy/grafana/dashboards/*.json) and
//      every alert rule (deploy/prometheus/alerts.yml) selects is in the real /metrics output,
//      except the few other exporters' series listed in kOtherExporters;
//   4. JSON log lines carry tid, stan, rrn, mti and rc as members of their own (the purchase's
//      RRN and STAN as `term` saw them), the start-up and issuer-link lines are JSON too, and no
//      line holds the clear PAN.
// Cases 1 and 2 are skipped when prometheus or promtool is not installed (scripts/install-deps.sh
// installs Debian's `prometheus`). Ports: 24200-24299 (this test's range), the first free block.
// Every wait is bounded. Set SY_KEEP_PROCESS_DIR=1 to keep the directory with the logs.

#include <gtest/gtest.h>
#include <sys/types.h>
#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/process_util.h"

namespace sy::proc_test {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using std::chrono::seconds;

// issuer-a's TEST card (deploy/demo/issuer-a.yaml, PIN 1234) and issuer-b's.
const std::string kCard = "4761739001010010";
const std::string kCardB = "5500000000000004";
// The admin token's SHA-256 (of the bytes "observe-test-token"): the token itself is never used,
// it only makes the switch start its admin API.
const std::string kTokenSha256 = "0efbca2e4bb563034630a03887ce8b7377acfc40b3a1563829daf67eecca5746";

// Series the dashboard or the alert rules read that other exporters produce, not the switch:
// each is used by deploy/ (checked, so that no stale entry hides anything) and none is sy_*.
const std::map<std::string, std::string> kOtherExporters = {
    {"up", "Prometheus's own per-target scrape health (checked through its API in case 2)"},
    {"node_filesystem_avail_bytes", "node exporter: the data disk (SwitchyardDataDiskFilling)"},
    {"node_filesystem_size_bytes", "node exporter: the data disk (SwitchyardDataDiskFilling)"},
    {"kubelet_volume_stats_available_bytes", "kubelet: the PVC (SwitchyardDataVolumeFilling)"},
    {"kubelet_volume_stats_capacity_bytes", "kubelet: the PVC (SwitchyardDataVolumeFilling)"},
};

// promtool's lint findings on the real /metrics that are accepted, each with its reason; anything
// else it reports fails case 1, and an accepted finding it no longer reports must be dropped.
const std::map<std::string, std::string> kAcceptedLint = {
    {"sy_onboarding_oldest_wait_business_days use base unit \"seconds\" instead of \"days\"",
     "the wait counts business days, the unit of the review target (admin.review_target_days): "
     "weekends and holidays do not count, so it is no fixed number of seconds"},
};

// ---- PromQL ------------------------------------------------------------------------------------

bool IdentStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_' || c == ':';
}
bool IdentChar(char c) { return IdentStart(c) || std::isdigit(static_cast<unsigned char>(c)) != 0; }

// The index just past the group that opens at q[i] ('(', '{' or '['), strings inside skipped.
std::size_t SkipGroup(std::string_view q, std::size_t i) {
  const char open = q[i];
  const char close = open == '(' ? ')' : open == '{' ? '}' : ']';
  int depth = 0;
  for (; i < q.size(); ++i) {
    const char c = q[i];
    if (c == '"' || c == '\'' || c == '`') {
      for (++i; i < q.size() && q[i] != c; ++i) {
        if (q[i] == '\\' && c != '`') {
          ++i;
        }
      }
    } else if (c == open) {
      ++depth;
    } else if (c == close && --depth == 0) {
      return i + 1;
    }
  }
  return q.size();
}

// The metric names a PromQL expression selects: identifiers that are not functions (followed by
// "("), aggregation operators, keywords, label names (inside {} and in by/without/on/ignoring/
// group_left/group_right lists), range durations ([...]), strings, numbers or Grafana variables.
std::set<std::string> MetricNames(std::string_view q) {
  static const std::set<std::string_view> kNotMetrics = {
      "and",   "or",           "unless",  "bool",     "offset",     "inf",        "nan",
      "sum",   "min",          "max",     "avg",      "group",      "stddev",     "stdvar",
      "count", "count_values", "bottomk", "topk",     "quantile",   "limitk",     "limit_ratio",
      "by",    "without",      "on",      "ignoring", "group_left", "group_right"};
  static const std::set<std::string_view> kLabelLists = {"by",       "without",    "on",
                                                         "ignoring", "group_left", "group_right"};
  std::set<std::string> names;
  std::size_t i = 0;
  while (i < q.size()) {
    const char c = q[i];
    if (c == '"' || c == '\'' || c == '`' || c == '{' || c == '[') {
      if (c == '{' || c == '[') {
        i = SkipGroup(q, i);
      } else {
        std::size_t j = i + 1;
        while (j < q.size() && q[j] != c) {
          j += q[j] == '\\' && c != '`' ? 2 : 1;
        }
        i = j + 1;
      }
    } else if (c == '$') {  // a Grafana variable: $instance, ${x}, $__rate_interval
      i = i + 1 < q.size() && q[i + 1] == '{' ? SkipGroup(q, i + 1) : i + 1;
      while (i < q.size() && IdentChar(q[i])) {
        ++i;
      }
    } else if (std::isdigit(static_cast<unsigned char>(c)) != 0 || c == '.') {
      while (i < q.size() && (IdentChar(q[i]) || q[i] == '.')) {
        ++i;
      }
    } else if (IdentStart(c)) {
      std::size_t j = i;
      while (j < q.size() && IdentChar(q[j])) {
        ++j;
      }
      const std::string ident(q.substr(i, j - i));
      std::size_t k = j;
      while (k < q.size() && std::isspace(static_cast<unsigned char>(q[k])) != 0) {
        ++k;
      }
      const bool call = k < q.size() && q[k] == '(';
      if (call && kLabelLists.count(ident) != 0) {
        i = SkipGroup(q, k);
        continue;
      }
      if (!call && kNotMetrics.count(ident) == 0) {
        names.insert(ident);
      }
      i = j;
    } else {
      ++i;
    }
  }
  return names;
}

// A Grafana variable's query: `label_values(METRIC_EXPR, label)` selects METRIC_EXPR;
// `label_values(label)` and `metrics(...)` select no series; anything else is PromQL.
std::set<std::string> VariableMetricNames(std::string_view q) {
  if (q.rfind("label_values(", 0) == 0) {
    const std::size_t comma = q.rfind(',');
    if (comma == std::string_view::npos) {
      return {};
    }
    return MetricNames(q.substr(13, comma - 13));
  }
  if (q.rfind("metrics(", 0) == 0) {
    return {};
  }
  return MetricNames(q);
}

// ---- what deploy/ uses
// ---------------------------------------------------------------------------

struct Use {
  std::string where;  // file and panel or alert
  std::string expr;
};

void CollectPanels(const json::array& panels, const std::string& file, std::vector<Use>& uses) {
  for (const auto& pv : panels) {
    if (!pv.is_object()) {
      continue;
    }
    const json::object& p = pv.as_object();
    const std::string title = p.contains("title") && p.at("title").is_string()
                                  ? std::string(p.at("title").as_string())
                                  : "?";
    if (const auto* targets = p.if_contains("targets"); targets && targets->is_array()) {
      for (const auto& t : targets->as_array()) {
        if (const auto* expr = t.as_object().if_contains("expr"); expr && expr->is_string()) {
          uses.push_back({file + " panel \"" + title + "\"", std::string(expr->as_string())});
        }
      }
    }
    if (const auto* nested = p.if_contains("panels"); nested && nested->is_array()) {
      CollectPanels(nested->as_array(), file, uses);  // a collapsed row keeps its panels
    }
  }
}

// Every PromQL query of the dashboards (panels, nested ones included) and their variables.
std::vector<Use> DashboardUses(const std::string& dir, std::string& error) {
  std::vector<Use> uses;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") {
      continue;
    }
    const std::string file = "deploy/grafana/dashboards/" + entry.path().filename().string();
    boost::system::error_code ec;
    const json::value doc = json::parse(ReadFile(entry.path().string()), ec);
    if (ec || !doc.is_object()) {
      error += file + ": not a JSON object\n";
      continue;
    }
    if (const auto* panels = doc.as_object().if_contains("panels"); panels && panels->is_array()) {
      CollectPanels(panels->as_array(), file, uses);
    }
    const auto* templating = doc.as_object().if_contains("templating");
    if (templating != nullptr && templating->is_object()) {
      const auto* list = templating->as_object().if_contains("list");
      for (const auto& v : list != nullptr && list->is_array() ? list->as_array() : json::array{}) {
        const json::object& var = v.as_object();
        const json::value* q = var.if_contains("query");
        std::string text;
        if (q != nullptr && q->is_string()) {
          text = std::string(q->as_string());
        } else if (q != nullptr && q->is_object() && q->as_object().contains("query")) {
          text = std::string(q->as_object().at("query").as_string());
        }
        const bool prometheus_query = var.contains("type") && var.at("type").is_string() &&
                                      var.at("type").as_string() == "query";
        if (prometheus_query && !text.empty()) {
          uses.push_back(
              {file + " variable " + std::string(var.at("name").as_string()), "$variable:" + text});
        }
      }
    }
  }
  return uses;
}

std::vector<Use> AlertUses(const std::string& file, std::string& error) {
  std::vector<Use> uses;
  try {
    const YAML::Node doc = YAML::LoadFile(file);
    for (const auto& group : doc["groups"]) {
      for (const auto& rule : group["rules"]) {
        const std::string name =
            rule["alert"] ? rule["alert"].as<std::string>() : rule["record"].as<std::string>("?");
        uses.push_back({"deploy/prometheus/alerts.yml " + name, rule["expr"].as<std::string>()});
      }
    }
  } catch (const std::exception& e) {
    error += file + ": " + e.what() + "\n";
  }
  return uses;
}

std::set<std::string> UsedNames(const Use& u) {
  constexpr std::string_view kVariable = "$variable:";
  if (u.expr.rfind(kVariable, 0) == 0) {
    return VariableMetricNames(std::string_view(u.expr).substr(kVariable.size()));
  }
  return MetricNames(u.expr);
}

// Metric names in Prometheus text exposition (histograms as their _bucket, _sum and _count).
std::set<std::string> ExposedNames(const std::string& body) {
  std::set<std::string> names;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') {
      continue;
    }
    const std::size_t end = line.find_first_of("{ ");
    names.insert(line.substr(0, end));
  }
  return names;
}

// ---- HTTP helpers
// --------------------------------------------------------------------------------

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0x0F];
    }
  }
  return out;
}

// HttpGet keeps the body as sent: Prometheus (Go) sends large answers chunked. JSON bodies start
// with '{', so a body that starts with a hex size line is a chunked one.
std::string Dechunk(const std::string& body) {
  if (body.empty() || body[0] == '{') {
    return body;
  }
  std::string out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    const std::size_t eol = body.find("\r\n", pos);
    if (eol == std::string::npos) {
      break;
    }
    const std::size_t size = std::strtoul(body.substr(pos, eol - pos).c_str(), nullptr, 16);
    if (size == 0) {
      break;
    }
    out += body.substr(eol + 2, size);
    pos = eol + 2 + size + 2;
  }
  return out;
}

std::optional<json::object> GetJson(std::uint16_t port, const std::string& path) {
  const HttpResult r = HttpGet(port, path, seconds(5));
  if (r.status != 200) {
    return std::nullopt;
  }
  boost::system::error_code ec;
  json::value v = json::parse(Dechunk(r.body), ec);
  if (ec || !v.is_object()) {
    return std::nullopt;
  }
  return v.as_object();
}

// The value of an instant query's first sample, if the query answered one.
std::optional<double> QueryValue(std::uint16_t port, const std::string& promql) {
  auto answer = GetJson(port, "/api/v1/query?query=" + UrlEncode(promql));
  if (!answer || !answer->contains("data")) {
    return std::nullopt;
  }
  const json::value* result = answer->at("data").as_object().if_contains("result");
  if (result == nullptr || !result->is_array() || result->as_array().empty()) {
    return std::nullopt;
  }
  const json::value& sample = result->as_array()[0].as_object().at("value");
  return std::strtod(std::string(sample.as_array()[1].as_string()).c_str(), nullptr);
}

std::string FindInPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = dir + "/" + program;
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return {};
}

// ---- the processes
// -------------------------------------------------------------------------------

struct Env {
  std::string dir, bin, source;
  std::string prometheus, promtool;  // paths; empty when not installed
  // This test's port range, 24200-24299: a block of kPorts ports all free at start.
  static constexpr int kPorts = 7;
  std::uint16_t issuer_a = 0, issuer_b = 0, listener = 0, http = 0, admin = 0, prom = 0;
  pid_t issuer_a_pid = -1, issuer_b_pid = -1, switch_pid = -1, prom_pid = -1;
  std::string switch_log, prom_log;
  std::string setup_error;
  std::string prometheus_error;  // Prometheus did not start (cases 1 and 2 fail with it)
  std::string metrics;           // /metrics after the transactions
  std::string purchase_stan, purchase_rrn, decline_stan;
  int runs = 0;
};

Env* env = nullptr;

std::string Logs() {
  std::string s;
  if (env == nullptr) {
    return s;
  }
  for (const auto& [name, path] :
       std::map<std::string, std::string>{{"switch", env->switch_log},
                                          {"prometheus", env->prom_log},
                                          {"issuer-a", env->dir + "/issuer-a.log"},
                                          {"issuer-b", env->dir + "/issuer-b.log"}}) {
    if (!path.empty()) {
      s += "\n--- " + name + " (" + path + ", tail) ---\n" + Tail(path, 25);
    }
  }
  return s;
}

bool FreeBlock(std::uint16_t first) {
  for (int i = 0; i < Env::kPorts; ++i) {
    if (!PortBindable(static_cast<std::uint16_t>(first + i))) {
      return false;
    }
  }
  return true;
}

struct TermRun {
  CommandResult result;
  std::optional<json::object> answer;
  [[nodiscard]] std::string Text(std::string_view key) const {
    const json::value* v = answer ? answer->if_contains(key) : nullptr;
    return v == nullptr     ? std::string()
           : v->is_string() ? std::string(v->as_string())
                            : json::serialize(*v);
  }
};

TermRun RunTerm(const std::vector<std::string>& command) {
  std::vector<std::string> argv{env->bin,  "term",
                                "--host",  "127.0.0.1",
                                "--port",  std::to_string(env->listener),
                                "--ca",    env->dir + "/switch-data/tls/switch.crt",
                                "--state", env->dir + "/term-TERM0001.state",
                                "--json"};
  argv.insert(argv.end(), command.begin(), command.end());
  TermRun r;
  r.result =
      RunCommand(argv, env->dir + "/term-" + std::to_string(++env->runs) + ".out", seconds(20));
  r.answer = LastJsonObject(r.result.output);
  return r;
}

std::string Describe(const TermRun& r) {
  return "\n  status: " + DescribeStatus(r.result.status) + "\n  output:\n" + r.result.output;
}

bool SwitchReady() {
  if (HttpGet(env->http, "/readyz", seconds(2)).status != 200) {
    return false;
  }
  const std::string m = HttpGet(env->http, "/metrics", seconds(2)).body;
  return PromValue(m, "sy_routing_link_up{route=\"issuer-a\"}").value_or(0) == 1 &&
         PromValue(m, "sy_routing_link_up{route=\"issuer-b\"}").value_or(0) == 1;
}

// Sign-on, an approval, an issuer decline and a reversed purchase at issuer-b; "" or what failed.
std::string RunTransactions() {
  TermRun r = RunTerm({"signon"});
  if (r.Text("response_code") != "00") {
    return "sign-on not approved" + Describe(r);
  }
  r = RunTerm({"purchase", "--pan", kCard, "--amount", "1250", "--pin", "1234"});
  if (r.Text("response_code") != "00" || r.Text("rrn").size() != 12) {
    return "purchase not approved" + Describe(r);
  }
  env->purchase_stan = r.Text("stan");
  env->purchase_rrn = r.Text("rrn");
  r = RunTerm({"purchase", "--pan", kCard, "--amount", "1300", "--pin", "9999"});
  if (r.Text("response_code") != "55") {
    return "wrong-PIN purchase not declined 55" + Describe(r);
  }
  env->decline_stan = r.Text("stan");
  r = RunTerm({"purchase", "--pan", kCardB, "--amount", "900", "--pin", "1234"});
  if (r.Text("response_code") != "00") {
    return "issuer-b purchase not approved" + Describe(r);
  }
  r = RunTerm({"reversal"});
  if (r.Text("response_code") != "00") {
    return "reversal not answered 00" + Describe(r);
  }
  return {};
}

std::string PrometheusConfig() {
  std::string y = "# Written by observe_test.\n";
  y += "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n";
  y += "rule_files: [\"" + env->source + "/deploy/prometheus/alerts.yml\"]\n";
  y += "scrape_configs:\n";
  y += "  - job_name: switchyard\n";
  y += "    static_configs:\n";
  y += "      - targets: [\"127.0.0.1:" + std::to_string(env->http) + "\"]\n";
  return y;
}

class ObserveTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env = new Env;
    char pattern[] = "/tmp/sy-observe-XXXXXX";
    if (mkdtemp(pattern) == nullptr) {
      env->setup_error = "mkdtemp failed";
      return;
    }
    env->dir = pattern;
    env->bin = SY_SWITCHYARD_BIN;
    env->source = SY_SOURCE_DIR_PATH;
    env->prometheus = FindInPath("prometheus");
    env->promtool = FindInPath("promtool");
    std::uint16_t first = 0;
    for (std::uint16_t p = 24200; p + Env::kPorts <= 24300 && first == 0; p += Env::kPorts) {
      first = FreeBlock(p) ? p : 0;
    }
    if (first == 0) {
      env->setup_error = "no block of free ports in 24200-24299";
      return;
    }
    env->issuer_a = first;
    env->issuer_b = static_cast<std::uint16_t>(first + 1);
    env->listener = static_cast<std::uint16_t>(first + 2);  // and first + 3 (the AES listener)
    env->http = static_cast<std::uint16_t>(first + 4);
    env->admin = static_cast<std::uint16_t>(first + 5);
    env->prom = static_cast<std::uint16_t>(first + 6);

    for (auto [id, port, pid] : {std::tuple{"issuer-a", env->issuer_a, &env->issuer_a_pid},
                                 std::tuple{"issuer-b", env->issuer_b, &env->issuer_b_pid}}) {
      const std::string log = env->dir + "/" + id + ".log";
      *pid = Spawn({env->bin, "issuer-sim", "--config",
                    env->source + "/deploy/demo/" + id + ".yaml", "--port", std::to_string(port)},
                   log);
      const std::string needle = "listening on 127.0.0.1:" + std::to_string(port);
      if (*pid < 0 || !WaitUntil([&] { return ReadFile(log).find(needle) != std::string::npos; },
                                 seconds(20))) {
        env->setup_error = std::string(id) + " did not start listening" + Logs();
        return;
      }
    }
    const std::string routes = DemoRoutes(ReadFile(env->source + "/deploy/demo/switchyard.yaml"),
                                          env->issuer_a, env->issuer_b);
    if (routes.empty()) {
      env->setup_error = "deploy/demo/switchyard.yaml: no routes block on ports 9583 and 9584";
      return;
    }
    std::string y = "# Written by observe_test: merged over the embedded demo defaults.\n";
    y += "data_dir: " + env->dir + "/switch-data\n";
    y += "log_format: json\n";
    y += "http: {port: " + std::to_string(env->http) + "}\n";
    y += routes;
    y += "admin:\n  port: " + std::to_string(env->admin) + "\n  tokens:\n";
    y += "    - {name: observer, role: auditor, token_sha256: \"" + kTokenSha256 + "\"}\n";
    const std::string config = env->dir + "/switch.yaml";
    env->switch_log = env->dir + "/switch.log";
    if (!WriteFile(config, y)) {
      env->setup_error = "cannot write " + config;
      return;
    }
    env->switch_pid =
        Spawn({env->bin, "serve", "--config", config, "--port", std::to_string(env->listener)},
              env->switch_log);
    if (env->switch_pid < 0 ||
        !WaitUntil(SwitchReady, seconds(30), std::chrono::milliseconds(100))) {
      env->setup_error = "the switch did not become ready with both issuer links up" + Logs();
      return;
    }
    if (std::string failed = RunTransactions(); !failed.empty()) {
      env->setup_error = failed + Logs();
      return;
    }
    // The reversal's 0420 reaches issuer-b through the SAF queue; once acknowledged the queue is
    // empty again and /metrics no longer changes.
    const std::string b_log = env->dir + "/issuer-b.log";
    if (!WaitUntil([&] { return ReadFile(b_log).find("0420") != std::string::npos; },
                   seconds(20))) {
      env->setup_error = "issuer-b never got the reversal's 0420" + Logs();
      return;
    }
    env->metrics = HttpGet(env->http, "/metrics", seconds(5)).body;

    if (!env->prometheus.empty()) {
      const std::string prom_config = env->dir + "/prometheus.yml";
      env->prom_log = env->dir + "/prometheus.log";
      WriteFile(prom_config, PrometheusConfig());
      env->prom_pid =
          Spawn({env->prometheus, "--config.file=" + prom_config,
                 "--storage.tsdb.path=" + env->dir + "/tsdb",
                 "--web.listen-address=127.0.0.1:" + std::to_string(env->prom), "--log.level=warn"},
                env->prom_log);
      if (env->prom_pid < 0 ||
          !WaitUntil([] { return HttpGet(env->prom, "/-/ready", seconds(2)).status == 200; },
                     seconds(60), std::chrono::milliseconds(200))) {
        env->prometheus_error = "Prometheus did not become ready" + Logs();
      }
    }
  }

  static void TearDownTestSuite() {
    if (env == nullptr) {
      return;
    }
    for (pid_t pid : {env->prom_pid, env->switch_pid, env->issuer_a_pid, env->issuer_b_pid}) {
      if (pid > 0) {
        StopProcess(pid, SIGTERM, seconds(15));
      }
    }
    RemoveProcessDir(env->dir, "observe_test");
    delete env;
    env = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(env != nullptr && env->setup_error.empty()) << env->setup_error;
  }
};

// The extractor the metric-name check rests on: functions, aggregations, label lists, matchers,
// durations, strings, numbers and Grafana variables are not metric names.
TEST(PromqlNamesTest, FindsSelectedMetricsAndNothingElse) {
  EXPECT_EQ(MetricNames("histogram_quantile(0.99, sum by (instance, le) (rate(a_seconds_bucket{"
                        "job=\"x\",le=~\"1|2\"}[5m]))) > 2 and sum(rate(b_total[$__rate_interval]))"
                        " / on(instance) group_left(route) c > bool 0.5 unless absent(d{x='}'})"
                        " or e offset 5m"),
            (std::set<std::string>{"a_seconds_bucket", "b_total", "c", "d", "e"}));
  EXPECT_EQ(MetricNames("up{job=\"switchyard\"} == 0 or absent(up{job=\"switchyard\"})"),
            (std::set<std::string>{"up"}));
  EXPECT_EQ(MetricNames("max by (route) (sy_x{instance=~\"$instance\"})"),
            (std::set<std::string>{"sy_x"}));
  EXPECT_EQ(VariableMetricNames("label_values(sy_switch_requests_total, instance)"),
            (std::set<std::string>{"sy_switch_requests_total"}));
  EXPECT_TRUE(VariableMetricNames("label_values(instance)").empty());
}

// 1. The exposition format as a Prometheus server parses it, and its lint (names, help, types).
TEST_F(ObserveTest, PromtoolChecksTheRealMetricsOutput) {
  if (env->promtool.empty()) {
    GTEST_SKIP() << "promtool not installed (apt-get install --no-install-recommends prometheus)";
  }
  ASSERT_FALSE(env->metrics.empty());
  const std::string file = env->dir + "/metrics.txt";
  ASSERT_TRUE(WriteFile(file, env->metrics));
  const CommandResult r =
      RunCommand({"/bin/sh", "-c", "exec \"$0\" check metrics < \"$1\"", env->promtool, file},
                 env->dir + "/promtool.out", seconds(30));
  // Exit 1: the text does not parse. Exit 3: it parses, with lint findings (printed).
  ASSERT_TRUE(r.status != -1 && WIFEXITED(r.status) &&
              (WEXITSTATUS(r.status) == 0 || WEXITSTATUS(r.status) == 3))
      << "promtool check metrics: " << DescribeStatus(r.status) << "\n"
      << r.output;
  std::string findings = r.output;
  for (const auto& [finding, why] : kAcceptedLint) {
    const bool reported = findings.find(finding) != std::string::npos;
    EXPECT_TRUE(reported) << "promtool no longer reports \"" << finding << "\": drop it";
    for (std::size_t at = findings.find(finding); at != std::string::npos;
         at = findings.find(finding)) {
      findings.erase(at, finding.size());
    }
  }
  EXPECT_TRUE(findings.find_first_not_of(" \n") == std::string::npos)
      << "promtool check metrics found problems in the switch's /metrics:\n"
      << findings;
  // Not vacuous: promtool read a body with the switch's series in it.
  EXPECT_NE(env->metrics.find("sy_switch_responses_total{"), std::string::npos) << env->metrics;
}

// 2. A real Prometheus scrapes the switch and answers its counters; the alert rules evaluate.
TEST_F(ObserveTest, PrometheusScrapesTheSwitchAndEvaluatesTheAlertRules) {
  if (env->prometheus.empty()) {
    GTEST_SKIP() << "prometheus not installed (apt-get install --no-install-recommends prometheus)";
  }
  ASSERT_TRUE(env->prometheus_error.empty()) << env->prometheus_error;
  const std::string series =
      "sy_switch_responses_total{code=\"00\",mti=\"0200\",route=\"issuer-a\"}";
  const std::optional<double> exposed = PromValue(env->metrics, series);
  ASSERT_TRUE(exposed.has_value()) << env->metrics;
  EXPECT_EQ(*exposed, 1.0) << "one approved purchase at issuer-a";
  std::optional<double> queried;
  const std::string promql =
      "sy_switch_responses_total{job=\"switchyard\",mti=\"0200\",code=\"00\",route=\"issuer-a\"}";
  EXPECT_TRUE(WaitUntil(
      [&] {
        queried = QueryValue(env->prom, promql);
        return queried.has_value();
      },
      seconds(30), std::chrono::milliseconds(250)))
      << "Prometheus never answered " << promql << Logs();
  EXPECT_EQ(queried.value_or(-1), *exposed);
  EXPECT_EQ(QueryValue(env->prom, "up{job=\"switchyard\"}").value_or(0), 1.0);
  EXPECT_EQ(QueryValue(env->prom, "sum(sy_routing_link_up{job=\"switchyard\"})").value_or(0), 2.0);

  // Every rule of alerts.yml evaluated at least once, none with an error (a rule the real series
  // break — a many-to-many match, a bad label join — reports health "err").
  std::string problems;
  std::size_t rules = 0;
  const bool evaluated = WaitUntil(
      [&] {
        problems.clear();
        rules = 0;
        auto answer = GetJson(env->prom, "/api/v1/rules");
        if (!answer) {
          problems = "no answer from /api/v1/rules";
          return false;
        }
        for (const auto& g : answer->at("data").as_object().at("groups").as_array()) {
          for (const auto& rv : g.as_object().at("rules").as_array()) {
            const json::object& rule = rv.as_object();
            ++rules;
            const std::string health(rule.at("health").as_string());
            if (health != "ok") {
              problems +=
                  std::string(rule.at("name").as_string()) + ": " + health + " " +
                  (rule.contains("lastError") ? std::string(rule.at("lastError").as_string())
                                              : std::string()) +
                  "\n";
            }
          }
        }
        return problems.empty() && rules > 0;
      },
      seconds(30), std::chrono::milliseconds(250));
  EXPECT_TRUE(evaluated) << problems << Logs();
  const std::string alerts = ReadFile(env->source + "/deploy/prometheus/alerts.yml");
  std::size_t in_file = 0;
  for (std::size_t pos = alerts.find("- alert:"); pos != std::string::npos;
       pos = alerts.find("- alert:", pos + 1)) {
    ++in_file;
  }
  EXPECT_EQ(rules, in_file) << "Prometheus loaded a different number of rules than alerts.yml has";
}

// 3. Every metric the dashboard and the alert rules use is one the real switch exports.
TEST_F(ObserveTest, EveryMetricTheDashboardAndAlertsUseIsInTheRealMetricsOutput) {
  std::string error;
  std::vector<Use> uses = DashboardUses(env->source + "/deploy/grafana/dashboards", error);
  const std::size_t dashboard_uses = uses.size();
  for (Use& u : AlertUses(env->source + "/deploy/prometheus/alerts.yml", error)) {
    uses.push_back(std::move(u));
  }
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_GT(dashboard_uses, 10u) << "found almost no dashboard queries: has the JSON changed?";
  ASSERT_GT(uses.size() - dashboard_uses, 10u) << "found almost no alert rules";

  const std::set<std::string> exposed = ExposedNames(env->metrics);
  std::set<std::string> other_used;
  std::size_t checked = 0;
  for (const Use& u : uses) {
    const std::set<std::string> names = UsedNames(u);
    EXPECT_FALSE(names.empty()) << u.where << " selects no metric: " << u.expr;
    for (const std::string& name : names) {
      ++checked;
      if (kOtherExporters.count(name) != 0) {
        other_used.insert(name);
        continue;
      }
      EXPECT_EQ(exposed.count(name), 1u)
          << u.where << " uses " << name << ", which the switch's /metrics does not have\n  "
          << u.expr;
    }
  }
  EXPECT_GT(checked, 40u);
  for (const auto& [name, why] : kOtherExporters) {
    EXPECT_NE(name.rfind("sy_", 0), 0u) << name << " is the switch's: it cannot be excused";
    EXPECT_EQ(other_used.count(name), 1u) << name << " (" << why << ") is no longer used: drop it";
    EXPECT_EQ(exposed.count(name), 0u) << name << " is exported by the switch after all";
  }
}

// 4. With log_format json every line is an object; transaction lines carry their keys as members.
TEST_F(ObserveTest, JsonLogLinesCarryTidStanRrnAndNeverTheClearPan) {
  // The shutdown lines come last: stop the switch first (TearDown does not need it).
  StopProcess(env->switch_pid, SIGTERM, seconds(15));
  env->switch_pid = -1;
  const std::string log = ReadFile(env->switch_log);
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.find(kCard), std::string::npos) << "a clear PAN in the switch's log";
  EXPECT_EQ(log.find(kCardB), std::string::npos) << "a clear PAN in the switch's log";

  std::vector<json::object> lines;
  std::vector<std::string> plain;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (!ec && v.is_object() && v.as_object().contains("ts") && v.as_object().contains("level") &&
        v.as_object().contains("msg")) {
      lines.push_back(v.as_object());
    } else {
      plain.push_back(line);
    }
  }
  // Every line, the serve command's own (running, stopping, stopped, SIGHUP) included, is JSON.
  for (const std::string& p : plain) {
    ADD_FAILURE() << "a line that is not JSON: " << p;
  }
  auto find = [&](auto&& match) -> std::optional<json::object> {
    for (const auto& o : lines) {
      if (match(o)) {
        return o;
      }
    }
    return std::nullopt;
  };
  auto str = [](const json::object& o, std::string_view k) {
    const json::value* v = o.if_contains(k);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  auto msg_has = [&](std::string_view text) {
    return
        [&, text](const json::object& o) { return str(o, "msg").find(text) != std::string::npos; };
  };

  const auto purchase = find([&](const json::object& o) {
    return str(o, "mti") == "0200" && str(o, "stan") == env->purchase_stan;
  });
  ASSERT_TRUE(purchase.has_value())
      << "no JSON line with mti 0200 and stan " << env->purchase_stan << "\n"
      << log;
  EXPECT_EQ(str(*purchase, "tid"), "TERM0001") << json::serialize(*purchase);
  EXPECT_EQ(str(*purchase, "rrn"), env->purchase_rrn) << json::serialize(*purchase);
  EXPECT_EQ(str(*purchase, "rc"), "00") << json::serialize(*purchase);
  EXPECT_EQ(str(*purchase, "route"), "issuer-a") << json::serialize(*purchase);
  EXPECT_EQ(str(*purchase, "level"), "info");
  EXPECT_NE(str(*purchase, "msg").find("476173******0010"), std::string::npos)
      << "the message names the masked PAN" << json::serialize(*purchase);

  const auto decline = find([&](const json::object& o) {
    return str(o, "mti") == "0200" && str(o, "stan") == env->decline_stan;
  });
  ASSERT_TRUE(decline.has_value()) << log;
  EXPECT_EQ(str(*decline, "rc"), "55") << json::serialize(*decline);
  EXPECT_EQ(str(*decline, "rrn").size(), 12u) << json::serialize(*decline);

  // Start-up and issuer-link lines go through the same logger.
  EXPECT_TRUE(find(msg_has("listening for terminals on 127.0.0.1:")).has_value()) << log;
  EXPECT_TRUE(find(msg_has("metrics and health on http://")).has_value()) << log;
  EXPECT_TRUE(find(msg_has("issuer link issuer-a: ")).has_value()) << log;
  EXPECT_TRUE(find(msg_has("saf: issuer-b 0420 for transaction")).has_value()) << log;
}

}  // namespace
}  // namespace sy::proc_test
