#include "routing/issuer_link.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "iso8583/codec.h"
#include "iso8583/dialect.h"
#include "iso8583/framing.h"
#include "iso8583/mac_slot.h"

namespace sy::routing {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using iso8583::Message;
using namespace std::chrono_literals;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

void CheckNoThrow(std::exception_ptr e) {
  if (e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      ADD_FAILURE() << "a test coroutine threw: " << ex.what();
    }
  }
}

// Wakes waiters when something happens (a link state change, a message at a fake issuer); each
// wait has its own deadline, so nothing in these tests sleeps to wait.
class Signal {
 public:
  void Notify() {
    for (asio::steady_timer* t : waiters_) {
      t->cancel();
    }
  }

  // True once pred() holds; false when `limit` passes first.
  asio::awaitable<bool> Until(std::function<bool()> pred, std::chrono::milliseconds limit = 5s) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(limit);
    while (!pred()) {
      if (timer.expiry() <= std::chrono::steady_clock::now()) {
        co_return false;
      }
      waiters_.push_back(&timer);
      co_await timer.async_wait(kTuple);
      std::erase(waiters_, &timer);
    }
    co_return true;
  }

 private:
  std::vector<asio::steady_timer*> waiters_;
};

// A toy MAC (not a cryptographic one): enough to tell a right MAC from a wrong one.
bool ToyMac(std::span<const std::uint8_t> data, std::array<std::uint8_t, 8>& out) {
  out.fill(0x5A);
  for (std::size_t i = 0; i < data.size(); ++i) {
    out[i % 8] = static_cast<std::uint8_t>(out[i % 8] * 31 + data[i]);
  }
  return true;
}

bool ToyVerify(std::span<const std::uint8_t> input, std::span<const std::uint8_t> mac) {
  std::array<std::uint8_t, 8> expected{};
  return ToyMac(input, expected) && mac.size() == 8 &&
         std::equal(expected.begin(), expected.end(), mac.begin());
}

enum class Action { kAnswer, kHold, kDrop };

// A tiny issuer host on 127.0.0.1: nac framing without TPDU, iso87a; answers 0800 with 0810 and
// 0200 with 0210, 39 = 00, unless `decide` says to hold (answer later, in any order) or drop.
class FakeIssuer {
 public:
  FakeIssuer(asio::io_context& io, Signal& signal)
      : io_(io), signal_(signal), acceptor_(io), dialect_(*iso8583::LoadDialect("iso87a")) {}

