// The switch as real processes on 127.0.0.1: `switchyard serve` and three `switchyard issuer-sim`
// hosts, driven by a terminal written here (TLS with the switch's self-signed certificate, nac
// framing with the TPDU 6000010000, dialect iso87b, DUKPT TDES terminal TERM0001 with one new KSN
// counter per MACed request, X9.19 retail MACs, PIN blocks in format 0 under the PIN variant).
//
// One set of processes serves the whole suite; the tests run in their declaration order (the
// later ones stop, restart and kill processes):
//   issuer-a  deploy/demo/issuer-a.yaml on a free port, plus one test card per crash worker
//   issuer-b  deploy/demo/issuer-b.yaml on a free port
//   issuer-c  BIN 47617391, route timeout 500 ms: the issuer timeout case stops it with SIGSTOP
//             (a slow issuer cannot be used: the link's sign-on has the route's timeout too, so a
//             uniformly slow simulator never comes up and the switch answers 91 without
//             forwarding anything)
// Every wait is bounded. Set SY_KEEP_PROCESS_DIR=1 to keep the directory with the logs.

#include <gtest/gtest.h>
#include <sys/types.h>

#include <array>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cinttypes>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "crypto/dukpt_tdes.h"
#include "crypto/hex.h"
#include "crypto/mac.h"
#include "crypto/pin_block.h"
#include "iso8583/codec.h"
#include "iso8583/mac_slot.h"
#include "tests/integration/process_util.h"

namespace sy::proc_test {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

constexpr std::string_view kBdk = "0123456789ABCDEFFEDCBA9876543210";  // the demo's bdk-demo
constexpr std::string_view kMid = "MERCHANT0000001";
constexpr std::string_view kTpdu{"\x60\x00\x01\x00\x00", 5};
constexpr std::string_view kTpduBack{"\x60\x00\x00\x00\x01", 5};
// issuer-a's TEST cards (deploy/demo/issuer-a.yaml).
constexpr std::string_view kCard = "4761739001010010";         // PIN 1234
constexpr std::string_view kDoNotHonour = "4761739001010036";  // always 05
constexpr std::string_view kLowBalance = "4761739001010044";   // 5.00
constexpr int kCrashWorkers = 8;

std::string Fmt(const char* format, long long v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}
std::string Amount(std::int64_t minor) { return Fmt("%012lld", minor); }

// The prefix with its Luhn check digit appended.
std::string WithLuhn(const std::string& prefix) {
  int sum = 0;
  bool twice = true;  // the digit left of the check digit is doubled
  for (auto it = prefix.rbegin(); it != prefix.rend(); ++it) {
    int d = *it - '0';
    if (twice) {
      d *= 2;
      if (d > 9) {
        d -= 9;
      }
    }
    sum += d;
    twice = !twice;
  }
  return prefix + static_cast<char>('0' + (10 - sum % 10) % 10);
}

const std::string& IssuerCCard() {
  static const std::string card = WithLuhn("476173910000001");
  return card;
}
std::string CrashCard(int worker) { return WithLuhn("4761739003000" + Fmt("%02lld", worker)); }
std::string CrashTid(int worker) { return "TERM" + Fmt("%04lld", worker + 4); }
std::string CrashKsn(int worker) { return "FFFF98765432" + Fmt("%02llX", worker + 4) + "E00000"; }

crypto::SecretBytes Key(std::string_view hex) { return crypto::SecretFromHex(hex).value(); }

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

const iso8583::Dialect& Iso87b() {
  static const auto dialect = iso8583::LoadDialect("iso87b").value();
  return *dialect;
}

// ---- the terminal --------------------------------------------------------------------------

struct Request {
  std::string wire;               // the packed message, after the TPDU
  std::vector<std::uint8_t> ksn;  // empty when not MACed
  std::string stan;
  std::string time;  // field 7
};

struct Reply {
  std::string error;     // empty when an answer arrived and decoded
  std::string frame;     // the TPDU and the message, as received
  std::string wire;      // the message
  iso8583::Message msg;  // owns its values
  bool mac_present = false;
  bool mac_ok = false;
  [[nodiscard]] std::string rc() const { return std::string(msg.Get(39)); }
  [[nodiscard]] std::string get(int n) const { return std::string(msg.Get(n)); }
};

class Terminal {
 public:
  Terminal(std::string tid, std::string initial_ksn)
      : tid_(std::move(tid)),
        initial_ksn_(crypto::FromHex(initial_ksn).value()),
        tls_(ssl::context::tls_client) {}

  // TCP and the TLS handshake, the switch's certificate checked against `ca_file` for 127.0.0.1.
  std::string Connect(std::uint16_t port, const std::string& ca_file) {
    boost::system::error_code ec;
    if (!ca_loaded_) {
      tls_.load_verify_file(ca_file, ec);
      if (ec) {
        return "cannot load " + ca_file + ": " + ec.message();
      }
      ca_loaded_ = true;
    }
    stream_ = std::make_unique<ssl::stream<tcp::socket>>(io_, tls_);
    const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
    ec = Run([&](auto handler) { stream_->lowest_layer().async_connect(endpoint, handler); },
             seconds(5));
    if (ec) {
      return "connect to port " + std::to_string(port) + ": " + ec.message();
    }
    stream_->set_verify_mode(ssl::verify_peer);
    stream_->set_verify_callback(ssl::host_name_verification("127.0.0.1"));
    ec = Run([&](auto handler) { stream_->async_handshake(ssl::stream_base::client, handler); },
             seconds(10));
    if (ec) {
      return "TLS handshake: " + ec.message();
    }
    return {};
  }

  [[nodiscard]] const std::string& tid() const { return tid_; }

  std::string NextStan() { return Fmt("%06lld", static_cast<long long>(++stan_ % 1000000)); }

  static std::string Now7() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%m%d%H%M%S", &tm);
    return buf;
  }

