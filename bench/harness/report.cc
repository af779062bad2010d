#include "bench/harness/report.h"

#include <boost/json.hpp>
#include <cstdio>
#include <sstream>

namespace sy::bench {
namespace {

std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

constexpr std::pair<const char*, double> kPercentiles[] = {
    {"p50", 50.0}, {"p90", 90.0}, {"p99", 99.0}, {"p99.9", 99.9}};

}  // namespace

std::string FormatNanos(std::uint64_t ns) {
  if (ns < 1000) {
    return std::to_string(ns) + " ns";
  }
  if (ns < 1000000) {
    return Fixed(static_cast<double>(ns) / 1e3, ns < 10000 ? 2 : 1) + " µs";
  }
  if (ns < 1000000000) {
    return Fixed(static_cast<double>(ns) / 1e6, ns < 10000000 ? 2 : 1) + " ms";
  }
  return Fixed(static_cast<double>(ns) / 1e9, 2) + " s";
}

std::string FormatText(const Report& r) {
  const BenchOptions& o = r.options;
  std::ostringstream out;
  out << "switchyard bench: " << ConnectionModeName(o.mode);
  if (o.mode == ConnectionMode::kShared) {
    out << " (" << o.terminals_per_connection << " terminals per connection)";
  }
  if (o.resume) {
    out << ", TLS resumption";
  }
  out << ", " << o.terminals << " terminal(s) on " << o.threads << " thread(s), "
      << (o.plain ? "plain TCP" : "TLS") << ", ";
  if (o.rate > 0) {
    out << "open loop at " << Fixed(o.rate, 0) << "/s";
  } else {
    out << "closed loop";
  }
  out << "\n";
  if (o.mode == ConnectionMode::kIdle) {
    out << "  idle connections held   " << r.idle_connections
        << " (signed on: " << r.signons - r.signon_failures << " of " << o.terminals << ")\n";
    if (r.switch_rss_before_kib && r.switch_rss_after_kib) {
      out << "  switch VmRSS            " << *r.switch_rss_before_kib << " KiB before, "
          << *r.switch_rss_after_kib << " KiB holding\n";
    }
    if (r.switch_rss_per_terminal_kib) {
      out << "  RSS per idle terminal   " << Fixed(*r.switch_rss_per_terminal_kib, 1) << " KiB\n";
    }
  } else {
    out << "  window                  " << Fixed(r.window_seconds, 2) << " s (after "
        << Fixed(std::chrono::duration<double>(o.warmup).count(), 1) << " s warm-up)\n";
    out << "  "
        << (o.mode == ConnectionMode::kHandshakeOnly ? "handshakes             "
                                                     : "transactions           ")
        << r.transactions << "\n";
    out << "  throughput              " << Fixed(r.throughput, 1) << " /s\n";
    out << "  latency                 ";
    for (const auto& [name, p] : kPercentiles) {
      out << name << " " << FormatNanos(r.latency_ns.Percentile(p)) << "  ";
    }
    out << "max " << FormatNanos(r.latency_ns.max()) << "\n";
    if (r.handshakes_full + r.handshakes_resumed > 0) {
      out << "  TLS handshakes          " << r.handshakes_full << " full, " << r.handshakes_resumed
          << " resumed\n";
    }
    if (o.mode != ConnectionMode::kHandshakeOnly) {
      out << "  sent                    ";
      for (int k = 0; k < kTxnKinds; ++k) {
        out << TxnKindName(static_cast<TxnKind>(k)) << " " << r.sent_by_kind[k] << "  ";
      }
      out << "\n  response codes          ";
      for (const auto& [code, n] : r.response_codes) {
        out << (code.empty() ? "(none)" : code) << " " << n << "  ";
      }
      out << "\n";
    }
    if (o.rate > 0) {
      out << "  behind schedule         " << r.open_loop_unsent
          << " request(s) due in the window never sent\n";
    }
    if (r.switch_cpu_us_per_txn) {
      out << "  switch CPU              " << Fixed(*r.switch_cpu_seconds, 2) << " s, "
          << Fixed(*r.switch_cpu_us_per_txn, 1) << " µs per transaction\n";
      if (!r.switch_cpu_seconds_by_thread.empty() && r.transactions > 0) {
        // Threads under 0.1 µs per transaction are left out of the line.
        out << "  switch CPU by thread   ";
        const double n = static_cast<double>(r.transactions);
        for (const auto& [name, seconds] : r.switch_cpu_seconds_by_thread) {
          if (seconds * 1e6 / n >= 0.1) {
            out << " " << name << " " << Fixed(seconds * 1e6 / n, 1);
          }
        }
        out << " µs per transaction\n";
      }
    }
  }
  out << "  timeouts " << r.timeouts << ", errors " << r.errors << ", wrong answers "
      << r.wrong_match + r.wrong_mac + r.wrong_code << " (match " << r.wrong_match << ", MAC "
      << r.wrong_mac << ", response code " << r.wrong_code << "), unmatched answers "
      << r.unmatched_answers << ", late answers " << r.late_answers << ", sign-on failures "
      << r.signon_failures << "\n";
  for (const auto& p : r.problems) {
    out << "  problem: " << p << "\n";
  }
  out << (r.ok() ? "result: ok\n" : "result: FAILED\n");
  return out.str();
}

std::string FormatJson(const Report& r) {
  const BenchOptions& o = r.options;
  boost::json::object j;
  j["mode"] = std::string(ConnectionModeName(o.mode));
  j["terminals"] = o.terminals;
  j["threads"] = o.threads;
  j["terminals_per_connection"] = o.terminals_per_connection;
  j["tls"] = !o.plain;
  j["resume"] = o.resume;
  j["rate"] = o.rate;
  j["warmup_s"] = std::chrono::duration<double>(o.warmup).count();
  j["window_s"] = r.window_seconds;
  j["transactions"] = r.transactions;
  j["throughput"] = r.throughput;
  boost::json::object lat;
  for (const auto& [name, p] : kPercentiles) {
    lat[name] = static_cast<double>(r.latency_ns.Percentile(p)) / 1e3;
  }
  lat["max"] = static_cast<double>(r.latency_ns.max()) / 1e3;
  lat["mean"] = r.latency_ns.mean() / 1e3;
  j["latency_us"] = std::move(lat);
  boost::json::object codes;
  for (const auto& [code, n] : r.response_codes) {
    codes[code.empty() ? "none" : code] = n;
  }
  j["response_codes"] = std::move(codes);
  boost::json::object sent;
  for (int k = 0; k < kTxnKinds; ++k) {
    sent[TxnKindName(static_cast<TxnKind>(k))] = r.sent_by_kind[k];
  }
  j["sent"] = std::move(sent);
  j["timeouts"] = r.timeouts;
  j["errors"] = r.errors;
  j["wrong_match"] = r.wrong_match;
  j["wrong_mac"] = r.wrong_mac;
  j["wrong_code"] = r.wrong_code;
  j["unmatched_answers"] = r.unmatched_answers;
  j["late_answers"] = r.late_answers;
  j["signons"] = r.signons;
  j["signon_failures"] = r.signon_failures;
  j["handshakes_full"] = r.handshakes_full;
  j["handshakes_resumed"] = r.handshakes_resumed;
  j["open_loop_unsent"] = r.open_loop_unsent;
  if (r.switch_cpu_seconds) {
    j["switch_cpu_s"] = *r.switch_cpu_seconds;
  }
  if (r.switch_cpu_us_per_txn) {
    j["switch_cpu_us_per_txn"] = *r.switch_cpu_us_per_txn;
  }
  if (!r.switch_cpu_seconds_by_thread.empty()) {
    boost::json::object threads;
    for (const auto& [name, seconds] : r.switch_cpu_seconds_by_thread) {
      threads[name] = seconds;
    }
    j["switch_cpu_s_by_thread"] = std::move(threads);
  }
  if (o.mode == ConnectionMode::kIdle) {
    j["idle_connections"] = r.idle_connections;
    if (r.switch_rss_before_kib) {
      j["switch_rss_before_kib"] = *r.switch_rss_before_kib;
    }
    if (r.switch_rss_after_kib) {
      j["switch_rss_after_kib"] = *r.switch_rss_after_kib;
    }
    if (r.switch_rss_per_terminal_kib) {
      j["switch_rss_per_terminal_kib"] = *r.switch_rss_per_terminal_kib;
    }
  }
  boost::json::array problems;
  for (const auto& p : r.problems) {
    problems.emplace_back(p);
  }
  j["problems"] = std::move(problems);
  j["ok"] = r.ok();
  return boost::json::serialize(j);
}

}  // namespace sy::bench