  std::uint16_t Listen(std::uint16_t port = 0) {
    const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_, Accept(), CheckNoThrow);
    return port_;
  }

  // Closes the listener and every connection; held requests are forgotten.
  void Stop() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (auto& c : conns_) {
      c->shutdown(tcp::socket::shutdown_both, ignored);
      c->close(ignored);
    }
    conns_.clear();
    held_.clear();
  }

  // Answers every held request, last received first when `reverse`.
  void ReleaseHeld(bool reverse) {
    auto held = std::move(held_);
    held_.clear();
    if (reverse) {
      std::reverse(held.begin(), held.end());
    }
    for (auto& [conn, request] : held) {
      Answer(*conn, request);
    }
  }

  // How many requests arrived whose "MTI/70" (0800) or "MTI/STAN" (others) starts with prefix.
  int Count(std::string_view prefix) const {
    return static_cast<int>(std::count_if(received_.begin(), received_.end(),
                                          [&](const auto& s) { return s.starts_with(prefix); }));
  }

  std::uint16_t port() const { return port_; }
  std::size_t held() const { return held_.size(); }
  const std::vector<std::string>& received() const { return received_; }
  int good_request_macs() const { return good_request_macs_; }
  // The connections (numbered in accept order) that carried at least one 0200.
  const std::set<int>& connections_used() const { return connections_used_; }

  std::function<Action(const Message&)> decide = [](const Message&) { return Action::kAnswer; };
  iso8583::MacFunction mac;       // set: answers are MACed, request MACs are checked
  bool corrupt_0210_mac = false;  // send 0210s with a wrong MAC

 private:
  using Socket = std::shared_ptr<tcp::socket>;

  asio::awaitable<void> Accept() {
    while (acceptor_.is_open()) {
      auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
      if (ec) {
        co_return;
      }
      auto conn = std::make_shared<tcp::socket>(std::move(socket));
      conns_.push_back(conn);
      conn_ids_[conn.get()] = ++accepted_;
      asio::co_spawn(io_, Read(conn), CheckNoThrow);
    }
  }

  asio::awaitable<void> Read(Socket conn) {
    iso8583::FrameReader reader({.kind = iso8583::FrameKind::kNac, .tpdu = false});
    for (int reads = 0; reads < 100000; ++reads) {
      const std::span<std::uint8_t> area = reader.Prepare(4096);
      auto [ec, n] = co_await conn->async_read_some(asio::buffer(area.data(), area.size()), kTuple);
      if (ec) {
        co_return;
      }
      reader.Commit(n);
      while (true) {
        auto frame = reader.Next();
        if (!frame || !*frame) {
          break;
        }
        const auto bytes = (*frame)->message;
        const std::string_view wire(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        Message m;
        if (!iso8583::Unpack(*dialect_, wire, m)) {
          ADD_FAILURE() << "the fake issuer cannot unpack what the link sent";
          co_return;
        }
        OnRequest(conn, m, wire);
      }
    }
  }

  void OnRequest(const Socket& conn, const Message& m, std::string_view wire) {
    received_.push_back(std::string(m.mti()) + "/" +
                        std::string(m.mti() == "0800" ? m.Get(70) : m.Get(11)));
    if (m.mti() == "0200") {
      connections_used_.insert(conn_ids_[conn.get()]);
    }
    if (mac && m.Has(iso8583::MacField(m))) {
      auto input = iso8583::MacInput(*dialect_, m, wire);
      const std::string_view got = m.Get(iso8583::MacField(m));
      if (input && ToyVerify({reinterpret_cast<const std::uint8_t*>(input->data()), input->size()},
                             {reinterpret_cast<const std::uint8_t*>(got.data()), got.size()})) {
        ++good_request_macs_;
      }
    }
    const Action action = decide(m);
    if (action == Action::kHold) {
      held_.emplace_back(conn, Message(m));
    } else if (action == Action::kAnswer) {
      Answer(*conn, m);
    }
    signal_.Notify();
  }

  void Answer(tcp::socket& conn, const Message& request) {
    Message answer;
    std::string mti(request.mti());
    mti[2] = static_cast<char>(mti[2] + 1);
    answer.SetMti(mti);
    for (int f : {3, 4, 7, 11, 37, 41, 70}) {
      if (request.Has(f)) {
        answer.Set(f, request.Get(f));
      }
    }
    answer.Set(39, "00");
    std::string wire;
    const bool ok = mac ? static_cast<bool>(iso8583::PackWithMac(*dialect_, answer, mac, wire))
                        : static_cast<bool>(iso8583::Pack(*dialect_, answer, wire));
    ASSERT_TRUE(ok);
    if (corrupt_0210_mac && mti == "0210") {
      wire.back() = wire.back() == '0' ? '1' : '0';  // the MAC's last hex digit
    }
    std::string frame;
    ASSERT_TRUE(iso8583::AppendFrame(
        {.kind = iso8583::FrameKind::kNac, .tpdu = false}, {},
        {reinterpret_cast<const std::uint8_t*>(wire.data()), wire.size()}, frame));
    boost::system::error_code ec;
    asio::write(conn, asio::buffer(frame), ec);  // small frames on loopback: never blocks long
  }

  asio::io_context& io_;
  Signal& signal_;
  tcp::acceptor acceptor_;
  std::shared_ptr<const iso8583::Dialect> dialect_;
  std::uint16_t port_ = 0;
  std::vector<Socket> conns_;
  std::vector<std::pair<Socket, Message>> held_;
  std::vector<std::string> received_;
  int good_request_macs_ = 0;
  int accepted_ = 0;
  std::map<const tcp::socket*, int> conn_ids_;
  std::set<int> connections_used_;
};

std::string Stan(int n) {
  std::string s = std::to_string(n);
  return std::string(6 - s.size(), '0') + s;
}

Message Purchase(int stan, std::int64_t amount = 1000) {
  Message m;
  m.SetMti("0200");
  m.Set(3, "000000");
  std::string a = std::to_string(amount);
  m.Set(4, std::string(12 - a.size(), '0') + a);
  m.Set(7, "1127054000");
  m.Set(11, Stan(stan));
  m.Set(37, "333105" + Stan(stan));
  m.Set(41, "TERM0001");
  return m;
}

