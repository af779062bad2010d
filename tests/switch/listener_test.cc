#include "switch/listener.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

#include "crypto/tls_identity.h"
#include "iso8583/codec.h"
#include "iso8583/json.h"

namespace sy::server {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// Answers MTI + 10 with 39 = 00 after waiting the number of milliseconds in field 11, so that
// requests on one connection complete out of order. Records the most requests seen at once.
class DelayingHandler final : public RequestHandler {
 public:
  asio::awaitable<Response> Handle(Request request) override {
    auto dialect = iso8583::LoadDialect("iso87b").value();
    iso8583::Message m;
    if (!iso8583::Unpack(*dialect, request.message, m)) {
      co_return Response{std::nullopt, true};
    }
    {
      std::lock_guard lock(mu_);
      peer_names_ = request.peer_names;
    }
    const int now = ++active_;
    max_active_ = std::max(max_active_.load(), now);
    asio::steady_timer t(co_await asio::this_coro::executor,
                         std::chrono::milliseconds(std::stoi(std::string(m.Get(11)))));
    co_await t.async_wait(asio::use_awaitable);
    --active_;
    std::string mti(m.mti());
    mti[2] = static_cast<char>(mti[2] + 1);
    m.SetMti(mti);
    m.Set(39, "00");
    std::string out;
    if (!iso8583::Pack(*dialect, m, out)) {
      co_return Response{};
    }
    co_return Response{out};
  }
  std::vector<std::string> peer_names() {
    std::lock_guard lock(mu_);
    return peer_names_;
  }
  std::atomic<int> active_{0};
  std::atomic<int> max_active_{0};
  std::mutex mu_;
  std::vector<std::string> peer_names_;  // of the last request
};

std::string Frame(std::string_view stan) {
  iso8583::Message m;
  m.SetMti("0800");
  m.Set(11, stan);
  m.Set(70, "301");
  std::string body;
  EXPECT_TRUE(iso8583::Pack(*iso8583::LoadDialect("iso87b").value(), m, body).has_value());
  std::string frame;
  const std::uint8_t tpdu[5] = {0x60, 0x00, 0x01, 0x00, 0x00};
  EXPECT_TRUE(
      iso8583::AppendFrame({}, tpdu,
                           {reinterpret_cast<const std::uint8_t*>(body.data()), body.size()}, frame)
          .has_value());
  return frame;
}

// Reads one nac frame; returns {tpdu hex, STAN} or throws on timeout/EOF.
template <class Stream>
std::pair<std::string, std::string> ReadAnswer(Stream& s) {
  std::uint8_t len[2];
  asio::read(s, asio::buffer(len));
  std::string body((len[0] << 8) | len[1], '\0');
  asio::read(s, asio::buffer(body));
  iso8583::Message m;
  auto d = iso8583::LoadDialect("iso87b").value();
  EXPECT_TRUE(iso8583::Unpack(*d, std::string_view(body).substr(5), m).has_value());
  EXPECT_EQ(m.mti(), "0810");
  EXPECT_EQ(m.Get(39), "00");
  return {iso8583::ToHex(body.substr(0, 5)), std::string(m.Get(11))};
}

void SetReceiveTimeout(tcp::socket& s) {
  timeval tv{5, 0};  // a hung test fails in 5 s instead of waiting for ctest's timeout
  setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

// Every test runs twice: sessions on strands of their own, and (one_thread) on the executor as
// it is.
class ListenerTest : public ::testing::TestWithParam<bool> {
 protected:
  void StartListener(ListenerOptions options) {
    options.port = 0;
    options.one_thread = GetParam();
    listener_ = std::make_unique<Listener>(io_.get_executor(), std::move(options), handler_);
    ASSERT_FALSE(listener_->Start());
    work_ = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
        io_.get_executor());
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    // Stop closes the acceptor and every session; once their coroutines end, io_.run() returns by
    // itself. (Stopping io_ instead would leave their frames to be destroyed after the reactor.)
    if (listener_) {
      listener_->Stop();
    }
    work_.reset();
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  tcp::socket Connect() {
    tcp::socket s(client_io_);
    s.connect({asio::ip::make_address("127.0.0.1"), listener_->port()});
    SetReceiveTimeout(s);
    return s;
  }
  template <class Pred>
  bool WaitFor(Pred pred) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) {
        return false;
      }
      std::this_thread::yield();
    }
    return true;
  }

  asio::io_context io_;
  asio::io_context client_io_;
  DelayingHandler handler_;
  std::unique_ptr<Listener> listener_;
  std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
};

