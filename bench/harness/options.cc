#include "bench/harness/options.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace sy::bench {
namespace {

constexpr std::array<std::string_view, kTxnKinds> kKindNames = {"purchase", "refund", "void",
                                                                "reversal", "preauth"};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

template <class T>
bool ParseInt(std::string_view s, T& out) {
  if (s.empty()) {
    return false;
  }
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool ParseDouble(std::string_view s, double& out) {
  if (s.empty() || s.size() > 64) {
    return false;
  }
  const std::string text(s);
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && std::isfinite(out);
}

// "10", "2.5", "10s", "250ms": a duration. Seconds unless "ms".
bool ParseDuration(std::string_view s, std::chrono::milliseconds& out) {
  double scale = 1000;
  if (s.ends_with("ms")) {
    scale = 1;
    s.remove_suffix(2);
  } else if (s.ends_with("s")) {
    s.remove_suffix(1);
  }
  double v = 0;
  if (!ParseDouble(s, v) || v < 0 || v > 1e9) {
    return false;
  }
  out = std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(v * scale)));
  return true;
}

}  // namespace

std::string_view TxnKindName(TxnKind kind) { return kKindNames[static_cast<int>(kind)]; }

std::uint32_t Mix::total() const {
  std::uint32_t t = 0;
  for (auto w : weight) {
    t += w;
  }
  return t;
}

std::string_view ConnectionModeName(ConnectionMode mode) {
  switch (mode) {
    case ConnectionMode::kPersistent:
      return "persistent";
    case ConnectionMode::kShared:
      return "shared";
    case ConnectionMode::kPerTransaction:
      return "per-transaction";
    case ConnectionMode::kIdle:
      return "idle";
    case ConnectionMode::kHandshakeOnly:
      return "handshake-only";
  }
  return "?";
}

namespace {

std::optional<std::string> ParseMixInto(std::string_view text, Mix& mix) {
  mix.weight.fill(0);
  std::array<bool, kTxnKinds> seen{};
  bool any = false;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find_first_of(",\n", pos);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    std::string_view item = text.substr(pos, end - pos);
    if (auto hash = item.find('#'); hash != std::string_view::npos) {
      item = item.substr(0, hash);
    }
    item = Trim(item);
    pos = end + 1;
    if (item.empty()) {
      continue;
    }
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) {
      return "mix: '" + std::string(item) + "' is not kind=weight";
    }
    const std::string_view name = Trim(item.substr(0, eq));
    const std::string_view value = Trim(item.substr(eq + 1));
    int kind = -1;
    for (int k = 0; k < kTxnKinds; ++k) {
      if (kKindNames[k] == name) {
        kind = k;
      }
    }
    if (kind < 0) {
      return "mix: unknown kind '" + std::string(name) +
             "' (purchase, refund, void, reversal, preauth)";
    }
    if (seen[kind]) {
      return "mix: '" + std::string(name) + "' given twice";
    }
    std::uint32_t w = 0;
    if (!ParseInt(value, w) || w > 1000000) {
      return "mix: weight of '" + std::string(name) + "' is not a whole number up to 1000000";
    }
    seen[kind] = true;
    mix.weight[kind] = w;
    any = true;
  }
  if (!any || mix.total() == 0) {
    return std::string("mix: no kind has a weight above 0");
  }
  return std::nullopt;
}