proto::RouteConfig Route(std::initializer_list<std::uint16_t> ports) {
  proto::RouteConfig route;
  route.set_id("issuer-a");
  for (std::uint16_t port : ports) {
    proto::Endpoint* ep = route.add_endpoints();
    ep->set_host("127.0.0.1");
    ep->set_port(port);
  }
  route.set_timeout_ms(5000);
  route.set_echo_interval_ms(60000);
  return route;
}

bool Is(const LinkResult& r, Error e) { return !r && r.error() == make_error_code(e); }

// Every test that runs on one io_context runs twice: with Send hopping to the link's strand, and
// with the link told that it and its callers run on one thread (LinkOptions::one_thread).
bool g_one_thread = false;

class IssuerLinkTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { g_one_thread = GetParam(); }
  void TearDown() override { g_one_thread = false; }
};

// Options that make the link quick and quiet and wake the test on every state change.
LinkOptions QuickOptions(Signal& signal) {
  LinkOptions o;
  o.one_thread = g_one_thread;
  o.backoff_base = 10ms;
  o.backoff_cap = 100ms;
  o.log = [&signal](std::string_view) { signal.Notify(); };  // e.g. "connection 2 ... signed on"
  o.on_state = [&signal](LinkState) { signal.Notify(); };
  return o;
}

// Runs `body` on `io` until it finishes (bounded), then lets the stopped link and servers drain.
void RunBody(asio::io_context& io, std::function<asio::awaitable<void>()> body) {
  bool done = false;
  asio::co_spawn(io, body(), [&](std::exception_ptr e) {
    done = true;
    CheckNoThrow(e);
  });
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!done && !io.stopped() && std::chrono::steady_clock::now() < deadline) {
    io.run_one_for(100ms);
  }
  ASSERT_TRUE(done) << "the test body did not finish within 30 s";
  io.run_for(2s);  // returns as soon as the stopped link and servers have no work left
}

TEST_P(IssuerLinkTest, SignsOnBeforeAnyRequestTravels) {
  asio::io_context io;
  Signal signal;
  FakeIssuer issuer(io, signal);
  issuer.decide = [](const Message& m) {
    return m.mti() == "0800" ? Action::kHold : Action::kAnswer;
  };
  IssuerLink link(io.get_executor(), Route({issuer.Listen()}), QuickOptions(signal));
  RunBody(io, [&]() -> asio::awaitable<void> {
    link.Start();
    EXPECT_TRUE(co_await signal.Until([&] { return issuer.held() == 1; }));
    EXPECT_EQ(link.state(), LinkState::kDown);
    EXPECT_TRUE(Is(co_await link.Send(Purchase(1)), Error::kLinkDown));
    EXPECT_EQ(issuer.received(), std::vector<std::string>{"0800/001"});

    issuer.ReleaseHeld(false);
    EXPECT_TRUE(co_await signal.Until([&] { return link.state() == LinkState::kUp; }));
    LinkResult r = co_await link.Send(Purchase(2));
    EXPECT_TRUE(r.has_value());
    if (r) {
      EXPECT_EQ(r->mti(), "0210");
      EXPECT_EQ(r->Get(11), "000002");
      EXPECT_EQ(r->Get(39), "00");
    }
    EXPECT_EQ(issuer.received(), (std::vector<std::string>{"0800/001", "0200/000002"}));
    EXPECT_EQ(link.stats().sign_ons, 1u);
    link.Stop();
    issuer.Stop();
  });
  EXPECT_EQ(link.state(), LinkState::kStopped);
}

