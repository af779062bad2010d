#pragma once

// sy::routing::IssuerLink — the switch's connection to one issuer route (INTERFACE.md section 2):
// a pool of persistent TCP connections (`nac` framing without TPDU, the route's dialect, iso87a
// by default), many requests in flight per connection matched on STAN + MTI class, a cap on
// requests in flight, a timeout per request, late answers reported, sign-on (0800/001) before a
// connection carries traffic, echo (0800/301) when idle, reconnect with exponential backoff and
// jitter, failover across the route's endpoints, and a circuit breaker.
//
//   sy::routing::IssuerLink link(io.get_executor(), route_config, {.log = my_log});
//   link.on_late_response = [&](sy::iso8583::Message late) { QueueReversal(late); };
//   link.Start();
//   sy::routing::LinkResult r = co_await link.Send(std::move(request));  // 11 and 37 set by caller
//   if (!r && (r.error() == Error::kIssuerTimeout || r.error() == Error::kConnectionLost)) ...
//
// Failures are values (routing/error.h): kLinkDown, kLinkFull and kDuplicateStan come back at once
// and mean nothing was sent (stand-in or 91); kIssuerTimeout and kConnectionLost mean the issuer
// may have acted on the request (the caller queues a 0420 with 39 = 68).

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

#include "iso8583/mac_slot.h"
#include "iso8583/message.h"
#include "proto/config.pb.h"
#include "routing/error.h"

namespace sy::routing {

// The answer to a request, or an Error (category sy.routing).
using LinkResult = boost::system::result<iso8583::Message>;

enum class LinkState {
  kStopped,      // before Start and after Stop
  kDown,         // no connection carries traffic (connecting, signing on or backing off)
  kUp,           // at least one signed-on connection and the breaker closed
  kBreakerOpen,  // the breaker is open or half-open (one probe request let through)
};

[[nodiscard]] std::string_view LinkStateName(LinkState state) noexcept;

// Checks the MAC of a received message: `mac_input` is what the MAC covers (iso8583::MacInput),
// `mac` the 8 bytes received. True when they match.
using MacVerifier =
    std::function<bool(std::span<const std::uint8_t> mac_input, std::span<const std::uint8_t> mac)>;

struct LinkOptions {
  // MACs outgoing requests (every Send and the sign-on; echoes are not MACed), packed with
  // iso8583::PackWithMac. Empty: no MACs are sent. Default: empty.
  iso8583::MacFunction mac;
  // Checks incoming MACs. Set: an answer carrying a MAC must verify, and an answer to a MACed
  // request must carry one unless its 39 is 63 or 30; an answer that fails is treated as never
  // received (counted in mac_failures, logged) and its request times out. Default: empty.
  MacVerifier verify_mac;
  // Reconnect delay after a failed attempt: base * 2^attempt capped at backoff_cap, then a
  // uniformly random part of it ("equal jitter": between half and all of it). Default: 100 ms, 10
  // s.
  std::chrono::milliseconds backoff_base{100};
  std::chrono::milliseconds backoff_cap{10'000};
  // Consecutive request failures (timeouts, connections lost under a request) that open the
  // breaker; 0 disables it. Default: 5.
  std::uint32_t breaker_threshold = 5;
  // How long an open breaker refuses traffic before it lets one probe request through. Default: 5
  // s.
  std::chrono::milliseconds breaker_cooldown{5'000};
  // How long a timed-out request's STAN is remembered so a late answer reaches on_late_response.
  // Default: 60 s.
  std::chrono::milliseconds late_window{60'000};
  // Largest frame accepted or sent. Default: 4096.
  std::size_t max_frame = 4096;
  // The clock of the breaker and the late window (tests advance it). Socket and request timeouts
  // use Asio's steady timers. Default: std::chrono::steady_clock::now.
  std::function<std::chrono::steady_clock::time_point()> clock;
  // Log lines (never card data: messages are described by MTI and STAN only). Default: std::clog.
  std::function<void(std::string_view)> log;
  // Called on the link's strand whenever state() changes. Default: empty.
  std::function<void(LinkState)> on_state;
  // The executor runs on one thread, the callers' too: Send runs where it is called, without a
  // hop to the link's strand and back per request. Default: false.
  bool one_thread = false;
};

// Counters since construction; metric names in brackets.
struct LinkStats {
  std::uint64_t sent = 0;              // requests written (sy_routing_link_requests_total)
  std::uint64_t answered = 0;          // matched answers (sy_routing_link_answers_total)
  std::uint64_t timeouts = 0;          // kIssuerTimeout (sy_routing_link_timeouts_total)
  std::uint64_t late = 0;              // answers after their timeout (sy_routing_link_late_total)
  std::uint64_t unmatched = 0;         // answers matching nothing (sy_routing_link_unmatched_total)
  std::uint64_t rejected_full = 0;     // kLinkFull
  std::uint64_t rejected_down = 0;     // kLinkDown (no connection or breaker open)
  std::uint64_t connections_lost = 0;  // kConnectionLost results
  std::uint64_t mac_failures = 0;      // answers dropped for their MAC
  std::uint64_t connects = 0;          // TCP connections established
  std::uint64_t sign_ons = 0;          // successful sign-ons
  std::uint64_t echoes = 0;            // successful echoes
  std::uint64_t breaker_opens = 0;     // closed/half-open -> open transitions
  std::uint64_t coroutine_failures = 0;  // escaped exceptions (a bug; logged)
  std::uint64_t in_flight = 0;           // caller requests in flight now (a gauge)
};

// One issuer route. Construction loads the route's dialect and throws std::runtime_error when it
// cannot (start-up only). All work runs on an internal strand over `executor`; Send, Stop, state
// and stats may be called from any thread. The link must outlive the coroutines awaiting Send;
// its destructor stops it. Connections: RouteConfig.connections (default 1) slots, each connected
// to the first endpoint, in configuration order, that accepts and answers the sign-on (failover);
// Send round-robins over the signed-on ones. The link's own 0800s use STANs 900000-999999.
class IssuerLink {
 public:
  IssuerLink(boost::asio::any_io_executor executor, const proto::RouteConfig& route,
             LinkOptions options = {});
  ~IssuerLink();
  IssuerLink(const IssuerLink&) = delete;
  IssuerLink& operator=(const IssuerLink&) = delete;

  // Starts connecting. Call once; set on_late_response first.
  void Start();
  // Closes every connection; requests in flight end with kConnectionLost and later Sends with
  // kLinkDown. Idempotent.
  void Stop();

  // Sends a request (MTI with an even third digit: 0100, 0200, 0220, 0420, 0421, 0800, ...) whose
  // field 11 the caller has set, and waits for the answer with the same STAN and MTI class (the
  // third digit + 1: 0421 -> 0430), at most RouteConfig.timeout_ms (default 5000). Never throws.
  [[nodiscard]] boost::asio::awaitable<LinkResult> Send(iso8583::Message request);

  [[nodiscard]] LinkState state() const noexcept;
  [[nodiscard]] LinkStats stats() const noexcept;

  // Receives each answer that arrives after its request timed out (within late_window), on the
  // link's strand. Set before Start.
  std::function<void(iso8583::Message late_response)> on_late_response;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace sy::routing
