#include "sim/terminal.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "crypto/dukpt_aes.h"
#include "crypto/dukpt_tdes.h"
#include "crypto/hex.h"
#include "crypto/mac.h"
#include "crypto/master_session.h"
#include "crypto/pin_block.h"
#include "crypto/tls_identity.h"
#include "iso8583/codec.h"
#include "iso8583/framing.h"
#include "iso8583/mac_slot.h"

#ifndef SY_DEFAULT_SOURCE_DIR
#define SY_DEFAULT_SOURCE_DIR "."
#endif

namespace sy::sim {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using iso8583::Message;
using ::testing::HasSubstr;
using ::testing::Not;
using Tcp = asio::ip::tcp;

// ANSI X9.24-1 test BDK and the demo terminal's initial KSN (TEST keys only).
constexpr const char* kBdk = "0123456789ABCDEFFEDCBA9876543210";
constexpr const char* kInitialKsn = "FFFF9876543210E00000";
// The X9.24-3 test BDK and the demo's AES DUKPT terminal's initial KSN.
constexpr const char* kAesBdk = "FEDCBA9876543210F1F1F1F1F1F1F1F1";
constexpr const char* kAesInitialKsn = "123456789012345600000000";
// A TEST terminal master key.
constexpr const char* kTmk = "89ABCDEF0123456776543210FEDCBA98";
constexpr const char* kAesTmk = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F";
constexpr const char* kPan = "4761739001010010";
constexpr const char* kPan2 = "5413330089010434";

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

crypto::SecretBytes Secret(std::string_view hex) { return crypto::SecretFromHex(hex).value(); }

crypto::SecretBytes TdesKey(std::string_view ksn_hex, crypto::TdesDukptVariant variant) {
  auto ksn = crypto::FromHex(ksn_hex).value();
  return crypto::DeriveTdesWorkingKey(Secret(kBdk), ksn, variant).value();
}

crypto::SecretBytes AesKey(std::string_view ksn_hex, crypto::AesDukptKeyUsage usage) {
  auto ksn = crypto::FromHex(ksn_hex).value();
  return crypto::DeriveAesWorkingKey(Secret(kAesBdk), ksn, usage, crypto::AesDukptKeyType::kAes128)
      .value();
}

std::set<int> Fields(const Message& m) {
  std::set<int> s;
  for (int n : m.present_fields()) {
    s.insert(n);
  }
  return s;
}

std::string SourceDir() {
  const char* env = std::getenv("SY_SOURCE_DIR");
  return env != nullptr ? env : SY_DEFAULT_SOURCE_DIR;
}

// iso87b with a 16-byte field 52, for AES PIN blocks (format 4), written to `path`.
std::string WritePin16Dialect(const std::string& path) {
  std::ifstream in(SourceDir() + "/iso8583/dialects/iso87b.yaml");
  std::string out;
  std::string line;
  while (std::getline(in, line)) {
    if (line == "name: iso87b") {
      line = "name: iso87b-pin16";
    } else if (line.starts_with("  52:")) {
      line.replace(line.find("size: 8"), 7, "size: 16");
    }
    out += line + "\n";
  }
  std::ofstream(path) << out;
  return path;
}

// What the fake switch saw of one request, checked on its own thread as it arrived.
struct Seen {
  std::string tpdu_hex;
  Message msg;  // owns its values
  std::string mti;
  std::string ksn;
  std::string stan;
  std::string entry_mode;
  bool mac_present = false;
  bool mac_ok = false;
  std::string pin;  // the deciphered PIN, when field 52 was sent
};

// A switch stand-in on 127.0.0.1 port 0, one request per connection. It checks MACs and PIN
// blocks with the host-side crypto of the configured scheme, answers with the swapped TPDU, MACs
// the answer (under the response key) when the request's MAC verified, answers 63 when it did
// not, and delivers master/session keys in 0810 field 48 as TR-31 blocks under the TMK.
struct FakeConfig {
  std::shared_ptr<ssl::context> tls;
  KeyScheme scheme = KeyScheme::kDukptTdes;
  std::string dialect = "iso87b";
  iso8583::FramingOptions framing;
  crypto::KeyAlgorithm tmk_algorithm = crypto::KeyAlgorithm::kTdes;
  std::string tmk = kTmk;
  crypto::KeyAlgorithm session_algorithm = crypto::KeyAlgorithm::kTdes;
  bool corrupt_mac = false;
  bool silent = false;
  std::string response_code = "00";
  // A response code for a request ("" for response_code).
  std::function<std::string(const Message&)> decide;
  // Changes the answer before it is MACed and packed.
  std::function<void(Message&)> mangle;
};

class FakeSwitch {
 public:
  explicit FakeSwitch(FakeConfig config = {}) : config_(std::move(config)), acceptor_(io_) {
    dialect_ = iso8583::LoadDialect(config_.dialect).value();
    acceptor_.open(Tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_, Accept(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~FakeSwitch() {
    io_.stop();
    thread_.join();
  }

  [[nodiscard]] std::uint16_t port() const { return port_; }
  std::vector<Seen> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  // Hex of the clear working keys delivered last (to prove they never reach the state file).
  std::vector<std::string> delivered_key_hex() {
    std::lock_guard lock(mu_);
    return delivered_;
  }

 private:
  asio::awaitable<void> Accept() {
    while (true) {
      boost::system::error_code ec;
      Tcp::socket socket =
          co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        co_return;
      }
      asio::co_spawn(io_, Serve(std::make_shared<Tcp::socket>(std::move(socket))), asio::detached);
    }
  }

  asio::awaitable<void> Serve(std::shared_ptr<Tcp::socket> socket) {
    boost::system::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    std::optional<ssl::stream<Tcp::socket&>> stream;
    if (config_.tls) {
      stream.emplace(*socket, *config_.tls);
      co_await stream->async_handshake(ssl::stream_base::server, token);
      if (ec) {
        co_return;
      }
    }
    iso8583::FrameReader reader(config_.framing);
    std::string tpdu;
    std::string request;
    while (true) {
      auto next = reader.Next();
      if (!next) {
        co_return;
      }
      if (*next) {
        tpdu.assign(reinterpret_cast<const char*>((*next)->tpdu.data()), (*next)->tpdu.size());
        request.assign(reinterpret_cast<const char*>((*next)->message.data()),
                       (*next)->message.size());
        break;
      }
      auto area = reader.Prepare(4096);
      std::size_t n =
          stream ? co_await stream->async_read_some(asio::buffer(area.data(), area.size()), token)
                 : co_await socket->async_read_some(asio::buffer(area.data(), area.size()), token);
      reader.Commit(n);
      if (ec) {
        co_return;
      }
    }
    std::string reply = Answer(tpdu, request);
    if (config_.silent) {
      // Keep the connection open and say nothing: the terminal's deadline must end the wait.
      std::array<char, 16> sink{};
      (void)co_await socket->async_read_some(asio::buffer(sink), token);
      co_return;
    }
    std::string frame;
    std::array<std::uint8_t, 5> reply_tpdu{};
    std::span<const std::uint8_t> tpdu_span;
    if (config_.framing.tpdu && config_.framing.kind == iso8583::FrameKind::kNac) {
      const auto swapped = iso8583::Tpdu::FromBytes(Bytes(tpdu)).value().SwapForReply();
      std::copy(swapped.bytes().begin(), swapped.bytes().end(), reply_tpdu.begin());
      tpdu_span = reply_tpdu;
    }
    if (!iso8583::AppendFrame(config_.framing, tpdu_span, Bytes(reply), frame)) {
      co_return;
    }
    if (stream) {
      co_await asio::async_write(*stream, asio::buffer(frame), token);
    } else {
      co_await asio::async_write(*socket, asio::buffer(frame), token);
    }
  }

  struct Keys {
    bool cmac = false;
    crypto::SecretBytes request;
    crypto::SecretBytes response;
    crypto::SecretBytes pin;
    crypto::PinBlockFormat format = crypto::PinBlockFormat::kIso0;
    bool ok = false;
  };

  Keys KeysFor(const Message& m) {
    Keys k;
    const std::string ksn(m.Get(62));
    switch (config_.scheme) {
      case KeyScheme::kDukptTdes:
        if (ksn.size() == 20) {
          k.request = TdesKey(ksn, crypto::TdesDukptVariant::kMacRequest);
          k.response = TdesKey(ksn, crypto::TdesDukptVariant::kMacResponse);
          k.pin = TdesKey(ksn, crypto::TdesDukptVariant::kPin);
          k.ok = true;
        }
        break;
      case KeyScheme::kDukptAes:
        if (ksn.size() == 24) {
          k.cmac = true;
          k.request = AesKey(ksn, crypto::AesDukptKeyUsage::kMacGeneration);
          k.response = AesKey(ksn, crypto::AesDukptKeyUsage::kMacVerification);
          k.pin = AesKey(ksn, crypto::AesDukptKeyUsage::kPinEncryption);
          k.format = crypto::PinBlockFormat::kIso4;
          k.ok = true;
        }
        break;
      case KeyScheme::kMasterSession:
        if (mac_key_.size() > 0 && ksn.empty()) {
          k.cmac = config_.session_algorithm == crypto::KeyAlgorithm::kAes;
          k.request = mac_key_.Clone();
          k.response = mac_key_.Clone();
          k.pin = pin_key_.Clone();
          k.format = k.cmac ? crypto::PinBlockFormat::kIso4 : crypto::PinBlockFormat::kIso0;
          k.ok = true;
        }
        break;
    }
    return k;
  }

  static bool Mac(const Keys& k, const crypto::SecretBytes& key, std::span<const std::uint8_t> data,
                  std::array<std::uint8_t, 8>& out) {
    if (k.cmac) {
      auto full = crypto::AesCmac(key, data).value();
      std::copy_n(full.begin(), 8, out.begin());
    } else {
      out = crypto::RetailMac(key, data, crypto::MacPadding::kMethod1).value();
    }
    return true;
  }

  // Checks the request as the switch would, records it, and builds the packed answer.
  std::string Answer(std::string_view tpdu, const std::string& wire) {
    Message m;
    Seen seen;
    seen.tpdu_hex = crypto::ToHex(Bytes(tpdu));
    if (!iso8583::Unpack(*dialect_, wire, m)) {
      return {};
    }
    seen.mti = std::string(m.mti());
    seen.ksn = std::string(m.Get(62));
    seen.stan = std::string(m.Get(11));
    seen.entry_mode = std::string(m.Get(22));
    Keys keys = KeysFor(m);
    const int mac_field = iso8583::MacField(m);
    seen.mac_present = m.Has(mac_field);
    if (seen.mac_present && keys.ok) {
      auto input = iso8583::MacInput(*dialect_, m, wire);
      const std::string_view mac = m.Get(mac_field);
      seen.mac_ok =
          input &&
          (keys.cmac
               ? crypto::VerifyAesCmac(keys.request, Bytes(*input), Bytes(mac)).has_value()
               : crypto::VerifyRetailMac(keys.request, Bytes(*input), Bytes(mac)).has_value());
    }
    if (m.Has(52) && keys.ok) {
      auto pin = crypto::DecipherPinBlock(keys.format, keys.pin, Bytes(m.Get(52)), m.Get(2));
      seen.pin = pin ? std::string(pin->as_chars()) : "undecipherable";
    }
    seen.msg = m;
    {
      std::lock_guard lock(mu_);
      seen_.push_back(seen);
    }
    Message r;
    std::string mti(m.mti());
    mti[2] = static_cast<char>(mti[2] + 1);
    mti[3] = '0';
    r.SetMti(mti);
    for (int n : {3, 4, 7, 11, 12, 13, 41, 42, 49, 70}) {
      if (m.Has(n)) {
        r.Set(n, m.Get(n));
      }
    }
    if (mti == "0110" || mti == "0210" || mti == "0230") {
      r.Set(37, std::to_string(633100000123 + rrn_++));
      r.Set(38, "A1B2C3");
    }
    std::string rc = config_.response_code;
    if (config_.decide) {
      if (std::string d = config_.decide(m); !d.empty()) {
        rc = d;
      }
    }
    if (seen.mac_present && !seen.mac_ok) {
      rc = "63";
    }
    r.Set(39, rc);
    // Master/session: new working keys at every sign-on and key change, under the TMK.
    crypto::SecretBytes new_pin;
    crypto::SecretBytes new_mac;
    if (config_.scheme == KeyScheme::kMasterSession && rc == "00" && mti == "0810" &&
        (m.Get(70) == "001" || m.Get(70) == "101")) {
      new_pin = crypto::SecretBytes(16);
      new_mac = crypto::SecretBytes(16);
      crypto::SystemRandom().Fill(new_pin.mutable_view());
      crypto::SystemRandom().Fill(new_mac.mutable_view());
      const auto tmk = Secret(config_.tmk);
      auto pin_block =
          crypto::WrapSessionKey(tmk, config_.tmk_algorithm, crypto::SessionKeyRole::kPin,
                                 config_.session_algorithm, new_pin, crypto::SystemRandom())
              .value();
      auto mac_block =
          crypto::WrapSessionKey(tmk, config_.tmk_algorithm, crypto::SessionKeyRole::kMac,
                                 config_.session_algorithm, new_mac, crypto::SystemRandom())
              .value();
      r.Set(48, pin_block + mac_block);
    }
    if (config_.mangle) {
      config_.mangle(r);
    }
    std::string out;
    if (seen.mac_ok && rc != "63") {
      const iso8583::MacFunction mac = [&](std::span<const std::uint8_t> data,
                                           std::array<std::uint8_t, 8>& o) {
        Mac(keys, keys.response, data, o);
        if (config_.corrupt_mac) {
          o[0] ^= 0x01;
        }
        return true;
      };
      if (!iso8583::PackWithMac(*dialect_, r, mac, out)) {
        return {};
      }
    } else if (!iso8583::Pack(*dialect_, r, out)) {
      return {};
    }
    if (new_mac.size() > 0) {
      std::lock_guard lock(mu_);
      delivered_ = {crypto::ToHex(new_pin.view()), crypto::ToHex(new_mac.view())};
      pin_key_ = std::move(new_pin);
      mac_key_ = std::move(new_mac);
    }
    return out;
  }

  FakeConfig config_;
  std::shared_ptr<const iso8583::Dialect> dialect_;
  asio::io_context io_;
  Tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Seen> seen_;
  std::vector<std::string> delivered_;
  std::int64_t rrn_ = 0;
  crypto::SecretBytes pin_key_;
  crypto::SecretBytes mac_key_;
};

// A fresh directory per test, removed afterwards.
class TerminalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("sy-term-" + std::to_string(::getpid()) + "-" + info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  TerminalOptions Plain(std::uint16_t port) {
    TerminalOptions o;
    o.port = port;
    o.tls = false;
    o.state_file = (dir_ / "term.state").string();
    o.timeout = std::chrono::seconds(10);
    return o;
  }

  TerminalOptions Aes(std::uint16_t port) {
    TerminalOptions o = Plain(port);
    o.key_scheme = KeyScheme::kDukptAes;
    o.tid = "TERM0002";
    o.mid = "MERCHANT0000002";
    o.bdk_hex = kAesBdk;
    o.initial_ksn_hex = kAesInitialKsn;
    o.dialect = WritePin16Dialect(Path("iso87b-pin16.yaml"));
    return o;
  }

  TerminalOptions MasterSession(std::uint16_t port) {
    TerminalOptions o = Plain(port);
    o.key_scheme = KeyScheme::kMasterSession;
    o.tid = "TERM0003";
    o.tmk_hex = kTmk;
    return o;
  }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  std::string ReadFile(const std::string& name) const {
    std::ifstream in(Path(name));
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::filesystem::path dir_;
};

std::shared_ptr<ssl::context> ServerTls(const std::string& cert, const std::string& key) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->use_certificate_chain_file(cert);
  ctx->use_private_key_file(key, ssl::context::pem);
  return ctx;
}

// ---- network management ----

TEST_F(TerminalTest, SignOnSendsTheTpduAndAMacUnderTheRequestVariant) {
  FakeSwitch fake;
  TerminalClient term(Plain(fake.port()));
  auto answer = term.SignOn();
  ASSERT_TRUE(answer) << answer.error().message;
  EXPECT_EQ(answer->response_code, "00");
  EXPECT_EQ(answer->response.mti(), "0810");
  EXPECT_TRUE(answer->mac_present);
  EXPECT_TRUE(answer->mac_ok);
  EXPECT_EQ(MacStatus(*answer), "ok");
  auto seen = fake.seen();
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].tpdu_hex, "6000010000");
  EXPECT_EQ(seen[0].mti, "0800");
  EXPECT_EQ(seen[0].ksn, "FFFF9876543210E00001");
  EXPECT_EQ(answer->ksn_hex, "FFFF9876543210E00001");
  EXPECT_TRUE(seen[0].mac_ok);
  // Field 70 makes a secondary bitmap, so the MAC goes in 128 (INTERFACE.md).
  EXPECT_EQ(Fields(seen[0].msg), (std::set<int>{7, 11, 41, 42, 62, 70, 128}));
  EXPECT_EQ(seen[0].msg.Get(70), "001");
  EXPECT_EQ(seen[0].msg.Get(41), "TERM0001");
  EXPECT_EQ(seen[0].msg.Get(42), "MERCHANT0000001");
  EXPECT_EQ(seen[0].msg.Get(11), "000001");
}

TEST_F(TerminalTest, SignOffAndEchoAreNotMacedAndKeyChangeIs) {
  FakeSwitch fake;
  TerminalClient term(Plain(fake.port()));
  auto off = term.SignOff();
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_FALSE(off->mac_present);
  EXPECT_EQ(MacStatus(*off), "none");
  auto echo = term.Echo();
  ASSERT_TRUE(echo) << echo.error().message;
  auto change = term.KeyChange();
  ASSERT_TRUE(change) << change.error().message;
  EXPECT_EQ(MacStatus(*change), "ok");
  auto seen = fake.seen();
  ASSERT_EQ(seen.size(), 3U);
  EXPECT_EQ(Fields(seen[0].msg), (std::set<int>{7, 11, 41, 42, 70}));
  EXPECT_EQ(seen[0].msg.Get(70), "002");
  EXPECT_EQ(Fields(seen[1].msg), (std::set<int>{7, 11, 41, 42, 70}));
  EXPECT_EQ(seen[1].msg.Get(70), "301");
  EXPECT_EQ(Fields(seen[2].msg), (std::set<int>{7, 11, 41, 42, 62, 70, 128}));
  EXPECT_EQ(seen[2].msg.Get(70), "101");
  EXPECT_TRUE(seen[2].mac_ok);
  // STANs are new for every request; KSNs only for the MACed ones.
  EXPECT_EQ(seen[0].stan, "000001");
  EXPECT_EQ(seen[1].stan, "000002");
  EXPECT_EQ(seen[2].stan, "000003");
  EXPECT_EQ(seen[2].ksn, "FFFF9876543210E00001");
}

// ---- financial requests, field by field (docs/terminal-messages.md) ----

TEST_F(TerminalTest, PurchaseCarriesAFormat0PinBlockUnderThePinVariant) {
  FakeSwitch fake;
  TerminalClient term(Plain(fake.port()));
  auto answer = term.Purchase({.pan = kPan, .amount_minor = 1000, .expiry = "3012", .pin = "1234"});
  ASSERT_TRUE(answer) << answer.error().message;
  EXPECT_EQ(answer->response_code, "00");
  EXPECT_EQ(answer->response.Get(38), "A1B2C3");
  EXPECT_TRUE(answer->mac_ok);
  auto seen = fake.seen();
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].mti, "0200");
  EXPECT_TRUE(seen[0].mac_ok);
  EXPECT_EQ(seen[0].pin, "1234");
  EXPECT_EQ(seen[0].entry_mode, "051");
  EXPECT_EQ(Fields(seen[0].msg),
            (std::set<int>{2, 3, 4, 7, 11, 12, 13, 14, 22, 25, 41, 42, 49, 52, 62, 64}));
  EXPECT_EQ(seen[0].msg.Get(3), "000000");
  EXPECT_EQ(seen[0].msg.Get(4), "000000001000");
  EXPECT_EQ(seen[0].msg.Get(25), "00");
  EXPECT_EQ(seen[0].msg.Get(49), "978");
  EXPECT_EQ(seen[0].msg.Get(12).size(), 6U);
  EXPECT_EQ(seen[0].msg.Get(13).size(), 4U);

  auto no_pin = term.Purchase({.pan = kPan, .amount_minor = 500});
  ASSERT_TRUE(no_pin) << no_pin.error().message;
  seen = fake.seen();
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[1].pin, "");
  EXPECT_EQ(seen[1].entry_mode, "012");
  EXPECT_TRUE(seen[1].mac_ok);
  EXPECT_EQ(Fields(seen[1].msg),
            (std::set<int>{2, 3, 4, 7, 11, 12, 13, 22, 25, 41, 42, 49, 62, 64}));
  ASSERT_EQ(term.items().size(), 2U);
  EXPECT_EQ(term.items()[0].rrn, "633100000123");
  EXPECT_EQ(term.items()[1].rrn, "633100000124");
}