TEST_P(IssuerLinkTest, MatchesManyAnswersReturnedOutOfOrder) {
  asio::io_context io;
  Signal signal;
  FakeIssuer issuer(io, signal);
  issuer.decide = [](const Message& m) {
    return m.mti() == "0200" ? Action::kHold : Action::kAnswer;
  };
  IssuerLink link(io.get_executor(), Route({issuer.Listen()}), QuickOptions(signal));
  constexpr int kRequests = 20;
  std::vector<std::optional<LinkResult>> results(kRequests);
  RunBody(io, [&]() -> asio::awaitable<void> {
    link.Start();
    EXPECT_TRUE(co_await signal.Until([&] { return link.state() == LinkState::kUp; }));
    for (int i = 0; i < kRequests; ++i) {
      asio::co_spawn(
          io,
          [&, i]() -> asio::awaitable<void> {
            results[i] = co_await link.Send(Purchase(100 + i, 1000 + i));
            signal.Notify();
          },
          CheckNoThrow);
    }
    EXPECT_TRUE(co_await signal.Until([&] { return issuer.held() == kRequests; }));
    EXPECT_EQ(link.stats().in_flight, static_cast<std::uint64_t>(kRequests));
    issuer.ReleaseHeld(/*reverse=*/true);
    EXPECT_TRUE(co_await signal.Until([&] {
      return std::all_of(results.begin(), results.end(),
                         [](const auto& r) { return r.has_value(); });
    }));
    for (int i = 0; i < kRequests; ++i) {
      EXPECT_TRUE(results[i].has_value() && results[i]->has_value());
      if (!results[i].has_value() || !results[i]->has_value()) {
        continue;
      }
      EXPECT_EQ((*results[i])->Get(11), Stan(100 + i));
      EXPECT_EQ((*results[i])->Get(4), "00000000" + std::to_string(1000 + i));
    }
    EXPECT_EQ(link.stats().answered, static_cast<std::uint64_t>(kRequests));
    EXPECT_EQ(link.stats().in_flight, 0u);
    link.Stop();
    issuer.Stop();
  });
}

TEST_P(IssuerLinkTest, RefusesAtOnceWithLinkFullWhenTheInFlightCapIsReached) {
  asio::io_context io;
  Signal signal;
  FakeIssuer issuer(io, signal);
  Action for_0200 = Action::kHold;
  issuer.decide = [&](const Message& m) { return m.mti() == "0200" ? for_0200 : Action::kAnswer; };
  proto::RouteConfig route = Route({issuer.Listen()});
  route.set_max_in_flight(3);
  IssuerLink link(io.get_executor(), route, QuickOptions(signal));
  int answered = 0;
  RunBody(io, [&]() -> asio::awaitable<void> {
    link.Start();
    EXPECT_TRUE(co_await signal.Until([&] { return link.state() == LinkState::kUp; }));
    for (int i = 1; i <= 3; ++i) {
      asio::co_spawn(
          io,
          [&, i]() -> asio::awaitable<void> {
            LinkResult r = co_await link.Send(Purchase(i));
            answered += r.has_value() ? 1 : 0;
            signal.Notify();
          },
          CheckNoThrow);
    }
    EXPECT_TRUE(co_await signal.Until([&] { return issuer.held() == 3; }));
    const auto before = std::chrono::steady_clock::now();
    EXPECT_TRUE(Is(co_await link.Send(Purchase(4)), Error::kLinkFull));
    EXPECT_LT(std::chrono::steady_clock::now() - before, 1s);  // the timeout is 5 s
    EXPECT_TRUE(Is(co_await link.Send(Purchase(2)), Error::kDuplicateStan));
    EXPECT_EQ(issuer.Count("0200/"), 3);
    EXPECT_EQ(link.stats().rejected_full, 1u);

    for_0200 = Action::kAnswer;
    issuer.ReleaseHeld(false);
    EXPECT_TRUE(co_await signal.Until([&] { return answered == 3; }));
    LinkResult again = co_await link.Send(Purchase(4));
    EXPECT_TRUE(again.has_value());  // room again once the answers came
    link.Stop();
    issuer.Stop();
  });
}

