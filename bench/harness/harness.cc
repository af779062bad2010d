#include "bench/harness/harness.h"

#include <openssl/ssl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "bench/harness/provision.h"
#include "bench/harness/report.h"
#include "crypto/dukpt_tdes.h"
#include "crypto/hex.h"
#include "crypto/mac.h"
#include "crypto/pin_block.h"
#include "iso8583/codec.h"
#include "iso8583/dialect.h"
#include "iso8583/framing.h"
#include "iso8583/mac_slot.h"
#include "iso8583/message.h"

namespace sy::bench {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// The TPDU a terminal sends (INTERFACE.md "Framing") and the one its answers must carry.
constexpr iso8583::Tpdu kRequestTpdu(0x0001, 0x0000);
constexpr iso8583::Tpdu kReplyTpdu = kRequestTpdu.SwapForReply();
constexpr iso8583::FramingOptions kFraming{.kind = iso8583::FrameKind::kNac, .tpdu = true};
// KSN counters reserved in the state file at a time, per terminal.
constexpr std::uint32_t kKsnChunk = 4096;
constexpr std::size_t kMaxProblems = 20;

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string ZeroPad(std::uint64_t v, int width) {
  std::string s = std::to_string(v);
  if (static_cast<int>(s.size()) < width) {
    s.insert(0, static_cast<std::size_t>(width) - s.size(), '0');
  }
  return s;
}

// Field 7: MMDDhhmmss in UTC.
std::string TransmissionTime() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%02d%02d%02d%02d%02d", tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec);
  return buf;
}

std::string ResponseMti(std::string_view mti) {
  std::string r(mti);
  r[2] = static_cast<char>(r[2] + 1);
  r[3] = '0';
  return r;
}

// ---------------------------------------------------------------------------------------------
// Statistics: one block per thread, merged for progress lines and the report.

struct Stats {
  std::mutex mu;
  Histogram latency;
  Histogram last_second;  // the same answers since the last progress line
  std::map<std::string, std::uint64_t> codes;
  std::array<std::uint64_t, kTxnKinds> kinds{};
  std::uint64_t completed = 0;
  std::uint64_t timeouts = 0;
  std::uint64_t errors = 0;
  std::uint64_t wrong_match = 0;
  std::uint64_t wrong_mac = 0;
  std::uint64_t wrong_code = 0;
  std::uint64_t unmatched = 0;
  std::uint64_t late = 0;
  std::uint64_t signons = 0;
  std::uint64_t signon_failures = 0;
  std::uint64_t full = 0;
  std::uint64_t resumed = 0;
  std::uint64_t unsent = 0;
  std::vector<std::string> problems;
  Clock::time_point last_completion{};

  void Problem(std::string line) {
    if (problems.size() < kMaxProblems) {
      problems.push_back(std::move(line));
    }
  }
};

// ---------------------------------------------------------------------------------------------
// KSN state: "TID INITIAL-KSN COUNTER" per line. Counters are reserved ahead in chunks and the
// file is rewritten (tmp + rename) before a reserved counter is used, so no run, even one that
// crashes, can reuse a KSN that an earlier run may have sent.

class KsnState {
 public:
  explicit KsnState(std::string path) : path_(std::move(path)) {}

  // The last counter recorded for (tid, ksn), 0 when none.
  void Load() {
    if (path_.empty()) {
      return;
    }
    std::ifstream in(path_);
    if (!in) {
      return;  // first run
    }
    std::string tid;
    std::string ksn;
    std::uint64_t counter = 0;
    while (in >> tid >> ksn >> counter) {
      entries_[tid] = Entry{ksn, static_cast<std::uint32_t>(
                                     std::min<std::uint64_t>(counter, crypto::kTdesCounterMask))};
    }
  }

  std::uint32_t Last(const std::string& tid, const std::string& ksn) const {
    auto it = entries_.find(tid);
    return it != entries_.end() && it->second.ksn == ksn ? it->second.counter : 0;
  }

  // Records `counter` as the highest that may have been used for tid and writes the file.
  [[nodiscard]] bool Reserve(const std::string& tid, const std::string& ksn,
                             std::uint32_t counter) {
    std::lock_guard lock(mu_);
    entries_[tid] = Entry{ksn, counter};
    return WriteLocked();
  }

  // Several at once (start of a run, end of a run), one write.
  [[nodiscard]] bool ReserveAll(
      const std::vector<std::tuple<std::string, std::string, std::uint32_t>>& items) {
    std::lock_guard lock(mu_);
    for (const auto& [tid, ksn, counter] : items) {
      entries_[tid] = Entry{ksn, counter};
    }
    return WriteLocked();
  }

  const std::string& path() const { return path_; }

 private:
  struct Entry {
    std::string ksn;
    std::uint32_t counter = 0;
  };

  bool WriteLocked() {
    if (path_.empty()) {
      return true;
    }
    const std::string tmp = path_ + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      for (const auto& [tid, e] : entries_) {
        out << tid << ' ' << e.ksn << ' ' << e.counter << '\n';
      }
      out.flush();
      if (!out) {
        return false;
      }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path_, ec);
    return !ec;
  }

  std::string path_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

// ---------------------------------------------------------------------------------------------
// Shared run state.

struct Run {
  const BenchOptions& o;
  std::shared_ptr<const iso8583::Dialect> dialect;
  crypto::SecretBytes bdk;
  crypto::SecretBytes pin;
  std::unique_ptr<ssl::context> tls;
  tcp::endpoint endpoint;
  KsnState state;

  Clock::time_point start{};         // when the load phase began
  Clock::time_point window_start{};  // start + warmup
  Clock::time_point window_end{};    // duration mode: window_start + duration
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> remaining{0};  // count mode: measured transactions left to start
  std::atomic<std::uint32_t> signons_done{0};
  std::atomic<std::uint32_t> loads_done{0};

  explicit Run(const BenchOptions& options) : o(options), state(options.state_file) {}
};

struct Terminal;

// What came back for one request.
struct Reply {
  enum class Status { kOk, kTimeout, kError };
  Status status = Status::kError;
  std::string tpdu;
  std::string message;
  std::string error;
};

// ---------------------------------------------------------------------------------------------
// A TCP connection, with TLS unless plain.

class Stream {
 public:
  Stream(asio::any_io_executor ex, ssl::context* tls) {
    if (tls != nullptr) {
      tls_.emplace(ex, *tls);
    } else {
      plain_.emplace(ex);
    }
  }