TEST_F(TerminalTest, PreAuthThenCompletionTakesTheAuthCodeAndCardFromTheState) {
  FakeSwitch fake;
  TerminalClient term(Plain(fake.port()));
  auto preauth = term.PreAuth(
      {.pan = kPan, .amount_minor = 5000, .expiry = "3012", .pin = "1234", .icc = "\x9F\x26"});
  ASSERT_TRUE(preauth) << preauth.error().message;
  EXPECT_EQ(preauth->response.mti(), "0110");
  const std::string rrn(preauth->response.Get(37));
  auto completion = term.Completion({.rrn = rrn, .amount_minor = 4500});
  ASSERT_TRUE(completion) << completion.error().message;
  EXPECT_EQ(completion->response.mti(), "0230");
  EXPECT_EQ(MacStatus(*completion), "ok");
  auto seen = fake.seen();
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[0].mti, "0100");
  EXPECT_EQ(Fields(seen[0].msg),
            (std::set<int>{2, 3, 4, 7, 11, 12, 13, 14, 22, 25, 41, 42, 49, 52, 55, 62, 64}));
  EXPECT_EQ(seen[0].pin, "1234");
  EXPECT_EQ(seen[1].mti, "0220");
  EXPECT_EQ(Fields(seen[1].msg),
            (std::set<int>{2, 3, 4, 7, 11, 14, 22, 25, 37, 38, 41, 42, 49, 62, 64}));
  EXPECT_EQ(seen[1].msg.Get(2), kPan);
  EXPECT_EQ(seen[1].msg.Get(3), "000000");
  EXPECT_EQ(seen[1].msg.Get(4), "000000004500");
  EXPECT_EQ(seen[1].msg.Get(37), rrn);
  EXPECT_EQ(seen[1].msg.Get(38), "A1B2C3");
  EXPECT_EQ(seen[1].msg.Get(22), "012");
  EXPECT_TRUE(seen[1].mac_ok);
  // The pre-auth is completed; the completion is a debit of the batch.
  ASSERT_EQ(term.items().size(), 2U);
  EXPECT_EQ(term.items()[0].status, BatchItem::Status::kCompleted);
  EXPECT_EQ(term.totals().debits_count, 1);
  EXPECT_EQ(term.totals().debits_minor, 4500);
  // Unknown pre-auth without the card: a usage error, nothing sent.
  auto unknown = term.Completion({.rrn = "999999999999", .amount_minor = 1});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, TerminalError::Kind::kUsage);
  EXPECT_EQ(fake.seen().size(), 2U);
}

