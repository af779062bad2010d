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
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "crypto/dukpt_tdes.h"
#include "crypto/hex.h"
#include "crypto/mac.h"
#include "crypto/pin_block.h"
#include "crypto/tls_identity.h"
#include "iso8583/codec.h"
#include "iso8583/framing.h"
#include "iso8583/mac_slot.h"

namespace sy::sim {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using iso8583::Message;
using Tcp = asio::ip::tcp;

// ANSI X9.24-1 test BDK and the demo terminal's initial KSN (TEST keys only).
constexpr const char* kBdk = "0123456789ABCDEFFEDCBA9876543210";
constexpr const char* kInitialKsn = "FFFF9876543210E00000";
constexpr const char* kPan = "4761739001010010";

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

crypto::SecretBytes Key(std::string_view ksn_hex, crypto::TdesDukptVariant variant) {
  auto bdk = crypto::SecretFromHex(kBdk).value();
  auto ksn = crypto::FromHex(ksn_hex).value();
  return crypto::DeriveTdesWorkingKey(bdk, ksn, variant).value();
}

std::shared_ptr<const iso8583::Dialect> Iso87b() { return iso8583::LoadDialect("iso87b").value(); }

// What the fake switch saw of one request, checked on its own thread as it arrived.
struct Seen {
  std::string tpdu_hex;
  std::string mti;
  std::string ksn;
  std::string stan;
  bool mac_ok = false;
  std::string pin;  // the deciphered PIN, when field 52 was sent
  std::string entry_mode;
};

// A switch stand-in on 127.0.0.1 port 0: one request per connection, answered (unless told to
// stay silent) with the swapped TPDU and a MAC under the MAC-response variant of the request's KSN.
struct Behaviour {
  bool corrupt_mac = false;
  bool silent = false;
  std::string response_code = "00";
};

class FakeSwitch {
 public:
  explicit FakeSwitch(std::shared_ptr<ssl::context> tls = nullptr, Behaviour b = {})
      : tls_(std::move(tls)), behaviour_(std::move(b)), acceptor_(io_) {
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
    if (tls_) {
      stream.emplace(*socket, *tls_);
      co_await stream->async_handshake(ssl::stream_base::server, token);
      if (ec) {
        co_return;
      }
    }
    iso8583::FrameReader reader;
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
    if (behaviour_.silent) {
      // Keep the connection open and say nothing: the terminal's deadline must end the wait.
      std::array<char, 16> sink{};
      (void)co_await socket->async_read_some(asio::buffer(sink), token);
      co_return;
    }
    std::string frame;
    const auto reply_tpdu = iso8583::Tpdu::FromBytes(Bytes(tpdu)).value().SwapForReply();
    if (!iso8583::AppendFrame({}, reply_tpdu.bytes(), Bytes(reply), frame)) {
      co_return;
    }
    if (stream) {
      co_await asio::async_write(*stream, asio::buffer(frame), token);
    } else {
      co_await asio::async_write(*socket, asio::buffer(frame), token);
    }
  }

  // Checks the request as the switch would, records it, and builds the packed answer.
  std::string Answer(std::string_view tpdu, const std::string& wire) {
    auto dialect = Iso87b();
    Message m;
    Seen seen;
    seen.tpdu_hex = crypto::ToHex(Bytes(tpdu));
    if (!iso8583::Unpack(*dialect, wire, m)) {
      return {};
    }
    seen.mti = std::string(m.mti());
    seen.ksn = std::string(m.Get(62));
    seen.stan = std::string(m.Get(11));
    seen.entry_mode = std::string(m.Get(22));
    auto input = iso8583::MacInput(*dialect, m, wire);
    seen.mac_ok =
        input && crypto::VerifyRetailMac(Key(seen.ksn, crypto::TdesDukptVariant::kMacRequest),
                                         Bytes(*input), Bytes(m.Get(iso8583::MacField(m))))
                     .has_value();
    if (m.Has(52)) {
      auto pin = crypto::DecipherPinBlock(crypto::PinBlockFormat::kIso0,
                                          Key(seen.ksn, crypto::TdesDukptVariant::kPin),
                                          Bytes(m.Get(52)), m.Get(2));
      seen.pin = pin ? std::string(pin->as_chars()) : "undecipherable";
    }
    {
      std::lock_guard lock(mu_);
      seen_.push_back(seen);
    }
    Message r;
    std::string mti(m.mti());
    mti[2] = static_cast<char>(mti[2] + 1);
    r.SetMti(mti);
    for (int n : {3, 4, 7, 11, 41, 42, 49, 70}) {
      if (m.Has(n)) {
        r.Set(n, m.Get(n));
      }
    }
    if (mti == "0210") {
      r.Set(37, "633100000123");
      r.Set(38, "A1B2C3");
    }
    r.Set(39, behaviour_.response_code);
    const auto key = Key(seen.ksn, crypto::TdesDukptVariant::kMacResponse);
    const iso8583::MacFunction mac = [&](std::span<const std::uint8_t> data,
                                         std::array<std::uint8_t, 8>& out) {
      out = crypto::RetailMac(key, data, crypto::MacPadding::kMethod1).value();
      if (behaviour_.corrupt_mac) {
        out[0] ^= 0x01;
      }
      return true;
    };
    std::string out;
    if (!iso8583::PackWithMac(*dialect, r, mac, out)) {
      return {};
    }
    return out;
  }