  tcp::socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }

  // Connects and (TLS) hands shakes within `timeout`, offering `session` for resumption.
  asio::awaitable<std::optional<std::string>> Open(const Run& run, SSL_SESSION* session,
                                                   bool* resumed) {
    asio::steady_timer deadline(socket().get_executor(), run.o.timeout);
    auto c = co_await (socket().async_connect(run.endpoint, kTuple) || deadline.async_wait(kTuple));
    if (c.index() != 0) {
      Close();
      co_return "connect: timed out";
    }
    if (auto [ec] = std::get<0>(c); ec) {
      Close();
      co_return "connect: " + ec.message();
    }
    boost::system::error_code ignored;
    socket().set_option(tcp::no_delay(true), ignored);
    if (tls_) {
      if (!run.o.insecure) {
        tls_->set_verify_mode(ssl::verify_peer);
        tls_->set_verify_callback(ssl::host_name_verification(run.o.host));
      }
      boost::system::error_code ip_ec;
      (void)asio::ip::make_address(run.o.host, ip_ec);
      if (ip_ec) {  // SNI for a host name, never for an address (RFC 6066 3)
        SSL_set_tlsext_host_name(tls_->native_handle(), run.o.host.c_str());
      }
      if (session != nullptr) {
        SSL_set_session(tls_->native_handle(), session);
      }
      auto h = co_await (tls_->async_handshake(ssl::stream_base::client, kTuple) ||
                         deadline.async_wait(kTuple));
      if (h.index() != 0) {
        Close();
        co_return "TLS handshake: timed out";
      }
      if (auto [ec] = std::get<0>(h); ec) {
        Close();
        co_return "TLS handshake: " + ec.message();
      }
      if (resumed != nullptr) {
        *resumed = SSL_session_reused(tls_->native_handle()) == 1;
      }
    }
    co_return std::nullopt;
  }

  asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> ReadSome(
      std::span<std::uint8_t> area) {
    if (tls_) {
      co_return co_await tls_->async_read_some(asio::buffer(area.data(), area.size()), kTuple);
    }
    co_return co_await plain_->async_read_some(asio::buffer(area.data(), area.size()), kTuple);
  }

  asio::awaitable<boost::system::error_code> Write(const std::string& bytes) {
    if (tls_) {
      auto [ec, n] = co_await asio::async_write(*tls_, asio::buffer(bytes), kTuple);
      (void)n;
      co_return ec;
    }
    auto [ec, n] = co_await asio::async_write(*plain_, asio::buffer(bytes), kTuple);
    (void)n;
    co_return ec;
  }

  // TLS close_notify, waiting (bounded) for the switch to close; reads the TLS 1.3 session
  // tickets that arrive after the handshake on the way.
  asio::awaitable<void> Shutdown(std::chrono::milliseconds timeout) {
    if (tls_) {
      asio::steady_timer deadline(socket().get_executor(), timeout);
      (void)co_await (tls_->async_shutdown(kTuple) || deadline.async_wait(kTuple));
    }
    Close();
  }

  // A resumable session (after the answer, or after Shutdown), or null.
  std::shared_ptr<SSL_SESSION> Session() {
    if (!tls_) {
      return nullptr;
    }
    SSL_SESSION* s = SSL_get1_session(tls_->native_handle());
    if (s == nullptr) {
      return nullptr;
    }
    if (SSL_SESSION_is_resumable(s) != 1) {
      SSL_SESSION_free(s);
      return nullptr;
    }
    return std::shared_ptr<SSL_SESSION>(s, SSL_SESSION_free);
  }

  void Close() {
    if (tls_) {
      // A plain close without close_notify: tell OpenSSL it is deliberate, else freeing the SSL
      // marks its session "bad" and it could not be resumed (ssl_clear_bad_session).
      SSL_set_shutdown(tls_->native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
    boost::system::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }

 private:
  std::optional<ssl::stream<tcp::socket>> tls_;
  std::optional<tcp::socket> plain_;
};

// ---------------------------------------------------------------------------------------------
// A long-lived connection shared by one or more terminals: requests are written as they come
// (queued ones in one write), answers matched on TID + MTI class + STAN, in any order.

class Link {
 public:
  struct Pending {
    explicit Pending(asio::any_io_executor ex) : timer(ex) {}
    asio::steady_timer timer;
    bool done = false;
    Reply reply;
  };

  Link(Run& run, Stats& stats, asio::any_io_executor ex, std::uint32_t thread)
      : run_(run), stats_(stats), ex_(ex), thread_(thread), connected_(ex) {}

  asio::awaitable<Reply> Exchange(const std::string& key, const std::string& frame,
                                  Clock::time_point deadline) {
    if (auto error = co_await EnsureOpen(); error) {
      Reply r;
      r.error = *error;
      co_return r;
    }
    Pending p(ex_);
    const std::uint64_t generation = generation_;
    pending_[key] = &p;
    writes_ += frame;
    if (!writing_) {
      asio::co_spawn(ex_, WriteLoop(), asio::detached);
    }
    p.timer.expires_at(deadline);
    (void)co_await p.timer.async_wait(kTuple);
    if (!p.done) {
      if (generation == generation_) {
        pending_.erase(key);
        timed_out_.insert(key);
      }
      p.reply.status = Reply::Status::kTimeout;
    }
    co_return std::move(p.reply);
  }

  void Close() {
    closing_ = true;
    Fail("closed by the harness");
  }

  bool open() const { return state_ == State::kOpen; }
  const asio::any_io_executor& executor() const { return ex_; }
  std::uint32_t thread() const { return thread_; }

 private:
  enum class State { kClosed, kConnecting, kOpen };

  asio::awaitable<std::optional<std::string>> EnsureOpen() {
    while (state_ != State::kOpen) {
      if (closing_) {
        co_return std::string("closed by the harness");
      }
      if (state_ == State::kConnecting) {
        connected_.expires_at(Clock::time_point::max());
        (void)co_await connected_.async_wait(kTuple);
        if (state_ != State::kOpen && !last_error_.empty()) {
          co_return last_error_;
        }
        continue;
      }
      state_ = State::kConnecting;
      stream_ = std::make_unique<Stream>(ex_, run_.tls.get());
      auto error = co_await stream_->Open(run_, nullptr, nullptr);
      if (error) {
        last_error_ = *error;
        state_ = State::kClosed;
        stream_.reset();
        connected_.cancel();
        co_return error;
      }
      last_error_.clear();
      state_ = State::kOpen;
      ++generation_;
      reader_ = std::make_unique<iso8583::FrameReader>(kFraming);
      asio::co_spawn(ex_, ReadLoop(generation_), asio::detached);
      connected_.cancel();
    }
    co_return std::nullopt;
  }

  asio::awaitable<void> WriteLoop() {
    writing_ = true;
    while (!writes_.empty() && state_ == State::kOpen) {
      std::string batch;
      batch.swap(writes_);
      Stream* s = stream_.get();
      if (auto ec = co_await s->Write(batch); ec) {
        Fail("send: " + ec.message());
        break;
      }
    }
    writes_.clear();
    writing_ = false;
  }

  asio::awaitable<void> ReadLoop(std::uint64_t generation) {
    while (generation == generation_ && state_ == State::kOpen) {
      auto next = reader_->Next();
      if (!next) {
        Fail("bad frame from the switch: " + next.error().Describe());
        co_return;
      }
      if (next->has_value()) {
        Deliver(**next);
        continue;
      }
      auto area = reader_->Prepare(16384);
      Stream* s = stream_.get();
      auto [ec, n] = co_await s->ReadSome(area);
      if (generation != generation_) {
        co_return;
      }
      reader_->Commit(n);
      if (ec) {
        Fail(ec == asio::error::eof ? std::string("the switch closed the connection")
                                    : "receive: " + ec.message());
        co_return;
      }
    }
  }

  void Deliver(const iso8583::Frame& f) {
    const std::string_view message(reinterpret_cast<const char*>(f.message.data()),
                                   f.message.size());
    iso8583::Message m;
    std::string key;
    if (iso8583::Unpack(*run_.dialect, message, m) && m.mti().size() == 4) {
      key = std::string(m.Get(41)) + "|" + std::string(m.mti().substr(0, 2)) + "|" +
            std::string(m.Get(11));
    }
    auto it = pending_.find(key);
    if (it == pending_.end()) {
      std::lock_guard lock(stats_.mu);
      if (timed_out_.erase(key) > 0) {
        stats_.late++;
      } else {
        stats_.unmatched++;
        stats_.Problem("an answer to no outstanding request (MTI " + std::string(m.mti()) +
                       ", STAN " + std::string(m.Get(11)) + ")");
      }
      return;
    }
    Pending* p = it->second;
    pending_.erase(it);
    p->done = true;
    p->reply.status = Reply::Status::kOk;
    p->reply.tpdu.assign(reinterpret_cast<const char*>(f.tpdu.data()), f.tpdu.size());
    p->reply.message.assign(message);
    p->timer.cancel();
  }

  void Fail(const std::string& why) {
    if (state_ == State::kOpen) {
      ++generation_;
      state_ = State::kClosed;
      last_error_ = why;
      if (stream_) {
        stream_->Close();
        // The stream may still have a read or write in flight: keep it until those return.
        retired_.push_back(std::move(stream_));
      }
    }
    for (auto& [key, p] : pending_) {
      p->done = true;
      p->reply.status = Reply::Status::kError;
      p->reply.error = why;
      p->timer.cancel();
    }
    pending_.clear();
    connected_.cancel();
  }

  Run& run_;
  Stats& stats_;
  asio::any_io_executor ex_;
  std::uint32_t thread_;
  State state_ = State::kClosed;
  bool closing_ = false;
  std::uint64_t generation_ = 0;
  std::string last_error_;
  std::unique_ptr<Stream> stream_;
  std::vector<std::unique_ptr<Stream>> retired_;
  std::unique_ptr<iso8583::FrameReader> reader_;
  asio::steady_timer connected_;
  std::unordered_map<std::string, Pending*> pending_;
  std::unordered_set<std::string> timed_out_;
  std::string writes_;
  bool writing_ = false;
};

// ---------------------------------------------------------------------------------------------
// A simulated terminal.

struct Original {
  std::string pan;
  std::int64_t amount = 0;
  std::int64_t refunded = 0;
  std::string rrn;
  std::string stan;
  std::string f7;
};

struct Terminal {
  std::uint32_t index = 0;
  std::string tid;
  std::string initial_ksn_hex;
  std::array<std::uint8_t, crypto::kTdesKsnSize> initial_ksn{};
  std::uint32_t counter = 0;   // the last used
  std::uint32_t reserved = 0;  // the highest the state file allows
  crypto::TdesDukptHostCache cache;
  std::mt19937_64 rng;
  std::optional<Original> last;  // the last approved purchase not voided or reversed
  std::shared_ptr<SSL_SESSION> session;
  Link* link = nullptr;
  Stats* stats = nullptr;
  std::uint32_t thread = 0;
  asio::io_context* io = nullptr;
};

// One request, built and ready to send, with what its answer must show.
struct Built {
  TxnKind kind = TxnKind::kPurchase;
  bool signon = false;
  std::string frame;
  std::string key;  // TID | MTI class | STAN
  std::string mti;
  std::string stan;
  std::string amount;  // field 4, empty when absent
  std::string pan;
  std::string f7;
  crypto::SecretBytes mac_response_key;
  std::vector<std::string_view> expected;
};

struct BuildError {
  std::string message;
};

boost::system::result<std::uint32_t, BuildError> NextCounter(Run& run, Terminal& t) {
  std::uint32_t c = t.counter + 1;
  while (std::popcount(c) > crypto::kTdesMaxCounterBits) {  // X9.24-1:2009 A.3
    ++c;
  }
  if (c > crypto::kTdesCounterMask) {
    return BuildError{"terminal " + t.tid +
                      ": KSN counter exhausted (delete its line in the state file and "
                      "re-provision the switch's data directory)"};
  }
  if (c > t.reserved) {
    const std::uint32_t upto = std::min<std::uint32_t>(c + kKsnChunk, crypto::kTdesCounterMask);
    if (!run.state.Reserve(t.tid, t.initial_ksn_hex, upto)) {
      return BuildError{"cannot write the KSN state file " + run.state.path()};
    }
    t.reserved = upto;
  }
  t.counter = c;
  return c;
}

boost::system::result<Built, BuildError> Build(Run& run, Terminal& t, TxnKind kind, bool signon) {
  Built b;
  b.signon = signon;
  iso8583::Message m;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::uniform_int_distribution<std::int64_t> amounts(run.o.min_amount, run.o.max_amount);
  const crypto::SecretBytes* pin = nullptr;
  // Refunds, voids and reversals need an approved purchase of this terminal: without one, the
  // terminal makes a purchase instead.
  if ((kind == TxnKind::kRefund || kind == TxnKind::kVoid || kind == TxnKind::kReversal) &&
      (!t.last || (kind == TxnKind::kRefund && t.last->refunded >= t.last->amount))) {
    kind = TxnKind::kPurchase;
  }
  b.kind = kind;
  b.f7 = TransmissionTime();
  if (signon) {
    m.SetMti("0800");
    m.Set(7, b.f7);
    m.Set(41, t.tid);
    m.Set(70, "001");
    b.expected = {"00"};
  } else if (kind == TxnKind::kPurchase || kind == TxnKind::kPreauth) {
    const bool decline = unit(t.rng) < run.o.decline_share;
    const bool with_pin = unit(t.rng) < run.o.pin_share;
    b.pan = decline ? kDeclinePan : with_pin ? kApprovePinPan : kApproveNoPinPan;
    if (with_pin) {
      pin = &run.pin;
    }
    b.amount = ZeroPad(static_cast<std::uint64_t>(amounts(t.rng)), 12);
    m.SetMti(kind == TxnKind::kPreauth ? "0100" : "0200");
    m.Set(2, b.pan);
    m.Set(3, "000000");
    m.Set(4, b.amount);
    m.Set(7, b.f7);
    m.Set(14, kBenchExpiry);
    m.Set(22, with_pin ? "051" : "012");
    m.Set(25, "00");
    m.Set(41, t.tid);
    m.Set(42, kBenchMid);
    m.Set(49, "978");
    b.expected =
        decline ? std::vector<std::string_view>{"05", "51"} : std::vector<std::string_view>{"00"};
  } else if (kind == TxnKind::kRefund) {
    Original& orig = *t.last;
    std::uniform_int_distribution<std::int64_t> small(
        1, std::min<std::int64_t>(100, orig.amount - orig.refunded));
    const std::int64_t amount = small(t.rng);
    b.pan = orig.pan;
    b.amount = ZeroPad(static_cast<std::uint64_t>(amount), 12);
    m.SetMti("0200");
    m.Set(2, b.pan);
    m.Set(3, "200000");
    m.Set(4, b.amount);
    m.Set(7, b.f7);
    m.Set(14, kBenchExpiry);
    m.Set(22, "012");
    m.Set(25, "00");
    m.Set(37, orig.rrn);
    m.Set(41, t.tid);
    m.Set(42, kBenchMid);
    m.Set(49, "978");
    orig.refunded += amount;
    b.expected = {"00"};
  } else if (kind == TxnKind::kVoid) {
    const Original orig = *t.last;
    t.last.reset();
    b.pan = orig.pan;
    b.amount = ZeroPad(static_cast<std::uint64_t>(orig.amount), 12);
    m.SetMti("0200");
    m.Set(2, b.pan);
    m.Set(3, "020000");
    m.Set(4, b.amount);
    m.Set(7, b.f7);
    m.Set(14, kBenchExpiry);
    m.Set(22, "012");
    m.Set(25, "00");
    m.Set(37, orig.rrn);
    m.Set(41, t.tid);
    m.Set(42, kBenchMid);
    m.Set(49, "978");
    b.expected = {"00"};  // the last approved purchase, same terminal, card and amount
  } else {                // reversal of the last approved purchase
    const Original orig = *t.last;
    t.last.reset();
    b.pan = orig.pan;
    b.amount = ZeroPad(static_cast<std::uint64_t>(orig.amount), 12);
    b.f7 = orig.f7;
    m.SetMti("0400");
    m.Set(2, b.pan);
    m.Set(3, "000000");
    m.Set(4, b.amount);
    m.Set(7, orig.f7);
    m.Set(11, orig.stan);
    m.Set(41, t.tid);
    m.Set(42, kBenchMid);
    m.Set(49, "978");
    b.expected = {"00"};
  }

  auto counter = NextCounter(run, t);
  if (!counter) {
    return counter.error();
  }
  std::array<std::uint8_t, crypto::kTdesKsnSize> ksn = t.initial_ksn;
  ksn[7] = static_cast<std::uint8_t>((ksn[7] & 0xE0) | ((*counter >> 16) & 0x1F));
  ksn[8] = static_cast<std::uint8_t>((*counter >> 8) & 0xFF);
  ksn[9] = static_cast<std::uint8_t>(*counter & 0xFF);
  if (!m.Has(11)) {
    m.Set(11, ZeroPad(*counter % 1000000 == 0 ? 1 : *counter % 1000000, 6));
  }
  b.stan = std::string(m.Get(11));
  b.mti = std::string(m.mti());
  b.key = t.tid + "|" + b.mti.substr(0, 2) + "|" + b.stan;
  auto key = t.cache.TransactionKey(run.bdk, ksn);
  if (!key) {
    return BuildError{"key derivation failed"};
  }
  auto mac_request = crypto::ApplyTdesVariant(*key, crypto::TdesDukptVariant::kMacRequest);
  auto mac_response = crypto::ApplyTdesVariant(*key, crypto::TdesDukptVariant::kMacResponse);
  if (!mac_request || !mac_response) {
    return BuildError{"key derivation failed"};
  }
  b.mac_response_key = std::move(*mac_response);
  if (pin != nullptr) {
    auto pin_key = crypto::ApplyTdesVariant(*key, crypto::TdesDukptVariant::kPin);
    if (!pin_key) {
      return BuildError{"key derivation failed"};
    }
    auto block = crypto::EncipherPinBlock(crypto::PinBlockFormat::kIso0, *pin_key, *pin, b.pan,
                                          crypto::SystemRandom());
    if (!block) {
      return BuildError{"PIN block: " + block.error().message()};
    }
    const auto v = block->view();
    m.Set(52, std::string_view(reinterpret_cast<const char*>(v.data()), v.size()));
  }
  m.Set(62, crypto::ToHex(ksn));
  const crypto::SecretBytes& mac_key = *mac_request;
  const iso8583::MacFunction mac = [&](std::span<const std::uint8_t> data,
                                       std::array<std::uint8_t, 8>& out) {
    auto r = crypto::RetailMac(mac_key, data, crypto::MacPadding::kMethod1);
    if (!r) {
      return false;
    }
    out = *r;
    return true;
  };
  std::string packed;
  if (auto r = iso8583::PackWithMac(*run.dialect, m, mac, packed); !r) {
    return BuildError{"request not packed: " + r.error().Describe()};
  }
  if (auto r = iso8583::AppendFrame(kFraming, kRequestTpdu.bytes(), Bytes(packed), b.frame); !r) {
    return BuildError{"request not framed: " + r.error().Describe()};
  }
  return b;
}

// What an answer was found to be.
struct Checked {
  enum class Verdict { kOk, kWrongMatch, kWrongMac, kWrongCode };
  Verdict verdict = Verdict::kOk;
  std::string code;
  std::string rrn;
  std::string why;
};

Checked Check(const Run& run, const Built& b, const Reply& reply) {
  Checked c;
  auto wrong = [&](Checked::Verdict v, std::string why) {
    c.verdict = v;
    c.why = std::move(why);
    return c;
  };
  if (reply.tpdu != std::string_view(reinterpret_cast<const char*>(kReplyTpdu.bytes().data()),
                                     iso8583::Tpdu::kSize)) {
    return wrong(Checked::Verdict::kWrongMatch, "answer TPDU is not the request's swapped");
  }
  iso8583::Message m;
  if (auto r = iso8583::Unpack(*run.dialect, reply.message, m); !r) {
    return wrong(Checked::Verdict::kWrongMatch, "answer not iso87b: " + r.error().Describe());
  }
  c.code = std::string(m.Get(39));
  if (m.mti() != ResponseMti(b.mti)) {
    return wrong(Checked::Verdict::kWrongMatch,
                 "answer MTI " + std::string(m.mti()) + " to a " + b.mti);
  }
  if (m.Get(11) != b.stan) {
    return wrong(Checked::Verdict::kWrongMatch,
                 "answer STAN " + std::string(m.Get(11)) + " to STAN " + b.stan);
  }
  if (m.Get(41) != std::string_view(b.key).substr(0, b.key.find('|'))) {
    return wrong(Checked::Verdict::kWrongMatch, "answer TID " + std::string(m.Get(41)) +
                                                    " to a request of " +
                                                    b.key.substr(0, b.key.find('|')));
  }
  if (!b.amount.empty() && m.Get(4) != b.amount) {
    return wrong(Checked::Verdict::kWrongMatch, "answer amount " + std::string(m.Get(4)) +
                                                    " to a request for " + b.amount + " (" + b.mti +
                                                    " STAN " + b.stan + ")");
  }
  const int mac_field = iso8583::MacField(m);
  if (!m.Has(mac_field)) {
    if (std::find(b.expected.begin(), b.expected.end(), c.code) == b.expected.end()) {
      return wrong(Checked::Verdict::kWrongCode, "response code " + c.code + " (not MACed) to " +
                                                     std::string(TxnKindName(b.kind)));
    }
    return wrong(Checked::Verdict::kWrongMac, "answer " + c.code + " without a MAC");
  }
  auto input = iso8583::MacInput(*run.dialect, m, reply.message);
  const std::string_view got = m.Get(mac_field);
  if (!input || !crypto::VerifyRetailMac(b.mac_response_key, Bytes(*input), Bytes(got))) {
    return wrong(Checked::Verdict::kWrongMac,
                 "answer MAC does not verify (" + b.mti + " STAN " + b.stan + ")");
  }
  if (std::find(b.expected.begin(), b.expected.end(), c.code) == b.expected.end()) {
    std::string want;
    for (auto e : b.expected) {
      want += (want.empty() ? "" : "/") + std::string(e);
    }
    return wrong(Checked::Verdict::kWrongCode,
                 "response code " + c.code + " to " +
                     std::string(b.signon ? "sign-on" : TxnKindName(b.kind)) + " (" + want +
                     " expected)");
  }
  c.rrn = std::string(m.Get(37));
  return c;
}

// ---------------------------------------------------------------------------------------------
// Per-transaction connections and handshake-only.

asio::awaitable<Reply> OneShot(Run& run, Terminal& t, const std::string& frame,
                               Clock::time_point deadline) {
  Reply r;
  auto ex = t.io->get_executor();
  Stream s(ex, run.tls.get());
  bool resumed = false;
  const bool offer = run.o.resume && t.session != nullptr;
  if (auto error = co_await s.Open(run, offer ? t.session.get() : nullptr, &resumed); error) {
    r.error = *error;
    co_return r;
  }
  if (run.tls) {
    std::lock_guard lock(t.stats->mu);
    (resumed ? t.stats->resumed : t.stats->full)++;
  }
  if (auto ec = co_await s.Write(frame); ec) {
    r.error = "send: " + ec.message();
    s.Close();
    co_return r;
  }
  iso8583::FrameReader reader(kFraming);
  asio::steady_timer timer(ex, deadline);
  while (true) {
    auto next = reader.Next();
    if (!next) {
      r.error = "bad frame from the switch: " + next.error().Describe();
      break;
    }
    if (next->has_value()) {
      const iso8583::Frame& f = **next;
      r.status = Reply::Status::kOk;
      r.tpdu.assign(reinterpret_cast<const char*>(f.tpdu.data()), f.tpdu.size());
      r.message.assign(reinterpret_cast<const char*>(f.message.data()), f.message.size());
      break;
    }
    auto area = reader.Prepare(4096);
    auto got = co_await (s.ReadSome(area) || timer.async_wait(kTuple));
    if (got.index() != 0) {
      r.status = Reply::Status::kTimeout;
      break;
    }
    auto [ec, n] = std::get<0>(got);
    reader.Commit(n);
    if (ec) {
      r.error = ec == asio::error::eof ? std::string("the switch closed the connection")
                                       : "receive: " + ec.message();
      break;
    }
  }
  if (run.o.resume) {
    if (auto session = s.Session()) {
      t.session = std::move(session);
    }
  }
  s.Close();  // no close_notify: the answer is in hand, and the switch handles a plain close
  co_return r;
}

asio::awaitable<std::optional<std::string>> Handshake(Run& run, Terminal& t) {
  Stream s(t.io->get_executor(), run.tls.get());
  bool resumed = false;
  const bool offer = run.o.resume && t.session != nullptr;
  if (auto error = co_await s.Open(run, offer ? t.session.get() : nullptr, &resumed); error) {
    co_return error;
  }
  if (run.tls) {
    std::lock_guard lock(t.stats->mu);
    (resumed ? t.stats->resumed : t.stats->full)++;
  }
  if (run.o.resume) {
    // TLS 1.3 tickets arrive after the handshake: the close_notify exchange reads them.
    co_await s.Shutdown(run.o.timeout);
    if (auto session = s.Session()) {
      t.session = std::move(session);
    }
  } else {
    s.Close();
  }
  co_return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// One transaction of a terminal, recorded in its thread's Stats.

bool Measured(const Run& run, Clock::time_point intended) { return intended >= run.window_start; }

asio::awaitable<void> Transact(Run& run, Terminal& t, TxnKind kind, Clock::time_point intended,
                               bool measured, bool signon) {
  Stats& st = *t.stats;
  auto built = Build(run, t, kind, signon);
  if (!built) {
    std::lock_guard lock(st.mu);
    st.errors++;
    st.Problem(built.error().message);
    co_return;
  }
  const Clock::time_point deadline = Clock::now() + run.o.timeout;
  Reply reply;
  if (t.link != nullptr) {
    reply = co_await t.link->Exchange(built->key, built->frame, deadline);
  } else {
    reply = co_await OneShot(run, t, built->frame, deadline);
  }
  const Clock::time_point end = Clock::now();
  Checked checked;
  if (reply.status == Reply::Status::kOk) {
    checked = Check(run, *built, reply);
    if (checked.verdict == Checked::Verdict::kOk && !signon && built->mti == "0200" &&
        built->kind == TxnKind::kPurchase && checked.code == "00" && !checked.rrn.empty()) {
      t.last =
          Original{built->pan, std::stoll(built->amount), 0, checked.rrn, built->stan, built->f7};
    }
  }
  std::lock_guard lock(st.mu);
  if (signon) {
    st.signons++;
  }
  switch (reply.status) {
    case Reply::Status::kTimeout:
      st.timeouts++;
      if (signon) {
        st.signon_failures++;
      }
      st.Problem(t.tid + ": no answer to " + built->mti + " STAN " + built->stan + " within " +
                 std::to_string(run.o.timeout.count()) + " ms");
      co_return;
    case Reply::Status::kError:
      st.errors++;
      if (signon) {
        st.signon_failures++;
      }
      st.Problem(t.tid + ": " + reply.error);
      co_return;
    case Reply::Status::kOk:
      break;
  }
  switch (checked.verdict) {
    case Checked::Verdict::kOk:
      break;
    case Checked::Verdict::kWrongMatch:
      st.wrong_match++;
      break;
    case Checked::Verdict::kWrongMac:
      st.wrong_mac++;
      break;
    case Checked::Verdict::kWrongCode:
      st.wrong_code++;
      break;
  }
  if (checked.verdict != Checked::Verdict::kOk) {
    if (signon) {
      st.signon_failures++;
    }
    st.Problem(t.tid + ": " + checked.why);
  }
  if (measured && !signon) {
    const auto nanos = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(end - intended).count());
    st.latency.Record(nanos);
    st.last_second.Record(nanos);
    st.codes[checked.code]++;
    st.kinds[static_cast<int>(built->kind)]++;
    st.completed++;
    st.last_completion = std::max(st.last_completion, end);
  }
}

asio::awaitable<void> HandshakeOnce(Run& run, Terminal& t, Clock::time_point intended,
                                    bool measured) {
  auto error = co_await Handshake(run, t);
  const Clock::time_point end = Clock::now();
  Stats& st = *t.stats;
  std::lock_guard lock(st.mu);
  if (error) {
    st.errors++;
    st.Problem(t.tid + ": " + *error);
    co_return;
  }
  if (measured) {
    const auto nanos = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(end - intended).count());
    st.latency.Record(nanos);
    st.last_second.Record(nanos);
    st.completed++;
    st.last_completion = std::max(st.last_completion, end);
  }
}