TEST_F(TerminalTest, RefundAndVoidNameTheOriginalByRrnAndTakeItsCard) {
  FakeSwitch fake;
  TerminalClient term(Plain(fake.port()));
  auto purchase = term.Purchase({.pan = kPan, .amount_minor = 2000, .expiry = "3012"});
  ASSERT_TRUE(purchase) << purchase.error().message;
  const std::string rrn(purchase->response.Get(37));
  auto refund = term.Refund({.rrn = rrn, .amount_minor = 700, .pin = "4321"});
  ASSERT_TRUE(refund) << refund.error().message;
  auto void_answer = term.Void({.rrn = rrn});
  ASSERT_TRUE(void_answer) << void_answer.error().message;
  EXPECT_EQ(MacStatus(*void_answer), "ok");
  auto seen = fake.seen();
  ASSERT_EQ(seen.size(), 3U);
  EXPECT_EQ(Fields(seen[1].msg),
            (std::set<int>{2, 3, 4, 7, 11, 14, 22, 25, 37, 41, 42, 49, 52, 62, 64}));
  EXPECT_EQ(seen[1].msg.Get(3), "200000");
  EXPECT_EQ(seen[1].msg.Get(2), kPan);
  EXPECT_EQ(seen[1].msg.Get(37), rrn);
  EXPECT_EQ(seen[1].msg.Get(4), "000000000700");
  EXPECT_EQ(seen[1].pin, "4321");
  EXPECT_EQ(seen[2].mti, "0200");
  EXPECT_EQ(Fields(seen[2].msg),
            (std::set<int>{2, 3, 4, 7, 11, 14, 22, 25, 37, 41, 42, 49, 62, 64}));
  EXPECT_EQ(seen[2].msg.Get(3), "020000");
  EXPECT_EQ(seen[2].msg.Get(2), kPan);
  EXPECT_EQ(seen[2].msg.Get(4), "000000002000");
  EXPECT_EQ(seen[2].msg.Get(37), rrn);
  EXPECT_EQ(seen[2].msg.Get(22), "012");
  EXPECT_TRUE(seen[2].mac_ok);
  // The voided purchase left the batch; the refund is its only (credit) item.
  const BatchTotals t = term.totals();
  EXPECT_EQ(t.debits_count, 0);
  EXPECT_EQ(t.credits_count, 1);
  EXPECT_EQ(t.credits_minor, 700);
  EXPECT_EQ(term.items()[0].status, BatchItem::Status::kVoided);
  // A void of an RRN the terminal does not hold needs the card and amount.
  auto unknown = term.Void({.rrn = "123456789012"});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, TerminalError::Kind::kUsage);
  EXPECT_THAT(unknown.error().message, HasSubstr("123456789012"));
}