TEST_P(IssuerLinkTest, TimesOutAndHandsTheLateAnswerToOnLateResponse) {
  asio::io_context io;
  Signal signal;
  FakeIssuer issuer(io, signal);
  issuer.decide = [](const Message& m) {
    return m.mti() == "0200" ? Action::kHold : Action::kAnswer;
  };
  proto::RouteConfig route = Route({issuer.Listen()});
  route.set_timeout_ms(200);
  IssuerLink link(io.get_executor(), route, QuickOptions(signal));
  std::vector<Message> late;
  link.on_late_response = [&](Message m) {
    late.push_back(std::move(m));
    signal.Notify();
  };
  RunBody(io, [&]() -> asio::awaitable<void> {
    link.Start();
    EXPECT_TRUE(co_await signal.Until([&] { return link.state() == LinkState::kUp; }));
    const auto before = std::chrono::steady_clock::now();
    EXPECT_TRUE(Is(co_await link.Send(Purchase(77)), Error::kIssuerTimeout));
    EXPECT_GE(std::chrono::steady_clock::now() - before, 190ms);
    EXPECT_EQ(link.stats().timeouts, 1u);
    EXPECT_TRUE(late.empty());

    issuer.ReleaseHeld(false);
    EXPECT_TRUE(co_await signal.Until([&] { return late.size() == 1; }));
    if (late.size() == 1) {
      EXPECT_EQ(late[0].mti(), "0210");
      EXPECT_EQ(late[0].Get(11), "000077");
      EXPECT_EQ(late[0].Get(37), "333105000077");
    }
    EXPECT_EQ(link.stats().late, 1u);
    link.Stop();
    issuer.Stop();
  });
}

TEST_P(IssuerLinkTest, ReportsLinkDownWhileTheIssuerIsAwayAndReconnectsWhenItReturns) {
  asio::io_context io;
  Signal signal;
  FakeIssuer issuer(io, signal);
  const std::uint16_t port = issuer.Listen();
  IssuerLink link(io.get_executor(), Route({port}), QuickOptions(signal));
  RunBody(io, [&]() -> asio::awaitable<void> {
    link.Start();
    EXPECT_TRUE(co_await signal.Until([&] { return link.state() == LinkState::kUp; }));
    EXPECT_TRUE((co_await link.Send(Purchase(1))).has_value());

    issuer.Stop();
    EXPECT_TRUE(co_await signal.Until([&] { return link.state() == LinkState::kDown; }));
    EXPECT_TRUE(Is(co_await link.Send(Purchase(2)), Error::kLinkDown));

    issuer.Listen(port);
    EXPECT_TRUE(co_await signal.Until([&] { return link.state() == LinkState::kUp; }));
    LinkResult r = co_await link.Send(Purchase(3));
    EXPECT_TRUE(r.has_value());
    EXPECT_EQ(issuer.Count("0800/001"), 2);
    EXPECT_EQ(link.stats().sign_ons, 2u);
    EXPECT_GE(link.stats().rejected_down, 1u);
    link.Stop();
    issuer.Stop();
  });
}

TEST_P(IssuerLinkTest, FailsOverToTheNextEndpointWhenTheFirstGoesAway) {
  asio::io_context io;
  Signal signal;
  FakeIssuer primary(io, signal);
  FakeIssuer secondary(io, signal);
  IssuerLink link(io.get_executor(), Route({primary.Listen(), secondary.Listen()}),
                  QuickOptions(signal));
  RunBody(io, [&]() -> asio::awaitable<void> {
    link.Start();
    EXPECT_TRUE(co_await signal.Until([&] { return link.state() == LinkState::kUp; }));
    EXPECT_TRUE((co_await link.Send(Purchase(1))).has_value());
    EXPECT_EQ(primary.Count("0200/000001"), 1);
    EXPECT_EQ(secondary.Count("0800/001"), 0);  // endpoints are tried in order

    primary.Stop();
    EXPECT_TRUE(co_await signal.Until([&] { return secondary.Count("0800/001") == 1; }));
    EXPECT_TRUE(co_await signal.Until([&] { return link.state() == LinkState::kUp; }));
    EXPECT_TRUE((co_await link.Send(Purchase(2))).has_value());
    EXPECT_EQ(secondary.Count("0200/000002"), 1);
    EXPECT_EQ(primary.Count("0200/000002"), 0);
    link.Stop();
    secondary.Stop();
  });
}