TEST_P(ListenerTest, AnswersPipelinedRequestsOutOfOrderWithTheTpduSwapped) {
  StartListener({});
  auto s = Connect();
  asio::write(s, asio::buffer(Frame("000300") + Frame("000100") + Frame("000001")));
  std::vector<std::string> order;
  for (int i = 0; i < 3; ++i) {
    auto [tpdu, stan] = ReadAnswer(s);
    EXPECT_EQ(tpdu, "6000000001");
    order.push_back(stan);
  }
  // The slowest request was sent first and is answered last.
  EXPECT_EQ(order, (std::vector<std::string>{"000001", "000100", "000300"}));
  EXPECT_EQ(handler_.max_active_.load(), 3);
}

TEST_P(ListenerTest, PausesReadingAtTheInFlightCap) {
  ListenerOptions o;
  o.max_in_flight = 1;
  StartListener(o);
  auto s = Connect();
  asio::write(s, asio::buffer(Frame("000050") + Frame("000001") + Frame("000001")));
  for (int i = 0; i < 3; ++i) {
    (void)ReadAnswer(s);
  }
  EXPECT_EQ(handler_.max_active_.load(), 1);
}

TEST_P(ListenerTest, ClosesAConnectionThatSendsGarbageAndOnlyThatOne) {
  StartListener({});
  auto good = Connect();
  auto bad = Connect();
  const std::uint8_t oversized[] = {0xFF, 0xFF, 0x60, 0, 0, 0, 0};
  asio::write(bad, asio::buffer(oversized));
  std::uint8_t byte;
  boost::system::error_code ec;
  asio::read(bad, asio::buffer(&byte, 1), ec);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_TRUE(WaitFor([&] { return listener_->stats().framing_errors.load() == 1; }));
  asio::write(good, asio::buffer(Frame("000001")));
  EXPECT_EQ(ReadAnswer(good).second, "000001");
}

TEST_P(ListenerTest, ClosesIdleConnections) {
  ListenerOptions o;
  o.idle_timeout = std::chrono::milliseconds(100);
  StartListener(o);
  auto s = Connect();
  std::uint8_t byte;
  boost::system::error_code ec;
  asio::read(s, asio::buffer(&byte, 1), ec);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_EQ(listener_->stats().idle_closes.load(), 1U);
}

// Sessions that end leave the listener's table; Stop closes the ones still open, and only those.
TEST_P(ListenerTest, StopClosesTheSessionsStillOpen) {
  StartListener(ListenerOptions{});
  std::vector<tcp::socket> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(Connect());
  }
  EXPECT_TRUE(WaitFor([&] { return listener_->stats().connections_open.load() == 3; }));
  clients[0].close();
  clients[1].close();
  EXPECT_TRUE(WaitFor([&] { return listener_->stats().connections_open.load() == 1; }));
  asio::write(clients[2], asio::buffer(Frame("000007")));
  EXPECT_EQ(ReadAnswer(clients[2]).second, "000007");
  listener_->Stop();
  std::uint8_t byte;
  boost::system::error_code ec;
  asio::read(clients[2], asio::buffer(&byte, 1), ec);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_TRUE(WaitFor([&] { return listener_->stats().connections_open.load() == 0; }));
  EXPECT_EQ(listener_->stats().connections_accepted.load(), 3U);
}

TEST_P(ListenerTest, ServesTlsAndCountsFailedHandshakes) {
  std::random_device rd;
  const auto dir = std::filesystem::temp_directory_path() / ("sy-tls-" + std::to_string(rd()));
  std::filesystem::create_directories(dir);
  const std::string cert = (dir / "cert.pem").string();
  const std::string key = (dir / "key.pem").string();
  ASSERT_TRUE(crypto::WriteSelfSignedCertificate(cert, key, "switchyard-test", 1).has_value());
  EXPECT_EQ(std::filesystem::status(key).permissions() & std::filesystem::perms::group_read,
            std::filesystem::perms::none);
  ListenerOptions o;
  o.tls = MakeServerTlsContext(cert, key, "");
  StartListener(o);

  asio::ssl::context client_ctx(asio::ssl::context::tls_client);
  client_ctx.load_verify_file(cert);
  client_ctx.set_verify_mode(asio::ssl::verify_peer);
  asio::ssl::stream<tcp::socket> tls(Connect(), client_ctx);
  tls.handshake(asio::ssl::stream_base::client);
  asio::write(tls, asio::buffer(Frame("000001")));
  EXPECT_EQ(ReadAnswer(tls).second, "000001");

  auto plain = Connect();
  asio::write(plain, asio::buffer(Frame("000001")));  // not a TLS ClientHello
  EXPECT_TRUE(WaitFor([&] { return listener_->stats().tls_handshake_failures.load() == 1; }));
  std::filesystem::remove_all(dir);
}

