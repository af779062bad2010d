#include "switch/http.h"

#include <prometheus/text_serializer.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <sstream>

namespace sy::server {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

}  // namespace

void SyncCounter(prometheus::Counter& counter, double total) {
  const double delta = total - counter.Value();
  if (delta > 0) {
    counter.Increment(delta);
  }
}

OpsHttp::OpsHttp(asio::any_io_executor executor, std::shared_ptr<prometheus::Registry> registry,
                 std::function<void()> refresh, std::function<bool()> ready)
    : executor_(std::move(executor)),
      registry_(std::move(registry)),
      refresh_(std::move(refresh)),
      ready_(std::move(ready)),
      acceptor_(std::make_shared<tcp::acceptor>(executor_)) {}

std::pair<int, std::string> OpsHttp::Respond(std::string_view target) {
  if (target == "/metrics") {
    if (refresh_) {
      refresh_();
    }
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, registry_->Collect());
    return {200, out.str()};
  }
  if (target == "/healthz") {
    return {200, "ok\n"};
  }
  if (target == "/readyz") {
    return ready_ && ready_() ? std::pair{200, std::string("ready\n")}
                              : std::pair{503, std::string("not ready\n")};
  }
  return {404, "not found\n"};
}

boost::system::error_code OpsHttp::Start(const std::string& address, std::uint16_t port) {
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(address, ec);
  if (ec) {
    return ec;
  }
  const tcp::endpoint endpoint(addr, port);
  if (acceptor_->open(endpoint.protocol(), ec); ec) {
    return ec;
  }
  acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
  if (acceptor_->bind(endpoint, ec); ec) {
    return ec;
  }
  if (acceptor_->listen(64, ec); ec) {
    return ec;
  }
  port_ = acceptor_->local_endpoint().port();
  asio::co_spawn(
      executor_,
      [this, acceptor = acceptor_]() -> asio::awaitable<void> {
        while (acceptor->is_open()) {
          auto [ec, socket] = co_await acceptor->async_accept(kTuple);
          if (ec) {
            if (!acceptor->is_open()) {
              co_return;
            }
            continue;
          }
          // One request per connection, answered and closed: scrapes are rare and small.
          boost::beast::flat_buffer buffer;
          http::request<http::string_body> req;
          auto [rec, n] = co_await http::async_read(socket, buffer, req, kTuple);
          (void)n;
          if (rec) {
            continue;
          }
          auto [status, body] = Respond(req.target());
          http::response<http::string_body> res{static_cast<http::status>(status), req.version()};
          res.set(http::field::content_type, status == 200 && req.target() == "/metrics"
                                                 ? "text/plain; version=0.0.4"
                                                 : "text/plain");
          res.keep_alive(false);
          res.body() = std::move(body);
          res.prepare_payload();
          auto [wec, written] = co_await http::async_write(socket, res, kTuple);
          (void)wec;
          (void)written;
          boost::system::error_code ignored;
          socket.shutdown(tcp::socket::shutdown_send, ignored);
        }
      },
      asio::detached);
  return {};
}

void OpsHttp::Stop() {
  asio::post(executor_, [acceptor = acceptor_] {
    boost::system::error_code ignored;
    acceptor->close(ignored);
  });
}

}  // namespace sy::server