  // Fills 41, 11 and 7 unless set, adds a new KSN (62), the PIN block (52, format 0 under the
  // PIN variant of that KSN) when `pin` is given, and the MAC (64) under the MAC-request variant.
  Request Build(iso8583::Message m, bool mac = true, std::optional<std::string_view> pin = {}) {
    Request r;
    if (!m.Has(41)) {
      m.Set(41, tid_);
    }
    if (!m.Has(11)) {
      m.Set(11, NextStan());
    }
    if (!m.Has(7)) {
      m.Set(7, Now7());
    }
    r.stan = std::string(m.Get(11));
    r.time = std::string(m.Get(7));
    if (!mac) {
      EXPECT_TRUE(iso8583::Pack(Iso87b(), m, r.wire).has_value());
      return r;
    }
    r.ksn = NextKsn();
    m.Set(62, crypto::ToHex(r.ksn));
    if (pin) {
      const auto pin_key =
          crypto::DeriveTdesWorkingKey(Key(kBdk), r.ksn, crypto::TdesDukptVariant::kPin).value();
      const auto block = crypto::EncipherPinBlock(crypto::PinBlockFormat::kIso0, pin_key,
                                                  crypto::SecretBytes::FromString(*pin).value(),
                                                  m.Get(2), crypto::SystemRandom())
                             .value();
      m.Set(52, std::string_view(reinterpret_cast<const char*>(block.bytes.data()), block.size));
    }
    const auto key =
        crypto::DeriveTdesWorkingKey(Key(kBdk), r.ksn, crypto::TdesDukptVariant::kMacRequest)
            .value();
    const iso8583::MacFunction fn = [&key](std::span<const std::uint8_t> data,
                                           std::array<std::uint8_t, 8>& out) {
      auto mac8 = crypto::RetailMac(key, data, crypto::MacPadding::kMethod1);
      if (!mac8) {
        return false;
      }
      out = *mac8;
      return true;
    };
    EXPECT_TRUE(iso8583::PackWithMac(Iso87b(), m, fn, r.wire).has_value());
    return r;
  }

  // Sends the request in one nac frame with the TPDU and reads one answer. The answer's MAC is
  // checked under the MAC-response variant of the request's KSN.
  Reply Exchange(const Request& request, std::chrono::milliseconds timeout = seconds(10)) {
    Reply reply;
    if (!stream_) {
      reply.error = "not connected";
      return reply;
    }
    std::string frame;
    const std::size_t len = kTpdu.size() + request.wire.size();
    frame.push_back(static_cast<char>(len >> 8));
    frame.push_back(static_cast<char>(len & 0xFF));
    frame += kTpdu;
    frame += request.wire;
    auto ec = Run([&](auto handler) { asio::async_write(*stream_, asio::buffer(frame), handler); },
                  timeout);
    if (ec) {
      reply.error = "write: " + ec.message();
      return reply;
    }
    std::array<std::uint8_t, 2> header{};
    ec = Run([&](auto handler) { asio::async_read(*stream_, asio::buffer(header), handler); },
             timeout);
    if (ec) {
      reply.error = "read: " + ec.message();
      return reply;
    }
    reply.frame.resize(static_cast<std::size_t>(header[0]) << 8 | header[1]);
    ec = Run([&](auto handler) { asio::async_read(*stream_, asio::buffer(reply.frame), handler); },
             timeout);
    if (ec) {
      reply.error = "read: " + ec.message();
      return reply;
    }
    if (reply.frame.size() < kTpdu.size() || reply.frame.substr(0, 5) != kTpduBack) {
      reply.error = "the answer does not start with the swapped TPDU 6000000001";
      return reply;
    }
    reply.wire = reply.frame.substr(kTpdu.size());
    iso8583::Message view;
    if (auto u = iso8583::Unpack(Iso87b(), reply.wire, view); !u) {
      reply.error = "cannot unpack the answer: " + u.error().Describe();
      return reply;
    }
    reply.msg = view;  // a copy owns its values
    const int mac_field = iso8583::MacField(view);
    reply.mac_present = view.Has(mac_field);
    if (reply.mac_present && !request.ksn.empty()) {
      const auto key = crypto::DeriveTdesWorkingKey(Key(kBdk), request.ksn,
                                                    crypto::TdesDukptVariant::kMacResponse)
                           .value();
      auto input = iso8583::MacInput(Iso87b(), view, reply.wire);
      reply.mac_ok = input.has_value() &&
                     crypto::VerifyRetailMac(key, Bytes(*input), Bytes(view.Get(mac_field)),
                                             crypto::MacPadding::kMethod1)
                         .has_value();
    }
    return reply;
  }

  Reply Send(iso8583::Message m, bool mac = true, std::optional<std::string_view> pin = {}) {
    return Exchange(Build(std::move(m), mac, pin));
  }

 private:
  // The next KSN: the initial KSN with the next counter that has at most 10 one-bits.
  std::vector<std::uint8_t> NextKsn() {
    do {
      ++counter_;
    } while (__builtin_popcount(counter_) > 10);
    std::vector<std::uint8_t> ksn = initial_ksn_;
    ksn[7] = static_cast<std::uint8_t>(ksn[7] | ((counter_ >> 16) & 0x1F));
    ksn[8] = static_cast<std::uint8_t>(counter_ >> 8);
    ksn[9] = static_cast<std::uint8_t>(counter_);
    return ksn;
  }

  // Runs one asynchronous operation to completion or `timeout` (then the connection is closed).
  template <class Initiate>
  boost::system::error_code Run(Initiate initiate, std::chrono::milliseconds timeout) {
    std::optional<boost::system::error_code> result;
    io_.restart();
    initiate([&result](boost::system::error_code ec, auto&&...) { result = ec; });
    io_.run_for(timeout);
    if (!result) {
      boost::system::error_code ignored;
      stream_->lowest_layer().close(ignored);
      io_.restart();
      io_.run_for(seconds(2));  // the aborted operation's handler
      return asio::error::timed_out;
    }
    return *result;
  }

  std::string tid_;
  std::vector<std::uint8_t> initial_ksn_;
  std::uint32_t counter_ = 0;
  std::uint64_t stan_ = 0;
  asio::io_context io_;
  ssl::context tls_;
  bool ca_loaded_ = false;
  std::unique_ptr<ssl::stream<tcp::socket>> stream_;
};

// ---- terminal messages (docs/terminal-messages.md) ---------------------------------------------

iso8583::Message SignOn() {
  iso8583::Message m;
  m.SetMti("0800");
  m.Set(70, "001");
  return m;
}

// A purchase (or, with another MTI and processing code, a pre-auth, refund, void or completion)
// by manual entry.
iso8583::Message Financial(std::string_view mti, std::string_view pc, std::string_view pan,
                           std::int64_t amount, bool with_pin, std::string_view expiry = "3012") {
  iso8583::Message m;
  m.SetMti(mti);
  m.Set(2, pan);
  m.Set(3, pc);
  m.Set(4, Amount(amount));
  m.Set(14, expiry);
  m.Set(22, with_pin ? "051" : "012");
  m.Set(25, "00");
  m.Set(42, kMid);
  m.Set(49, "978");
  return m;
}