TEST_F(TerminalTest, ReversalOfAnUnansweredPurchaseCarriesItsStanAndTime) {
  {
    FakeSwitch silent({.silent = true});
    auto options = Plain(silent.port());
    options.timeout = std::chrono::milliseconds(300);
    TerminalClient term(options);
    auto answer = term.Purchase({.pan = kPan, .amount_minor = 1234});
    ASSERT_FALSE(answer);
    ASSERT_TRUE(term.last());
    EXPECT_EQ(term.last()->status, BatchItem::Status::kSent);
  }
  FakeSwitch fake;
  TerminalClient term(Plain(fake.port()));  // the next run, the same state file
  ASSERT_TRUE(term.last());
  const BatchItem original = *term.last();
  auto reversal = term.Reversal();
  ASSERT_TRUE(reversal) << reversal.error().message;
  EXPECT_EQ(reversal->response.mti(), "0410");
  EXPECT_EQ(MacStatus(*reversal), "ok");
  auto repeat = term.Reversal({.repeat = true});
  ASSERT_TRUE(repeat) << repeat.error().message;
  EXPECT_EQ(repeat->response.mti(), "0410");
  auto seen = fake.seen();
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[0].mti, "0400");
  EXPECT_EQ(Fields(seen[0].msg), (std::set<int>{2, 3, 4, 7, 11, 41, 42, 49, 62, 90, 128}));
  EXPECT_EQ(seen[0].msg.Get(11), original.stan);
  EXPECT_EQ(seen[0].msg.Get(7), original.transmission_time);
  EXPECT_EQ(seen[0].msg.Get(3), "000000");
  EXPECT_EQ(seen[0].msg.Get(4), "000000001234");
  EXPECT_EQ(seen[0].msg.Get(90),
            "0200" + original.stan + original.transmission_time + std::string(22, '0'));
  EXPECT_TRUE(seen[0].mac_ok);
  EXPECT_EQ(seen[1].mti, "0401");
  EXPECT_EQ(seen[1].msg.Get(11), original.stan);
  EXPECT_NE(seen[0].ksn, seen[1].ksn);  // one new KSN per request, repeats included
  EXPECT_EQ(term.last()->status, BatchItem::Status::kReversed);
}

TEST_F(TerminalTest, ReversalByStanTakesTheItemOutOfTheBatch) {
  FakeSwitch fake;
  TerminalClient term(Plain(fake.port()));
  ASSERT_TRUE(term.Purchase({.pan = kPan, .amount_minor = 100}));
  ASSERT_TRUE(term.Purchase({.pan = kPan2, .amount_minor = 200}));
  const std::string first_stan = term.items()[0].stan;
  auto reversal = term.Reversal({.stan = first_stan});
  ASSERT_TRUE(reversal) << reversal.error().message;
  auto seen = fake.seen();
  ASSERT_EQ(seen.size(), 3U);
  EXPECT_EQ(seen[2].msg.Get(11), first_stan);
  EXPECT_EQ(seen[2].msg.Get(2), kPan);
  EXPECT_EQ(term.items()[0].status, BatchItem::Status::kReversed);
  EXPECT_EQ(term.totals().debits_count, 1);
  EXPECT_EQ(term.totals().debits_minor, 200);
  auto missing = term.Reversal({.stan = "999"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, TerminalError::Kind::kUsage);
}

// ---- answers are checked ----

TEST_F(TerminalTest, CorruptedResponseMacIsReportedBad) {
  FakeSwitch fake({.corrupt_mac = true, .response_code = "05"});
  TerminalClient term(Plain(fake.port()));
  auto answer = term.Purchase({.pan = kPan, .amount_minor = 100});
  ASSERT_TRUE(answer) << answer.error().message;
  EXPECT_EQ(answer->response_code, "05");
  EXPECT_TRUE(answer->mac_present);
  EXPECT_FALSE(answer->mac_ok);
  EXPECT_EQ(MacStatus(*answer), "BAD");
  EXPECT_EQ(term.last()->status, BatchItem::Status::kDeclined);
  EXPECT_TRUE(term.items().empty());
}

TEST_F(TerminalTest, A63IsNotMacedAndAMissingMacIsReported) {
  FakeSwitch fake({.decide = [](const Message&) { return std::string("63"); }});
  TerminalClient term(Plain(fake.port()));
  auto answer = term.SignOn();
  ASSERT_TRUE(answer) << answer.error().message;
  EXPECT_FALSE(answer->mac_present);
  EXPECT_EQ(MacStatus(*answer), "none");
  FakeSwitch unmaced({.mangle = [](Message& r) { r.Set(39, "05"); }});
  // A terminal with a different BDK: the fake cannot verify, so it answers without a MAC.
  auto options = Plain(unmaced.port());
  options.bdk_hex = "89ABCDEF0123456776543210FEDCBA98";
  TerminalClient other(options);
  auto declined = other.Purchase({.pan = kPan, .amount_minor = 100});
  ASSERT_TRUE(declined) << declined.error().message;
  EXPECT_EQ(declined->response_code, "05");
  EXPECT_EQ(MacStatus(*declined), "missing");
}

TEST_F(TerminalTest, AnswersForAnotherStanOrAmountAreProtocolFailures) {
  {
    FakeSwitch fake({.mangle = [](Message& r) { r.Set(11, "999999"); }});
    TerminalClient term(Plain(fake.port()));
    auto answer = term.Echo();
    ASSERT_FALSE(answer);
    EXPECT_EQ(answer.error().kind, TerminalError::Kind::kProtocol);
    EXPECT_THAT(answer.error().message, HasSubstr("does not match"));
  }
  {
    FakeSwitch fake({.mangle = [](Message& r) { r.Set(4, "000000000001"); }});
    TerminalClient term(Plain(fake.port()));
    auto answer = term.Purchase({.pan = kPan, .amount_minor = 100});
    ASSERT_FALSE(answer);
    EXPECT_EQ(answer.error().kind, TerminalError::Kind::kProtocol);
    EXPECT_THAT(answer.error().message, HasSubstr("amount"));
  }
  {
    FakeSwitch fake({.mangle = [](Message& r) { r.SetMti("0230"); }});
    TerminalClient term(Plain(fake.port()));
    auto answer = term.Purchase({.pan = kPan, .amount_minor = 100});
    ASSERT_FALSE(answer);
    EXPECT_EQ(answer.error().kind, TerminalError::Kind::kProtocol);
  }
}

TEST_F(TerminalTest, SilentSwitchEndsInATimeoutNotAHang) {
  FakeSwitch fake({.silent = true});
  auto options = Plain(fake.port());
  options.timeout = std::chrono::milliseconds(300);
  TerminalClient term(options);
  auto answer = term.SignOn();
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().kind, TerminalError::Kind::kTransport);
  EXPECT_THAT(answer.error().message, HasSubstr("no answer within 300 ms"));
}

