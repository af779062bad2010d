#pragma once

// What the pipeline needs of the issuer side: send one request on a route and get its answer or
// the reason there is none. routing/'s issuer links implement it; tests use a fake.

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string>

#include "iso8583/message.h"

namespace sy::server {

class IssuerGateway {
 public:
  enum class Failure {
    kNone,
    kTimeout,  // sent, no answer in time: the request must be reversed (0420, 39 = 68)
    kDown,     // not sent: no connection, or the breaker is open
    kFull,     // not sent: the link's in-flight cap is reached
  };
  struct Outcome {
    std::optional<iso8583::Message> response;
    Failure failure = Failure::kNone;
  };
  virtual ~IssuerGateway() = default;
  // The request carries the switch's own STAN (11) and RRN (37). Must not throw.
  virtual boost::asio::awaitable<Outcome> Send(std::string route, iso8583::Message request) = 0;
};

}  // namespace sy::server
