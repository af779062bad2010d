#include "switch/config.h"

#include <set>

#include "iso8583/dialect.h"
#include "proto/yaml.h"
#include "switch/log.h"

namespace sy::embedded {
std::string_view DefaultSwitchConfig() noexcept;
}  // namespace sy::embedded

namespace sy::server {
namespace {

bool AllDigits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

bool AllHex(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789ABCDEFabcdef") == std::string_view::npos;
}

template <class T>
void SetIfZero(T& field, T value) {
  if (field == T{}) {
    field = value;
  }
}

void CheckDialect(const std::string& name, const std::string& path,
                  std::vector<std::string>& problems) {
  if (auto d = iso8583::LoadDialect(name); !d) {
    problems.push_back(path + ": " + d.error().message);
  }
}

}  // namespace

std::string_view DefaultConfigYaml() noexcept { return embedded::DefaultSwitchConfig(); }

routing::Result<routing::BinTable> BuildBinTable(const proto::SwitchConfig& config) {
  std::vector<routing::BinEntry> entries;
  entries.reserve(static_cast<std::size_t>(config.bins_size()));
  for (const auto& b : config.bins()) {
    entries.push_back(
        {b.low(), b.high().empty() ? b.low() : b.high(), b.brand(), b.on_us(), b.route()});
  }
  std::set<std::string> routes;
  for (const auto& r : config.routes()) {
    routes.insert(r.id());
  }
  return routing::BinTable::Build(std::move(entries), routes);
}

void ApplyDefaults(proto::SwitchConfig& c) {
  if (c.mode().empty()) {
    c.set_mode("demo");
  }
  if (c.data_dir().empty()) {
    c.set_data_dir("./data");
  }
  if (c.preauth_validity_days() == 0) {
    c.set_preauth_validity_days(7);
  }
  if (!c.has_completion_tolerance_percent()) {
    c.set_completion_tolerance_percent(15);
  }
  if (c.retention_days() == 0) {
    c.set_retention_days(400);
  }
  for (auto& l : *c.mutable_listeners()) {
    if (l.name().empty()) {
      l.set_name("terminals");
    }
    if (l.address().empty()) {
      l.set_address("127.0.0.1");
    }
    if (l.framing().empty()) {
      l.set_framing("nac");
    }
    if (l.tpdu().empty()) {
      l.set_tpdu(l.framing() == "nac" ? "yes" : "no");
    }
    if (l.dialect().empty()) {
      l.set_dialect("iso87b");
    }
    if (l.max_frame() == 0) {
      l.set_max_frame(4096);
    }
    if (l.idle_timeout_ms() == 0) {
      l.set_idle_timeout_ms(300000);
    }
    if (l.max_in_flight() == 0) {
      l.set_max_in_flight(16);
    }
  }
  if (c.http().address().empty()) {
    c.mutable_http()->set_address("127.0.0.1");
  }
  if (c.http().port() == 0) {
    c.mutable_http()->set_port(9090);
  }
  if (c.keys().file().empty()) {
    c.mutable_keys()->set_file(c.data_dir() + "/keys.txt");
  }
  if (c.business_day().cutover().empty()) {
    c.mutable_business_day()->set_cutover("00:00");
  }
  for (auto& r : *c.mutable_routes()) {
    for (auto& e : *r.mutable_endpoints()) {
      if (e.host().empty()) {
        e.set_host("127.0.0.1");
      }
    }
    if (r.dialect().empty()) {
      r.set_dialect("iso87a");
    }
    if (r.timeout_ms() == 0) {
      r.set_timeout_ms(5000);
    }
    if (r.max_in_flight() == 0) {
      r.set_max_in_flight(256);
    }
    if (r.connections() == 0) {
      r.set_connections(1);
    }
    if (r.echo_interval_ms() == 0) {
      r.set_echo_interval_ms(30000);
    }
  }
  for (auto& b : *c.mutable_bins()) {
    if (b.high().empty()) {
      b.set_high(b.low());
    }
  }
  for (auto& m : *c.mutable_merchants()) {
    if (m.currency() == 0) {
      m.set_currency(978);
    }
  }
  for (auto& t : *c.mutable_terminals()) {
    if (t.status().empty()) {
      t.set_status("provisioned");
    }
  }
}

void Validate(const proto::SwitchConfig& c, std::vector<std::string>& problems) {
  auto bad = [&](const std::string& path, const std::string& what) {
    problems.push_back(path + ": " + what);
  };
  if (c.mode() != "demo" && c.mode() != "production") {
    bad("mode", "'" + c.mode() + "' is not demo or production");
  }
  if (LogLevel level; !ParseLogLevel(c.log_level(), level)) {
    bad("log_level", "'" + c.log_level() + "' is not error, warning, info or debug");
  }
  if (LogFormat format; !ParseLogFormat(c.log_format(), format)) {
    bad("log_format", "'" + c.log_format() + "' is not text or json");
  }
  if (c.completion_tolerance_percent() > 100) {
    bad("completion_tolerance_percent",
        std::to_string(c.completion_tolerance_percent()) + " is above 100");
  }
  if (c.listeners_size() == 0) {
    bad("listeners", "at least one listener is needed");
  }
  std::set<std::string> names;
  for (int i = 0; i < c.listeners_size(); ++i) {
    const auto& l = c.listeners(i);
    const std::string p = "listeners[" + std::to_string(i) + "]";
    if (!names.insert(l.name()).second) {
      bad(p + ".name", "'" + l.name() + "' is used twice");
    }
    if (l.port() > 65535) {
      bad(p + ".port", std::to_string(l.port()) + " is not a TCP port");
    }
    if (l.framing() != "nac" && l.framing() != "ascii4") {
      bad(p + ".framing", "'" + l.framing() + "' is not nac or ascii4");
    }
    if (l.tpdu() != "yes" && l.tpdu() != "no") {
      bad(p + ".tpdu", "'" + l.tpdu() + "' is not yes or no");
    } else if (l.framing() == "ascii4" && l.tpdu() == "yes") {
      bad(p + ".tpdu", "ascii4 framing carries no TPDU");
    }
    CheckDialect(l.dialect(), p + ".dialect", problems);
    const std::uint32_t cap = l.framing() == "ascii4" ? 9999 : 65535;
    if (l.max_frame() < 64 || l.max_frame() > cap) {
      bad(p + ".max_frame",
          std::to_string(l.max_frame()) + " is not from 64 to " + std::to_string(cap));
    }
    if (!l.plain_tcp() && l.tls().certificate().empty() != l.tls().private_key().empty()) {
      bad(p + ".tls", "certificate and private_key go together");
    }
  }
  if (c.http().port() > 65535) {
    bad("http.port", std::to_string(c.http().port()) + " is not a TCP port");
  }
  const std::string& cut = c.business_day().cutover();
  if (cut.size() != 5 || cut[2] != ':' || !AllDigits(cut.substr(0, 2)) ||
      !AllDigits(cut.substr(3)) || std::stoi(cut.substr(0, 2)) > 23 ||
      std::stoi(cut.substr(3)) > 59) {
    bad("business_day.cutover", "'" + cut + "' is not HH:MM");
  }
  for (const auto* inst :
       {&c.acquirer().acquiring_institution(), &c.acquirer().forwarding_institution()}) {
    if (!inst->empty() && (!AllDigits(*inst) || inst->size() > 11)) {
      bad(inst == &c.acquirer().acquiring_institution() ? "acquirer.acquiring_institution"
                                                        : "acquirer.forwarding_institution",
          "'" + *inst + "' is not up to 11 digits");
    }
  }
  std::set<std::string> routes;
  for (int i = 0; i < c.routes_size(); ++i) {
    const auto& r = c.routes(i);
    const std::string p = "routes[" + std::to_string(i) + "]";
    if (r.id().empty()) {
      bad(p + ".id", "missing");
    } else if (!routes.insert(r.id()).second) {
      bad(p + ".id", "'" + r.id() + "' is used twice");
    }
    if (r.endpoints_size() == 0) {
      bad(p + ".endpoints", "at least one endpoint is needed");
    }
    for (int e = 0; e < r.endpoints_size(); ++e) {
      if (r.endpoints(e).port() == 0 || r.endpoints(e).port() > 65535) {
        bad(p + ".endpoints[" + std::to_string(e) + "].port", "missing or not a TCP port");
      }
    }
    CheckDialect(r.dialect(), p + ".dialect", problems);
    if (r.zpk_id().empty()) {
      bad(p + ".zpk_id", "missing: PINs are re-encrypted under the route's zone PIN key");
    }
    if (r.timeout_ms() < 100) {
      bad(p + ".timeout_ms", "below 100 ms");
    }
    if (r.stand_in().max_amount_minor() < 0) {
      bad(p + ".stand_in.max_amount_minor", "negative");
    }
  }
  for (int i = 0; i < c.bins_size(); ++i) {
    const auto& b = c.bins(i);
    const std::string p = "bins[" + std::to_string(i) + "]";
    if (!AllDigits(b.low()) || b.low().size() < 6 || b.low().size() > 11) {
      bad(p + ".low", "'" + b.low() + "' is not a BIN of 6 to 11 digits");
    }
    if (!AllDigits(b.high()) || b.high().size() != b.low().size() || b.high() < b.low()) {
      bad(p + ".high", "'" + b.high() + "' is not a BIN of low's length, not below low");
    }
    if (routes.count(b.route()) == 0) {
      bad(p + ".route", "'" + b.route() + "' is not a route id");
    }
  }
  if (problems.empty()) {
    // The table's own checks: overlapping ranges of one length, missing brands.
    if (auto table = BuildBinTable(c); !table) {
      bad("bins", table.error().Describe());
    }
  }
  std::set<std::string> mids;
  for (int i = 0; i < c.merchants_size(); ++i) {
    const auto& m = c.merchants(i);
    const std::string p = "merchants[" + std::to_string(i) + "]";
    if (m.mid().empty() || m.mid().size() > 15) {
      bad(p + ".mid", "'" + m.mid() + "' is not 1 to 15 characters");
    } else if (!mids.insert(m.mid()).second) {
      bad(p + ".mid", "'" + m.mid() + "' is used twice");
    }
    if (!m.mcc().empty() && (m.mcc().size() != 4 || !AllDigits(m.mcc()))) {
      bad(p + ".mcc", "'" + m.mcc() + "' is not 4 digits");
    }
    if (m.currency() > 999) {
      bad(p + ".currency", std::to_string(m.currency()) + " is not an ISO 4217 numeric code");
    }
  }
  std::set<std::string> tids;
  for (int i = 0; i < c.terminals_size(); ++i) {
    const auto& t = c.terminals(i);
    const std::string p = "terminals[" + std::to_string(i) + "]";
    if (t.tid().empty() || t.tid().size() > 8) {
      bad(p + ".tid", "'" + t.tid() + "' is not 1 to 8 characters");
    } else if (!tids.insert(t.tid()).second) {
      bad(p + ".tid", "'" + t.tid() + "' is used twice");
    }
    if (mids.count(t.mid()) == 0) {
      bad(p + ".mid", "'" + t.mid() + "' is not a merchant's mid");
    }
    if (t.key_scheme() == "dukpt-tdes" || t.key_scheme() == "dukpt-aes") {
      const std::size_t ksn_len = t.key_scheme() == "dukpt-tdes" ? 20 : 24;
      if (t.bdk_id().empty()) {
        bad(p + ".bdk_id", "missing for a DUKPT terminal");
      }
      if (t.initial_ksn().size() != ksn_len || !AllHex(t.initial_ksn())) {
        bad(p + ".initial_ksn", "not " + std::to_string(ksn_len) + " hex characters");
      }
    } else if (t.key_scheme() == "master-session") {
      if (t.tmk_id().empty()) {
        bad(p + ".tmk_id", "missing for a master/session terminal");
      }
    } else {
      bad(p + ".key_scheme",
          "'" + t.key_scheme() + "' is not dukpt-tdes, dukpt-aes or master-session");
    }
    const auto& s = t.status();
    if (s != "provisioned" && s != "active" && s != "suspended" && s != "retired") {
      bad(p + ".status", "'" + s + "' is not provisioned, active, suspended or retired");
    }
  }
}

std::optional<proto::SwitchConfig> LoadConfig(const std::string& path,
                                              std::vector<std::string>& problems) {
  proto::SwitchConfig config;
  if (auto e = proto::MergeYaml(DefaultConfigYaml(), "embedded defaults", config); !e.empty()) {
    problems.push_back(e);  // a build that ships a broken default is a bug worth stating plainly
    return std::nullopt;
  }
  if (!path.empty()) {
    if (auto e = proto::MergeYamlFile(path, config); !e.empty()) {
      problems.push_back(e);
      return std::nullopt;
    }
  }
  ApplyDefaults(config);
  const std::size_t before = problems.size();
  Validate(config, problems);
  if (problems.size() != before) {
    const std::string origin = path.empty() ? std::string("embedded defaults") : path;
    for (std::size_t i = before; i < problems.size(); ++i) {
      problems[i] = origin + ": " + problems[i];
    }
    return std::nullopt;
  }
  return config;
}

}  // namespace sy::server
