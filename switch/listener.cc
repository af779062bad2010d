#include "switch/listener.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include "switch/log.h"
#include "switch/tls_stream.h"

namespace sy::server {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Runs on the session's strand.
  virtual void Close() = 0;
  virtual asio::any_io_executor strand() = 0;
};

tcp::socket& Lowest(tcp::socket& s) { return s; }
tcp::socket& Lowest(TlsStream& s) { return s.next_layer(); }

// Reads and writes alike for plain TCP and TLS.
asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> ReadSome(
    tcp::socket& s, asio::mutable_buffer buffer) {
  co_return co_await s.async_read_some(buffer, kTuple);
}
asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> ReadSome(
    TlsStream& s, asio::mutable_buffer buffer) {
  co_return co_await s.ReadSome(buffer);
}
asio::awaitable<boost::system::error_code> WriteAll(tcp::socket& s, asio::const_buffer data) {
  auto [ec, n] = co_await asio::async_write(s, data, kTuple);
  (void)n;
  co_return ec;
}
asio::awaitable<boost::system::error_code> WriteAll(TlsStream& s, asio::const_buffer data) {
  co_return co_await s.Write(data);
}

// Mutual TLS: the names the client certificate gives its holder — the subject's CN and every DNS
// name among its subject alternative names. Empty without a client certificate.
std::vector<std::string> PeerNames(tcp::socket&) { return {}; }
std::vector<std::string> PeerNames(TlsStream& s) {
  std::vector<std::string> names;
  X509* cert = SSL_get1_peer_certificate(s.native_handle());
  if (cert == nullptr) {
    return names;
  }
  char cn[256] = {};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn)) > 0) {
    names.emplace_back(cn);
  }
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
      if (name->type == GEN_DNS) {
        const ASN1_IA5STRING* dns = name->d.dNSName;
        names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                           static_cast<std::size_t>(ASN1_STRING_length(dns)));
      }
    }
    GENERAL_NAMES_free(sans);
  }
  X509_free(cert);
  return names;
}