TxnKind PickKind(const Run& run, Terminal& t) {
  std::uniform_int_distribution<std::uint32_t> d(0, run.o.mix.total() - 1);
  std::uint32_t x = d(t.rng);
  for (int k = 0; k < kTxnKinds; ++k) {
    if (x < run.o.mix.weight[k]) {
      return static_cast<TxnKind>(k);
    }
    x -= run.o.mix.weight[k];
  }
  return TxnKind::kPurchase;
}

// The load of one terminal: closed loop (next request when the answer is in) or open loop (the
// terminal's share of the rate at fixed intervals; latency from the intended time).
asio::awaitable<void> Load(Run& run, Terminal& t, std::uint32_t position) {
  const bool open = run.o.rate > 0;
  const auto interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(open ? run.o.terminals / run.o.rate : 0.0));
  Clock::time_point next =
      run.start + std::chrono::duration_cast<Clock::duration>(
                      std::chrono::duration<double>(open ? position / run.o.rate : 0.0));
  asio::steady_timer timer(t.io->get_executor());
  const bool count_mode = run.o.count > 0;
  while (!run.stop.load(std::memory_order_relaxed)) {
    Clock::time_point intended = Clock::now();
    if (!count_mode && intended >= run.window_end) {
      break;  // the window is over, whether or not this terminal kept up with its schedule
    }
    if (open) {
      if (next >= run.window_end ||
          (count_mode && next >= run.window_start && run.remaining.load() <= 0)) {
        break;
      }
      if (next > intended) {
        timer.expires_at(next);
        (void)co_await timer.async_wait(kTuple);
        if (run.stop.load(std::memory_order_relaxed)) {
          break;
        }
      }
      intended = next;
      next += interval;
    }
    if (!count_mode && intended >= run.window_end) {
      break;
    }
    const bool measured = Measured(run, intended);
    if (measured && count_mode && run.remaining.fetch_sub(1) <= 0) {
      break;
    }
    if (run.o.mode == ConnectionMode::kHandshakeOnly) {
      co_await HandshakeOnce(run, t, intended, measured);
    } else {
      co_await Transact(run, t, PickKind(run, t), intended, measured, false);
    }
  }
  if (open && !count_mode && next < run.window_end) {
    // Open loop behind schedule at the end: requests that were due and never sent.
    std::lock_guard lock(t.stats->mu);
    t.stats->unsent += static_cast<std::uint64_t>((run.window_end - next) / interval) + 1;
  }
  run.loads_done++;
}