TEST_P(IssuerLinkTest, BreakerOpensAfterConsecutiveTimeoutsAndHalfOpensAfterTheCoolDown) {
  asio::io_context io;
  Signal signal;
  FakeIssuer issuer(io, signal);
  Action for_0200 = Action::kDrop;
  issuer.decide = [&](const Message& m) { return m.mti() == "0200" ? for_0200 : Action::kAnswer; };
  proto::RouteConfig route = Route({issuer.Listen()});
  route.set_timeout_ms(100);
  LinkOptions options = QuickOptions(signal);
  options.breaker_threshold = 2;
  options.breaker_cooldown = 1h;
  std::chrono::steady_clock::duration skew{0};
  options.clock = [&] { return std::chrono::steady_clock::now() + skew; };
  IssuerLink link(io.get_executor(), route, options);
  RunBody(io, [&]() -> asio::awaitable<void> {
    link.Start();
    EXPECT_TRUE(co_await signal.Until([&] { return link.state() == LinkState::kUp; }));
    EXPECT_TRUE(Is(co_await link.Send(Purchase(1)), Error::kIssuerTimeout));
    EXPECT_EQ(link.state(), LinkState::kUp);
    EXPECT_TRUE(Is(co_await link.Send(Purchase(2)), Error::kIssuerTimeout));
    EXPECT_EQ(link.state(), LinkState::kBreakerOpen);
    EXPECT_TRUE(Is(co_await link.Send(Purchase(3)), Error::kLinkDown));
    EXPECT_EQ(issuer.Count("0200/"), 2);  // the open breaker sent nothing
    EXPECT_EQ(link.stats().breaker_opens, 1u);

    skew = 2h;  // past the cool-down: one probe goes through
    for_0200 = Action::kHold;
    bool probe_answered = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          probe_answered = (co_await link.Send(Purchase(4))).has_value();
          signal.Notify();
        },
        CheckNoThrow);
    EXPECT_TRUE(co_await signal.Until([&] { return issuer.held() == 1; }));
    EXPECT_TRUE(Is(co_await link.Send(Purchase(5)), Error::kLinkDown));  // one probe at a time
    EXPECT_EQ(issuer.Count("0200/000005"), 0);

    issuer.ReleaseHeld(false);
    EXPECT_TRUE(co_await signal.Until([&] { return probe_answered; }));
    EXPECT_EQ(link.state(), LinkState::kUp);
    for_0200 = Action::kAnswer;
    EXPECT_TRUE((co_await link.Send(Purchase(6))).has_value());
    link.Stop();
    issuer.Stop();
  });
}

TEST_P(IssuerLinkTest, AFailedProbeReopensTheBreaker) {
  asio::io_context io;
  Signal signal;
  FakeIssuer issuer(io, signal);
  issuer.decide = [](const Message& m) {
    return m.mti() == "0200" ? Action::kDrop : Action::kAnswer;
  };
  proto::RouteConfig route = Route({issuer.Listen()});
  route.set_timeout_ms(100);
  LinkOptions options = QuickOptions(signal);
  options.breaker_threshold = 1;
  options.breaker_cooldown = 1h;
  std::chrono::steady_clock::duration skew{0};
  options.clock = [&] { return std::chrono::steady_clock::now() + skew; };
  IssuerLink link(io.get_executor(), route, options);
  RunBody(io, [&]() -> asio::awaitable<void> {
    link.Start();
    EXPECT_TRUE(co_await signal.Until([&] { return link.state() == LinkState::kUp; }));
    EXPECT_TRUE(Is(co_await link.Send(Purchase(1)), Error::kIssuerTimeout));
    EXPECT_EQ(link.state(), LinkState::kBreakerOpen);
    skew = 2h;
    EXPECT_TRUE(Is(co_await link.Send(Purchase(2)), Error::kIssuerTimeout));  // the probe
    EXPECT_TRUE(Is(co_await link.Send(Purchase(3)), Error::kLinkDown));       // open again
    EXPECT_EQ(link.stats().breaker_opens, 2u);
    link.Stop();
    issuer.Stop();
  });
}

TEST_P(IssuerLinkTest, SendsEchoWhenIdle) {
  asio::io_context io;
  Signal signal;
  FakeIssuer issuer(io, signal);
  proto::RouteConfig route = Route({issuer.Listen()});
  route.set_echo_interval_ms(30);
  IssuerLink link(io.get_executor(), route, QuickOptions(signal));
  RunBody(io, [&]() -> asio::awaitable<void> {
    link.Start();
    EXPECT_TRUE(co_await signal.Until([&] { return issuer.Count("0800/301") >= 3; }));
    EXPECT_GE(link.stats().echoes, 2u);
    EXPECT_EQ(issuer.Count("0800/001"), 1);  // echoes keep the one connection
    link.Stop();
    issuer.Stop();
  });
}