template <class Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Stream stream, const ListenerOptions& options, RequestHandler& handler,
          std::shared_ptr<ListenerStats> stats, std::uint64_t id)
      : stream_(std::move(stream)),
        options_(options),
        handler_(handler),
        stats_(std::move(stats)),
        id_(id),
        reader_(options.framing),
        idle_(stream_.get_executor()),
        slot_(stream_.get_executor()) {}

  asio::awaitable<void> Run() {
    auto self = this->shared_from_this();
    if constexpr (!std::is_same_v<Stream, tcp::socket>) {
      // The idle timer is the handshake's deadline: when it fires first, the connection closes
      // under the handshake, which then ends with an error. (One timer and no second coroutine
      // per connection, unlike racing the two.)
      idle_.expires_after(options_.handshake_timeout);
      idle_.async_wait([self](boost::system::error_code ec) {
        if (!ec && !self->handshaken_) {
          self->Close();
        }
      });
      const auto ec = co_await stream_.Handshake();
      handshaken_ = true;
      idle_.cancel();
      if (ec || closed_) {
        stats_->tls_handshake_failures++;
        Close();
        co_return;
      }
    }
    peer_ = PeerNames(stream_);
    last_activity_ = std::chrono::steady_clock::now();
    asio::co_spawn(stream_.get_executor(), IdleWatch(self), asio::detached);
    while (!closed_) {
      // Hand buffered frames to the pipeline while below the cap...
      bool need_bytes = false;
      while (!closed_ && in_flight_ < options_.max_in_flight) {
        auto next = reader_.Next();
        if (!next) {
          stats_->framing_errors++;
          SY_LOG(kWarning) << "listener " << options_.name << ": connection " << id_
                           << " closed: " << next.error().Describe();
          Close();
          break;
        }
        if (!next->has_value()) {
          need_bytes = true;
          break;
        }
        Dispatch(**next);
      }
      if (closed_) {
        break;
      }
      if (!need_bytes) {
        // ...and at the cap, stop reading (back-pressure) until a request completes.
        slot_.expires_at(asio::steady_timer::time_point::max());
        (void)co_await slot_.async_wait(kTuple);  // cancelled by a completing request
        continue;
      }
      auto area = reader_.Prepare(2048);
      auto [ec, n] = co_await ReadSome(stream_, asio::buffer(area.data(), area.size()));
      if (ec) {
        break;
      }
      reader_.Commit(n);
      last_activity_ = std::chrono::steady_clock::now();
    }
    Close();
  }

  void Close() override {
    if (closed_) {
      return;
    }
    closed_ = true;
    boost::system::error_code ignored;
    Lowest(stream_).shutdown(tcp::socket::shutdown_both, ignored);
    Lowest(stream_).close(ignored);
    idle_.cancel();
    slot_.cancel();
  }

  asio::any_io_executor strand() override { return stream_.get_executor(); }

 private:
  void Dispatch(const iso8583::Frame& frame) {
    Request r;
    r.message.assign(reinterpret_cast<const char*>(frame.message.data()), frame.message.size());
    r.frame.assign(reinterpret_cast<const char*>(frame.tpdu.data()), frame.tpdu.size());
    r.frame += r.message;
    if (!frame.tpdu.empty()) {
      if (auto t = iso8583::Tpdu::FromBytes(frame.tpdu); t) {
        r.tpdu = *t;
      }
    }
    r.peer_names = peer_;
    r.dialect = options_.dialect;
    r.connection_id = id_;
    ++in_flight_;
    stats_->requests++;
    auto self = this->shared_from_this();
    asio::co_spawn(stream_.get_executor(), Answer(self, std::move(r)),
                   [self](std::exception_ptr e) {
                     if (e) {
                       // A handler that throws is a bug: this request goes unanswered and the
                       // connection is closed, the process carries on.
                       self->stats_->handler_failures++;
                       self->Close();
                     }
                   });
  }

  asio::awaitable<void> Answer(std::shared_ptr<Session> self, Request r) {
    const std::optional<iso8583::Tpdu> tpdu = r.tpdu;
    Response answer = co_await handler_.Handle(std::move(r));
    --in_flight_;
    slot_.cancel();
    if (!answer.message || closed_) {
      if (answer.close_connection) {
        Close();
      }
      co_return;
    }
    const std::optional<std::string>& response = answer.message;
    std::string frame;
    std::span<const std::uint8_t> tpdu_bytes;
    iso8583::Tpdu reply;
    if (tpdu) {
      reply = tpdu->SwapForReply();
      tpdu_bytes = reply.bytes();
    }
    auto framed = iso8583::AppendFrame(
        options_.framing, tpdu_bytes,
        {reinterpret_cast<const std::uint8_t*>(response->data()), response->size()}, frame);
    if (!framed) {
      SY_LOG(kError) << "listener " << options_.name
                     << ": response not framed: " << framed.error().Describe();
      co_return;
    }
    writes_.push_back(std::move(frame));
    if (!writing_) {
      writing_ = true;
      while (!writes_.empty() && !closed_) {
        auto ec = co_await WriteAll(stream_, asio::buffer(writes_.front()));
        writes_.pop_front();
        if (ec) {
          Close();
        }
      }
      writes_.clear();
      writing_ = false;
    }
    if (answer.close_connection) {
      Close();
    }
    last_activity_ = std::chrono::steady_clock::now();
    (void)self;
  }

  asio::awaitable<void> IdleWatch(std::shared_ptr<Session> self) {
    while (!closed_) {
      idle_.expires_after(options_.idle_timeout);
      (void)co_await idle_.async_wait(kTuple);  // woken early only by Close
      if (closed_) {
        break;
      }
      const auto quiet = std::chrono::steady_clock::now() - last_activity_;
      if (in_flight_ == 0 && quiet >= options_.idle_timeout) {
        stats_->idle_closes++;
        Close();
      }
    }
    (void)self;
  }

  Stream stream_;
  const ListenerOptions& options_;
  RequestHandler& handler_;
  std::shared_ptr<ListenerStats> stats_;
  std::uint64_t id_;
  iso8583::FrameReader reader_;
  asio::steady_timer idle_;
  asio::steady_timer slot_;
  std::size_t in_flight_ = 0;
  std::deque<std::string> writes_;
  bool writing_ = false;
  bool closed_ = false;
  bool handshaken_ = false;  // the TLS handshake ended (its deadline no longer applies)
  std::vector<std::string> peer_;
  std::chrono::steady_clock::time_point last_activity_;
};

}  // namespace

struct Listener::Shared {
  explicit Shared(asio::any_io_executor ex) : acceptor(ex) {}
  tcp::acceptor acceptor;
  std::mutex mu;
  std::unordered_map<std::uint64_t, std::weak_ptr<SessionBase>> sessions;  // open ones, by id
  bool stopped = false;
  std::atomic<std::uint64_t> next_id{1};
};

