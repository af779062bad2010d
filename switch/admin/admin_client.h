#pragma once

// A small HTTPS client of the admin API, for `switchyard admin` and tests: one request per
// connection, the server's certificate verified against a CA file (or the system's roots) and
// the URL's host name.
//
//   AdminClient client({.url = "https://127.0.0.1:9443", .token = token, .ca_file = "ca.pem"});
//   ClientResponse r = client.Request("GET", "/v1/applications?state=in_review");
//   if (!r.error.empty()) { ... }            // no answer: connection, TLS or timeout
//   else if (r.status == 200) { ... r.body ... }

#include <chrono>
#include <string>
#include <string_view>

namespace sy::server::admin {

struct ClientOptions {
  std::string url;                   // "https://HOST:PORT" (an optional path prefix is kept)
  std::string token;                 // the bearer token; empty: no Authorization header
  std::string ca_file;               // PEM; empty: the system's default roots
  std::chrono::seconds timeout{30};  // per request. Default: 30 s
};

struct ClientResponse {
  int status = 0;     // HTTP status; 0 when there was no answer
  std::string body;   // JSON
  std::string error;  // why there was no answer; empty when there was one
};

class AdminClient {
 public:
  explicit AdminClient(ClientOptions options) : options_(std::move(options)) {}
  // Sends one request and waits for the answer. Thread-compatible; no exceptions.
  [[nodiscard]] ClientResponse Request(std::string_view method, std::string_view target,
                                       std::string_view body = {}) const;

 private:
  ClientOptions options_;
};

}  // namespace sy::server::admin