// Signs terminals on, `workers` at a time per thread: each worker takes the next terminal.
asio::awaitable<void> SignOnWorker(Run& run, std::vector<Terminal*>& terminals, std::size_t& next) {
  while (next < terminals.size()) {
    Terminal& t = *terminals[next++];
    co_await Transact(run, t, TxnKind::kPurchase, Clock::now(), false, true);
    run.signons_done++;
  }
}

// ---------------------------------------------------------------------------------------------

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return std::nullopt;
  }
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void MergeInto(Report& r, Stats& s, Clock::time_point& last_completion) {
  std::lock_guard lock(s.mu);
  r.latency_ns.Merge(s.latency);
  for (const auto& [code, n] : s.codes) {
    r.response_codes[code] += n;
  }
  for (int k = 0; k < kTxnKinds; ++k) {
    r.sent_by_kind[k] += s.kinds[k];
  }
  r.transactions += s.completed;
  r.timeouts += s.timeouts;
  r.errors += s.errors;
  r.wrong_match += s.wrong_match;
  r.wrong_mac += s.wrong_mac;
  r.wrong_code += s.wrong_code;
  r.unmatched_answers += s.unmatched;
  r.late_answers += s.late;
  r.signons += s.signons;
  r.signon_failures += s.signon_failures;
  r.handshakes_full += s.full;
  r.handshakes_resumed += s.resumed;
  r.open_loop_unsent += s.unsent;
  for (const auto& p : s.problems) {
    if (r.problems.size() < kMaxProblems) {
      r.problems.push_back(p);
    }
  }
  last_completion = std::max(last_completion, s.last_completion);
}

