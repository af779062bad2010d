#include "routing/issuer_link.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <ctime>
#include <deque>
#include <exception>
#include <iostream>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "iso8583/codec.h"
#include "iso8583/dialect.h"
#include "iso8583/framing.h"

namespace sy::routing {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using asio::experimental::awaitable_operators::operator||;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kFirstOwnStan = 900000;
constexpr std::uint32_t kLastOwnStan = 999999;
constexpr std::size_t kReadSize = 4096;

bool AllDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Requests and advices have an even third MTI digit (0200, 0220, 0420, 0421); answers an odd one.
bool IsRequestMti(std::string_view mti) {
  return mti.size() == 4 && AllDigits(mti) && ((mti[2] - '0') % 2) == 0;
}
bool IsAnswerMti(std::string_view mti) {
  return mti.size() == 4 && AllDigits(mti) && ((mti[2] - '0') % 2) == 1;
}
bool IsStan(std::string_view stan) { return stan.size() == 6 && AllDigits(stan); }

// The matching key: version, class, the third digit rounded down to even (0200/0210 -> "020",
// 0420/0421/0430 -> "042"), then the STAN. The fourth (origin) digit does not take part.
std::string MatchKey(std::string_view mti, std::string_view stan) {
  std::string key;
  key.reserve(3 + stan.size());
  key.append(mti.substr(0, 2));
  key.push_back(static_cast<char>('0' + ((mti[2] - '0') & ~1)));
  key.append(stan);
  return key;
}

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

void AppendTwo(std::string& out, int v) {
  out.push_back(static_cast<char>('0' + (v / 10) % 10));
  out.push_back(static_cast<char>('0' + v % 10));
}

// Field 7, MMDDhhmmss in UTC.
std::string TransmissionTime() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::string out;
  AppendTwo(out, tm.tm_mon + 1);
  AppendTwo(out, tm.tm_mday);
  AppendTwo(out, tm.tm_hour);
  AppendTwo(out, tm.tm_min);
  AppendTwo(out, tm.tm_sec);
  return out;
}

// "0200 stan 000123": all a log line says about a message (no card data).
std::string Describe(std::string_view mti, std::string_view stan) {
  std::string s(mti);
  s.append(" stan ");
  s.append(stan);
  return s;
}

struct AtomicStats {
  std::atomic<std::uint64_t> sent{0}, answered{0}, timeouts{0}, late{0}, unmatched{0},
      rejected_full{0}, rejected_down{0}, connections_lost{0}, mac_failures{0}, connects{0},
      sign_ons{0}, echoes{0}, breaker_opens{0}, coroutine_failures{0}, in_flight{0};
};

