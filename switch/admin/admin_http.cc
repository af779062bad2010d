#include "switch/admin/admin_http.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <filesystem>
#include <stdexcept>

#include "crypto/tls_identity.h"
#include "switch/listener.h"
#include "switch/log.h"

namespace sy::server::admin {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr auto kIdle = std::chrono::seconds(30);
constexpr std::size_t kMaxBody = 1 << 20;
constexpr int kMaxRequestsPerConnection = 100;

using Stream = asio::ssl::stream<beast::tcp_stream>;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

asio::awaitable<void> Serve(tcp::socket socket, std::shared_ptr<asio::ssl::context> tls,
                            AdminApi& api, std::shared_ptr<AdminHttpStats> stats) {
  Stream stream(beast::tcp_stream(std::move(socket)), *tls);
  beast::get_lowest_layer(stream).expires_after(kIdle);
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kTuple);
  if (hec) {
    stats->tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
    co_return;
  }
  beast::flat_buffer buffer;
  for (int served = 0; served < kMaxRequestsPerConnection; ++served) {
    beast::get_lowest_layer(stream).expires_after(kIdle);
    http::request_parser<http::string_body> parser;
    parser.body_limit(kMaxBody);
    auto [rec, n] = co_await http::async_read(stream, buffer, parser, kTuple);
    (void)n;
    if (rec) {
      if (rec == http::error::body_limit) {
        http::response<http::string_body> res{http::status::payload_too_large, 11};
        res.set(http::field::content_type, "application/json");
        res.body() = R"({"code":"too_large","field":"","message":"the body exceeds 1 MiB"})";
        res.keep_alive(false);
        res.prepare_payload();
        auto [wec, written] = co_await http::async_write(stream, res, kTuple);
        (void)wec;
        (void)written;
      }
      break;
    }
    stats->requests.fetch_add(1, std::memory_order_relaxed);
    const auto& req = parser.get();
    Headers headers;
    for (const auto& field : req) {
      headers[Lower(field.name_string())] = std::string(field.value());
    }
    HttpResponse answer = api.Handle(req.method_string(), req.target(), headers, req.body());
    http::response<http::string_body> res{static_cast<http::status>(answer.status), req.version()};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    if (answer.status == 401) {
      res.set(http::field::www_authenticate, R"(Bearer realm="switchyard-admin")");
    }
    const bool keep = req.keep_alive() && served + 1 < kMaxRequestsPerConnection;
    res.keep_alive(keep);
    res.body() = std::move(answer.body);
    res.prepare_payload();
    auto [wec, written] = co_await http::async_write(stream, res, kTuple);
    (void)written;
    if (wec || !keep) {
      break;
    }
  }
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
  auto [sec] = co_await stream.async_shutdown(kTuple);
  (void)sec;  // clients commonly close without close_notify
}

}  // namespace

std::shared_ptr<asio::ssl::context> MakeAdminTlsContext(const proto::AdminConfig& admin) {
  namespace fs = std::filesystem;
  const fs::path cert = admin.certificate();
  const fs::path key = admin.private_key();
  if (cert.filename() == "switch.crt" && key.filename() == "switch.key" &&
      cert.parent_path().filename() == "tls" && !fs::exists(cert) && !fs::exists(key)) {
    fs::create_directories(cert.parent_path());
    if (!crypto::WriteSelfSignedCertificate(cert.string(), key.string(), "switchyard", 825)) {
      throw std::runtime_error("cannot make a self-signed TLS certificate in " +
                               cert.parent_path().string());
    }
  }
  return MakeServerTlsContext(cert.string(), key.string(), "");
}

AdminHttp::AdminHttp(asio::any_io_executor executor, std::shared_ptr<asio::ssl::context> tls,
                     AdminApi& api)
    : executor_(std::move(executor)),
      tls_(std::move(tls)),
      api_(api),
      acceptor_(std::make_shared<tcp::acceptor>(executor_)) {}

boost::system::error_code AdminHttp::Start(const std::string& address, std::uint16_t port) {
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
      [acceptor = acceptor_, tls = tls_, &api = api_, stats = stats_]() -> asio::awaitable<void> {
        while (acceptor->is_open()) {
          auto [aec, socket] = co_await acceptor->async_accept(kTuple);
          if (aec) {
            if (!acceptor->is_open()) {
              co_return;
            }
            continue;
          }
          stats->connections.fetch_add(1, std::memory_order_relaxed);
          const auto executor = socket.get_executor();
          asio::co_spawn(executor, Serve(std::move(socket), tls, api, stats),
                         [stats](std::exception_ptr e) {
                           if (e) {
                             stats->session_errors.fetch_add(1, std::memory_order_relaxed);
                             SY_LOG(kWarning) << "admin: a connection ended by an exception";
                           }
                         });
        }
      },
      [stats = stats_](std::exception_ptr e) {
        if (e) {
          stats->session_errors.fetch_add(1, std::memory_order_relaxed);
        }
      });
  return {};
}

void AdminHttp::Stop() {
  asio::post(executor_, [acceptor = acceptor_] {
    boost::system::error_code ignored;
    acceptor->close(ignored);
  });
}

}  // namespace sy::server::admin
