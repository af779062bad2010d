#pragma once

// The admin API's HTTPS listener (docs/admin.md): Boost.Beast over an asio::ssl::stream on its
// own port, feeding every request to AdminApi::Handle and answering its JSON. Connections are
// kept alive for up to 100 requests; a request body may be at most 1 MiB; a connection idle for
// 30 seconds is closed.
//
//   auto tls = MakeAdminTlsContext(config.admin());      // after ResolveAdminConfig
//   AdminHttp http(io.get_executor(), tls, api);
//   if (auto ec = http.Start("127.0.0.1", 9443); ec) { ... }
//   ...
//   http.Stop();

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "proto/config.pb.h"
#include "switch/admin/admin_api.h"

namespace sy::server::admin {

struct AdminHttpStats {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> tls_handshake_failures{0};
  std::atomic<std::uint64_t> session_errors{0};  // exceptions that ended a connection
};

// The server TLS context of the admin listener (TLS 1.2 and 1.3) from admin.certificate and
// admin.private_key; when they are the default switch certificate in the data directory and
// that does not exist yet, a self-signed one is made there first (as the terminal listeners do).
// Throws std::runtime_error naming the file at fault (start-up only).
[[nodiscard]] std::shared_ptr<boost::asio::ssl::context> MakeAdminTlsContext(
    const proto::AdminConfig& admin);

class AdminHttp {
 public:
  // `api` outlives the listener and every connection (stop the io_context, or Stop and let the
  // connections end, before destroying it).
  AdminHttp(boost::asio::any_io_executor executor, std::shared_ptr<boost::asio::ssl::context> tls,
            AdminApi& api);
  // Binds and serves; an error when the address cannot be bound. Port 0 picks a free port.
  [[nodiscard]] boost::system::error_code Start(const std::string& address, std::uint16_t port);
  // Stops accepting; open connections end at their next request or idle timeout. Thread-safe.
  void Stop();
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] const AdminHttpStats& stats() const noexcept { return *stats_; }

 private:
  boost::asio::any_io_executor executor_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  AdminApi& api_;
  std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::shared_ptr<AdminHttpStats> stats_ = std::make_shared<AdminHttpStats>();
  std::uint16_t port_ = 0;
};

}  // namespace sy::server::admin