// ---- transport ----

TEST_F(TerminalTest, TlsVerifiesTheSwitchAgainstTheCa) {
  ASSERT_TRUE(
      crypto::WriteSelfSignedCertificate(Path("switch.crt"), Path("switch.key"), "switchyard", 1));
  ASSERT_TRUE(crypto::WriteSelfSignedCertificate(Path("other.crt"), Path("other.key"), "other", 1));
  FakeSwitch fake({.tls = ServerTls(Path("switch.crt"), Path("switch.key"))});
  auto options = Plain(fake.port());
  options.tls = true;
  options.ca_file = Path("switch.crt");
  {
    TerminalClient term(options);
    auto answer = term.SignOn();
    ASSERT_TRUE(answer) << answer.error().message;
    EXPECT_TRUE(answer->mac_ok);
  }
  {
    options.ca_file = Path("other.crt");
    TerminalClient term(options);
    auto answer = term.SignOn();
    ASSERT_FALSE(answer);
    EXPECT_EQ(answer.error().kind, TerminalError::Kind::kTransport);
    EXPECT_THAT(answer.error().message, HasSubstr("TLS handshake"));
  }
  {
    options.ca_file.clear();
    options.insecure = true;
    TerminalClient term(options);
    auto answer = term.SignOn();
    ASSERT_TRUE(answer) << answer.error().message;
  }
  options.insecure = false;
  EXPECT_THROW(TerminalClient{options}, std::invalid_argument);  // no CA, not insecure
  EXPECT_EQ(fake.seen().size(), 2U);
}

TEST_F(TerminalTest, Ascii4FramingAndNacWithoutTpdu) {
  {
    FakeSwitch fake({.framing = {.kind = iso8583::FrameKind::kAscii4, .tpdu = false}});
    auto options = Plain(fake.port());
    options.framing = iso8583::FrameKind::kAscii4;
    TerminalClient term(options);
    auto answer = term.SignOn();
    ASSERT_TRUE(answer) << answer.error().message;
    EXPECT_TRUE(answer->mac_ok);
    ASSERT_EQ(fake.seen().size(), 1U);
    EXPECT_EQ(fake.seen()[0].tpdu_hex, "");
  }
  FakeSwitch fake({.framing = {.kind = iso8583::FrameKind::kNac, .tpdu = false}});
  auto options = Plain(fake.port());
  options.tpdu = false;
  TerminalClient term(options);
  auto answer = term.Echo();
  ASSERT_TRUE(answer) << answer.error().message;
}

// ---- AES DUKPT ----

TEST_F(TerminalTest, AesDukptSendsA24HexKsnACmacAndAFormat4PinBlock) {
  FakeSwitch fake(
      {.scheme = KeyScheme::kDukptAes, .dialect = WritePin16Dialect(Path("fake-pin16.yaml"))});
  TerminalClient term(Aes(fake.port()));
  auto signon = term.SignOn();
  ASSERT_TRUE(signon) << signon.error().message;
  EXPECT_EQ(signon->ksn_hex, "123456789012345600000001");
  EXPECT_EQ(MacStatus(*signon), "ok");
  auto purchase = term.Purchase({.pan = kPan, .amount_minor = 1000, .pin = "98765"});
  ASSERT_TRUE(purchase) << purchase.error().message;
  EXPECT_EQ(MacStatus(*purchase), "ok");
  auto seen = fake.seen();
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_TRUE(seen[0].mac_ok);
  EXPECT_EQ(seen[0].ksn, "123456789012345600000001");
  EXPECT_EQ(seen[1].ksn, "123456789012345600000002");
  EXPECT_TRUE(seen[1].mac_ok);
  EXPECT_EQ(seen[1].pin, "98765");
  EXPECT_EQ(seen[1].msg.Get(52).size(), 16U);
  EXPECT_EQ(seen[1].msg.Get(41), "TERM0002");
}

TEST_F(TerminalTest, AesPinBlockThatDoesNotFitField52IsAUsageError) {
  FakeSwitch fake({.scheme = KeyScheme::kDukptAes});
  auto options = Aes(fake.port());
  options.dialect = "iso87b";
  TerminalClient term(options);
  auto answer = term.Purchase({.pan = kPan, .amount_minor = 1000, .pin = "1234"});
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().kind, TerminalError::Kind::kUsage);
  EXPECT_THAT(answer.error().message, HasSubstr("field 52"));
  EXPECT_TRUE(fake.seen().empty());
  EXPECT_EQ(term.counter(), 0U);  // no KSN spent
  // Without a PIN the same terminal works on iso87b.
  auto no_pin = term.Purchase({.pan = kPan, .amount_minor = 1000});
  ASSERT_TRUE(no_pin) << no_pin.error().message;
  EXPECT_EQ(MacStatus(*no_pin), "ok");
}

// ---- master/session ----

TEST_F(TerminalTest, MasterSessionKeysArriveAtSignOnAndMacTheNextRequests) {
  FakeSwitch fake({.scheme = KeyScheme::kMasterSession});
  {
    TerminalClient term(MasterSession(fake.port()));
    EXPECT_FALSE(term.has_working_keys());
    auto refused = term.Purchase({.pan = kPan, .amount_minor = 100});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().kind, TerminalError::Kind::kUsage);
    auto signon = term.SignOn();
    ASSERT_TRUE(signon) << signon.error().message;
    EXPECT_TRUE(signon->keys_installed);
    EXPECT_FALSE(signon->mac_sent);
    EXPECT_EQ(MacStatus(*signon), "none");
    EXPECT_TRUE(term.has_working_keys());
    auto purchase = term.Purchase({.pan = kPan, .amount_minor = 100, .pin = "1234"});
    ASSERT_TRUE(purchase) << purchase.error().message;
    EXPECT_EQ(MacStatus(*purchase), "ok");
  }
  auto seen = fake.seen();
  ASSERT_EQ(seen.size(), 2U);
  // The first, keyless sign-on: no MAC, no KSN.
  EXPECT_EQ(Fields(seen[0].msg), (std::set<int>{7, 11, 41, 42, 70}));
  EXPECT_EQ(Fields(seen[1].msg),
            (std::set<int>{2, 3, 4, 7, 11, 12, 13, 22, 25, 41, 42, 49, 52, 64}));
  EXPECT_TRUE(seen[1].mac_ok);
  EXPECT_EQ(seen[1].pin, "1234");
  // The state file keeps the keys only as the TR-31 blocks received, never in clear.
  const std::string state = ReadFile("term.state");
  EXPECT_THAT(state, HasSubstr("session_keys"));
  for (const std::string& key : fake.delivered_key_hex()) {
    EXPECT_THAT(state, Not(HasSubstr(key)));
  }
  // The next run unwraps them and signs on MACed; a key change brings new keys.
  TerminalClient again(MasterSession(fake.port()));
  EXPECT_TRUE(again.has_working_keys());
  auto signon = again.SignOn();
  ASSERT_TRUE(signon) << signon.error().message;
  EXPECT_TRUE(signon->mac_sent);
  EXPECT_EQ(MacStatus(*signon), "ok");
  auto change = again.KeyChange();
  ASSERT_TRUE(change) << change.error().message;
  EXPECT_TRUE(change->keys_installed);
  EXPECT_EQ(MacStatus(*change), "ok");
  auto echo_maced = again.Purchase({.pan = kPan, .amount_minor = 5});
  ASSERT_TRUE(echo_maced) << echo_maced.error().message;
  EXPECT_EQ(MacStatus(*echo_maced), "ok");
  seen = fake.seen();
  ASSERT_EQ(seen.size(), 5U);
  EXPECT_EQ(Fields(seen[2].msg), (std::set<int>{7, 11, 41, 42, 70, 128}));
  EXPECT_TRUE(seen[2].mac_ok);
  EXPECT_EQ(seen[3].msg.Get(70), "101");
  EXPECT_TRUE(seen[3].mac_ok);
  EXPECT_TRUE(seen[4].mac_ok);  // under the key the key change delivered
  // Another TMK cannot unwrap the stored keys.
  auto wrong = MasterSession(fake.port());
  wrong.tmk_hex = "0123456789ABCDEFFEDCBA9876543210";
  EXPECT_THROW(TerminalClient{wrong}, std::invalid_argument);
}