  std::shared_ptr<ssl::context> tls_;
  Behaviour behaviour_;
  asio::io_context io_;
  Tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Seen> seen_;
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

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  std::filesystem::path dir_;
};

std::shared_ptr<ssl::context> ServerTls(const std::string& cert, const std::string& key) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->use_certificate_chain_file(cert);
  ctx->use_private_key_file(key, ssl::context::pem);
  return ctx;
}

TEST_F(TerminalTest, SignOnSendsTheTpduAndAMacUnderTheRequestVariant) {
  FakeSwitch fake;
  TerminalClient term(Plain(fake.port()));
  auto answer = term.SignOn();
  ASSERT_TRUE(answer) << answer.error().message;
  EXPECT_EQ(answer->response_code, "00");
  EXPECT_EQ(answer->response.mti(), "0810");
  EXPECT_TRUE(answer->mac_present);
  EXPECT_TRUE(answer->mac_ok);
  auto seen = fake.seen();
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].tpdu_hex, "6000010000");
  EXPECT_EQ(seen[0].mti, "0800");
  EXPECT_EQ(seen[0].ksn, "FFFF9876543210E00001");
  EXPECT_EQ(answer->ksn_hex, "FFFF9876543210E00001");
  EXPECT_TRUE(seen[0].mac_ok);
}

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

  auto no_pin = term.Purchase({.pan = kPan, .amount_minor = 500});
  ASSERT_TRUE(no_pin) << no_pin.error().message;
  seen = fake.seen();
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[1].pin, "");
  EXPECT_EQ(seen[1].entry_mode, "012");
  EXPECT_TRUE(seen[1].mac_ok);
}

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
  auto answer = again.SignOn();
  ASSERT_TRUE(answer) << answer.error().message;
  auto seen = fake.seen();
  ASSERT_EQ(seen.size(), 3U);
  EXPECT_EQ(seen[0].ksn, "FFFF9876543210E00001");
  EXPECT_EQ(seen[1].ksn, "FFFF9876543210E00002");
  EXPECT_EQ(seen[2].ksn, "FFFF9876543210E00003");
  EXPECT_NE(seen[0].stan, seen[1].stan);
  for (const Seen& s : seen) {
    EXPECT_TRUE(s.mac_ok) << s.ksn;
  }
  std::ifstream state(Path("term.state"));
  std::stringstream text;
  text << state.rdbuf();
  EXPECT_EQ(text.str(), "FFFF9876543210E00000 3\n");
}

TEST_F(TerminalTest, CorruptedResponseMacIsReportedBad) {
  FakeSwitch fake(nullptr, {.corrupt_mac = true, .response_code = "05"});
  TerminalClient term(Plain(fake.port()));
  auto answer = term.Purchase({.pan = kPan, .amount_minor = 100});
  ASSERT_TRUE(answer) << answer.error().message;
  EXPECT_EQ(answer->response_code, "05");
  EXPECT_TRUE(answer->mac_present);
  EXPECT_FALSE(answer->mac_ok);
}

TEST_F(TerminalTest, SilentSwitchEndsInATimeoutNotAHang) {
  FakeSwitch fake(nullptr, {.silent = true});
  auto options = Plain(fake.port());
  options.timeout = std::chrono::milliseconds(300);
  TerminalClient term(options);
  auto answer = term.SignOn();
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().kind, TerminalError::Kind::kTransport);
  EXPECT_THAT(answer.error().message, ::testing::HasSubstr("no answer within 300 ms"));
}

