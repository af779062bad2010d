#pragma once

// The operations HTTP listener (plain HTTP, its own port): /metrics renders the prometheus-cpp
// registry with its text serializer; /healthz answers 200 while the process serves; /readyz
// answers 200 when the switch can authorize (listeners bound, at least one issuer link up) and 503
// otherwise. Metric names follow sy_<module>_<what>[_<unit>], counters end in _total, and label
// values come from fixed sets, never from card or terminal data.

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>

namespace sy::server {

class OpsHttp {
 public:
  // `refresh` runs before each /metrics render (it copies the components' statistics into the
  // registry); `ready` decides /readyz.
  OpsHttp(boost::asio::any_io_executor executor, std::shared_ptr<prometheus::Registry> registry,
          std::function<void()> refresh, std::function<bool()> ready);
  // Binds and serves; an error when the address cannot be bound.
  [[nodiscard]] boost::system::error_code Start(const std::string& address, std::uint16_t port);
  void Stop();
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

  // The text a GET of `target` answers, with its status (for tests without sockets).
  [[nodiscard]] std::pair<int, std::string> Respond(std::string_view target);

 private:
  boost::asio::any_io_executor executor_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::function<void()> refresh_;
  std::function<bool()> ready_;
  std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::uint16_t port_ = 0;
};

// Sets a counter to a running total read from elsewhere (counters only move forward).
void SyncCounter(prometheus::Counter& counter, double total);

}  // namespace sy::server
