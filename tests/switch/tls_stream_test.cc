#include "switch/tls_stream.h"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <future>
#include <random>
#include <thread>

#include "crypto/tls_identity.h"
#include "switch/listener.h"

namespace sy::server {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// A server certificate in a directory of its own, and the switch's server TLS context for it.
class TlsStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / ("sy-tlsstream-" + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
    cert_ = (dir_ / "cert.pem").string();
    const std::string key = (dir_ / "key.pem").string();
    ASSERT_TRUE(crypto::WriteSelfSignedCertificate(cert_, key, "switchyard-test", 1).has_value());
    server_ctx_ = MakeServerTlsContext(cert_, key, "");
    acceptor_.open(tcp::v4());
    acceptor_.bind({asio::ip::address_v4::loopback(), 0});
    acceptor_.listen();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A verifying client connected to the acceptor (not yet handshaken).
  asio::ssl::stream<tcp::socket> Client() {
    client_ctx_.load_verify_file(cert_);
    client_ctx_.set_verify_mode(asio::ssl::verify_peer);
    asio::ssl::stream<tcp::socket> c(client_io_, client_ctx_);
    c.next_layer().connect(acceptor_.local_endpoint());
    return c;
  }

  // Runs `server` (given the accepted TlsStream) on the server's io_context until it finishes.
  template <class F>
  std::future<void> Serve(F server) {
    auto done = std::make_shared<std::promise<void>>();
    auto result = done->get_future();
    asio::co_spawn(
        io_,
        [this, server]() -> asio::awaitable<void> {
          auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
          EXPECT_FALSE(ec) << ec.message();
          TlsStream tls(std::move(socket), *server_ctx_);
          co_await server(tls);
        },
        [done](std::exception_ptr e) {
          if (e) {
            done->set_exception(e);
          } else {
            done->set_value();
          }
        });
    runner_ = std::thread([this] { io_.run(); });
    return result;
  }

  void Join() {
    if (runner_.joinable()) {
      runner_.join();
    }
  }

  std::filesystem::path dir_;
  std::string cert_;
  std::shared_ptr<asio::ssl::context> server_ctx_;
  asio::io_context io_;
  asio::io_context client_io_;
  asio::ssl::context client_ctx_{asio::ssl::context::tls_client};
  tcp::acceptor acceptor_{io_};
  std::thread runner_;
};

// The server echoes what it reads until the client closes; sizes from one byte to many records.
TEST_F(TlsStreamTest, EchoesOneByteToManyRecordsAndHoldsNothingWhenIdle) {
  std::size_t echoed = 0;
  std::size_t held_after_each = 0;
  int idle_checks = 0;
  boost::system::error_code last;
  auto served = Serve([&](TlsStream& tls) -> asio::awaitable<void> {
    auto ec = co_await tls.Handshake();
    EXPECT_FALSE(ec) << ec.message();
    std::vector<char> area(4096);
    while (true) {
      auto [rec, n] = co_await tls.ReadSome(asio::buffer(area));
      if (rec) {
        last = rec;
        break;
      }
      auto wec = co_await tls.Write(asio::buffer(area.data(), n));
      EXPECT_FALSE(wec) << wec.message();
      echoed += n;
      // At the end of each message the client sent, everything was read and sent back: nothing
      // may stay buffered while the connection waits (mid-message, later records may).
      if (echoed == 1 || echoed == 1001 || echoed == 17385 || echoed == 117385) {
        held_after_each = std::max(held_after_each, tls.buffered_bytes());
        ++idle_checks;
      }
    }
  });
  auto client = Client();
  client.handshake(asio::ssl::stream_base::client);
  std::mt19937 rng(7);
  for (std::size_t size :
       {std::size_t{1}, std::size_t{1000}, std::size_t{16384}, std::size_t{100000}}) {
    std::string sent(size, '\0');
    for (char& c : sent) {
      c = static_cast<char>(rng());
    }
    asio::write(client, asio::buffer(sent));
    std::string got(size, '\0');
    asio::read(client, asio::buffer(got));
    EXPECT_EQ(got, sent) << size << " bytes";
  }
  boost::system::error_code ignored;
  client.shutdown(ignored);  // close_notify; the server closes without answering it
  client.next_layer().close();
  served.get();
  Join();
  EXPECT_EQ(echoed, 1U + 1000U + 16384U + 100000U);
  EXPECT_EQ(idle_checks, 4);
  EXPECT_EQ(held_after_each, 0U) << "an idle connection kept ciphertext buffered";
  EXPECT_EQ(last, asio::error::eof);
}

// TLS 1.3 session tickets, made as the handshake ends, leave with the first answer: one send per
// connection fewer. The client still gets a resumable session from them.
TEST_F(TlsStreamTest, SessionTicketsLeaveWithTheFirstAnswer) {
  std::size_t held_after_handshake = 0;
  std::size_t held_after_answer = 1;
  auto served = Serve([&](TlsStream& tls) -> asio::awaitable<void> {
    auto ec = co_await tls.Handshake();
    EXPECT_FALSE(ec) << ec.message();
    held_after_handshake = tls.buffered_bytes();
    std::array<char, 16> area{};
    auto [rec, n] = co_await tls.ReadSome(asio::buffer(area));
    EXPECT_FALSE(rec) << rec.message();
    EXPECT_FALSE(co_await tls.Write(asio::buffer(area.data(), n)));
    held_after_answer = tls.buffered_bytes();
    auto [eof, ignored] = co_await tls.ReadSome(asio::buffer(area));
    EXPECT_EQ(eof, asio::error::eof);
  });
  auto client = Client();
  client.handshake(asio::ssl::stream_base::client);
  EXPECT_STREQ(SSL_get_version(client.native_handle()), "TLSv1.3");
  asio::write(client, asio::buffer(std::string_view("ping")));
  std::string got(4, '\0');
  asio::read(client, asio::buffer(got));
  EXPECT_EQ(got, "ping");
  SSL_SESSION* session = SSL_get1_session(client.native_handle());
  ASSERT_NE(session, nullptr);
  EXPECT_EQ(SSL_SESSION_is_resumable(session), 1) << "no ticket arrived with the answer";
  SSL_SESSION_free(session);
  client.next_layer().close();
  served.get();
  Join();
  EXPECT_GT(held_after_handshake, 0U) << "the tickets went out on their own";
  EXPECT_EQ(held_after_answer, 0U);
}

TEST_F(TlsStreamTest, APeerThatClosesWithoutCloseNotifyReadsAsEof) {
  boost::system::error_code last;
  auto served = Serve([&](TlsStream& tls) -> asio::awaitable<void> {
    EXPECT_FALSE(co_await tls.Handshake());
    char byte = 0;
    auto [ec, n] = co_await tls.ReadSome(asio::buffer(&byte, 1));
    last = ec;
  });
  auto client = Client();
  client.handshake(asio::ssl::stream_base::client);
  client.next_layer().close();
  served.get();
  Join();
  // A reset when the close found the server's session tickets unread in the client's buffer.
  EXPECT_TRUE(last == asio::error::eof || last == asio::error::connection_reset) << last.message();
}

TEST_F(TlsStreamTest, PlainBytesFailTheHandshakeWithOpenSslsReason) {
  boost::system::error_code handshake;
  auto served =
      Serve([&](TlsStream& tls) -> asio::awaitable<void> { handshake = co_await tls.Handshake(); });
  tcp::socket plain(client_io_);
  plain.connect(acceptor_.local_endpoint());
  const std::string not_tls = "0200 this is not a ClientHello, it is a plain ISO 8583 frame";
  asio::write(plain, asio::buffer(not_tls));
  served.get();
  Join();
  ASSERT_TRUE(handshake);
  EXPECT_EQ(handshake.category(), asio::error::get_ssl_category()) << handshake.message();
}

// The session's reader waits in ReadSome while its writer sends: both on one strand.
TEST_F(TlsStreamTest, WritesWhileAReadIsPending) {
  std::string received;
  auto served = Serve([&](TlsStream& tls) -> asio::awaitable<void> {
    EXPECT_FALSE(co_await tls.Handshake());
    auto ex = co_await asio::this_coro::executor;
    asio::co_spawn(
        ex,
        [&tls]() -> asio::awaitable<void> {
          asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(20));
          co_await t.async_wait(asio::use_awaitable);
          EXPECT_FALSE(co_await tls.Write(asio::buffer(std::string_view("ping"))));
        },
        asio::detached);
    char area[16];
    auto [ec, n] = co_await tls.ReadSome(asio::buffer(area));  // pending while "ping" is sent
    EXPECT_FALSE(ec) << ec.message();
    received.assign(area, n);
  });
  auto client = Client();
  client.handshake(asio::ssl::stream_base::client);
  char ping[4];
  asio::read(client, asio::buffer(ping));  // arrives although the server is blocked reading
  EXPECT_EQ(std::string_view(ping, 4), "ping");
  asio::write(client, asio::buffer(std::string_view("pong")));
  served.get();
  Join();
  EXPECT_EQ(received, "pong");
}

// A client that connects and says nothing: the listener's deadline cancels the handshake.
TEST_F(TlsStreamTest, AHandshakeStopsWhenCancelled) {
  bool timed_out = false;
  auto served = Serve([&](TlsStream& tls) -> asio::awaitable<void> {
    asio::steady_timer deadline(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
    auto result = co_await (tls.Handshake() || deadline.async_wait(kTuple));
    timed_out = result.index() == 1;
  });
  tcp::socket silent(client_io_);
  silent.connect(acceptor_.local_endpoint());
  const auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(served.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  served.get();
  Join();
  EXPECT_TRUE(timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

}  // namespace
}  // namespace sy::server