// utime + stime in seconds from the text of a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat
// file, and the command name in it (between the first '(' and the last ')').
std::optional<std::pair<std::string, double>> ParseStat(const std::string& text) {
  const auto open = text.find('(');
  const auto paren = text.rfind(')');
  if (open == std::string::npos || paren == std::string::npos || paren < open ||
      paren + 2 > text.size()) {
    return std::nullopt;
  }
  std::istringstream in(text.substr(paren + 2));
  std::string field;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  // After the command: state (3), ppid, pgrp, session, tty_nr, tpgid, flags, minflt, cminflt,
  // majflt, cmajflt, utime (14), stime (15) — proc(5).
  for (int i = 3; i <= 13; ++i) {
    in >> field;
  }
  if (!(in >> utime >> stime)) {
    return std::nullopt;
  }
  return std::pair{text.substr(open + 1, paren - open - 1),
                   static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK))};
}

}  // namespace

std::optional<double> ProcessCpuSeconds(int pid) {
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!text) {
    return std::nullopt;
  }
  auto parsed = ParseStat(*text);
  if (!parsed) {
    return std::nullopt;
  }
  return parsed->second;
}

std::optional<std::map<std::string, double>> ThreadCpuSeconds(int pid) {
  std::error_code ec;
  std::filesystem::directory_iterator it(
      std::filesystem::path("/proc") / std::to_string(pid) / "task", ec);
  if (ec) {
    return std::nullopt;
  }
  std::map<std::string, double> by_name;
  // Not a range for: its increment throws if the process ends while the directory is read.
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    // A thread may end between listing and reading; it is then left out.
    if (auto text = ReadFile((it->path() / "stat").string()); text) {
      if (auto parsed = ParseStat(*text); parsed) {
        by_name[parsed->first] += parsed->second;
      }
    }
  }
  if (ec) {
    return std::nullopt;  // the process ended meanwhile
  }
  return by_name;
}