TEST_F(TerminalTest, MasterSessionWithAnAesTmkAndAesWorkingKeys) {
  FakeSwitch fake({.scheme = KeyScheme::kMasterSession,
                   .dialect = WritePin16Dialect(Path("fake-pin16.yaml")),
                   .tmk_algorithm = crypto::KeyAlgorithm::kAes,
                   .tmk = kAesTmk,
                   .session_algorithm = crypto::KeyAlgorithm::kAes});
  auto options = MasterSession(fake.port());
  options.tmk_hex = kAesTmk;
  options.tmk_algorithm = crypto::KeyAlgorithm::kAes;
  options.dialect = WritePin16Dialect(Path("iso87b-pin16.yaml"));
  TerminalClient term(options);
  auto signon = term.SignOn();
  ASSERT_TRUE(signon) << signon.error().message;
  EXPECT_TRUE(signon->keys_installed);
  auto purchase = term.Purchase({.pan = kPan, .amount_minor = 100, .pin = "2468"});
  ASSERT_TRUE(purchase) << purchase.error().message;
  EXPECT_EQ(MacStatus(*purchase), "ok");
  auto seen = fake.seen();
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_TRUE(seen[1].mac_ok);
  EXPECT_EQ(seen[1].pin, "2468");
}

// ---- state ----

TEST_F(TerminalTest, KsnCounterIncrementsAndPersistsAcrossRuns) {
  FakeSwitch fake;
  {
    TerminalClient term(Plain(fake.port()));
    ASSERT_TRUE(term.SignOn());
    ASSERT_TRUE(term.Purchase({.pan = kPan, .amount_minor = 100}));
    EXPECT_EQ(term.counter(), 2U);
  }
  TerminalClient again(Plain(fake.port()));  // a new run, the same state file
  EXPECT_EQ(again.counter(), 2U);
  EXPECT_EQ(again.stan(), 2U);
  auto answer = again.SignOn();
  ASSERT_TRUE(answer) << answer.error().message;
  auto seen = fake.seen();
  ASSERT_EQ(seen.size(), 3U);
  EXPECT_EQ(seen[0].ksn, "FFFF9876543210E00001");
  EXPECT_EQ(seen[1].ksn, "FFFF9876543210E00002");
  EXPECT_EQ(seen[2].ksn, "FFFF9876543210E00003");
  EXPECT_NE(seen[0].stan, seen[1].stan);
  EXPECT_EQ(seen[2].stan, "000003");
  for (const Seen& s : seen) {
    EXPECT_TRUE(s.mac_ok) << s.ksn;
  }
  const auto state = boost::json::parse(ReadFile("term.state")).as_object();
  EXPECT_EQ(state.at("initial_ksn").as_string(), "FFFF9876543210E00000");
  EXPECT_EQ(state.at("ksn_counter").as_int64(), 3);
  EXPECT_EQ(state.at("stan").as_int64(), 3);
  EXPECT_EQ(state.at("tid").as_string(), "TERM0001");
}

TEST_F(TerminalTest, TheFirstStateFormatIsStillRead) {
  std::ofstream(Path("term.state")) << "FFFF9876543210E00000 17\n";
  FakeSwitch fake;
  TerminalClient term(Plain(fake.port()));
  EXPECT_EQ(term.counter(), 17U);
  auto answer = term.SignOn();
  ASSERT_TRUE(answer) << answer.error().message;
  EXPECT_EQ(answer->ksn_hex, "FFFF9876543210E00012");
}

TEST_F(TerminalTest, BatchPersistsAcrossInstancesAndAVoidFindsItsCardThere) {
  FakeSwitch fake;
  std::string rrn;
  {
    TerminalClient term(Plain(fake.port()));
    auto purchase = term.Purchase({.pan = kPan2, .amount_minor = 4200, .expiry = "2911"});
    ASSERT_TRUE(purchase) << purchase.error().message;
    rrn = std::string(purchase->response.Get(37));
  }
  TerminalClient term(Plain(fake.port()));
  ASSERT_EQ(term.items().size(), 1U);
  EXPECT_EQ(term.items()[0].rrn, rrn);
  EXPECT_EQ(term.items()[0].auth_code, "A1B2C3");
  EXPECT_EQ(term.items()[0].status, BatchItem::Status::kApproved);
  auto void_answer = term.Void({.rrn = rrn});
  ASSERT_TRUE(void_answer) << void_answer.error().message;
  auto seen = fake.seen();
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[1].msg.Get(2), kPan2);
  EXPECT_EQ(seen[1].msg.Get(14), "2911");
  EXPECT_EQ(seen[1].msg.Get(4), "000000004200");
  EXPECT_EQ(TerminalClient(Plain(fake.port())).items()[0].status, BatchItem::Status::kVoided);
}

TEST_F(TerminalTest, AnotherTerminalsOrAGarbledStateFileIsRefused) {
  {
    TerminalClient term(Plain(1));
    ASSERT_TRUE(term.items().empty());
  }
  FakeSwitch fake;
  {
    TerminalClient term(Plain(fake.port()));
    ASSERT_TRUE(term.Echo());
  }
  auto other = Plain(fake.port());
  other.tid = "TERM0009";
  try {
    TerminalClient term(other);
    ADD_FAILURE() << "another terminal's state file was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("TERM0001"));
  }
  std::ofstream(Path("term.state")) << "{\"format\": \"something else\"}";
  EXPECT_THROW(TerminalClient{Plain(fake.port())}, std::invalid_argument);
}

TEST(KsnStateTest, ParsesOnlyTheSameTerminalsState) {
  EXPECT_EQ(ParseKsnState("FFFF9876543210E00000 17\n", kInitialKsn), 17U);
  EXPECT_EQ(ParseKsnState("ffff9876543210e00000 17", kInitialKsn), 17U);
  EXPECT_EQ(ParseKsnState("FFFF9876543210E10000 17\n", kInitialKsn), std::nullopt);
  EXPECT_EQ(ParseKsnState("garbage", kInitialKsn), std::nullopt);
  EXPECT_EQ(ParseKsnState("FFFF9876543210E00000 99999999", kInitialKsn), std::nullopt);
  EXPECT_EQ(ParseKsnState("123456789012345600000000 99999999", kAesInitialKsn), 99999999U);
}

TEST(TerminalOptionsTest, BadKeysAndDialectsNameTheOption) {
  auto expect_throw = [](TerminalOptions o, std::string_view what) {
    o.tls = false;
    try {
      TerminalClient term(o);
      ADD_FAILURE() << "accepted: " << what;
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), HasSubstr(std::string(what)));
    }
  };
  TerminalOptions o;
  o.bdk_hex = "00";
  expect_throw(o, "bdk");
  o = {};
  o.initial_ksn_hex = "123456789012345600000000";  // an AES KSN for a TDES terminal
  expect_throw(o, "ksn");
  o = {};
  o.key_scheme = KeyScheme::kDukptAes;  // with the TDES KSN
  o.bdk_hex = kAesBdk;
  expect_throw(o, "ksn");
  o = {};
  o.key_scheme = KeyScheme::kMasterSession;
  expect_throw(o, "tmk");
  o = {};
  o.dialect = "iso99z";
  expect_throw(o, "dialect");
  EXPECT_EQ(KeySchemeFromName("dukpt-aes"), KeyScheme::kDukptAes);
  EXPECT_EQ(KeySchemeFromName("master-session"), KeyScheme::kMasterSession);
  EXPECT_EQ(KeySchemeFromName("dukpt"), std::nullopt);
}