iso8583::Message Purchase(std::string_view pan, std::int64_t amount, bool with_pin) {
  return Financial("0200", "000000", pan, amount, with_pin);
}

// A reversal (0400) or its repeat (0401) of the request sent as `original`.
iso8583::Message ReversalOf(std::string_view mti, const Request& original, std::string_view pan,
                            std::int64_t amount) {
  iso8583::Message m;
  m.SetMti(mti);
  m.Set(2, pan);
  m.Set(3, "000000");
  m.Set(4, Amount(amount));
  m.Set(7, original.time);
  m.Set(11, original.stan);
  m.Set(42, kMid);
  m.Set(49, "978");
  return m;
}

// ---- the tool's JSON lines ---------------------------------------------------------------------

std::vector<json::object> JsonLines(const std::string& text) {
  std::vector<json::object> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      end = text.size();
    }
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line[0] != '{') {
      continue;
    }
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (!ec && v.is_object()) {
      out.push_back(v.as_object());
    }
  }
  return out;
}

// A field as text: protobuf's JSON prints 64-bit numbers as strings, others as numbers.
std::string Field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) {
    return {};
  }
  if (v->is_string()) {
    return std::string(v->as_string());
  }
  if (v->is_int64()) {
    return std::to_string(v->as_int64());
  }
  if (v->is_uint64()) {
    return std::to_string(v->as_uint64());
  }
  return json::serialize(*v);
}

// "name{labels} value" from Prometheus text.
std::optional<double> Metric(const std::string& body, const std::string& series) {
  const std::string needle = series + " ";
  std::size_t pos = 0;
  while ((pos = body.find(needle, pos)) != std::string::npos) {
    if (pos == 0 || body[pos - 1] == '\n') {
      return std::strtod(body.c_str() + pos + needle.size(), nullptr);
    }
    pos += needle.size();
  }
  return std::nullopt;
}

std::size_t CountLines(const std::string& text, const std::vector<std::string>& all_of) {
  std::size_t n = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      end = text.size();
    }
    const std::string_view line(text.data() + start, end - start);
    bool match = true;
    for (const auto& s : all_of) {
      match = match && line.find(s) != std::string_view::npos;
    }
    n += match ? 1 : 0;
    start = end + 1;
  }
  return n;
}

// ---- the processes -----------------------------------------------------------------------------

struct Ledger {  // TERM0001's open batch as the terminal counts it
  int debits = 0;
  std::int64_t debit_amount = 0;
  int credits = 0;
  std::int64_t credit_amount = 0;
  void Debit(std::int64_t a, int sign = 1) {
    debits += sign;
    debit_amount += sign * a;
  }
  void Credit(std::int64_t a) {
    credits += 1;
    credit_amount += a;
  }
};

struct Issuer {
  std::string name;
  std::string config;
  std::string log;
  std::uint16_t port = 0;
  pid_t pid = -1;
};

struct Env {
  std::string dir, data, bin, config, log, ca;
  std::uint16_t port = 0, http = 0;
  pid_t pid = -1;
  std::map<std::string, Issuer> issuers;
  std::string setup_error;
  std::unique_ptr<Terminal> term;  // TERM0001
  bool signed_on = false;
  Ledger ledger;
  std::uint32_t batch = 1;
};

Env* env = nullptr;

std::string SwitchConfig(const Env& e) {
  auto route = [&](const char* id, const char* zpk, int timeout, const char* extra) {
    return std::string("  - id: ") + id +
           "\n    endpoints: [{host: 127.0.0.1, port: " + std::to_string(e.issuers.at(id).port) +
           "}]\n    zpk_id: " + zpk + "\n    timeout_ms: " + std::to_string(timeout) + "\n" + extra;
  };
  std::string y;
  y += "# Written by processes_test: merged over the embedded demo defaults.\n";
  y += "data_dir: " + e.data + "\n";
  y += "listeners:\n  - {name: terminals, address: 127.0.0.1, port: " + std::to_string(e.port) +
       ", framing: nac, tpdu: \"yes\", dialect: iso87b}\n";
  y += "http: {address: 127.0.0.1, port: " + std::to_string(e.http) + "}\n";
  y += "routes:\n";
  y += route("issuer-a", "zpk-issuer-a", 5000,
             "    zak_id: zak-issuer-a\n    stand_in: {enabled: true, max_amount_minor: 5000}\n");
  y += route("issuer-b", "zpk-issuer-b", 5000, "");
  y += route("issuer-c", "zpk-issuer-a", 500, "");
  y += "bins:\n";
  y += "  - {low: \"47617390\", brand: visa, route: issuer-a}\n";
  y += "  - {low: \"47617391\", brand: visa, route: issuer-c}\n";
  y += "  - {low: \"400000\", high: \"499999\", brand: visa, route: issuer-a}\n";
  y += "  - {low: \"510000\", high: \"559999\", brand: mastercard, route: issuer-b}\n";
  y += "terminals:\n";
  y += "  - {tid: TERM0001, mid: \"MERCHANT0000001\", key_scheme: dukpt-tdes, bdk_id: bdk-demo, "
       "initial_ksn: \"FFFF9876543210E00000\"}\n";
  for (int w = 0; w < kCrashWorkers; ++w) {
    y += "  - {tid: " + CrashTid(w) +
         ", mid: \"MERCHANT0000001\", key_scheme: dukpt-tdes, bdk_id: bdk-demo, initial_ksn: \"" +
         CrashKsn(w) + "\"}\n";
  }
  return y;
}

pid_t StartSwitch() { return Spawn({env->bin, "serve", "--config", env->config}, env->log); }

pid_t StartIssuer(Issuer& i) {
  i.pid = Spawn({env->bin, "issuer-sim", "--config", i.config, "--port", std::to_string(i.port)},
                i.log);
  return i.pid;
}

std::string Metrics() { return HttpGet(env->http, "/metrics", seconds(5)).body; }

std::optional<double> SafDepth(const std::string& route) {
  return Metric(Metrics(), "sy_switch_saf_depth{route=\"" + route + "\"}");
}

std::optional<double> LinkUp(const std::string& route) {
  return Metric(Metrics(), "sy_routing_link_up{route=\"" + route + "\"}");
}