TEST_P(IssuerLinkTest, AnUnansweredEchoClosesTheConnectionAndTheLinkReconnects) {
  asio::io_context io;
  Signal signal;
  FakeIssuer issuer(io, signal);
  bool drop_echo = true;
  issuer.decide = [&](const Message& m) {
    return m.mti() == "0800" && m.Get(70) == "301" && drop_echo ? Action::kDrop : Action::kAnswer;
  };
  proto::RouteConfig route = Route({issuer.Listen()});
  route.set_echo_interval_ms(30);
  route.set_timeout_ms(100);
  IssuerLink link(io.get_executor(), route, QuickOptions(signal));
  RunBody(io, [&]() -> asio::awaitable<void> {
    link.Start();
    EXPECT_TRUE(co_await signal.Until([&] { return issuer.Count("0800/301") >= 1; }));
    EXPECT_TRUE(co_await signal.Until([&] { return issuer.Count("0800/001") >= 2; }));
    drop_echo = false;
    EXPECT_TRUE(co_await signal.Until([&] { return link.state() == LinkState::kUp; }));
    EXPECT_GE(link.stats().connects, 2u);
    link.Stop();
    issuer.Stop();
  });
}

TEST_P(IssuerLinkTest, MacsRequestsAndTreatsAnAnswerWithABadMacAsNotReceived) {
  asio::io_context io;
  Signal signal;
  FakeIssuer issuer(io, signal);
  issuer.mac = ToyMac;
  proto::RouteConfig route = Route({issuer.Listen()});
  route.set_timeout_ms(200);
  LinkOptions options = QuickOptions(signal);
  options.mac = ToyMac;
  options.verify_mac = ToyVerify;
  IssuerLink link(io.get_executor(), route, options);
  std::vector<Message> late;
  link.on_late_response = [&](Message m) { late.push_back(std::move(m)); };
  RunBody(io, [&]() -> asio::awaitable<void> {
    link.Start();
    EXPECT_TRUE(co_await signal.Until([&] { return link.state() == LinkState::kUp; }));
    LinkResult good = co_await link.Send(Purchase(1));
    EXPECT_TRUE(good.has_value());
    EXPECT_EQ(issuer.good_request_macs(), 2);  // the sign-on and the 0200
    EXPECT_EQ(link.stats().mac_failures, 0u);

    issuer.corrupt_0210_mac = true;
    EXPECT_TRUE(Is(co_await link.Send(Purchase(2)), Error::kIssuerTimeout));
    EXPECT_EQ(link.stats().mac_failures, 1u);
    EXPECT_EQ(link.stats().answered, 1u);
    EXPECT_TRUE(late.empty());
    link.Stop();
    issuer.Stop();
  });
}

TEST_P(IssuerLinkTest, SpreadsRequestsOverThePoolsConnections) {
  asio::io_context io;
  Signal signal;
  FakeIssuer issuer(io, signal);
  proto::RouteConfig route = Route({issuer.Listen()});
  route.set_connections(2);
  IssuerLink link(io.get_executor(), route, QuickOptions(signal));
  RunBody(io, [&]() -> asio::awaitable<void> {
    link.Start();
    EXPECT_TRUE(co_await signal.Until([&] { return link.stats().sign_ons == 2; }));
    for (int i = 1; i <= 4; ++i) {
      EXPECT_TRUE((co_await link.Send(Purchase(i))).has_value());
    }
    EXPECT_EQ(issuer.connections_used(), (std::set<int>{1, 2}));
    link.Stop();
    issuer.Stop();
  });
}

TEST_P(IssuerLinkTest, ARequestInFlightWhenTheConnectionDropsEndsWithConnectionLost) {
  asio::io_context io;
  Signal signal;
  FakeIssuer issuer(io, signal);
  issuer.decide = [](const Message& m) {
    return m.mti() == "0200" ? Action::kHold : Action::kAnswer;
  };
  IssuerLink link(io.get_executor(), Route({issuer.Listen()}), QuickOptions(signal));
  std::optional<LinkResult> result;
  RunBody(io, [&]() -> asio::awaitable<void> {
    link.Start();
    EXPECT_TRUE(co_await signal.Until([&] { return link.state() == LinkState::kUp; }));
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          result = co_await link.Send(Purchase(9));
          signal.Notify();
        },
        CheckNoThrow);
    EXPECT_TRUE(co_await signal.Until([&] { return issuer.held() == 1; }));
    issuer.Stop();
    EXPECT_TRUE(co_await signal.Until([&] { return result.has_value(); }));
    EXPECT_TRUE(result && Is(*result, Error::kConnectionLost));
    EXPECT_EQ(link.stats().connections_lost, 1u);
    link.Stop();
  });
}