// ---- the command ----

int Term(std::vector<std::string_view> args, std::string& out, std::string& err) {
  std::istringstream in;
  std::ostringstream o;
  std::ostringstream e;
  cli::Io io{in, o, e};
  const int rc = cli::RunTerm(args, io);
  out = o.str();
  err = e.str();
  return rc;
}

std::string LastLine(const std::string& out) {
  const auto end = out.find_last_not_of('\n');
  if (end == std::string::npos) {
    return {};
  }
  const auto start = out.rfind('\n', end);
  return out.substr(start == std::string::npos ? 0 : start + 1, end + 1 - (start + 1));
}

TEST_F(TerminalTest, TermCommandPrintsFieldsAndASummaryOrJsonAndMasksThePan) {
  FakeSwitch fake;
  const std::string port = std::to_string(fake.port());
  const std::string state = Path("cli.state");
  std::string out;
  std::string err;
  EXPECT_EQ(Term({"--plain", "--port", port, "--state", state, "signon"}, out, err), 0) << err;
  EXPECT_EQ(LastLine(out), "0810 39=00 approved MAC ok");
  EXPECT_THAT(out, HasSubstr("> 0800\n"));
  EXPECT_THAT(out, HasSubstr("< 0810\n"));
  EXPECT_THAT(out, HasSubstr("'001'"));
  EXPECT_EQ(Term({"--plain", "--port", port, "--state", state, "purchase", "--pan", kPan,
                  "--amount", "1000", "--expiry", "3012", "--pin", "1234"},
                 out, err),
            0)
      << err;
  EXPECT_EQ(LastLine(out), "0210 39=00 approved auth=A1B2C3 rrn=633100000123 MAC ok");
  EXPECT_THAT(out, HasSubstr("'476173******0010'"));
  EXPECT_THAT(out, HasSubstr("****************"));  // the PIN block
  EXPECT_THAT(out, Not(HasSubstr(kPan)));
  EXPECT_EQ(Term({"--plain", "--port", port, "--state", state, "--json", "purchase", "--pan", kPan,
                  "--amount", "1000"},
                 out, err),
            0)
      << err;
  EXPECT_THAT(out, HasSubstr("\"response_code\":\"00\""));
  EXPECT_THAT(out, HasSubstr("\"mac\":\"ok\""));
  EXPECT_THAT(out, HasSubstr("\"pan\":\"476173******0010\""));
  EXPECT_THAT(out, Not(HasSubstr(kPan)));
  EXPECT_THAT(out, HasSubstr("\"ksn\":\"FFFF9876543210E00003\""));
  const auto parsed = boost::json::parse(out).as_object();
  EXPECT_EQ(parsed.at("request").as_object().at("2").as_string(), "476173******0010");
  EXPECT_EQ(parsed.at("request").as_object().at("0").as_string(), "0200");
  EXPECT_EQ(parsed.at("response").as_object().at("39").as_string(), "00");
  // A void of the first purchase by RRN, card and amount from the state.
  EXPECT_EQ(Term({"--plain", "--port", port, "--state", state, "void", "--rrn", "633100000123"},
                 out, err),
            0)
      << err;
  EXPECT_THAT(LastLine(out), HasSubstr("0210 39=00"));
  auto seen = fake.seen();
  ASSERT_EQ(seen.size(), 4U);
  EXPECT_EQ(seen[1].pin, "1234");
  EXPECT_EQ(seen[3].msg.Get(3), "020000");
  EXPECT_EQ(seen[3].msg.Get(4), "000000001000");
}

TEST_F(TerminalTest, TermCommandExitStatuses) {
  std::string out;
  std::string err;
  const std::string s = Path("s");
  EXPECT_EQ(Term({}, out, err), 2);
  EXPECT_EQ(Term({"purchase", "--plain", "--pan", kPan}, out, err), 2);  // no amount
  EXPECT_THAT(err, HasSubstr("purchase needs --amount"));
  EXPECT_EQ(Term({"--plain", "purchase", "--pan", "12ab", "--amount", "1"}, out, err), 2);
  EXPECT_EQ(Term({"signon", "--bogus"}, out, err), 2);
  EXPECT_EQ(Term({"signon", "--state", s}, out, err), 2);  // TLS without --ca
  EXPECT_THAT(err, HasSubstr("--ca data/tls/switch.crt"));
  EXPECT_EQ(Term({"signon", "--plain", "--insecure"}, out, err), 2);
  EXPECT_EQ(Term({"signon", "--plain", "--bdk", "00", "--state", s}, out, err), 2);
  EXPECT_THAT(err, HasSubstr("bdk"));
  EXPECT_EQ(Term({"void", "--plain", "--rrn", "1", "--pin", "1234"}, out, err), 2);
  EXPECT_THAT(err, HasSubstr("--pin is not an option of void"));
  EXPECT_EQ(Term({"signon", "--plain", "--scheme", "dukpt"}, out, err), 2);
  EXPECT_THAT(err, HasSubstr("--scheme: 'dukpt'"));
  EXPECT_EQ(Term({"signon", "--plain", "--scheme", "master-session"}, out, err), 2);
  EXPECT_THAT(err, HasSubstr("--tmk"));
  EXPECT_EQ(Term({"signon", "--plain", "--tmk", kTmk}, out, err), 2);
  EXPECT_EQ(Term({"signon", "--plain", "--framing", "nac2"}, out, err), 2);
  EXPECT_THAT(err, HasSubstr("--framing: 'nac2'"));
  EXPECT_EQ(Term({"signon", "--plain", "--framing", "ascii4", "--no-tpdu"}, out, err), 2);
  EXPECT_EQ(Term({"signon", "--plain", "--dialect", "iso99z", "--state", s}, out, err), 2);
  EXPECT_THAT(err, HasSubstr("dialect"));
  EXPECT_EQ(Term({"completion", "--plain", "--rrn", "1"}, out, err), 2);
  EXPECT_EQ(Term({"reversal", "--plain", "--stan", "12x"}, out, err), 2);
  EXPECT_EQ(Term({"signon", "echo", "--plain"}, out, err), 2);
  EXPECT_THAT(err, HasSubstr("one command only"));
  // Nothing to reverse in a fresh state: a usage error, nothing sent.
  EXPECT_EQ(Term({"--plain", "--state", s, "reversal"}, out, err), 2);
  EXPECT_THAT(err, HasSubstr("nothing to reverse"));
  // Nobody listening: a transport failure.
  std::uint16_t closed_port = 0;
  {
    asio::io_context io;
    Tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
    closed_port = a.local_endpoint().port();
  }
  const std::string port = std::to_string(closed_port);
  EXPECT_EQ(Term({"--plain", "--port", port, "--state", s, "signon"}, out, err), 1);
  EXPECT_THAT(err, HasSubstr("connect"));
}

// ---- batch close ----

std::string CloseCode(const Message& m) {
  if (m.mti() != "0500") {
    return "";
  }
  return m.Get(3) == "920000" ? "95" : "00";
}