bool AllLinksUp() {
  const std::string m = Metrics();
  for (const auto& [id, issuer] : env->issuers) {
    if (Metric(m, "sy_routing_link_up{route=\"" + id + "\"}").value_or(0) != 1) {
      return false;
    }
  }
  return true;
}

// Readiness: /readyz answers 200 (listeners bound, an issuer link up), bounded.
bool WaitReady(std::chrono::milliseconds timeout) {
  return WaitUntil([] { return HttpGet(env->http, "/readyz", seconds(2)).status == 200; }, timeout,
                   std::chrono::milliseconds(100));
}

CommandResult Journal(const std::vector<std::string>& args) {
  std::vector<std::string> argv{env->bin, "journal"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--data");
  argv.push_back(env->data);
  return RunCommand(argv, env->dir + "/journal.out", seconds(30));
}

std::string Logs() {
  std::string s = "\n--- switch log (" + env->log + ", tail) ---\n" + Tail(env->log, 40);
  for (const auto& [id, i] : env->issuers) {
    s += "--- " + id + " log (" + i.log + ", tail) ---\n" + Tail(i.log, 15);
  }
  return s;
}

class ProcessesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env = new Env;
    char pattern[] = "/tmp/sy-processes-XXXXXX";
    if (mkdtemp(pattern) == nullptr) {
      env->setup_error = "mkdtemp failed";
      return;
    }
    env->dir = pattern;
    env->data = env->dir + "/data";
    env->bin = SY_SWITCHYARD_BIN;
    env->config = env->dir + "/switchyard.yaml";
    env->log = env->dir + "/switchyard.log";
    env->ca = env->data + "/tls/switch.crt";
    const std::string source = SY_SOURCE_DIR_PATH;
    env->port = FreePort();
    env->http = FreePort();
    for (const char* id : {"issuer-a", "issuer-b", "issuer-c"}) {
      Issuer i;
      i.name = id;
      i.port = FreePort();
      i.config = env->dir + "/" + id + ".yaml";
      i.log = env->dir + "/" + id + ".log";
      env->issuers[id] = i;
    }
    // issuer-a: the demo's file and its cards, plus one card per crash worker.
    std::string a = ReadFile(source + "/deploy/demo/issuer-a.yaml");
    if (a.find("cards:") == std::string::npos) {
      env->setup_error = "cannot read deploy/demo/issuer-a.yaml";
      return;
    }
    if (a.back() != '\n') {
      a += '\n';
    }
    a += "  # processes_test: one card per crash worker.\n";
    for (int w = 0; w < kCrashWorkers; ++w) {
      a += "  - {pan: \"" + CrashCard(w) +
           "\", expiry: \"3012\", balance_minor: 100000000, currency: 978}\n";
    }
    WriteFile(env->issuers["issuer-a"].config, a);
    WriteFile(env->issuers["issuer-b"].config, ReadFile(source + "/deploy/demo/issuer-b.yaml"));
    WriteFile(env->issuers["issuer-c"].config,
              "name: issuer-c\ndialect: iso87a\nzpk: 0123456789ABCDEFFEDCBA9876543210\n"
              "institution: \"476173\"\nlatency: {min_ms: 1, max_ms: 5}\ncards:\n"
              "  - {pan: \"" +
                  IssuerCCard() + "\", expiry: \"3012\", balance_minor: 1000000, currency: 978}\n");
    WriteFile(env->config, SwitchConfig(*env));
    for (auto& [id, i] : env->issuers) {
      if (StartIssuer(i) < 0) {
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
    env->pid = StartSwitch();
    if (env->pid < 0 || !WaitReady(seconds(30)) ||
        !WaitUntil(AllLinksUp, seconds(20), std::chrono::milliseconds(100))) {
      env->setup_error = "the switch did not become ready with its three issuer links up" + Logs();
    }
  }

  static void TearDownTestSuite() {
    if (env == nullptr) {
      return;
    }
    env->term.reset();
    if (env->pid > 0) {
      StopProcess(env->pid, SIGTERM, seconds(15));
    }
    for (auto& [id, i] : env->issuers) {
      if (i.pid > 0) {
        StopProcess(i.pid, SIGTERM, seconds(5));
      }
    }
    RemoveProcessDir(env->dir, "processes_test");
    delete env;
    env = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(env != nullptr && env->setup_error.empty()) << env->setup_error;
  }

  void TearDown() override {
    if (HasFailure()) {
      std::fprintf(stderr, "%s\n", Logs().c_str());
    }
  }

  // TERM0001, connected and signed on.
  static Terminal& T1() {
    if (!env->term) {
      env->term = std::make_unique<Terminal>("TERM0001", "FFFF9876543210E00000");
      const std::string e = env->term->Connect(env->port, env->ca);
      EXPECT_EQ(e, "");
    }
    if (!env->signed_on) {
      Reply r = env->term->Send(SignOn());
      env->signed_on = r.error.empty() && r.rc() == "00";
    }
    return *env->term;
  }

  static void ExpectMacedAnswer(const Reply& r, std::string_view mti, std::string_view rc) {
    ASSERT_EQ(r.error, "");
    EXPECT_EQ(r.msg.mti(), mti);
    EXPECT_EQ(r.rc(), rc);
    EXPECT_TRUE(r.mac_present) << "the answer (39=" << r.rc() << ") carries no MAC";
    EXPECT_TRUE(r.mac_ok) << "the answer's MAC does not verify under the MAC-response key";
  }
};

// ---- terminal requests -------------------------------------------------------------------------

TEST_F(ProcessesTest, SignsOnWithAMacedRequestAndAnswer) {
  if (!env->term) {
    env->term = std::make_unique<Terminal>("TERM0001", "FFFF9876543210E00000");
    ASSERT_EQ(env->term->Connect(env->port, env->ca), "");
  }
  Reply r = env->term->Send(SignOn());
  ExpectMacedAnswer(r, "0810", "00");
  EXPECT_EQ(r.get(70), "001");
  env->signed_on = r.rc() == "00";
}

TEST_F(ProcessesTest, ApprovesAPurchaseWithTheRightPin) {
  Terminal& t = T1();
  Request req = t.Build(Purchase(kCard, 1000, true), true, "1234");
  Reply r = t.Exchange(req);
  ExpectMacedAnswer(r, "0210", "00");
  EXPECT_EQ(r.get(38).size(), 6U);
  EXPECT_EQ(r.get(37).size(), 12U);
  EXPECT_EQ(r.get(11), req.stan);
  EXPECT_EQ(r.get(41), "TERM0001");
  EXPECT_EQ(r.get(4), Amount(1000));
  if (r.rc() == "00") {
    env->ledger.Debit(1000);
  }
}

TEST_F(ProcessesTest, PassesOnTheIssuersDeclines) {
  Terminal& t = T1();
  ExpectMacedAnswer(t.Send(Purchase(kCard, 1100, true), true, "9999"), "0210", "55");
  ExpectMacedAnswer(t.Send(Purchase(kDoNotHonour, 1200, true), true, "1234"), "0210", "05");
  ExpectMacedAnswer(t.Send(Purchase(kLowBalance, 1300, false)), "0210", "51");
  const std::string log = ReadFile(env->issuers["issuer-a"].log);
  EXPECT_EQ(CountLines(log, {": 0200 stan=", "amount=" + Amount(1100), "rc=55"}), 1U);
  EXPECT_EQ(CountLines(log, {": 0200 stan=", "amount=" + Amount(1200), "rc=05"}), 1U);
  EXPECT_EQ(CountLines(log, {": 0200 stan=", "amount=" + Amount(1300), "rc=51"}), 1U);
}

TEST_F(ProcessesTest, DeclinesWhatTheSwitchChecksItself) {
  Terminal& t = T1();
  std::vector<std::pair<std::string, std::string>> declined;  // STAN, response code
  auto expect = [&](iso8583::Message m, std::string_view rc) {
    Request req = t.Build(std::move(m));
    ExpectMacedAnswer(t.Exchange(req), "0210", rc);
    declined.emplace_back(req.stan, rc);
  };
  // Field 14 in the past: 54 (the card itself is valid at the issuer).
  expect(Financial("0200", "000000", kCard, 1400, false, "2001"), "54");
  // A PAN whose check digit is wrong: 14.
  expect(Purchase("4761739001010011", 1500, false), "14");
  // A Luhn-valid PAN no BIN routes: 92.
  expect(Purchase("6011000990139424", 1600, false), "92");
  // A wrong MAC: 63, not MACed.
  Request bad = t.Build(Purchase(kCard, 1700, false));
  bad.wire.back() = static_cast<char>(bad.wire.back() ^ 0x01);
  Reply r = t.Exchange(bad);
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.msg.mti(), "0210");
  EXPECT_EQ(r.rc(), "63");
  EXPECT_FALSE(r.mac_present);
  // None of them reached the issuer.
  const std::string log = ReadFile(env->issuers["issuer-a"].log);
  for (std::int64_t amount : {1400, 1500, 1600, 1700}) {
    EXPECT_EQ(CountLines(log, {"amount=" + Amount(amount)}), 0U) << amount;
  }
  // The declines decided after admission are journaled; the 63 (refused before) is not.
  for (const auto& [stan, rc] : declined) {
    auto shown = Journal({"show", "--tid", "TERM0001", "--stan", stan, "--json"});
    ASSERT_TRUE(shown.ok()) << shown.output;
    auto recs = JsonLines(shown.output);
    ASSERT_EQ(recs.size(), 1U) << shown.output;
    EXPECT_EQ(Field(recs[0], "response_code"), rc);
  }
  EXPECT_FALSE(Journal({"show", "--tid", "TERM0001", "--stan", bad.stan}).ok());
}