std::optional<std::string> ParseInto(std::span<const std::string_view> args, BenchOptions& o) {
  bool duration_set = false;
  bool mode_set = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    std::string_view v;
    auto need = [&]() -> bool {
      if (i + 1 >= args.size()) {
        return false;
      }
      v = args[++i];
      return true;
    };
    auto bad = [&](std::string_view what) {
      return std::string(a) + ": '" + std::string(v) + "' " + std::string(what);
    };
    auto set_mode = [&](ConnectionMode m) -> std::optional<std::string> {
      if (mode_set && o.mode != m) {
        return std::string(a) + ": a second connection mode (" +
               std::string(ConnectionModeName(o.mode)) + " given already)";
      }
      mode_set = true;
      o.mode = m;
      return std::nullopt;
    };
    // Flags without a value.
    if (a == "--plain") {
      o.plain = true;
      continue;
    }
    if (a == "--insecure") {
      o.insecure = true;
      continue;
    }
    if (a == "--resume") {
      o.resume = true;
      continue;
    }
    if (a == "--json") {
      o.json = true;
      continue;
    }
    if (a == "--no-progress") {
      o.progress = false;
      continue;
    }
    if (a == "--skip-signon") {
      o.skip_signon = true;
      continue;
    }
    if (a == "--per-transaction" || a == "--idle" || a == "--handshake-only" ||
        a == "--persistent") {
      const ConnectionMode m = a == "--per-transaction" ? ConnectionMode::kPerTransaction
                               : a == "--idle"          ? ConnectionMode::kIdle
                               : a == "--persistent"    ? ConnectionMode::kPersistent
                                                        : ConnectionMode::kHandshakeOnly;
      if (auto e = set_mode(m)) {
        return *e;
      }
      continue;
    }
    if (!a.starts_with("--")) {
      return "unexpected argument '" + std::string(a) + "'";
    }
    static constexpr std::string_view kValued[] = {"--host",
                                                   "--port",
                                                   "--ca",
                                                   "--terminals",
                                                   "--first-terminal",
                                                   "--threads",
                                                   "--terminals-per-connection",
                                                   "--mode",
                                                   "--rate",
                                                   "--duration",
                                                   "--count",
                                                   "--warmup",
                                                   "--timeout",
                                                   "--hold",
                                                   "--connect-concurrency",
                                                   "--mix",
                                                   "--pin-share",
                                                   "--decline-share",
                                                   "--amount",
                                                   "--seed",
                                                   "--state",
                                                   "--switch-pid"};
    bool known = false;
    for (auto k : kValued) {
      known = known || k == a;
    }
    if (!known) {
      return "unknown option '" + std::string(a) + "'";
    }
    if (!need()) {
      return std::string(a) + " needs a value";
    }
    if (a == "--host") {
      o.host = std::string(v);
    } else if (a == "--port") {
      if (!ParseInt(v, o.port) || o.port == 0) {
        return bad("is not a port (1-65535)");
      }
    } else if (a == "--ca") {
      o.ca_file = std::string(v);
    } else if (a == "--terminals") {
      if (!ParseInt(v, o.terminals) || o.terminals == 0 || o.terminals > 99999) {
        return bad("is not a terminal count (1-99999)");
      }
    } else if (a == "--first-terminal") {
      if (!ParseInt(v, o.first_terminal) || o.first_terminal > 99998) {
        return bad("is not a terminal index (0-99998)");
      }
    } else if (a == "--threads") {
      if (!ParseInt(v, o.threads) || o.threads == 0 || o.threads > 256) {
        return bad("is not a thread count (1-256)");
      }
    } else if (a == "--terminals-per-connection") {
      if (!ParseInt(v, o.terminals_per_connection) || o.terminals_per_connection == 0 ||
          o.terminals_per_connection > 10000) {
        return bad("is not a count (1-10000)");
      }
    } else if (a == "--mode") {
      ConnectionMode m;
      if (v == "persistent") {
        m = ConnectionMode::kPersistent;
      } else if (v == "shared") {
        m = ConnectionMode::kShared;
      } else if (v == "per-transaction") {
        m = ConnectionMode::kPerTransaction;
      } else if (v == "idle") {
        m = ConnectionMode::kIdle;
      } else if (v == "handshake-only") {
        m = ConnectionMode::kHandshakeOnly;
      } else {
        return bad("is not persistent, shared, per-transaction, idle or handshake-only");
      }
      if (auto e = set_mode(m)) {
        return *e;
      }
    } else if (a == "--rate") {
      if (!ParseDouble(v, o.rate) || o.rate <= 0 || o.rate > 10e6) {
        return bad("is not a rate per second (above 0)");
      }
    } else if (a == "--duration") {
      if (!ParseDuration(v, o.duration) || o.duration.count() == 0) {
        return bad("is not a duration (seconds, or 250ms)");
      }
      duration_set = true;
    } else if (a == "--count") {
      if (!ParseInt(v, o.count) || o.count == 0) {
        return bad("is not a transaction count (1 or more)");
      }
    } else if (a == "--warmup") {
      if (!ParseDuration(v, o.warmup)) {
        return bad("is not a duration (seconds, or 250ms)");
      }
    } else if (a == "--timeout") {
      if (!ParseDuration(v, o.timeout) || o.timeout.count() == 0) {
        return bad("is not a duration (seconds, or 250ms)");
      }
    } else if (a == "--hold") {
      if (!ParseDuration(v, o.hold)) {
        return bad("is not a duration (seconds, or 250ms)");
      }
    } else if (a == "--connect-concurrency") {
      if (!ParseInt(v, o.connect_concurrency) || o.connect_concurrency == 0) {
        return bad("is not a count (1 or more)");
      }
    } else if (a == "--mix") {
      std::string text(v);
      if (v.find('=') == std::string_view::npos) {  // a file
        std::ifstream in(text);
        if (!in) {
          return "--mix: cannot read '" + text + "' (give kind=weight,... or a file)";
        }
        std::stringstream s;
        s << in.rdbuf();
        text = s.str();
      }
      if (auto e = ParseMixInto(text, o.mix)) {
        return "--" + *e;
      }
    } else if (a == "--pin-share" || a == "--decline-share") {
      double share = 0;
      if (!ParseDouble(v, share) || share < 0 || share > 1) {
        return bad("is not a share between 0 and 1");
      }
      (a == "--pin-share" ? o.pin_share : o.decline_share) = share;
    } else if (a == "--amount") {
      const auto dash = v.find('-');
      std::int64_t lo = 0;
      std::int64_t hi = 0;
      if (dash == std::string_view::npos) {
        if (!ParseInt(v, lo)) {
          return bad("is not an amount or MIN-MAX in minor units");
        }
        hi = lo;
      } else if (!ParseInt(v.substr(0, dash), lo) || !ParseInt(v.substr(dash + 1), hi)) {
        return bad("is not an amount or MIN-MAX in minor units");
      }
      if (lo < 1 || hi < lo || hi > 999999999999) {
        return bad("is not a range 1 <= MIN <= MAX <= 999999999999");
      }
      o.min_amount = lo;
      o.max_amount = hi;
    } else if (a == "--seed") {
      if (!ParseInt(v, o.seed)) {
        return bad("is not a number");
      }
    } else if (a == "--state") {
      o.state_file = std::string(v);
    } else if (a == "--switch-pid") {
      if (!ParseInt(v, o.switch_pid) || o.switch_pid <= 0) {
        return bad("is not a process id");
      }
    }
  }
  if (o.count > 0 && duration_set) {
    return std::string("--duration and --count: give one of them");
  }
  if (o.count > 0) {
    o.duration = std::chrono::milliseconds(0);
  }
  if (o.terminals_per_connection > 1) {
    if (o.mode == ConnectionMode::kPersistent) {
      o.mode = ConnectionMode::kShared;
    } else if (o.mode != ConnectionMode::kShared) {
      return "--terminals-per-connection: only with persistent (shared) connections, not " +
             std::string(ConnectionModeName(o.mode));
    }
  }
  if (o.mode == ConnectionMode::kShared && o.terminals_per_connection == 1) {
    return std::string("--mode shared needs --terminals-per-connection K (K > 1)");
  }
  if (o.resume && o.mode != ConnectionMode::kPerTransaction &&
      o.mode != ConnectionMode::kHandshakeOnly) {
    return std::string("--resume: only with --per-transaction or --handshake-only");
  }
  if (o.resume && o.plain) {
    return std::string("--resume needs TLS (not --plain)");
  }
  if (!o.plain && !o.insecure && o.ca_file.empty()) {
    return std::string(
        "TLS needs a CA to verify the switch: --ca FILE (the switch's <data>/tls/switch.crt), or "
        "--insecure, or --plain");
  }
  if (o.first_terminal + o.terminals > 99999) {
    return std::string("--first-terminal + --terminals: at most 99999 terminals");
  }
  if (o.threads > o.terminals) {
    o.threads = o.terminals;
  }
  return std::nullopt;
}

}  // namespace

boost::system::result<Mix, std::string> ParseMix(std::string_view text) {
  Mix mix;
  if (auto e = ParseMixInto(text, mix)) {
    return boost::system::result<Mix, std::string>(boost::system::in_place_error, *e);
  }
  return mix;
}

std::string TerminalId(std::uint32_t index) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "BEN%05u", (index + 1) % 100000);
  return buf;
}

std::string TerminalInitialKsn(std::uint32_t index) {
  // KSN = KSI (5 bytes) | device id (19 bits) | counter (21 bits), ANSI X9.24-1:2009 A.1.
  const std::uint64_t device = (index + 1) & 0x7FFFF;
  const std::uint64_t low40 = device << 21;
  char buf[32];
  std::snprintf(buf, sizeof buf, "FFFF9876B0%010llX", static_cast<unsigned long long>(low40));
  return buf;
}

boost::system::result<BenchOptions, std::string> ParseOptions(
    std::span<const std::string_view> args) {
  BenchOptions o;
  if (auto e = ParseInto(args, o)) {
    return boost::system::result<BenchOptions, std::string>(boost::system::in_place_error, *e);
  }
  return o;
}

}  // namespace sy::bench
