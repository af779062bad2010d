#pragma once

// A server-side TLS stream for the terminal listener that holds no buffer while its connection is
// idle. Asio's ssl::stream keeps two zero-filled 17 KiB buffers per connection for its life, plus
// a BIO pair, whatever SSL_MODE_RELEASE_BUFFERS does: with ten thousand idle terminals that is
// most of the switch's memory. Here OpenSSL reads and writes through a BIO of our own whose
// buffers exist only while bytes are in them; waiting for a record is a wait for readability
// (no buffer posted), and the bytes are read into a per-thread scratch buffer when they arrive.
//
//   TlsStream tls(std::move(socket), ssl_context);          // on the connection's strand
//   if (auto ec = co_await tls.Handshake(); ec) { ... }
//   auto [ec, n] = co_await tls.ReadSome(asio::buffer(area));
//   auto wec = co_await tls.Write(asio::buffer(frame));
//
// Not thread-safe: every call on one strand. One ReadSome and one Write may be outstanding at the
// same time (the session's reader and writer); each of them alone at a time.

#include <openssl/ssl.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <tuple>

namespace sy::server {

class TlsStream {
 public:
  using executor_type = boost::asio::any_io_executor;

  // Takes the accepted socket; the handshake is server side. Throws std::runtime_error when
  // OpenSSL cannot make the SSL object (out of memory).
  TlsStream(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& context);
  TlsStream(TlsStream&&) noexcept;
  TlsStream& operator=(TlsStream&&) = delete;
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;
  ~TlsStream();

  [[nodiscard]] executor_type get_executor() { return socket().get_executor(); }
  [[nodiscard]] boost::asio::ip::tcp::socket& next_layer() { return socket(); }
  [[nodiscard]] SSL* native_handle() const;

  // The server handshake. An error when the peer is not speaking TLS, fails verification (mTLS),
  // closes, or the operation is cancelled. The records OpenSSL makes at the end (TLS 1.3 session
  // tickets) are held until the first Write, or until a ReadSome has to wait for input.
  [[nodiscard]] boost::asio::awaitable<boost::system::error_code> Handshake();

  // Up to buffer.size() bytes of application data; boost::asio::error::eof when the peer closes
  // (with or without close_notify).
  [[nodiscard]] boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> ReadSome(
      boost::asio::mutable_buffer buffer);

  // Encrypts all of `data` and returns once the records are written to the socket or queued
  // behind a write in progress (which sends them next).
  [[nodiscard]] boost::asio::awaitable<boost::system::error_code> Write(
      boost::asio::const_buffer data);

  // Bytes held for this connection outside OpenSSL (ciphertext read but not yet decrypted, or
  // encrypted but not yet sent): 0 when waiting for input. For tests.
  [[nodiscard]] std::size_t buffered_bytes() const;

  struct State;  // the socket, the SSL object and the buffers (opaque; the BIO reaches it)

 private:
  boost::asio::ip::tcp::socket& socket();
  // Sends what OpenSSL wrote to the BIO; when another flush is running, it sends this too.
  boost::asio::awaitable<boost::system::error_code> Flush();
  // Waits for the socket to be readable and moves what it holds into the BIO.
  boost::asio::awaitable<boost::system::error_code> Fill();

  std::unique_ptr<State> state_;
};

}  // namespace sy::server