TEST_F(ProcessesTest, ReplaysAnExactRetransmissionAndRefusesAReusedKey) {
  Terminal& t = T1();
  Request req = t.Build(Purchase(kCard, 500, false));
  Reply first = t.Exchange(req);
  ExpectMacedAnswer(first, "0210", "00");
  if (first.rc() == "00") {
    env->ledger.Debit(500);
  }
  Reply again = t.Exchange(req);
  ASSERT_EQ(again.error, "");
  EXPECT_EQ(again.frame, first.frame) << "a retransmission gets the original answer's bytes";
  // The same STAN and field 7, other bytes (amount, KSN): 94.
  iso8583::Message other = Purchase(kCard, 600, false);
  other.Set(11, req.stan);
  other.Set(7, req.time);
  ExpectMacedAnswer(t.Send(std::move(other)), "0210", "94");
  // The issuer saw the purchase once.
  const std::string log = ReadFile(env->issuers["issuer-a"].log);
  EXPECT_EQ(CountLines(log, {": 0200 stan=", "amount=" + Amount(500)}), 1U);
  EXPECT_EQ(CountLines(log, {"amount=" + Amount(600)}), 0U);
}

TEST_F(ProcessesTest, RefundsAPurchaseAndVoidsAnother) {
  Terminal& t = T1();
  Reply purchase = t.Send(Purchase(kCard, 2000, false));
  ExpectMacedAnswer(purchase, "0210", "00");
  ASSERT_EQ(purchase.rc(), "00");
  env->ledger.Debit(2000);
  iso8583::Message refund = Financial("0200", "200000", kCard, 750, false);
  refund.Set(37, purchase.get(37));
  Reply r = t.Send(std::move(refund));
  ExpectMacedAnswer(r, "0210", "00");
  if (r.rc() == "00") {
    env->ledger.Credit(750);
  }

  Reply second = t.Send(Purchase(kCard, 300, false));
  ExpectMacedAnswer(second, "0210", "00");
  ASSERT_EQ(second.rc(), "00");
  env->ledger.Debit(300);
  iso8583::Message v = Financial("0200", "020000", kCard, 300, false);
  v.Set(37, second.get(37));
  Reply voided = t.Send(std::move(v));
  ExpectMacedAnswer(voided, "0210", "00");
  if (voided.rc() == "00") {
    env->ledger.Debit(300, -1);
  }
  // A refund of the voided purchase finds nothing to refund: 25.
  iso8583::Message late = Financial("0200", "200000", kCard, 100, false);
  late.Set(37, second.get(37));
  ExpectMacedAnswer(t.Send(std::move(late)), "0210", "25");
}

TEST_F(ProcessesTest, CompletesAPreAuthorization) {
  Terminal& t = T1();
  Reply pre = t.Send(Financial("0100", "000000", kCard, 4000, false));
  ExpectMacedAnswer(pre, "0110", "00");
  ASSERT_EQ(pre.rc(), "00");
  ASSERT_EQ(pre.get(38).size(), 6U);
  iso8583::Message c = Financial("0220", "000000", kCard, 4200, false);
  c.Set(37, pre.get(37));
  c.Set(38, pre.get(38));
  Reply done = t.Send(std::move(c));
  ExpectMacedAnswer(done, "0230", "00");
  EXPECT_EQ(done.get(38), pre.get(38));
  if (done.rc() == "00") {
    env->ledger.Debit(4200);
  }
}