std::vector<std::pair<std::string, double>> ThreadCpuDelta(
    const std::map<std::string, double>& before, const std::map<std::string, double>& after) {
  std::vector<std::pair<std::string, double>> delta;
  for (const auto& [name, seconds] : after) {
    const auto was = before.find(name);
    const double d = seconds - (was == before.end() ? 0.0 : was->second);
    if (d > 0) {
      delta.emplace_back(name, d);
    }
  }
  std::sort(delta.begin(), delta.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  return delta;
}

std::optional<std::int64_t> ProcessRssKib(int pid) {
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/status");
  if (!text) {
    return std::nullopt;
  }
  const auto at = text->find("VmRSS:");
  if (at == std::string::npos) {
    return std::nullopt;
  }
  std::istringstream in(text->substr(at + 6));
  std::int64_t kib = 0;
  if (!(in >> kib)) {
    return std::nullopt;
  }
  return kib;
}

std::uint64_t RaiseFileLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    return 0;
  }
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &lim);
    (void)getrlimit(RLIMIT_NOFILE, &lim);
  }
  return lim.rlim_cur;
}

Report RunBench(const BenchOptions& options, std::ostream& progress) {
  Run run(options);
  const BenchOptions& o = options;
  Report report;
  report.options = o;

  // Start-up: everything that can fail before the load throws.
  auto dialect = iso8583::LoadDialect("iso87b");
  if (!dialect) {
    throw std::invalid_argument("dialect iso87b: " + dialect.error().message);
  }
  run.dialect = *dialect;
  auto bdk = crypto::SecretFromHex(kBenchBdkHex);
  auto pin = crypto::SecretBytes::FromString(kBenchPin);
  if (!bdk || !pin) {
    throw std::invalid_argument("the bench BDK or PIN does not load");
  }
  run.bdk = std::move(*bdk);
  run.pin = std::move(*pin);
  if (!o.plain) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    if (!o.insecure) {
      boost::system::error_code ec;
      ctx->load_verify_file(o.ca_file, ec);
      if (ec) {
        throw std::invalid_argument("--ca: cannot load " + o.ca_file + ": " + ec.message());
      }
    }
    run.tls = std::move(ctx);
  }
  {
    asio::io_context io;
    tcp::resolver resolver(io);
    boost::system::error_code ec;
    auto results = resolver.resolve(o.host, std::to_string(o.port), ec);
    if (ec || results.empty()) {
      throw std::invalid_argument("--host " + o.host + ": " + ec.message());
    }
    run.endpoint = results.begin()->endpoint();
  }
  RaiseFileLimit();
  run.state.Load();

  // Terminals, threads, links.
  const std::uint32_t threads = std::max<std::uint32_t>(1, std::min(o.threads, o.terminals));
  std::vector<std::unique_ptr<asio::io_context>> ios;
  std::vector<std::unique_ptr<Stats>> stats;
  for (std::uint32_t i = 0; i < threads; ++i) {
    ios.push_back(std::make_unique<asio::io_context>(1));
    stats.push_back(std::make_unique<Stats>());
  }
  std::vector<std::unique_ptr<Terminal>> terminals;
  std::vector<std::unique_ptr<Link>> links;
  std::vector<std::tuple<std::string, std::string, std::uint32_t>> reservations;
  const bool linked = o.mode == ConnectionMode::kPersistent || o.mode == ConnectionMode::kShared ||
                      o.mode == ConnectionMode::kIdle;
  const std::uint32_t per_link = o.mode == ConnectionMode::kShared ? o.terminals_per_connection : 1;
  for (std::uint32_t i = 0; i < o.terminals; ++i) {
    auto t = std::make_unique<Terminal>();
    t->index = o.first_terminal + i;
    t->tid = TerminalId(t->index);
    t->initial_ksn_hex = TerminalInitialKsn(t->index);
    auto ksn = crypto::FromHex(t->initial_ksn_hex);
    std::copy(ksn->begin(), ksn->end(), t->initial_ksn.begin());
    t->counter = run.state.Last(t->tid, t->initial_ksn_hex);
    const std::uint32_t group = i / per_link;
    const std::uint32_t thread = group % threads;
    t->io = ios[thread].get();
    t->stats = stats[thread].get();
    t->thread = thread;
    t->rng.seed(o.seed * 0x9E3779B97F4A7C15ULL + t->index);
    if (linked) {
      if (i % per_link == 0) {
        links.push_back(std::make_unique<Link>(run, *t->stats, t->io->get_executor(), thread));
      }
      t->link = links.back().get();
    }
    if (o.mode != ConnectionMode::kHandshakeOnly) {
      t->reserved = std::min<std::uint32_t>(t->counter + kKsnChunk, crypto::kTdesCounterMask);
      reservations.emplace_back(t->tid, t->initial_ksn_hex, t->reserved);
    }
    terminals.push_back(std::move(t));
  }
  if (!reservations.empty() && !run.state.ReserveAll(reservations)) {
    throw std::invalid_argument("cannot write the KSN state file " + o.state_file);
  }
  auto write_final_state = [&] {
    std::vector<std::tuple<std::string, std::string, std::uint32_t>> used;
    for (const auto& t : terminals) {
      used.emplace_back(t->tid, t->initial_ksn_hex, t->counter);
    }
    if (!used.empty() && o.mode != ConnectionMode::kHandshakeOnly && !run.state.ReserveAll(used)) {
      report.errors++;
      report.problems.push_back("cannot write the KSN state file " + o.state_file);
    }
  };

  // The contexts run for the whole run; the main thread hands them each phase's work and
  // watches. Work guards keep a context alive between phases.
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> runners;
  for (auto& io : ios) {
    guards.push_back(asio::make_work_guard(*io));
  }
  for (auto& io : ios) {
    runners.emplace_back([&io] { io->run(); });
  }
  auto finish_threads = [&] {
    for (std::size_t i = 0; i < links.size(); ++i) {
      asio::post(links[i]->executor(), [l = links[i].get()] { l->Close(); });
    }
    for (auto& g : guards) {
      g.reset();
    }
    for (auto& th : runners) {
      th.join();
    }
    runners.clear();
  };

  // Phase 1: sign-on (opens the links); in idle mode, the whole point.
  std::optional<std::int64_t> rss_before;
  if (o.switch_pid > 0) {
    rss_before = ProcessRssKib(o.switch_pid);
  }
  const bool signon = o.mode != ConnectionMode::kHandshakeOnly &&
                      (!o.skip_signon || o.mode == ConnectionMode::kIdle);
  std::vector<std::vector<Terminal*>> per_thread(threads);
  for (auto& t : terminals) {
    per_thread[t->thread].push_back(t.get());
  }
  if (signon) {
    const auto t0 = Clock::now();
    if (o.progress) {
      progress << "bench: signing on " << o.terminals << " terminal(s)" << std::endl;
    }
    std::vector<std::size_t> next(threads, 0);
    const std::size_t workers = std::max<std::size_t>(1, o.connect_concurrency / threads);
    for (std::uint32_t th = 0; th < threads; ++th) {
      for (std::size_t w = 0; w < std::min(workers, per_thread[th].size()); ++w) {
        asio::co_spawn(*ios[th], SignOnWorker(run, per_thread[th], next[th]), asio::detached);
      }
    }
    while (run.signons_done.load() < o.terminals) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (o.progress) {
      const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      progress << "bench: signed on in " << secs << " s" << std::endl;
    }
  }

  if (o.mode == ConnectionMode::kIdle) {
    // Hold the connections, then measure the switch's memory and close them.
    std::this_thread::sleep_for(o.hold);
    std::atomic<std::uint64_t> open{0};
    std::atomic<std::uint32_t> counted{0};
    for (std::uint32_t th = 0; th < threads; ++th) {
      asio::post(*ios[th], [&, th] {
        for (auto& l : links) {
          if (l->thread() == th && l->open()) {
            open++;
          }
        }
        counted++;
      });
    }
    while (counted.load() < threads) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    report.idle_connections = open.load();
    if (o.switch_pid > 0) {
      report.switch_rss_before_kib = rss_before;
      report.switch_rss_after_kib = ProcessRssKib(o.switch_pid);
      if (rss_before && report.switch_rss_after_kib && report.idle_connections > 0) {
        report.switch_rss_per_terminal_kib =
            static_cast<double>(*report.switch_rss_after_kib - *rss_before) /
            static_cast<double>(report.idle_connections);
      }
    }
    finish_threads();
  } else {
    // Phase 2: the load.
    run.start = Clock::now();
    run.window_start = run.start + o.warmup;
    run.window_end = o.count > 0 ? Clock::time_point::max() : run.window_start + o.duration;
    run.remaining = static_cast<std::int64_t>(o.count);
    std::optional<double> cpu_before;
    std::optional<double> cpu_after;
    std::optional<std::map<std::string, double>> threads_before;
    std::optional<std::map<std::string, double>> threads_after;
    if (o.switch_pid > 0 && o.warmup.count() == 0) {
      cpu_before = ProcessCpuSeconds(o.switch_pid);
      threads_before = ThreadCpuSeconds(o.switch_pid);
    }
    std::uint32_t position = 0;
    for (auto& t : terminals) {
      asio::co_spawn(*t->io, Load(run, *t, position++), asio::detached);
    }
    bool window_started = o.warmup.count() == 0;
    bool window_closed = false;
    Clock::time_point line_at = run.start;
    std::uint64_t line_count = 0;
    auto tick = run.start;
    while (run.loads_done.load() < o.terminals) {
      tick += std::chrono::milliseconds(50);
      std::this_thread::sleep_until(tick);
      const auto now = Clock::now();
      if (!window_started && now >= run.window_start) {
        window_started = true;
        if (o.switch_pid > 0) {
          cpu_before = ProcessCpuSeconds(o.switch_pid);
          threads_before = ThreadCpuSeconds(o.switch_pid);
        }
      }
      if (!window_closed && now >= run.window_end) {
        window_closed = true;
        if (o.switch_pid > 0) {
          cpu_after = ProcessCpuSeconds(o.switch_pid);
          threads_after = ThreadCpuSeconds(o.switch_pid);
        }
      }
      if (o.progress && now - line_at >= std::chrono::seconds(1)) {
        std::uint64_t completed = 0;
        std::uint64_t problems = 0;
        Histogram h;
        Histogram second;
        for (auto& s : stats) {
          std::lock_guard lock(s->mu);
          completed += s->completed;
          problems += s->errors + s->timeouts + s->wrong_match + s->wrong_mac + s->wrong_code +
                      s->unmatched;
          h.Merge(s->latency);
          second.Merge(s->last_second);
          s->last_second.Reset();
        }
        const double secs = std::chrono::duration<double>(now - line_at).count();
        const double elapsed = std::chrono::duration<double>(now - run.start).count();
        char line[256];
        std::snprintf(
            line, sizeof line,
            "bench: %5.0f s  %8.0f/s  total %llu  problems %llu  p99 %s (this second %s, max %s)%s",
            elapsed, static_cast<double>(completed - line_count) / secs,
            static_cast<unsigned long long>(completed), static_cast<unsigned long long>(problems),
            FormatNanos(h.Percentile(99.0)).c_str(), FormatNanos(second.Percentile(99.0)).c_str(),
            FormatNanos(second.max()).c_str(), window_started ? "" : "  (warm-up)");
        progress << line << std::endl;
        line_at = now;
        line_count = completed;
      }
    }
    const auto loads_end = Clock::now();
    if (o.switch_pid > 0 && !cpu_after) {
      cpu_after = ProcessCpuSeconds(o.switch_pid);
      threads_after = ThreadCpuSeconds(o.switch_pid);
    }
    finish_threads();
    Clock::time_point last_completion{};
    for (auto& s : stats) {
      MergeInto(report, *s, last_completion);
    }
    const Clock::time_point end =
        o.count > 0 ? std::max(last_completion, run.window_start)
                    : std::min(run.window_end, std::max(loads_end, run.window_start));
    report.window_seconds = std::chrono::duration<double>(end - run.window_start).count();
    if (report.window_seconds > 0) {
      report.throughput = static_cast<double>(report.transactions) / report.window_seconds;
    }
    if (cpu_before && cpu_after) {
      report.switch_cpu_seconds = *cpu_after - *cpu_before;
      if (report.transactions > 0) {
        report.switch_cpu_us_per_txn =
            *report.switch_cpu_seconds * 1e6 / static_cast<double>(report.transactions);
      }
    }
    if (threads_before && threads_after) {
      report.switch_cpu_seconds_by_thread = ThreadCpuDelta(*threads_before, *threads_after);
    }
  }
  if (o.mode == ConnectionMode::kIdle) {
    Clock::time_point last_completion{};
    for (auto& s : stats) {
      MergeInto(report, *s, last_completion);
    }
  }
  write_final_state();
  return report;
}

}  // namespace sy::bench