// A peer that connects and never finishes the TLS handshake is closed at the handshake deadline
// and counted; the listener goes on serving.
TEST_P(ListenerTest, ClosesAConnectionWhoseHandshakeMissesItsDeadline) {
  std::random_device rd;
  const auto dir = std::filesystem::temp_directory_path() / ("sy-tlsdl-" + std::to_string(rd()));
  std::filesystem::create_directories(dir);
  const std::string cert = (dir / "cert.pem").string();
  ASSERT_TRUE(
      crypto::WriteSelfSignedCertificate(cert, (dir / "key.pem").string(), "switchyard-test", 1)
          .has_value());
  ListenerOptions o;
  o.tls = MakeServerTlsContext(cert, (dir / "key.pem").string(), "");
  o.handshake_timeout = std::chrono::milliseconds(200);
  o.idle_timeout = std::chrono::seconds(60);  // not the idle timer's doing
  StartListener(o);
  auto silent = Connect();
  const auto start = std::chrono::steady_clock::now();
  std::uint8_t byte;
  boost::system::error_code ec;
  asio::read(silent, asio::buffer(&byte, 1), ec);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_GE(waited, std::chrono::milliseconds(150));
  EXPECT_LT(waited, std::chrono::seconds(4));
  EXPECT_TRUE(WaitFor([&] { return listener_->stats().tls_handshake_failures.load() == 1; }));
  EXPECT_EQ(listener_->stats().idle_closes.load(), 0U);

  // A handshake that finishes in time is served, and its deadline does not close it later.
  asio::ssl::context client_ctx(asio::ssl::context::tls_client);
  client_ctx.load_verify_file(cert);
  client_ctx.set_verify_mode(asio::ssl::verify_peer);
  asio::ssl::stream<tcp::socket> tls(Connect(), client_ctx);
  tls.handshake(asio::ssl::stream_base::client);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  asio::write(tls, asio::buffer(Frame("000001")));
  EXPECT_EQ(ReadAnswer(tls).second, "000001");
  EXPECT_EQ(listener_->stats().tls_handshake_failures.load(), 1U);
  std::filesystem::remove_all(dir);
}

TEST_P(ListenerTest, MutualTlsHandsTheClientCertificatesCnAndDnsNamesToTheHandler) {
  std::random_device rd;
  const auto dir = std::filesystem::temp_directory_path() / ("sy-mtls-" + std::to_string(rd()));
  std::filesystem::create_directories(dir);
  const std::string cert = (dir / "server.pem").string();
  const std::string key = (dir / "server.key").string();
  const std::string client_cert = (dir / "term.pem").string();
  const std::string client_key = (dir / "term.key").string();
  ASSERT_TRUE(crypto::WriteSelfSignedCertificate(cert, key, "switchyard-test", 1).has_value());
  // A terminal certificate whose CN is its serial and whose SAN names its TID.
  ASSERT_TRUE(
      crypto::WriteSelfSignedCertificate(client_cert, client_key, "DEMO-0001", 1, {"TERM0001"})
          .has_value());
  ListenerOptions o;
  o.tls = MakeServerTlsContext(cert, key, client_cert);
  StartListener(o);

  asio::ssl::context client_ctx(asio::ssl::context::tls_client);
  client_ctx.load_verify_file(cert);
  client_ctx.set_verify_mode(asio::ssl::verify_peer);
  client_ctx.use_certificate_file(client_cert, asio::ssl::context::pem);
  client_ctx.use_private_key_file(client_key, asio::ssl::context::pem);
  asio::ssl::stream<tcp::socket> tls(Connect(), client_ctx);
  tls.handshake(asio::ssl::stream_base::client);
  asio::write(tls, asio::buffer(Frame("000001")));
  EXPECT_EQ(ReadAnswer(tls).second, "000001");
  const auto names = handler_.peer_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "DEMO-0001"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "TERM0001"), names.end());

  // Without a client certificate the handshake fails.
  asio::ssl::context anonymous(asio::ssl::context::tls_client);
  anonymous.load_verify_file(cert);
  asio::ssl::stream<tcp::socket> bare(Connect(), anonymous);
  boost::system::error_code ec;
  bare.handshake(asio::ssl::stream_base::client, ec);
  if (!ec) {
    // TLS 1.3: the server's refusal arrives with the first read.
    asio::write(bare, asio::buffer(Frame("000002")), ec);
    std::uint8_t byte = 0;
    asio::read(bare, asio::buffer(&byte, 1), ec);
  }
  EXPECT_TRUE(ec);
  std::filesystem::remove_all(dir);
}

TEST(TlsContextTest, NamesTheMissingFile) {
  try {
    (void)MakeServerTlsContext("/nonexistent/cert.pem", "/nonexistent/key.pem", "");
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/cert.pem"), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(Executors, ListenerTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "OneThread" : "Strands";
                         });

}  // namespace
}  // namespace sy::server