TEST_F(TerminalTest, TlsVerifiesTheSwitchAgainstTheCa) {
  ASSERT_TRUE(
      crypto::WriteSelfSignedCertificate(Path("switch.crt"), Path("switch.key"), "switchyard", 1));
  ASSERT_TRUE(crypto::WriteSelfSignedCertificate(Path("other.crt"), Path("other.key"), "other", 1));
  FakeSwitch fake(ServerTls(Path("switch.crt"), Path("switch.key")));
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
    EXPECT_THAT(answer.error().message, ::testing::HasSubstr("TLS handshake"));
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

TEST(KsnStateTest, ParsesOnlyTheSameTerminalsState) {
  EXPECT_EQ(ParseKsnState("FFFF9876543210E00000 17\n", kInitialKsn), 17U);
  EXPECT_EQ(ParseKsnState("ffff9876543210e00000 17", kInitialKsn), 17U);
  EXPECT_EQ(ParseKsnState("FFFF9876543210E10000 17\n", kInitialKsn), std::nullopt);
  EXPECT_EQ(ParseKsnState("garbage", kInitialKsn), std::nullopt);
  EXPECT_EQ(ParseKsnState("FFFF9876543210E00000 99999999", kInitialKsn), std::nullopt);
}

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

TEST_F(TerminalTest, TermCommandPrintsOneLineOrJsonAndMasksThePan) {
  FakeSwitch fake;
  const std::string port = std::to_string(fake.port());
  const std::string state = Path("cli.state");
  std::string out;
  std::string err;
  EXPECT_EQ(Term({"--plain", "--port", port, "--state", state, "signon"}, out, err), 0) << err;
  EXPECT_EQ(out, "0810 39=00 approved MAC ok\n");
  EXPECT_EQ(Term({"--plain", "--port", port, "--state", state, "purchase", "--pan", kPan,
                  "--amount", "1000", "--expiry", "3012", "--pin", "1234"},
                 out, err),
            0)
      << err;
  EXPECT_EQ(out, "0210 39=00 approved auth=A1B2C3 rrn=633100000123 MAC ok\n");
  EXPECT_EQ(Term({"--plain", "--port", port, "--state", state, "--json", "purchase", "--pan", kPan,
                  "--amount", "1000"},
                 out, err),
            0)
      << err;
  EXPECT_THAT(out, ::testing::HasSubstr("\"response_code\":\"00\""));
  EXPECT_THAT(out, ::testing::HasSubstr("\"mac\":\"ok\""));
  EXPECT_THAT(out, ::testing::HasSubstr("\"pan\":\"476173******0010\""));
  EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr(kPan)));
  EXPECT_THAT(out, ::testing::HasSubstr("\"ksn\":\"FFFF9876543210E00003\""));
  auto seen = fake.seen();
  ASSERT_EQ(seen.size(), 3U);
  EXPECT_EQ(seen[1].pin, "1234");
}

TEST_F(TerminalTest, TermCommandExitStatuses) {
  std::string out;
  std::string err;
  EXPECT_EQ(Term({}, out, err), 2);
  EXPECT_EQ(Term({"purchase", "--plain", "--pan", kPan}, out, err), 2);  // no amount
  EXPECT_EQ(Term({"--plain", "purchase", "--pan", "12ab", "--amount", "1"}, out, err), 2);
  EXPECT_EQ(Term({"signon", "--bogus"}, out, err), 2);
  EXPECT_EQ(Term({"signon", "--state", Path("s")}, out, err), 2);  // TLS without --ca
  EXPECT_THAT(err, ::testing::HasSubstr("--ca data/tls/switch.crt"));
  EXPECT_EQ(Term({"signon", "--plain", "--insecure"}, out, err), 2);
  EXPECT_EQ(Term({"signon", "--plain", "--bdk", "00", "--state", Path("s")}, out, err), 2);
  // Nobody listening: a transport failure.
  std::uint16_t closed_port = 0;
  {
    asio::io_context io;
    Tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
    closed_port = a.local_endpoint().port();
  }
  const std::string port = std::to_string(closed_port);
  EXPECT_EQ(Term({"--plain", "--port", port, "--state", Path("s"), "signon"}, out, err), 1);
  EXPECT_THAT(err, ::testing::HasSubstr("connect"));
}

}  // namespace
}  // namespace sy::sim
