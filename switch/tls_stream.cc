#include "switch/tls_stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <stdexcept>

namespace sy::server {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// The largest TLS record on the wire (16 KiB of data plus header, padding and tag) and a little:
// one socket read takes whatever arrived, usually a whole record or several.
constexpr std::size_t kScratchSize = 17 * 1024 + 512;

// Bytes read from sockets land here first, then move into the connection's own buffer only for as
// long as OpenSSL has not consumed them. One per thread; never held across a suspension.
thread_local std::array<char, kScratchSize> tls_scratch;

// Gives a drained buffer's memory back (an idle connection holds none).
void Release(std::string& s) { std::string().swap(s); }

}  // namespace

struct TlsStream::State {
  explicit State(tcp::socket s) : socket(std::move(s)) {}
  ~State() {
    if (ssl != nullptr) {
      SSL_free(ssl);  // frees the BIO too
    }
  }
  tcp::socket socket;
  SSL* ssl = nullptr;
  std::string in;  // ciphertext from the peer not yet read by OpenSSL
  std::size_t in_pos = 0;
  std::string out;      // ciphertext from OpenSSL not yet handed to the socket
  std::string sending;  // what the running flush is writing
  bool flushing = false;
  error_code write_error;
};

namespace {

// The BIO between OpenSSL and the connection's buffers. Reads take what Fill() stored and ask to
// be retried when there is nothing; writes always succeed (the flush sends them).
int BioWrite(BIO* bio, const char* data, std::size_t len, std::size_t* written) {
  auto* s = static_cast<TlsStream::State*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  s->out.append(data, len);
  *written = len;
  return 1;
}

int BioRead(BIO* bio, char* data, std::size_t len, std::size_t* read) {
  auto* s = static_cast<TlsStream::State*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  const std::size_t available = s->in.size() - s->in_pos;
  if (available == 0) {
    BIO_set_retry_read(bio);
    *read = 0;
    return 0;
  }
  const std::size_t n = std::min(len, available);
  std::memcpy(data, s->in.data() + s->in_pos, n);
  s->in_pos += n;
  if (s->in_pos == s->in.size()) {
    Release(s->in);
    s->in_pos = 0;
  }
  *read = n;
  return 1;
}

long BioCtrl(BIO* bio, int cmd, long /*num*/, void* /*ptr*/) {
  auto* s = static_cast<TlsStream::State*>(BIO_get_data(bio));
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_PENDING:
      return s == nullptr ? 0 : static_cast<long>(s->in.size() - s->in_pos);
    case BIO_CTRL_WPENDING:
      return s == nullptr ? 0 : static_cast<long>(s->out.size());
    default:
      return 0;
  }
}

int BioCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int BioDestroy(BIO* /*bio*/) { return 1; }

BIO_METHOD* Method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "switchyard tls");
    if (m != nullptr) {
      BIO_meth_set_write_ex(m, BioWrite);
      BIO_meth_set_read_ex(m, BioRead);
      BIO_meth_set_ctrl(m, BioCtrl);
      BIO_meth_set_create(m, BioCreate);
      BIO_meth_set_destroy(m, BioDestroy);
    }
    return m;
  }();
  return method;
}

// The error of a failed SSL call: OpenSSL's own reason when it queued one, else a plain EOF-like
// failure (the peer broke off mid-handshake).
error_code SslError(int ssl_error) {
  if (ssl_error == SSL_ERROR_ZERO_RETURN) {
    return asio::error::eof;
  }
  if (const unsigned long e = ERR_get_error(); e != 0) {
    ERR_clear_error();
    return error_code(static_cast<int>(e), asio::error::get_ssl_category());
  }
  return asio::ssl::error::stream_truncated;
}

}  // namespace

TlsStream::TlsStream(tcp::socket socket, asio::ssl::context& context)
    : state_(std::make_unique<State>(std::move(socket))) {
  BIO_METHOD* method = Method();
  BIO* bio = method != nullptr ? BIO_new(method) : nullptr;
  state_->ssl = SSL_new(context.native_handle());
  if (bio == nullptr || state_->ssl == nullptr) {
    BIO_free(bio);
    throw std::runtime_error("TLS: cannot make a connection object (out of memory)");
  }
  BIO_set_data(bio, state_.get());
  SSL_set_bio(state_->ssl, bio, bio);  // one reference for both directions, owned by the SSL
  SSL_set_accept_state(state_->ssl);
  error_code ignored;
  state_->socket.non_blocking(true, ignored);  // Fill reads what readiness promised, never waits
}