Listener::Listener(asio::any_io_executor executor, ListenerOptions options, RequestHandler& handler)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      handler_(handler),
      stats_(std::make_shared<ListenerStats>()),
      shared_(std::make_shared<Shared>(executor_)) {}

Listener::~Listener() { Stop(); }

boost::system::error_code Listener::Start() {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options_.address, ec);
  if (ec) {
    return ec;
  }
  tcp::endpoint endpoint(address, options_.port);
  auto& acceptor = shared_->acceptor;
  if (acceptor.open(endpoint.protocol(), ec); ec) {
    return ec;
  }
  acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (acceptor.bind(endpoint, ec); ec) {
    return ec;
  }
  if (acceptor.listen(options_.backlog, ec); ec) {
    return ec;
  }
  port_ = acceptor.local_endpoint().port();

  auto shared = shared_;
  auto stats = stats_;
  auto* options = &options_;
  auto* handler = &handler_;
  auto executor = executor_;
  asio::co_spawn(
      executor_,
      [shared, stats, options, handler, executor]() -> asio::awaitable<void> {
        while (true) {
          // Each session on a strand of its own, unless one thread runs everything anyway.
          asio::any_io_executor session_executor =
              options->one_thread ? executor : asio::make_strand(executor);
          auto [ec, socket] = co_await shared->acceptor.async_accept(session_executor, kTuple);
          if (ec) {
            if (ec == asio::error::operation_aborted || !shared->acceptor.is_open()) {
              co_return;
            }
            continue;  // e.g. EMFILE: keep accepting; the next one may succeed
          }
          boost::system::error_code ignored;
          socket.set_option(tcp::no_delay(true), ignored);
          stats->connections_accepted++;
          stats->connections_open++;
          const std::uint64_t id = shared->next_id++;
          // Registered before it runs, so that its end always finds its entry: O(1) per
          // connection however many others are open. (Sweeping the expired entries of every open
          // session at each accept cost ~90 us per connection with 9,000 idle terminals.)
          auto start = [&](auto s) {
            bool stopped = false;
            {
              std::lock_guard lock(shared->mu);
              stopped = shared->stopped;
              if (!stopped) {
                shared->sessions.emplace(id, s);
              }
            }
            asio::co_spawn(s->strand(), s->Run(), [stats, shared, id](std::exception_ptr) {
              stats->connections_open--;
              std::lock_guard lock(shared->mu);
              if (!shared->stopped) {  // else Stop has taken the map
                shared->sessions.erase(id);
              }
            });
            if (stopped) {
              asio::post(s->strand(), [s] { s->Close(); });
            }
          };
          if (options->tls) {
            start(std::make_shared<Session<TlsStream>>(TlsStream(std::move(socket), *options->tls),
                                                       *options, *handler, stats, id));
          } else {
            start(std::make_shared<Session<tcp::socket>>(std::move(socket), *options, *handler,
                                                         stats, id));
          }
        }
      },
      asio::detached);
  return {};
}

void Listener::Stop() {
  std::unordered_map<std::uint64_t, std::weak_ptr<SessionBase>> sessions;
  {
    std::lock_guard lock(shared_->mu);
    if (shared_->stopped) {
      return;
    }
    shared_->stopped = true;
    sessions.swap(shared_->sessions);
  }
  asio::post(shared_->acceptor.get_executor(), [shared = shared_] {
    boost::system::error_code ignored;
    shared->acceptor.close(ignored);
  });
  for (auto& [id, w] : sessions) {
    if (auto s = w.lock()) {
      // Each session lives on its own strand; closing happens there.
      asio::post(s->strand(), [s] { s->Close(); });
    }
  }
}

std::shared_ptr<asio::ssl::context> MakeServerTlsContext(const std::string& certificate,
                                                         const std::string& private_key,
                                                         const std::string& client_ca) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION);
  // Idle terminals are many: give OpenSSL's read and write buffers back between records.
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::single_dh_use);
  boost::system::error_code ec;
  if (ctx->use_certificate_chain_file(certificate, ec); ec) {
    throw std::runtime_error("TLS certificate " + certificate + ": " + ec.message());
  }
  if (ctx->use_private_key_file(private_key, asio::ssl::context::pem, ec); ec) {
    throw std::runtime_error("TLS private key " + private_key + ": " + ec.message());
  }
  if (!client_ca.empty()) {
    if (ctx->load_verify_file(client_ca, ec); ec) {
      throw std::runtime_error("TLS client CA " + client_ca + ": " + ec.message());
    }
    ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  }
  return ctx;
}

}  // namespace sy::server