TEST_F(ProcessesTest, ReversesAPurchaseAndAnswersItsRepeat) {
  Terminal& t = T1();
  Request req = t.Build(Purchase(kCard, 250, false));
  Reply purchase = t.Exchange(req);
  ExpectMacedAnswer(purchase, "0210", "00");
  ASSERT_EQ(purchase.rc(), "00");
  env->ledger.Debit(250);
  Reply reversal = t.Send(ReversalOf("0400", req, kCard, 250));
  ExpectMacedAnswer(reversal, "0410", "00");
  if (reversal.rc() == "00") {
    env->ledger.Debit(250, -1);
  }
  Reply repeat = t.Send(ReversalOf("0401", req, kCard, 250));
  ExpectMacedAnswer(repeat, "0410", "00");
  EXPECT_EQ(repeat.get(11), req.stan);
  // issuer-a hears the reversal once (0420, or 0421 after an attempt it did not answer), and
  // the void of the refund test as the reversal of its purchase.
  ASSERT_TRUE(WaitUntil([] { return SafDepth("issuer-a") == 0.0; }, seconds(20)))
      << "issuer-a's SAF queue did not drain";
  const std::string log = ReadFile(env->issuers["issuer-a"].log);
  for (std::int64_t amount : {250, 300}) {
    const std::string am = "amount=" + Amount(amount);
    EXPECT_EQ(CountLines(log, {": 0420 stan=", am}) + CountLines(log, {": 0421 stan=", am}), 1U)
        << "reversals at issuer-a of the purchase of " << amount;
  }
}

TEST_F(ProcessesTest, ClosesTheBatchWhenTheTotalsAgree) {
  Terminal& t = T1();
  const Ledger& l = env->ledger;
  iso8583::Message m;
  m.SetMti("0500");
  m.Set(3, "920000");
  m.Set(42, kMid);
  m.Set(49, "978");
  m.Set(60, Fmt("%06lld", env->batch));
  m.Set(74, Fmt("%010lld", l.credits));
  m.Set(76, Fmt("%010lld", l.debits));
  m.Set(86, Fmt("%016lld", l.credit_amount));
  m.Set(88, Fmt("%016lld", l.debit_amount));
  Reply r = t.Send(std::move(m), /*mac=*/false);
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.msg.mti(), "0510");
  EXPECT_EQ(r.rc(), "00") << "terminal totals: debits " << l.debits << "/" << l.debit_amount
                          << ", credits " << l.credits << "/" << l.credit_amount;
  if (r.rc() == "00") {
    env->ledger = Ledger();
    ++env->batch;
  }
}

// ---- the issuer side ---------------------------------------------------------------------------

// Resumes a process stopped with SIGSTOP when the scope ends, whatever the assertions did.
struct Resume {
  pid_t pid;
  ~Resume() { (void)kill(pid, SIGCONT); }
};

TEST_F(ProcessesTest, AnswersAnIssuerTimeoutWith91AndReversesTheTransaction) {
  Terminal& t = T1();
  Issuer& c = env->issuers["issuer-c"];
  constexpr std::int64_t kAmount = 1234;
  Reply r;
  std::chrono::milliseconds took{};
  {
    ASSERT_EQ(kill(c.pid, SIGSTOP), 0);
    Resume resume{c.pid};
    const auto start = Clock::now();
    r = t.Send(Purchase(IssuerCCard(), kAmount, false));
    took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  }
  ExpectMacedAnswer(r, "0210", "91");
  EXPECT_LT(took.count(), 4000) << "the route's timeout is 500 ms";
  // The switch queued a reversal (0420, 39 = 68); the issuer, running again, gets it.
  const std::string amount = "amount=" + Amount(kAmount);
  EXPECT_TRUE(WaitUntil(
      [&] {
        const std::string log = ReadFile(c.log);
        return CountLines(log, {": 0420 stan=", amount}) +
                   CountLines(log, {": 0421 stan=", amount}) >
               0;
      },
      seconds(20)))
      << "no 0420/0421 for the timed-out purchase in issuer-c's log";
  EXPECT_TRUE(WaitUntil([] { return SafDepth("issuer-c") == 0.0; }, seconds(20)))
      << "issuer-c's SAF queue did not drain";
  auto shown = Journal({"show", "--tid", "TERM0001", "--stan", r.get(11), "--json"});
  ASSERT_TRUE(shown.ok()) << shown.output;
  auto records = JsonLines(shown.output);
  ASSERT_EQ(records.size(), 1U) << shown.output;
  EXPECT_EQ(Field(records[0], "response_code"), "91");
  EXPECT_EQ(Field(records[0], "route"), "issuer-c");
}

TEST_F(ProcessesTest, StandsInWhileTheIssuerIsDownAndDeliversTheAdviceLater) {
  Terminal& t = T1();
  Issuer& a = env->issuers["issuer-a"];
  // What earlier tests queued for issuer-a (a void's and a reversal's 0420) is delivered first.
  ASSERT_TRUE(WaitUntil([] { return SafDepth("issuer-a") == 0.0; }, seconds(20)))
      << "issuer-a's SAF queue did not drain";
  bool killed = false;
  const int status = StopProcess(a.pid, SIGTERM, seconds(10), &killed);
  a.pid = -1;
  EXPECT_FALSE(killed) << "issuer-a did not stop on SIGTERM";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << DescribeStatus(status);
  ASSERT_TRUE(WaitUntil([] { return LinkUp("issuer-a") == 0.0; }, seconds(10)))
      << "the switch still sees issuer-a's link up";

  constexpr std::int64_t kAmount = 1995;  // no PIN, at most stand_in.max_amount_minor (50.00)
  Reply r = t.Send(Purchase(kCard, kAmount, false));
  ExpectMacedAnswer(r, "0210", "00");
  EXPECT_EQ(r.get(38).substr(0, 1), "S") << "approval code " << r.get(38);
  if (r.rc() == "00") {
    env->ledger.Debit(kAmount);
  }
  EXPECT_EQ(SafDepth("issuer-a"), 1.0) << "the stand-in's 0220 advice waits for issuer-a";

  ASSERT_GT(StartIssuer(a), 0);
  EXPECT_TRUE(WaitUntil([] { return SafDepth("issuer-a") == 0.0; }, seconds(30)))
      << "the advice was not delivered";
  // A 0220, or a 0221 when an attempt was counted while issuer-a was down; delivered once.
  const std::string log = ReadFile(a.log);
  EXPECT_EQ(CountLines(log, {": 0220 stan=", "amount=" + Amount(kAmount), "rc=00"}) +
                CountLines(log, {": 0221 stan=", "amount=" + Amount(kAmount), "rc=00"}),
            1U);
  EXPECT_TRUE(WaitUntil([] { return LinkUp("issuer-a") == 1.0; }, seconds(10)));
}