void Bump(std::atomic<std::uint64_t>& counter) { counter.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

std::string_view LinkStateName(LinkState state) noexcept {
  switch (state) {
    case LinkState::kStopped:
      return "stopped";
    case LinkState::kDown:
      return "down";
    case LinkState::kUp:
      return "up";
    case LinkState::kBreakerOpen:
      return "breaker-open";
  }
  return "unknown";
}

class IssuerLink::Impl : public std::enable_shared_from_this<IssuerLink::Impl> {
 public:
  // The link's strand; with LinkOptions::one_thread, the executor itself (one thread is a strand
  // already, and completions skip the strand's queue).
  using Strand = asio::any_io_executor;

  Impl(asio::any_io_executor executor, const proto::RouteConfig& route, LinkOptions options)
      : strand_(options.one_thread ? executor : asio::make_strand(executor)),
        route_(route),
        options_(std::move(options)) {
    if (route_.endpoints_size() == 0) {
      throw std::runtime_error("issuer route " + route_.id() + " has no endpoints");
    }
    if (route_.tls()) {
      // The seam for TLS: Connection::socket becomes an asio::ssl::stream<tcp::socket> and
      // Connect adds the handshake; nothing else reads or writes the socket.
      throw std::runtime_error("issuer route " + route_.id() +
                               " asks for TLS, which issuer links do not support yet");
    }
    const std::string dialect = route_.dialect().empty() ? "iso87a" : route_.dialect();
    auto loaded = iso8583::LoadDialect(dialect);
    if (!loaded) {
      throw std::runtime_error("issuer route " + route_.id() + ": dialect " + dialect + ": " +
                               loaded.error().message);
    }
    dialect_ = *loaded;
    framing_ = {.kind = iso8583::FrameKind::kNac, .tpdu = false, .max_frame = options_.max_frame};
    timeout_ = std::chrono::milliseconds(route_.timeout_ms() == 0 ? 5000 : route_.timeout_ms());
    echo_interval_ = std::chrono::milliseconds(
        route_.echo_interval_ms() == 0 ? 30000 : route_.echo_interval_ms());
    max_in_flight_ = route_.max_in_flight() == 0 ? 256 : route_.max_in_flight();
    slots_ = route_.connections() == 0 ? 1 : route_.connections();
    if (!options_.clock) {
      options_.clock = [] { return Clock::now(); };
    }
    if (!options_.log) {
      options_.log = [](std::string_view line) { std::clog << line << '\n'; };
    }
    rng_.seed(std::random_device{}());
  }

  const Strand& strand() const { return strand_; }
  bool one_thread() const { return options_.one_thread; }

  void Start(std::function<void(iso8583::Message)> on_late) {
    asio::dispatch(strand_, [self = shared_from_this(), on_late = std::move(on_late)]() mutable {
      if (self->started_ || self->stopped_) {
        return;
      }
      self->started_ = true;
      self->on_late_ = std::move(on_late);
      for (std::uint32_t i = 0; i < self->slots_; ++i) {
        self->slot_timers_.push_back(std::make_unique<asio::steady_timer>(self->strand_));
        asio::co_spawn(self->strand_, RunSlot(self, i), self->Completion("connection slot"));
      }
      self->UpdateState();
    });
  }

  void Stop() {
    asio::dispatch(strand_, [self = shared_from_this()] { self->StopOnStrand(); });
  }

  static asio::awaitable<LinkResult> SendOnStrand(std::shared_ptr<Impl> self,
                                                  iso8583::Message request) {
    co_return co_await self->SendImpl(std::move(request));
  }

  void CountEscaped(std::exception_ptr e, std::string_view what) {
    Bump(stats_.coroutine_failures);
    std::string line = std::string(what) + " failed";
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      line += std::string(": ") + ex.what();
    } catch (...) {
      line += ": unknown exception";
    }
    Log(line);
  }

  LinkState state() const noexcept { return state_.load(std::memory_order_relaxed); }

  LinkStats stats() const noexcept {
    auto get = [](const std::atomic<std::uint64_t>& a) {
      return a.load(std::memory_order_relaxed);
    };
    LinkStats s;
    s.sent = get(stats_.sent);
    s.answered = get(stats_.answered);
    s.timeouts = get(stats_.timeouts);
    s.late = get(stats_.late);
    s.unmatched = get(stats_.unmatched);
    s.rejected_full = get(stats_.rejected_full);
    s.rejected_down = get(stats_.rejected_down);
    s.connections_lost = get(stats_.connections_lost);
    s.mac_failures = get(stats_.mac_failures);
    s.connects = get(stats_.connects);
    s.sign_ons = get(stats_.sign_ons);
    s.echoes = get(stats_.echoes);
    s.breaker_opens = get(stats_.breaker_opens);
    s.coroutine_failures = get(stats_.coroutine_failures);
    s.in_flight = get(stats_.in_flight);
    return s;
  }

 private:
  // One TCP connection. Everything here is touched on the strand only.
  struct Connection {
    Connection(const Strand& strand, std::uint64_t id_in, int endpoint_in)
        : id(id_in),
          endpoint(endpoint_in),
          socket(strand),
          echo_timer(strand),
          closed_signal(strand) {
      closed_signal.expires_at(Clock::time_point::max());
    }
    std::uint64_t id;
    int endpoint;
    tcp::socket socket;  // the TLS seam: an ssl::stream<tcp::socket> here
    asio::steady_timer echo_timer;
    asio::steady_timer closed_signal;  // never expires; cancelled when the connection closes
    std::deque<std::string> out;       // frames waiting for the writer
    bool writing = false;
    bool ready = false;  // signed on, carries traffic
    bool closed = false;
    Clock::time_point last_activity = Clock::now();
  };
  using ConnectionPtr = std::shared_ptr<Connection>;

  // One request waiting for its answer: the reader stores the answer and cancels the timer.
  struct Pending {
    explicit Pending(const Strand& strand) : timer(strand) {}
    ConnectionPtr conn;
    asio::steady_timer timer;
    std::optional<iso8583::Message> answer;
    bool lost = false;
    bool maced = false;
  };
  using PendingPtr = std::shared_ptr<Pending>;

  enum class Breaker { kClosed, kOpen, kHalfOpen };

  void Log(std::string_view line) const {
    std::string s = "issuer link " + route_.id() + ": ";
    s.append(line);
    options_.log(s);
  }

  std::function<void(std::exception_ptr)> Completion(std::string what) {
    return [self = shared_from_this(), what = std::move(what)](std::exception_ptr e) {
      if (e) {
        self->CountEscaped(e, what);
      }
    };
  }

  void UpdateState() {
    LinkState s = LinkState::kDown;
    if (stopped_ || !started_) {
      s = LinkState::kStopped;
    } else if (breaker_ != Breaker::kClosed) {
      s = LinkState::kBreakerOpen;
    } else if (!ready_.empty()) {
      s = LinkState::kUp;
    }
    if (s != state_.load(std::memory_order_relaxed)) {
      state_.store(s, std::memory_order_relaxed);
      Log(std::string("state ") + std::string(LinkStateName(s)));
      if (options_.on_state) {
        options_.on_state(s);
      }
    }
  }

  void StopOnStrand() {
    if (stopped_) {
      return;
    }
    stopped_ = true;
    for (auto& timer : slot_timers_) {
      timer->cancel();
    }
    const std::vector<ConnectionPtr> connections = all_;
    for (const ConnectionPtr& c : connections) {
      Close(c, "link stopped");
    }
    UpdateState();
  }

  std::string NextStan() {
    std::string s = std::to_string(next_stan_);
    next_stan_ = next_stan_ >= kLastOwnStan ? kFirstOwnStan : next_stan_ + 1;
    return s;
  }

  std::chrono::milliseconds Backoff(std::uint32_t attempt) {
    const auto base = std::max<std::int64_t>(1, options_.backoff_base.count());
    const auto cap = std::max<std::int64_t>(base, options_.backoff_cap.count());
    const std::int64_t grown = base << std::min<std::uint32_t>(attempt, 20);
    const std::int64_t d = std::min(grown, cap);
    std::uniform_int_distribution<std::int64_t> dist(d / 2, d);
    return std::chrono::milliseconds(dist(rng_));
  }

  // One pool slot: connect (failing over through the endpoints), serve until the connection
  // closes, back off, again, until Stop.
  static asio::awaitable<void> RunSlot(std::shared_ptr<Impl> self, std::uint32_t slot) {
    std::uint32_t attempt = 0;
    while (!self->stopped_) {
      ConnectionPtr conn;
      for (int i = 0; i < self->route_.endpoints_size() && !self->stopped_ && !conn; ++i) {
        conn = co_await self->Connect(i);
      }
      if (conn) {
        attempt = 0;
        if (!conn->closed) {
          co_await conn->closed_signal.async_wait(kUseTuple);
        }
      }
      if (self->stopped_) {
        break;
      }
      asio::steady_timer& timer = *self->slot_timers_[slot];
      timer.expires_after(self->Backoff(attempt));
      attempt = attempt + 1;
      co_await timer.async_wait(kUseTuple);
    }
  }

  // Connects to endpoint i and signs on; the signed-on connection, or nullptr.
  asio::awaitable<ConnectionPtr> Connect(int i) {
    const proto::Endpoint& ep = route_.endpoints(i);
    const std::string host = ep.host().empty() ? "127.0.0.1" : ep.host();
    const std::string where = host + ":" + std::to_string(ep.port());
    tcp::resolver resolver(strand_);
    auto [rec, endpoints] =
        co_await resolver.async_resolve(host, std::to_string(ep.port()), kUseTuple);
    if (rec || stopped_) {
      if (rec) {
        Log("cannot resolve " + where + ": " + rec.message());
      }
      co_return nullptr;
    }
    auto conn = std::make_shared<Connection>(strand_, ++next_connection_id_, i);
    all_.push_back(conn);
    asio::steady_timer deadline(strand_);
    deadline.expires_after(timeout_);
    auto connected = co_await (asio::async_connect(conn->socket, endpoints, kUseTuple) ||
                               deadline.async_wait(kUseTuple));
    if (connected.index() == 1) {
      Close(conn, "connect to " + where + " timed out");
      co_return nullptr;
    }
    if (const auto ec = std::get<0>(std::get<0>(connected)); ec || conn->closed) {
      Close(conn, "connect to " + where + " failed: " + (ec ? ec.message() : "link stopped"));
      co_return nullptr;
    }
    Bump(stats_.connects);
    boost::system::error_code ignored;
    conn->socket.set_option(tcp::no_delay(true), ignored);
    conn->last_activity = Clock::now();
    asio::co_spawn(strand_, ReadLoop(shared_from_this(), conn), Completion("reader"));

    iso8583::Message sign_on;
    sign_on.SetMti("0800");
    sign_on.Set(7, TransmissionTime());
    sign_on.Set(11, NextStan());
    sign_on.Set(70, "001");
    LinkResult answer = co_await Transact(conn, std::move(sign_on), static_cast<bool>(options_.mac),
                                          /*caller=*/false);
    if (!answer || answer->Get(39) != "00") {
      Close(conn, "sign-on to " + where + " failed: " +
                      (answer ? "response code " + std::string(answer->Get(39))
                              : answer.error().message()));
      co_return nullptr;
    }
    Bump(stats_.sign_ons);
    conn->ready = true;
    ready_.push_back(conn);
    Log("connection " + std::to_string(conn->id) + " to " + where + " signed on");
    UpdateState();
    asio::co_spawn(strand_, EchoLoop(shared_from_this(), conn), Completion("echo"));
    co_return conn;
  }

  void Close(const ConnectionPtr& conn, const std::string& reason) {
    if (conn->closed) {
      return;
    }
    conn->closed = true;
    if (conn->ready) {
      conn->ready = false;
      std::erase(ready_, conn);
    }
    std::erase(all_, conn);
    boost::system::error_code ignored;
    conn->socket.shutdown(tcp::socket::shutdown_both, ignored);
    conn->socket.close(ignored);
    conn->echo_timer.cancel();
    conn->closed_signal.cancel();
    for (auto& [key, pending] : in_flight_) {
      if (pending->conn == conn && !pending->answer) {
        pending->lost = true;
        pending->timer.cancel();
      }
    }
    if (!stopped_) {
      Log("connection " + std::to_string(conn->id) + " closed: " + reason);
    }
    UpdateState();
  }

  void Enqueue(const ConnectionPtr& conn, std::string frame) {
    if (conn->closed) {
      return;
    }
    conn->out.push_back(std::move(frame));
    if (!conn->writing) {
      conn->writing = true;
      asio::co_spawn(strand_, WriteLoop(shared_from_this(), conn), Completion("writer"));
    }
  }

  // Everything queued while the previous write was on the wire goes out in one gathered write:
  // under load one send(2) carries many frames, on both sides of the link.
  static asio::awaitable<void> WriteLoop(std::shared_ptr<Impl> self, ConnectionPtr conn) {
    std::deque<std::string> batch;
    std::vector<asio::const_buffer> buffers;
    while (!conn->out.empty() && !conn->closed) {
      batch.swap(conn->out);
      buffers.clear();
      for (const std::string& frame : batch) {
        buffers.emplace_back(asio::buffer(frame));
      }
      auto [ec, n] = co_await asio::async_write(conn->socket, buffers, kUseTuple);
      batch.clear();
      if (ec) {
        self->Close(conn, "write failed: " + ec.message());
        break;
      }
      conn->last_activity = Clock::now();
    }
    conn->writing = false;
  }

  static asio::awaitable<void> ReadLoop(std::shared_ptr<Impl> self, ConnectionPtr conn) {
    iso8583::FrameReader reader(self->framing_);
    iso8583::Message msg;
    while (!conn->closed) {
      const std::span<std::uint8_t> area = reader.Prepare(kReadSize);
      auto [ec, n] =
          co_await conn->socket.async_read_some(asio::buffer(area.data(), area.size()), kUseTuple);
      if (ec) {
        self->Close(conn, ec == asio::error::eof ? "closed by the issuer" : ec.message());
        co_return;
      }
      reader.Commit(n);
      conn->last_activity = Clock::now();
      while (!conn->closed) {
        auto frame = reader.Next();
        if (!frame) {
          self->Close(conn, "bad frame: " + frame.error().Describe());
          co_return;
        }
        if (!*frame) {
          break;
        }
        const std::span<const std::uint8_t> bytes = (*frame)->message;
        self->HandleMessage(
            conn, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), msg);
      }
    }
  }

  // An issuer-initiated echo or sign-on gets its 0810; other requests from the issuer are not
  // part of this interface and are logged.
  void AnswerIssuerRequest(const ConnectionPtr& conn, const iso8583::Message& request) {
    if (request.mti() != "0800") {
      Log("ignored a request from the issuer: " + Describe(request.mti(), request.Get(11)));
      return;
    }
    iso8583::Message answer;
    answer.SetMti("0810");
    for (int f : {7, 11, 70}) {
      if (request.Has(f)) {
        answer.Set(f, request.Get(f));
      }
    }
    answer.Set(39, "00");
    std::string wire;
    std::string frame;
    if (auto r = iso8583::Pack(*dialect_, answer, wire); !r) {
      Log("cannot answer the issuer's 0800: " + r.error().Describe());
      return;
    }
    if (auto r = iso8583::AppendFrame(framing_, {}, Bytes(wire), frame); !r) {
      Log("cannot frame the answer to the issuer's 0800: " + r.error().Describe());
      return;
    }
    Enqueue(conn, std::move(frame));
  }

  bool MacAccepted(const iso8583::Message& msg, std::string_view wire, bool request_maced) const {
    const int field = iso8583::MacField(msg);
    if (!msg.Has(field)) {
      const std::string_view rc = msg.Get(39);
      return !request_maced || rc == "63" || rc == "30";
    }
    const std::string_view mac = msg.Get(field);
    auto input = iso8583::MacInput(*dialect_, msg, wire);
    if (!input || mac.size() != 8) {
      return false;
    }
    return options_.verify_mac(Bytes(*input), Bytes(mac));
  }

  void HandleMessage(const ConnectionPtr& conn, std::string_view wire, iso8583::Message& msg) {
    if (auto r = iso8583::Unpack(*dialect_, wire, msg); !r) {
      Close(conn, "undecodable message from the issuer: " + r.error().Describe());
      return;
    }
    const std::string_view mti = msg.mti();
    const std::string_view stan = msg.Get(11);
    if (IsRequestMti(mti)) {
      AnswerIssuerRequest(conn, msg);
      return;
    }
    if (!IsAnswerMti(mti) || !IsStan(stan)) {
      Bump(stats_.unmatched);
      Log("unmatched message from the issuer: " + Describe(mti, stan));
      return;
    }
    const std::string key = MatchKey(mti, stan);
    PendingPtr pending;
    if (auto it = in_flight_.find(key); it != in_flight_.end() && it->second->conn == conn) {
      pending = it->second;
    }
    auto late = late_.end();
    if (!pending) {
      late = late_.find(key);
      if (late != late_.end() && late->second <= options_.clock()) {
        late_.erase(late);
        late = late_.end();
      }
    }
    if (options_.verify_mac &&
        !MacAccepted(msg, wire, pending ? pending->maced : static_cast<bool>(options_.mac))) {
      Bump(stats_.mac_failures);
      Log("answer " + Describe(mti, stan) + " dropped: its MAC does not verify");
      return;
    }
    if (pending) {
      if (!pending->answer) {
        pending->answer.emplace(msg);  // copies: msg holds views into the reader's buffer
        pending->timer.cancel();
      }
      return;
    }
    if (late != late_.end()) {
      late_.erase(late);
      Bump(stats_.late);
      Log("late answer " + Describe(mti, stan) + " after its timeout");
      if (on_late_) {
        try {
          on_late_(iso8583::Message(msg));
        } catch (const std::exception& e) {
          Log(std::string("on_late_response threw: ") + e.what());
        }
      }
      return;
    }
    Bump(stats_.unmatched);
    Log("unmatched answer " + Describe(mti, stan));
  }

  static asio::awaitable<void> EchoLoop(std::shared_ptr<Impl> self, ConnectionPtr conn) {
    while (!conn->closed && !self->stopped_) {
      const auto idle = Clock::now() - conn->last_activity;
      if (idle < self->echo_interval_) {
        conn->echo_timer.expires_after(self->echo_interval_ - idle);
        co_await conn->echo_timer.async_wait(kUseTuple);
        continue;
      }
      iso8583::Message echo;
      echo.SetMti("0800");
      echo.Set(7, TransmissionTime());
      echo.Set(11, self->NextStan());
      echo.Set(70, "301");
      LinkResult answer =
          co_await self->Transact(conn, std::move(echo), /*mac=*/false, /*caller=*/false);
      if (conn->closed) {
        co_return;
      }
      if (!answer || answer->Get(39) != "00") {
        self->Close(conn,
                    "echo failed: " + (answer ? "response code " + std::string(answer->Get(39))
                                              : answer.error().message()));
        co_return;
      }
      Bump(self->stats_.echoes);
    }
  }

  // Writes one request on conn and waits for its answer, the timeout, or the connection's end.
  asio::awaitable<LinkResult> Transact(ConnectionPtr conn, iso8583::Message request, bool mac,
                                       bool caller) {
    const std::string key = MatchKey(request.mti(), request.Get(11));
    const std::string what = Describe(request.mti(), request.Get(11));
    if (in_flight_.contains(key)) {
      co_return make_error_code(Error::kDuplicateStan);
    }
    std::string wire;
    auto packed = mac ? iso8583::PackWithMac(*dialect_, request, options_.mac, wire)
                      : iso8583::Pack(*dialect_, request, wire);
    if (!packed) {
      Log("cannot pack " + what + ": " + packed.error().Describe());
      co_return make_error_code(Error::kBadLinkRequest);
    }
    std::string frame;
    if (auto r = iso8583::AppendFrame(framing_, {}, Bytes(wire), frame); !r) {
      Log("cannot frame " + what + ": " + r.error().Describe());
      co_return make_error_code(Error::kBadLinkRequest);
    }
    auto pending = std::make_shared<Pending>(strand_);
    pending->conn = conn;
    pending->maced = mac;
    pending->timer.expires_after(timeout_);
    in_flight_.emplace(key, pending);
    Enqueue(conn, std::move(frame));
    if (caller) {
      Bump(stats_.sent);
    }
    co_await pending->timer.async_wait(kUseTuple);
    if (auto it = in_flight_.find(key); it != in_flight_.end() && it->second == pending) {
      in_flight_.erase(it);
    }
    if (pending->answer) {
      co_return std::move(*pending->answer);
    }
    if (pending->lost || conn->closed) {
      co_return make_error_code(Error::kConnectionLost);
    }
    if (caller) {
      const auto now = options_.clock();
      std::erase_if(late_, [now](const auto& entry) { return entry.second <= now; });
      late_[key] = now + options_.late_window;
      Log(what + " timed out");
    }
    co_return make_error_code(Error::kIssuerTimeout);
  }

  // Whether the breaker lets a request through; probe is set for the half-open trial request.
  bool BreakerAdmits(bool& probe) {
    probe = false;
    if (options_.breaker_threshold == 0 || breaker_ == Breaker::kClosed) {
      return true;
    }
    if (breaker_ == Breaker::kOpen) {
      if (options_.clock() < open_until_) {
        return false;
      }
      breaker_ = Breaker::kHalfOpen;
      probe_in_flight_ = false;
      Log("breaker half-open: one probe request goes through");
    }
    if (probe_in_flight_) {
      return false;
    }
    probe_in_flight_ = true;
    probe = true;
    return true;
  }

  void BreakerSuccess() {
    failures_ = 0;
    if (breaker_ != Breaker::kClosed) {
      breaker_ = Breaker::kClosed;
      probe_in_flight_ = false;
      Log("breaker closed");
      UpdateState();
    }
  }

  void BreakerFailure() {
    if (options_.breaker_threshold == 0) {
      return;
    }
    ++failures_;
    if (breaker_ == Breaker::kHalfOpen ||
        (breaker_ == Breaker::kClosed && failures_ >= options_.breaker_threshold)) {
      breaker_ = Breaker::kOpen;
      probe_in_flight_ = false;
      open_until_ = options_.clock() + options_.breaker_cooldown;
      Bump(stats_.breaker_opens);
      Log("breaker open after " + std::to_string(failures_) + " consecutive failures");
      UpdateState();
    }
  }

  asio::awaitable<LinkResult> SendImpl(iso8583::Message request) {
    if (!started_ || stopped_) {
      Bump(stats_.rejected_down);
      co_return make_error_code(Error::kLinkDown);
    }
    if (!IsRequestMti(request.mti()) || !IsStan(request.Get(11))) {
      co_return make_error_code(Error::kBadLinkRequest);
    }
    const std::string key = MatchKey(request.mti(), request.Get(11));
    if (in_flight_.contains(key)) {
      co_return make_error_code(Error::kDuplicateStan);
    }
    if (caller_in_flight_ >= max_in_flight_) {
      Bump(stats_.rejected_full);
      co_return make_error_code(Error::kLinkFull);
    }
    bool probe = false;
    if (ready_.empty() || !BreakerAdmits(probe)) {
      Bump(stats_.rejected_down);
      co_return make_error_code(Error::kLinkDown);
    }
    ConnectionPtr conn = ready_[next_ready_++ % ready_.size()];
    late_.erase(key);
    ++caller_in_flight_;
    stats_.in_flight.store(caller_in_flight_, std::memory_order_relaxed);
    LinkResult result =
        co_await Transact(conn, std::move(request), static_cast<bool>(options_.mac), true);
    --caller_in_flight_;
    stats_.in_flight.store(caller_in_flight_, std::memory_order_relaxed);
    if (result) {
      Bump(stats_.answered);
      BreakerSuccess();
    } else if (result.error() == make_error_code(Error::kIssuerTimeout)) {
      Bump(stats_.timeouts);
      BreakerFailure();
    } else if (result.error() == make_error_code(Error::kConnectionLost)) {
      Bump(stats_.connections_lost);
      BreakerFailure();
    } else if (probe) {
      probe_in_flight_ = false;  // never sent: the next request may probe
    }
    co_return result;
  }

  Strand strand_;
  proto::RouteConfig route_;
  LinkOptions options_;
  std::shared_ptr<const iso8583::Dialect> dialect_;
  iso8583::FramingOptions framing_;
  std::chrono::milliseconds timeout_{5000};
  std::chrono::milliseconds echo_interval_{30000};
  std::size_t max_in_flight_ = 256;
  std::uint32_t slots_ = 1;
  std::function<void(iso8583::Message)> on_late_;

  // Strand-only state.
  bool started_ = false;
  bool stopped_ = false;
  std::vector<std::unique_ptr<asio::steady_timer>> slot_timers_;
  std::vector<ConnectionPtr> all_;    // every open or opening connection
  std::vector<ConnectionPtr> ready_;  // signed on
  std::size_t next_ready_ = 0;
  std::uint64_t next_connection_id_ = 0;
  std::unordered_map<std::string, PendingPtr> in_flight_;    // MatchKey -> waiting request
  std::unordered_map<std::string, Clock::time_point> late_;  // timed out, expiry (options clock)
  std::size_t caller_in_flight_ = 0;
  std::uint32_t next_stan_ = kFirstOwnStan;
  std::mt19937_64 rng_;
  Breaker breaker_ = Breaker::kClosed;
  std::uint32_t failures_ = 0;
  bool probe_in_flight_ = false;
  Clock::time_point open_until_{};

  // Read from any thread.
  std::atomic<LinkState> state_{LinkState::kStopped};
  AtomicStats stats_;
};

IssuerLink::IssuerLink(asio::any_io_executor executor, const proto::RouteConfig& route,
                       LinkOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), route, std::move(options))) {}

IssuerLink::~IssuerLink() { impl_->Stop(); }

void IssuerLink::Start() { impl_->Start(on_late_response); }

void IssuerLink::Stop() { impl_->Stop(); }

asio::awaitable<LinkResult> IssuerLink::Send(iso8583::Message request) {
  std::shared_ptr<Impl> impl = impl_;
  if (impl->one_thread()) {
    co_return co_await Impl::SendOnStrand(impl, std::move(request));
  }
  auto [e, result] = co_await asio::co_spawn(
      impl->strand(), Impl::SendOnStrand(impl, std::move(request)), kUseTuple);
  if (e) {
    impl->CountEscaped(e, "send");
    co_return make_error_code(Error::kLinkDown);
  }
  co_return std::move(result);
}

LinkState IssuerLink::state() const noexcept { return impl_->state(); }

LinkStats IssuerLink::stats() const noexcept { return impl_->stats(); }

}  // namespace sy::routing