TEST(IssuerLinkOwnOptionsTest, ServesCallersOnAnotherExecutorWhileItRunsOnAThreadPool) {
  asio::io_context io;  // the test body, the callers and the fake issuer: one thread
  Signal signal;
  FakeIssuer issuer(io, signal);
  issuer.decide = [](const Message& m) {
    return m.mti() == "0200" ? Action::kHold : Action::kAnswer;
  };
  asio::io_context pool;  // the link: two threads
  auto work = asio::make_work_guard(pool);
  LinkOptions options;
  options.log = [](std::string_view) {};
  // Wake the test on its own thread: Signal is not thread-safe.
  options.on_state = [&io, &signal](LinkState) { asio::post(io, [&signal] { signal.Notify(); }); };
  IssuerLink link(pool.get_executor(), Route({issuer.Listen()}), options);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&pool] { pool.run(); });
  }
  constexpr int kRequests = 16;
  std::vector<std::optional<LinkResult>> results(kRequests);
  RunBody(io, [&]() -> asio::awaitable<void> {
    link.Start();
    EXPECT_TRUE(co_await signal.Until([&] { return link.state() == LinkState::kUp; }));
    for (int i = 0; i < kRequests; ++i) {
      asio::co_spawn(
          io,
          [&, i]() -> asio::awaitable<void> {
            results[i] = co_await link.Send(Purchase(500 + i));  // resumes on io
            signal.Notify();
          },
          CheckNoThrow);
    }
    EXPECT_TRUE(co_await signal.Until([&] { return issuer.held() == kRequests; }));
    issuer.ReleaseHeld(/*reverse=*/true);
    EXPECT_TRUE(co_await signal.Until([&] {
      return std::all_of(results.begin(), results.end(),
                         [](const auto& r) { return r.has_value(); });
    }));
    for (int i = 0; i < kRequests; ++i) {
      EXPECT_TRUE(results[i] && *results[i] && (*results[i])->Get(11) == Stan(500 + i));
    }
    link.Stop();
    issuer.Stop();
  });
  work.reset();
  for (std::thread& t : threads) {
    t.join();
  }
}

TEST_P(IssuerLinkTest, RefusesRequestsThatCannotBeMatched) {
  asio::io_context io;
  Signal signal;
  FakeIssuer issuer(io, signal);
  IssuerLink link(io.get_executor(), Route({issuer.Listen()}), QuickOptions(signal));
  RunBody(io, [&]() -> asio::awaitable<void> {
    EXPECT_TRUE(Is(co_await link.Send(Purchase(1)), Error::kLinkDown));  // not started
    link.Start();
    EXPECT_TRUE(co_await signal.Until([&] { return link.state() == LinkState::kUp; }));
    Message no_stan = Purchase(1);
    no_stan.Unset(11);
    EXPECT_TRUE(Is(co_await link.Send(no_stan), Error::kBadLinkRequest));
    Message answer_mti = Purchase(2);
    answer_mti.SetMti("0210");
    EXPECT_TRUE(Is(co_await link.Send(answer_mti), Error::kBadLinkRequest));
    EXPECT_EQ(issuer.Count("0200/"), 0);
    link.Stop();
    EXPECT_TRUE(Is(co_await link.Send(Purchase(3)), Error::kLinkDown));
    issuer.Stop();
  });
}

TEST(IssuerLinkOwnOptionsTest, ConstructionRefusesARouteWithoutEndpoints) {
  asio::io_context io;
  proto::RouteConfig route;
  route.set_id("empty");
  EXPECT_THROW(IssuerLink(io.get_executor(), route), std::runtime_error);
}

}  // namespace
INSTANTIATE_TEST_SUITE_P(Hops, IssuerLinkTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "OneThread" : "Strand";
                         });

}  // namespace sy::routing