TlsStream::TlsStream(TlsStream&&) noexcept = default;
TlsStream::~TlsStream() = default;

SSL* TlsStream::native_handle() const { return state_->ssl; }

tcp::socket& TlsStream::socket() { return state_->socket; }

std::size_t TlsStream::buffered_bytes() const {
  return (state_->in.size() - state_->in_pos) + state_->out.size() + state_->sending.size();
}

asio::awaitable<error_code> TlsStream::Flush() {
  State& s = *state_;
  if (s.flushing) {
    co_return s.write_error;  // the running flush sends what was just added
  }
  s.flushing = true;
  while (!s.out.empty() && !s.write_error) {
    s.sending.swap(s.out);
    auto [ec, n] = co_await asio::async_write(s.socket, asio::buffer(s.sending), kTuple);
    (void)n;
    Release(s.sending);
    if (ec) {
      s.write_error = ec;
    }
  }
  if (s.write_error) {
    Release(s.out);
  }
  s.flushing = false;
  co_return s.write_error;
}

asio::awaitable<error_code> TlsStream::Fill() {
  State& s = *state_;
  while (true) {
    auto [wait_ec] = co_await s.socket.async_wait(tcp::socket::wait_read, kTuple);
    if (wait_ec) {
      co_return wait_ec;
    }
    error_code ec;
    const std::size_t n = s.socket.read_some(asio::buffer(tls_scratch), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      continue;  // readiness without data (spurious): wait again
    }
    if (ec) {
      co_return ec;  // eof when the peer closed
    }
    if (s.in_pos > 0) {
      s.in.erase(0, s.in_pos);
      s.in_pos = 0;
    }
    s.in.append(tls_scratch.data(), n);
    co_return error_code();
  }
}

asio::awaitable<error_code> TlsStream::Handshake() {
  State& s = *state_;
  while (true) {
    ERR_clear_error();
    const int r = SSL_do_handshake(s.ssl);
    const int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(s.ssl, r);
    error_code failure = (r == 1 || err == SSL_ERROR_WANT_READ) ? error_code() : SslError(err);
    if (r == 1) {
      // Done. What the server made last (TLS 1.3 session tickets) waits for the first answer or
      // the next wait for input, whichever comes first: one send instead of two per connection.
      co_return failure;
    }
    if (!s.out.empty()) {
      // Also after a failure: the alert tells the peer why.
      if (auto ec = co_await Flush(); ec && !failure) {
        failure = ec;
      }
    }
    if (failure) {
      co_return failure;
    }
    if (auto ec = co_await Fill(); ec) {
      co_return ec;
    }
  }
}

asio::awaitable<std::tuple<error_code, std::size_t>> TlsStream::ReadSome(
    asio::mutable_buffer buffer) {
  State& s = *state_;
  if (buffer.size() == 0) {
    co_return std::tuple(error_code(), std::size_t{0});
  }
  while (true) {
    ERR_clear_error();
    std::size_t n = 0;
    const int r = SSL_read_ex(s.ssl, buffer.data(), buffer.size(), &n);
    const int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(s.ssl, r);
    const error_code failure =
        (r == 1 || err == SSL_ERROR_WANT_READ) ? error_code() : SslError(err);
    if (r == 1) {
      // Records reading made (session tickets, a key update's answer) leave with the next write,
      // or below before the next wait for input: the peer is never left waiting for them.
      co_return std::tuple(error_code(), n);
    }
    if (!s.out.empty()) {
      // Also an alert after a failure.
      if (auto ec = co_await Flush(); ec && !failure) {
        co_return std::tuple(ec, std::size_t{0});
      }
    }
    if (failure) {
      co_return std::tuple(failure, std::size_t{0});
    }
    if (auto ec = co_await Fill(); ec) {
      co_return std::tuple(ec, std::size_t{0});
    }
  }
}

asio::awaitable<error_code> TlsStream::Write(asio::const_buffer data) {
  State& s = *state_;
  if (s.write_error) {
    co_return s.write_error;
  }
  const auto* p = static_cast<const char*>(data.data());
  std::size_t done = 0;
  while (done < data.size()) {
    ERR_clear_error();
    std::size_t n = 0;
    const int r = SSL_write_ex(s.ssl, p + done, data.size() - done, &n);
    if (r != 1) {
      // The BIO takes every write, so only a broken connection (or a TLS 1.2 renegotiation the
      // listener does not offer) ends up here.
      co_return SslError(SSL_get_error(s.ssl, r));
    }
    done += n;
  }
  co_return co_await Flush();
}

}  // namespace sy::server