// A stand-in approval reversed by the terminal: the issuer only ever saw the 0220 advice, so the
// 0420 must name that advice in 90 for the issuer to undo it. The card has 5.00; after the
// stand-in of 3.00 (advised: 2.00 left) and its reversal, a purchase of the whole 5.00 is
// approved only if the issuer undid the advice.
TEST_F(ProcessesTest, ReversesAStandInByNamingTheAdviceTheIssuerSaw) {
  Terminal& t = T1();
  Issuer& a = env->issuers["issuer-a"];
  ASSERT_TRUE(WaitUntil([] { return SafDepth("issuer-a") == 0.0; }, seconds(30)));
  bool killed = false;
  (void)StopProcess(a.pid, SIGTERM, seconds(10), &killed);
  a.pid = -1;
  ASSERT_TRUE(WaitUntil([] { return LinkUp("issuer-a") == 0.0; }, seconds(10)));
  Request req = t.Build(Purchase(kLowBalance, 300, false));
  Reply stand_in = t.Exchange(req);
  ExpectMacedAnswer(stand_in, "0210", "00");
  ASSERT_EQ(stand_in.get(38).substr(0, 1), "S") << "approval code " << stand_in.get(38);
  env->ledger.Debit(300);
  ASSERT_GT(StartIssuer(a), 0);
  ASSERT_TRUE(WaitUntil([] { return SafDepth("issuer-a") == 0.0; }, seconds(30)))
      << "the advice was not delivered";
  Reply reversal = t.Send(ReversalOf("0400", req, kLowBalance, 300));
  ExpectMacedAnswer(reversal, "0410", "00");
  if (reversal.rc() == "00") {
    env->ledger.Debit(300, -1);
  }
  ASSERT_TRUE(WaitUntil([] { return SafDepth("issuer-a") == 0.0; }, seconds(30)))
      << "the reversal was not delivered";
  ASSERT_TRUE(WaitUntil([] { return LinkUp("issuer-a") == 1.0; }, seconds(10)));
  Reply whole = t.Send(Purchase(kLowBalance, 500, false));
  ExpectMacedAnswer(whole, "0210", "00");
  if (whole.rc() == "00") {
    env->ledger.Debit(500);
  }
}

// ---- crash recovery ----------------------------------------------------------------------------

struct Sent {
  std::int64_t amount = 0;
  std::string rc;
  std::string rrn;
};

// One terminal of the crash rounds: its KSN counter and STANs go on across the switch's restarts.
struct CrashWorker {
  std::unique_ptr<Terminal> term;
  std::vector<Sent> sent;  // this round's answers
  std::string error;
};

