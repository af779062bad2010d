#pragma once

// Terminal listeners and their sessions: TCP with TLS 1.2/1.3 (or plain TCP when configured
// explicitly), framing per listener, pipelining with a cap on requests in flight per connection,
// an idle timeout, and a maximum frame size. A connection that sends what cannot be framed is
// closed; no other connection notices. The transaction logic is behind RequestHandler.
//
//   Listener listener(io.get_executor(), options, handler);
//   if (auto ec = listener.Start(); ec) { ... }          // binds; port 0 picks a free port
//   std::uint16_t port = listener.port();

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "iso8583/dialect.h"
#include "iso8583/framing.h"

namespace sy::server {

// One framed request as the pipeline sees it.
struct Request {
  std::string message;  // the ISO 8583 message, without length or TPDU (owned)
  std::string frame;    // the whole frame after the length: TPDU + message (for
                        // exact-retransmission checks)
  std::optional<iso8583::Tpdu> tpdu;
  // Mutual TLS: the client certificate's CN and DNS subject alternative names; else empty.
  std::vector<std::string> peer_names;
  // The listener's dialect; null: the pipeline's default.
  std::shared_ptr<const iso8583::Dialect> dialect;
  std::uint64_t connection_id = 0;
};

// What the pipeline answers to one request.
struct Response {
  // The packed response message (no length, no TPDU: the session frames it and swaps the TPDU),
  // or std::nullopt to answer nothing.
  std::optional<std::string> message;
  // Close the connection after writing the message (a request that cannot be parsed far enough
  // to answer). Default: false.
  bool close_connection = false;
};

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // Must not throw.
  virtual boost::asio::awaitable<Response> Handle(Request request) = 0;
};

struct ListenerOptions {
  std::string name = "terminals";
  std::string address = "127.0.0.1";
  std::uint16_t port = 8583;                       // 0: any free port (tests)
  iso8583::FramingOptions framing;                 // Default: nac with TPDU, 4096 bytes
  std::shared_ptr<boost::asio::ssl::context> tls;  // null: plain TCP
  std::chrono::milliseconds idle_timeout{300000};  // Default: 5 minutes
  std::chrono::milliseconds handshake_timeout{10000};
  std::size_t max_in_flight = 16;  // per connection; reading pauses at the cap
  int backlog = 1024;              // bursts of connections at opening time
  // The listener's dialect, handed to the handler with each request. Default: the handler's.
  std::shared_ptr<const iso8583::Dialect> dialect;
  // The executor runs on one thread: sessions use it as it is, without a strand each (whose
  // queue every completion would pass through). Default: false.
  bool one_thread = false;
};

struct ListenerStats {
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> connections_open{0};
  std::atomic<std::uint64_t> tls_handshake_failures{0};
  std::atomic<std::uint64_t> framing_errors{0};  // connections closed for garbage
  std::atomic<std::uint64_t> idle_closes{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> handler_failures{0};  // handlers that threw (a bug)
};

class Listener {
 public:
  Listener(boost::asio::any_io_executor executor, ListenerOptions options, RequestHandler& handler);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds and starts accepting. An error when the address cannot be bound.
  [[nodiscard]] boost::system::error_code Start();
  // Stops accepting and closes every connection.
  void Stop();
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] const ListenerStats& stats() const noexcept { return *stats_; }

 private:
  struct Shared;
  boost::asio::any_io_executor executor_;
  ListenerOptions options_;
  RequestHandler& handler_;
  std::shared_ptr<ListenerStats> stats_;
  std::shared_ptr<Shared> shared_;
  std::uint16_t port_ = 0;
};

// A TLS server context for terminals: TLS 1.2 and 1.3 only, the certificate chain and key from
// PEM files, OpenSSL's buffers released on idle connections. With client_ca set, a client
// certificate signed by that CA is required. Throws std::runtime_error naming the file at fault
// (start-up only).
std::shared_ptr<boost::asio::ssl::context> MakeServerTlsContext(const std::string& certificate,
                                                                const std::string& private_key,
                                                                const std::string& client_ca);

}  // namespace sy::server