TEST_F(TerminalTest, BatchCloseSendsTheTotalsAndStartsTheNextBatchOn00) {
  FakeSwitch fake;
  TerminalClient term(Plain(fake.port()));
  auto p1 = term.Purchase({.pan = kPan, .amount_minor = 1000});
  ASSERT_TRUE(p1) << p1.error().message;
  ASSERT_TRUE(term.Purchase({.pan = kPan2, .amount_minor = 2000}));
  ASSERT_TRUE(term.Refund({.rrn = std::string(p1->response.Get(37)), .amount_minor = 500}));
  auto preauth = term.PreAuth({.pan = kPan, .amount_minor = 3000});
  ASSERT_TRUE(preauth) << preauth.error().message;
  ASSERT_TRUE(term.PreAuth({.pan = kPan2, .amount_minor = 100}));  // stays open
  ASSERT_TRUE(
      term.Completion({.rrn = std::string(preauth->response.Get(37)), .amount_minor = 2500}));
  EXPECT_EQ(term.batch_number(), 1U);
  auto closed = term.BatchClose();
  ASSERT_TRUE(closed) << closed.error().message;
  EXPECT_TRUE(closed->closed);
  EXPECT_EQ(closed->closed_batch, "000001");
  ASSERT_EQ(closed->answers.size(), 1U);
  EXPECT_EQ(closed->answers[0].response.mti(), "0510");
  EXPECT_EQ(MacStatus(closed->answers[0]), "none");
  auto seen = fake.seen();
  ASSERT_EQ(seen.size(), 7U);
  const Message& m = seen[6].msg;
  EXPECT_EQ(m.mti(), "0500");
  EXPECT_EQ(Fields(m), (std::set<int>{3, 7, 11, 41, 42, 49, 60, 74, 76, 86, 88}));
  EXPECT_EQ(m.Get(3), "920000");
  EXPECT_EQ(m.Get(60), "000001");
  EXPECT_EQ(m.Get(49), "978");
  EXPECT_EQ(m.Get(74), "0000000001");  // the refund
  EXPECT_EQ(m.Get(76), "0000000003");  // two purchases and the completion
  EXPECT_EQ(m.Get(86), "0000000000000500");
  EXPECT_EQ(m.Get(88), "0000000000005500");
  EXPECT_EQ(term.batch_number(), 2U);
  // Only the open pre-authorization survives the close.
  ASSERT_EQ(term.items().size(), 1U);
  EXPECT_EQ(term.items()[0].mti, "0100");
  EXPECT_EQ(term.items()[0].amount_minor, 100);
  EXPECT_EQ(term.totals().debits_count, 0);
  EXPECT_EQ(TerminalClient(Plain(fake.port())).batch_number(), 2U);
}

TEST_F(TerminalTest, BatchCloseUploadsEveryItemAfterA95ThenClosesAgain) {
  FakeSwitch fake({.decide = CloseCode});
  TerminalClient term(Plain(fake.port()));
  auto p1 = term.Purchase({.pan = kPan, .amount_minor = 1000, .pin = "1234"});
  ASSERT_TRUE(p1) << p1.error().message;
  auto p2 = term.Purchase({.pan = kPan2, .amount_minor = 2000});
  ASSERT_TRUE(p2) << p2.error().message;
  ASSERT_TRUE(term.Void({.rrn = std::string(p2->response.Get(37))}));
  auto refund = term.Refund({.rrn = std::string(p1->response.Get(37)), .amount_minor = 300});
  ASSERT_TRUE(refund) << refund.error().message;
  const std::vector<BatchItem> batch = {term.items()[0], term.items()[2]};
  auto closed = term.BatchClose();
  ASSERT_TRUE(closed) << closed.error().message;
  EXPECT_TRUE(closed->closed);
  ASSERT_EQ(closed->answers.size(), 4U);
  EXPECT_EQ(closed->answers[0].response_code, "95");
  EXPECT_EQ(closed->answers[1].response.mti(), "0330");
  EXPECT_EQ(MacStatus(closed->answers[1]), "ok");
  EXPECT_EQ(closed->answers[3].response.mti(), "0510");
  EXPECT_EQ(closed->answers[3].response_code, "00");
  auto seen = fake.seen();
  ASSERT_EQ(seen.size(), 8U);
  EXPECT_EQ(seen[4].msg.Get(3), "920000");
  for (int n = 0; n < 2; ++n) {
    const Seen& up = seen[5 + n];
    const BatchItem& item = batch[static_cast<std::size_t>(n)];
    EXPECT_EQ(up.mti, "0320");
    EXPECT_EQ(Fields(up.msg), (std::set<int>{2, 3, 4, 7, 11, 37, 38, 41, 42, 49, 60, 62, 64}));
    EXPECT_EQ(up.msg.Get(2), item.pan);
    EXPECT_EQ(up.msg.Get(3), item.processing_code);
    EXPECT_EQ(up.msg.Get(37), item.rrn);
    EXPECT_EQ(up.msg.Get(38), item.auth_code);
    EXPECT_EQ(up.msg.Get(60), "0200" + item.stan);
    EXPECT_NE(up.msg.Get(11), item.stan);  // a new STAN of its own
    EXPECT_TRUE(up.mac_ok);
  }
  const Message& again = seen[7].msg;
  EXPECT_EQ(again.mti(), "0500");
  EXPECT_EQ(again.Get(3), "960000");
  EXPECT_EQ(again.Get(76), "0000000001");
  EXPECT_EQ(again.Get(88), "0000000000001000");
  EXPECT_EQ(again.Get(74), "0000000001");
  EXPECT_EQ(again.Get(86), "0000000000000300");
  EXPECT_TRUE(term.items().empty());
  EXPECT_EQ(term.batch_number(), 2U);
}

TEST_F(TerminalTest, AFailedUploadLeavesTheBatchOpenAndReportsTheExchangesBefore) {
  FakeSwitch fake({.decide = CloseCode, .mangle = [](Message& r) {
                     if (r.mti() == "0330") {
                       r.Set(11, "999999");
                     }
                   }});
  TerminalClient term(Plain(fake.port()));
  ASSERT_TRUE(term.Purchase({.pan = kPan, .amount_minor = 1000}));
  auto closed = term.BatchClose();
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().kind, TerminalError::Kind::kProtocol);
  ASSERT_EQ(closed.error().completed.size(), 1U);
  EXPECT_EQ(closed.error().completed[0].response_code, "95");
  EXPECT_EQ(term.batch_number(), 1U);
  EXPECT_EQ(term.totals().debits_count, 1);
}

TEST_F(TerminalTest, BatchNumber999999WrapsTo1) {
  FakeSwitch fake;
  {
    TerminalClient term(Plain(fake.port()));
    ASSERT_TRUE(term.Echo());
  }
  auto state = boost::json::parse(ReadFile("term.state")).as_object();
  state["batch"] = 999999;
  std::ofstream(Path("term.state")) << boost::json::serialize(state);
  TerminalClient term(Plain(fake.port()));
  EXPECT_EQ(term.batch_number(), 999999U);
  auto closed = term.BatchClose();
  ASSERT_TRUE(closed) << closed.error().message;
  EXPECT_EQ(closed->closed_batch, "999999");
  EXPECT_EQ(term.batch_number(), 1U);
  EXPECT_EQ(fake.seen().back().msg.Get(60), "999999");
}

TEST_F(TerminalTest, TermCommandBatchClosePrintsEveryExchange) {
  FakeSwitch fake({.decide = CloseCode});
  const std::string port = std::to_string(fake.port());
  const std::string state = Path("cli.state");
  std::string out;
  std::string err;
  ASSERT_EQ(Term({"--plain", "--port", port, "--state", state, "purchase", "--pan", kPan,
                  "--amount", "1000"},
                 out, err),
            0)
      << err;
  EXPECT_EQ(Term({"--plain", "--port", port, "--state", state, "batch-close"}, out, err), 0) << err;
  EXPECT_THAT(out, HasSubstr("0510 39=95 reconcile error MAC none\n"));
  EXPECT_THAT(out, HasSubstr("0330 39=00 approved MAC ok\n"));
  EXPECT_EQ(LastLine(out), "batch 000001 closed, now batch 2");
  EXPECT_THAT(out, Not(HasSubstr(kPan)));
  ASSERT_EQ(Term({"--plain", "--port", port, "--state", state, "--json", "batch-close"}, out, err),
            0)
      << err;
  const auto parsed = boost::json::parse(out).as_object();
  EXPECT_TRUE(parsed.at("closed").as_bool());
  EXPECT_EQ(parsed.at("batch").as_string(), "000002");
  EXPECT_EQ(parsed.at("exchanges").as_array().size(), 2U);  // 95, nothing to upload, 00
}

}  // namespace
}  // namespace sy::sim