// Purchases from every worker in parallel until the switch is killed (with SIGKILL, at a random
// moment); then a restart on the same data directory. With `freeze_issuer`, issuer-a is stopped
// (SIGSTOP) just before the kill, so that every worker's current purchase is forwarded and
// unanswered, and stays stopped over the restart so the queued reversals can be read before they
// are delivered. Checks: the in-flight transactions of the dead switch's store are exactly those
// reversed at start (0420, 39 = 68), each reaches issuer-a, nothing stays in flight or queued, and
// the last approval each worker heard is journaled as approved.
void CrashRound(std::vector<CrashWorker>& workers, int round, bool freeze_issuer,
                std::mt19937& random) {
  Issuer& a = env->issuers["issuer-a"];
  ASSERT_TRUE(WaitUntil([] { return LinkUp("issuer-a") == 1.0; }, seconds(10)));
  std::atomic<bool> stop{false};
  std::atomic<int> approved{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kCrashWorkers; ++w) {
    workers[w].sent.clear();
    workers[w].error.clear();
    threads.emplace_back([&, w] {
      CrashWorker& me = workers[w];
      if (auto e = me.term->Connect(env->port, env->ca); !e.empty()) {
        me.error = e;
        return;
      }
      Reply on = me.term->Send(SignOn());
      if (!on.error.empty() || on.rc() != "00") {
        me.error = "sign-on: " + on.error + " " + on.rc();
        return;
      }
      const std::string card = CrashCard(w);
      for (std::int64_t i = 1; !stop && i < 100000; ++i) {
        // Unique in the whole run: the issuer's log shows amounts, not the switch's ids.
        const std::int64_t amount = round * 1000000 + (w + 1) * 100000 + i;
        Reply r = me.term->Exchange(me.term->Build(Purchase(card, amount, false)), seconds(10));
        if (!r.error.empty()) {
          break;  // the switch is gone
        }
        me.sent.push_back({amount, r.rc(), r.get(37)});
        if (r.rc() == "00") {
          ++approved;
        }
      }
    });
  }
  const bool flowing = WaitUntil([&] { return approved >= 4 * kCrashWorkers; }, seconds(30));
  std::optional<Resume> resume;
  if (freeze_issuer) {
    ASSERT_EQ(kill(a.pid, SIGSTOP), 0);
    resume.emplace(a.pid);
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(100, 300)(random)));
  } else {
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 200)(random)));
  }
  ASSERT_EQ(kill(env->pid, SIGKILL), 0);
  const auto killed_status = WaitExit(env->pid, seconds(10));
  env->pid = -1;
  stop = true;
  for (auto& th : threads) {
    th.join();
  }
  env->signed_on = false;
  env->term.reset();
  ASSERT_TRUE(killed_status.has_value());
  for (int w = 0; w < kCrashWorkers; ++w) {
    EXPECT_EQ(workers[w].error, "") << CrashTid(w);
  }
  ASSERT_TRUE(flowing) << "only " << approved << " purchases approved before the kill";

  // What was forwarded and never answered, read from the store of the dead switch.
  auto inflight = Journal({"inflight", "--json"});
  ASSERT_TRUE(inflight.ok()) << inflight.output;
  std::map<std::string, std::int64_t> lost;  // journal id -> amount
  for (const auto& rec : JsonLines(inflight.output)) {
    EXPECT_EQ(Field(rec, "route"), "issuer-a");
    EXPECT_EQ(Field(rec, "state"), "TXN_FORWARDED");
    lost[Field(rec, "id")] = std::stoll(Field(rec, "amount_minor"));
  }
  if (freeze_issuer) {
    ASSERT_FALSE(lost.empty()) << "nothing in flight at the kill although issuer-a was stopped";
  }

  // Restart on the same data directory: each is queued as a 0420 with 39 = 68.
  const std::size_t log_before = ReadFile(env->log).size();
  env->pid = StartSwitch();
  ASSERT_GT(env->pid, 0);
  ASSERT_TRUE(WaitReady(seconds(30))) << "the restarted switch is not ready";
  const std::string restart_log = ReadFile(env->log).substr(log_before);
  if (lost.empty()) {
    EXPECT_EQ(CountLines(restart_log, {"recovery: "}), 0U) << restart_log;
  } else {
    EXPECT_EQ(CountLines(restart_log, {"recovery: " + std::to_string(lost.size()) +
                                       " transaction(s) in flight at the last stop"}),
              1U)
        << restart_log;
  }
  auto none = Journal({"inflight"});
  EXPECT_TRUE(none.ok() && none.output.find("0 in flight") != std::string::npos) << none.output;
  if (freeze_issuer) {
    // issuer-a is still stopped: nothing can have been delivered yet.
    auto saf = Journal({"saf", "--json"});
    ASSERT_TRUE(saf.ok()) << saf.output;
    std::set<std::string> reversed;
    for (const auto& e : JsonLines(saf.output)) {
      if (Field(e, "destination") == "issuer-a" && Field(e, "message_type") == "0420" &&
          Field(e, "reason_code") == "68") {
        reversed.insert(Field(e, "txn_id"));
      }
    }
    for (const auto& [id, amount] : lost) {
      EXPECT_TRUE(reversed.count(id) == 1) << "no 0420 (39 = 68) queued for transaction " << id;
    }
    EXPECT_EQ(reversed.size(), lost.size()) << saf.output;
    ASSERT_EQ(kill(a.pid, SIGCONT), 0);
  }

  // Every reversal reaches issuer-a and the queue drains.
  EXPECT_TRUE(WaitUntil([] { return SafDepth("issuer-a") == 0.0; }, seconds(40)))
      << "issuer-a's SAF queue did not drain";
  const std::string log = ReadFile(a.log);
  std::size_t delivered = 0;
  for (const auto& [id, amount] : lost) {
    const std::string am = "amount=" + Amount(amount);
    const std::size_t n =
        CountLines(log, {": 0420 stan=", am}) + CountLines(log, {": 0421 stan=", am});
    EXPECT_GE(n, 1U) << "transaction " << id << " (amount " << amount
                     << ") was not reversed at issuer-a";
    delivered += n > 0 ? 1 : 0;
  }
  EXPECT_EQ(delivered, lost.size());
  auto empty_saf = Journal({"saf"});
  EXPECT_TRUE(empty_saf.ok() && empty_saf.output.find("0 queued") != std::string::npos)
      << empty_saf.output;
  none = Journal({"inflight"});
  EXPECT_TRUE(none.ok() && none.output.find("0 in flight") != std::string::npos) << none.output;

  // Approved means durable: the last approval each worker heard is journaled as approved.
  for (int w = 0; w < kCrashWorkers; ++w) {
    const Sent* last = nullptr;
    for (const auto& s : workers[w].sent) {
      if (s.rc == "00") {
        last = &s;
      }
    }
    if (last == nullptr) {
      ADD_FAILURE() << CrashTid(w) << " heard no approval";
      continue;
    }
    auto shown = Journal({"show", "--rrn", last->rrn, "--json"});
    ASSERT_TRUE(shown.ok()) << shown.output;
    auto recs = JsonLines(shown.output);
    ASSERT_EQ(recs.size(), 1U) << shown.output;
    EXPECT_EQ(Field(recs[0], "response_code"), "00");
    EXPECT_EQ(Field(recs[0], "amount_minor"), std::to_string(last->amount));
  }
  std::fprintf(stderr,
               "processes_test: crash round %d%s: %d approvals before the kill, %zu in flight, "
               "all reversed\n",
               round, freeze_issuer ? " (issuer-a stopped)" : "", approved.load(), lost.size());
}

TEST_F(ProcessesTest, RecoversFromKillsMidTrafficAndReversesWhatWasInFlight) {
  const unsigned seed = std::getenv("SY_PROCESSES_SEED") != nullptr
                            ? static_cast<unsigned>(std::atoi(std::getenv("SY_PROCESSES_SEED")))
                            : std::random_device{}();
  std::fprintf(stderr, "processes_test: SY_PROCESSES_SEED=%u\n", seed);
  std::mt19937 random(seed);
  std::vector<CrashWorker> workers(kCrashWorkers);
  for (int w = 0; w < kCrashWorkers; ++w) {
    workers[w].term = std::make_unique<Terminal>(CrashTid(w), CrashKsn(w));
  }
  // Round 1: a kill at a random moment of free-flowing traffic (maybe nothing in flight).
  CrashRound(workers, 1, /*freeze_issuer=*/false, random);
  ASSERT_FALSE(HasFatalFailure());
  // Round 2: issuer-a stops answering first, so transactions are surely in flight at the kill.
  CrashRound(workers, 2, /*freeze_issuer=*/true, random);
}

TEST_F(ProcessesTest, StopsCleanlyOnSigtermWithAConsistentStore) {
  ASSERT_GT(env->pid, 0);
  bool killed = false;
  const int status = StopProcess(env->pid, SIGTERM, seconds(20), &killed);
  env->pid = -1;
  EXPECT_FALSE(killed) << "the switch did not stop within 20 s of SIGTERM";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << DescribeStatus(status);
  auto verify = Journal({"verify"});
  EXPECT_TRUE(verify.ok()) << verify.output;
  auto none = Journal({"inflight"});
  EXPECT_TRUE(none.ok() && none.output.find("0 in flight") != std::string::npos) << none.output;
}

}  // namespace
}  // namespace sy::proc_test
