#include "switch/http.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <thread>

namespace sy::server {
namespace {

namespace asio = boost::asio;

TEST(OpsHttpTest, RendersTheRegistryAndAnswersHealthAndReadiness) {
  asio::io_context io;
  auto registry = std::make_shared<prometheus::Registry>();
  auto& requests = prometheus::BuildCounter()
                       .Name("sy_switch_requests_total")
                       .Help("Requests from terminals")
                       .Register(*registry)
                       .Add({});
  double source = 0;
  bool ready = false;
  OpsHttp http(
      io.get_executor(), registry, [&] { SyncCounter(requests, source); }, [&] { return ready; });
  source = 42;
  auto [status, body] = http.Respond("/metrics");
  EXPECT_EQ(status, 200);
  EXPECT_NE(body.find("sy_switch_requests_total 42"), std::string::npos) << body;
  source = 40;  // a total never goes back
  EXPECT_NE(http.Respond("/metrics").second.find("sy_switch_requests_total 42"), std::string::npos);
  EXPECT_EQ(http.Respond("/healthz").first, 200);
  EXPECT_EQ(http.Respond("/readyz").first, 503);
  ready = true;
  EXPECT_EQ(http.Respond("/readyz").first, 200);
  EXPECT_EQ(http.Respond("/secrets").first, 404);
}

TEST(OpsHttpTest, ServesOverHttpOnLoopback) {
  asio::io_context io;
  auto registry = std::make_shared<prometheus::Registry>();
  OpsHttp http(io.get_executor(), registry, nullptr, [] { return true; });
  ASSERT_FALSE(http.Start("127.0.0.1", 0));
  std::thread t([&] { io.run(); });
  asio::io_context client_io;
  asio::ip::tcp::socket s(client_io);
  s.connect({asio::ip::make_address("127.0.0.1"), http.port()});
  const std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  asio::write(s, asio::buffer(req));
  std::string reply;
  boost::system::error_code ec;
  asio::read(s, asio::dynamic_buffer(reply), ec);  // until the server closes
  EXPECT_NE(reply.find("200 OK"), std::string::npos) << reply;
  EXPECT_NE(reply.find("ok"), std::string::npos);
  // Stop closes the acceptor; the accept loop then ends and io.run() returns on its own (stopping
  // the io_context instead would leave the loop's frame, and its acceptor, to be destroyed after
  // the reactor).
  http.Stop();
  t.join();
}

}  // namespace
}  // namespace sy::server
