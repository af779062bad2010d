#include "switch/admin/admin_client.h"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <exception>

namespace sy::server::admin {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

struct Url {
  std::string host;
  std::string port;
  std::string prefix;  // path prefix without a trailing '/'
};

bool ParseUrl(std::string_view url, Url& out, std::string& why) {
  constexpr std::string_view kScheme = "https://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    why = "the URL must start with https://";
    return false;
  }
  url.remove_prefix(kScheme.size());
  const std::size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  if (slash != std::string_view::npos) {
    out.prefix = std::string(url.substr(slash));
    while (!out.prefix.empty() && out.prefix.back() == '/') {
      out.prefix.pop_back();
    }
  }
  if (!authority.empty() && authority.front() == '[') {  // [::1]:9443
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      why = "unbalanced '[' in the URL";
      return false;
    }
    out.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    out.port = authority.starts_with(":") ? std::string(authority.substr(1)) : "443";
  } else {
    const std::size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    out.port = colon == std::string_view::npos ? "443" : std::string(authority.substr(colon + 1));
  }
  if (out.host.empty() || out.port.empty()) {
    why = "the URL needs a host";
    return false;
  }
  return true;
}

}  // namespace

ClientResponse AdminClient::Request(std::string_view method, std::string_view target,
                                    std::string_view body) const {
  ClientResponse out;
  Url url;
  if (!ParseUrl(options_.url, url, out.error)) {
    return out;
  }
  asio::ssl::context tls(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  if (options_.ca_file.empty()) {
    tls.set_default_verify_paths(ec);
  } else {
    tls.load_verify_file(options_.ca_file, ec);
  }
  if (ec) {
    out.error = "CA file " + options_.ca_file + ": " + ec.message();
    return out;
  }
  asio::io_context io;
  const std::string full_target = url.prefix + std::string(target);
  auto run = [&]() -> asio::awaitable<void> {
    tcp::resolver resolver(io);
    auto [rec, endpoints] = co_await resolver.async_resolve(url.host, url.port, kTuple);
    if (rec) {
      out.error = "cannot resolve " + url.host + ": " + rec.message();
      co_return;
    }
    asio::ssl::stream<beast::tcp_stream> stream(io, tls);
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.expires_after(options_.timeout);
    auto [cec, connected] = co_await lowest.async_connect(endpoints, kTuple);
    (void)connected;
    if (cec) {
      out.error = "cannot connect to " + url.host + ":" + url.port + ": " + cec.message();
      co_return;
    }
    boost::system::error_code addr_ec;
    (void)asio::ip::make_address(url.host, addr_ec);
    if (addr_ec) {  // a name, not an address: send it for SNI
      SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str());
    }
    stream.set_verify_mode(asio::ssl::verify_peer);
    stream.set_verify_callback(asio::ssl::host_name_verification(url.host));
    auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, kTuple);
    if (hec) {
      out.error = "TLS handshake with " + url.host + ":" + url.port + ": " + hec.message();
      co_return;
    }
    http::request<http::string_body> req{http::string_to_verb(method), full_target, 11};
    req.set(http::field::host, url.host);
    req.set(http::field::user_agent, "switchyard-admin");
    req.set(http::field::accept, "application/json");
    if (!options_.token.empty()) {
      req.set(http::field::authorization, "Bearer " + options_.token);
    }
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = std::string(body);
    }
    req.keep_alive(false);
    req.prepare_payload();
    auto [wec, written] = co_await http::async_write(stream, req, kTuple);
    (void)written;
    if (wec) {
      out.error = "sending the request: " + wec.message();
      co_return;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    auto [rdec, read] = co_await http::async_read(stream, buffer, parser, kTuple);
    (void)read;
    if (rdec) {
      out.error = "reading the answer: " + rdec.message();
      co_return;
    }
    out.status = static_cast<int>(parser.get().result_int());
    out.body = std::move(parser.get().body());
    lowest.expires_after(std::chrono::seconds(2));
    auto [sec] = co_await stream.async_shutdown(kTuple);
    (void)sec;
  };
  std::exception_ptr failure;
  asio::co_spawn(io, run(), [&failure](std::exception_ptr e) { failure = e; });
  io.run();
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      out.error = e.what();
    } catch (...) {
      out.error = "unknown failure";
    }
    out.status = 0;
  }
  return out;
}

}  // namespace sy::server::admin
