#include "sim/terminal.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <bit>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "crypto/dukpt_tdes.h"
#include "crypto/hex.h"
#include "crypto/mac.h"
#include "crypto/pin_block.h"
#include "iso8583/codec.h"
#include "iso8583/framing.h"
#include "iso8583/mac_slot.h"

namespace sy::sim {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using iso8583::Message;
using Tcp = asio::ip::tcp;

// The TPDU a terminal sends (INTERFACE.md "Framing"): id 60, destination 0001, source 0000.
constexpr iso8583::Tpdu kRequestTpdu(0x0001, 0x0000);
constexpr iso8583::FramingOptions kFraming{.kind = iso8583::FrameKind::kNac, .tpdu = true};

TerminalError Fail(TerminalError::Kind kind, std::string message) {
  return TerminalError{kind, std::move(message)};
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string Upper(std::string_view s) {
  std::string r(s);
  for (char& c : r) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return r;
}

std::string ZeroPad(std::uint64_t v, int width) {
  std::string s = std::to_string(v);
  if (static_cast<int>(s.size()) < width) {
    s.insert(0, static_cast<std::size_t>(width) - s.size(), '0');
  }
  return s;
}

// Field 7: MMDDhhmmss in UTC.
std::string TransmissionTime(std::chrono::system_clock::time_point now) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];  // sized for -O3's format-truncation check, which cannot bound the fields
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

// The response frame: TPDU and message bytes.
struct Received {
  std::string tpdu;
  std::string message;
};

// One connection, one request, one answer, bounded by a deadline: the timer closes the socket,
// which cancels whatever is pending.
class Connection {
 public:
  Connection(const TerminalOptions& options, ssl::context* tls)
      : options_(options), tls_(tls), socket_(io_), timer_(io_) {
    if (tls_ != nullptr) {
      stream_.emplace(socket_, *tls_);
    }
  }

  TerminalResult<Received> Run(const std::string& frame) {
    bool done = false;
    bool timed_out = false;
    std::optional<TerminalError> error;
    Received received;
    timer_.expires_after(options_.timeout);
    timer_.async_wait([&](boost::system::error_code ec) {
      if (!ec && !done) {
        timed_out = true;
        resolver_.cancel();
        boost::system::error_code ignored;
        socket_.close(ignored);
      }
    });
    asio::co_spawn(io_, Talk(frame, received),
                   [&](const std::exception_ptr& e, std::optional<TerminalError> r) {
                     done = true;
                     timer_.cancel();
                     if (e) {
                       error = Fail(TerminalError::Kind::kTransport, "unexpected failure");
                     } else {
                       error = std::move(r);
                     }
                   });
    io_.run();
    if (timed_out) {
      return Fail(TerminalError::Kind::kTransport,
                  "no answer within " + std::to_string(options_.timeout.count()) + " ms");
    }
    if (error) {
      return *error;
    }
    return received;
  }

 private:
  static TerminalError Transport(std::string_view what, boost::system::error_code ec) {
    return Fail(TerminalError::Kind::kTransport, std::string(what) + ": " + ec.message());
  }

  asio::awaitable<std::optional<TerminalError>> Talk(const std::string& frame, Received& out) {
    boost::system::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    auto endpoints =
        co_await resolver_.async_resolve(options_.host, std::to_string(options_.port), token);
    if (ec) {
      co_return Transport("resolve " + options_.host, ec);
    }
    co_await asio::async_connect(socket_, endpoints, token);
    if (ec) {
      co_return Transport("connect " + options_.host + ":" + std::to_string(options_.port), ec);
    }
    if (stream_) {
      if (!options_.insecure) {
        stream_->set_verify_mode(ssl::verify_peer);
        stream_->set_verify_callback(ssl::host_name_verification(options_.host));
      }
      boost::system::error_code ip_ec;
      (void)asio::ip::make_address(options_.host, ip_ec);
      if (ip_ec) {  // SNI for a host name, never for an address (RFC 6066 3)
        SSL_set_tlsext_host_name(stream_->native_handle(), options_.host.c_str());
      }
      co_await stream_->async_handshake(ssl::stream_base::client, token);
      if (ec) {
        co_return Transport("TLS handshake", ec);
      }
    }
    if (stream_) {
      co_await asio::async_write(*stream_, asio::buffer(frame), token);
    } else {
      co_await asio::async_write(socket_, asio::buffer(frame), token);
    }
    if (ec) {
      co_return Transport("send", ec);
    }
    iso8583::FrameReader reader(kFraming);
    while (true) {
      auto next = reader.Next();
      if (!next) {
        co_return Fail(TerminalError::Kind::kProtocol, "bad frame: " + next.error().Describe());
      }
      if (*next) {
        const iso8583::Frame& f = **next;
        out.tpdu.assign(reinterpret_cast<const char*>(f.tpdu.data()), f.tpdu.size());
        out.message.assign(reinterpret_cast<const char*>(f.message.data()), f.message.size());
        break;
      }
      auto area = reader.Prepare(4096);
      std::size_t n = 0;
      if (stream_) {
        n = co_await stream_->async_read_some(asio::buffer(area.data(), area.size()), token);
      } else {
        n = co_await socket_.async_read_some(asio::buffer(area.data(), area.size()), token);
      }
      reader.Commit(n);
      if (ec) {
        std::string what = "receive";
        if (ec == asio::error::eof) {
          what = stream_ ? "connection closed before the answer"
                         : "connection closed before the answer (a TLS listener? drop --plain)";
        }
        co_return Transport(what, ec);
      }
    }
    // No TLS close_notify exchange: the answer is in hand and the switch handles a plain close.
    co_return std::nullopt;
  }

  const TerminalOptions& options_;
  ssl::context* tls_;
  asio::io_context io_;
  Tcp::resolver resolver_{io_};
  Tcp::socket socket_;
  asio::steady_timer timer_;
  std::optional<ssl::stream<Tcp::socket&>> stream_;
};

}  // namespace

struct TerminalClient::Impl {
  std::unique_ptr<ssl::context> tls;
};

std::optional<std::uint32_t> ParseKsnState(std::string_view text,
                                           std::string_view initial_ksn_hex) {
  std::istringstream in{std::string(text)};
  std::string ksn;
  std::string counter;
  if (!(in >> ksn >> counter) || Upper(ksn) != Upper(initial_ksn_hex) || !AllDigits(counter) ||
      counter.size() > 7) {
    return std::nullopt;
  }
  const unsigned long v = std::stoul(counter);
  if (v > crypto::kTdesCounterMask) {
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(v);
}

std::string_view DescribeResponseCode(std::string_view code) {
  static constexpr std::pair<std::string_view, std::string_view> kTable[] = {
      {"00", "approved"},
      {"03", "invalid merchant"},
      {"05", "do not honour"},
      {"12", "invalid transaction"},
      {"13", "invalid amount"},
      {"14", "invalid card number"},
      {"25", "original not found"},
      {"30", "format error"},
      {"51", "insufficient funds"},
      {"54", "expired card"},
      {"55", "incorrect PIN"},
      {"58", "not permitted to terminal"},
      {"61", "exceeds amount limit"},
      {"63", "security violation"},
      {"75", "PIN tries exceeded"},
      {"91", "issuer unavailable"},
      {"92", "no route"},
      {"94", "duplicate transmission"},
      {"95", "reconcile error"},
      {"96", "system malfunction"},
  };
  for (const auto& [c, text] : kTable) {
    if (c == code) {
      return text;
    }
  }
  return "unknown";
}

TerminalClient::TerminalClient(TerminalOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  if (!options_.now) {
    options_.now = [] { return std::chrono::system_clock::now(); };
  }
  auto dialect = iso8583::LoadDialect("iso87b");
  if (!dialect) {
    throw std::invalid_argument("dialect iso87b: " + dialect.error().message);
  }
  dialect_ = *dialect;
  auto bdk = crypto::SecretFromHex(options_.bdk_hex);
  if (!bdk || bdk->size() != 16) {
    throw std::invalid_argument("bdk: not a double-length TDES key in hex (32 hex digits)");
  }
  bdk_ = std::move(*bdk);
  auto ksn = crypto::FromHex(options_.initial_ksn_hex);
  if (!ksn || ksn->size() != crypto::kTdesKsnSize) {
    throw std::invalid_argument("ksn: not a TDES KSN in hex (20 hex digits)");
  }
  std::copy(ksn->begin(), ksn->end(), initial_ksn_.begin());
  counter_ = *crypto::TdesKsnCounter(initial_ksn_);
  if (options_.tid.empty() || options_.tid.size() > 8) {
    throw std::invalid_argument("tid: 1 to 8 characters");
  }
  if (options_.mid.empty() || options_.mid.size() > 15) {
    throw std::invalid_argument("mid: 1 to 15 characters");
  }
  if (!options_.state_file.empty()) {
    std::ifstream in(options_.state_file);
    if (in) {
      std::stringstream text;
      text << in.rdbuf();
      if (auto c = ParseKsnState(text.str(), crypto::ToHex(initial_ksn_)); c && *c > counter_) {
        counter_ = *c;
      }
    }
  }
  if (options_.tls) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    ctx->set_options(ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                     ssl::context::no_tlsv1_1);
    if (!options_.insecure) {
      if (options_.ca_file.empty()) {
        throw std::invalid_argument(
            "TLS needs a CA to verify the switch: --ca FILE (the demo's is data/tls/switch.crt), "
            "or --insecure");
      }
      boost::system::error_code ec;
      ctx->load_verify_file(options_.ca_file, ec);
      if (ec) {
        throw std::invalid_argument("ca: cannot load " + options_.ca_file + ": " + ec.message());
      }
    }
    impl_->tls = std::move(ctx);
  }
}

TerminalClient::~TerminalClient() = default;

TerminalResult<std::uint32_t> TerminalClient::NextCounter() {
  std::uint32_t c = counter_ + 1;
  while (std::popcount(c) > crypto::kTdesMaxCounterBits) {  // X9.24-1:2009 A.3
    ++c;
  }
  if (c > crypto::kTdesCounterMask) {
    return Fail(TerminalError::Kind::kState, "KSN counter exhausted: the terminal needs new keys");
  }
  if (!options_.state_file.empty()) {
    // Written before the request leaves, so a crash can never make the next run replay it.
    const std::string tmp = options_.state_file + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << crypto::ToHex(initial_ksn_) << " " << c << "\n";
      out.flush();
      if (!out) {
        return Fail(TerminalError::Kind::kState, "cannot write " + tmp);
      }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, options_.state_file, ec);
    if (ec) {
      return Fail(TerminalError::Kind::kState,
                  "cannot write " + options_.state_file + ": " + ec.message());
    }
  }
  counter_ = c;
  return c;
}

TerminalResult<Answer> TerminalClient::SignOn() {
  Message m;
  m.SetMti("0800");
  m.Set(7, TransmissionTime(options_.now()));
  m.Set(41, options_.tid);
  m.Set(70, "001");
  return Exchange(m, nullptr, {});
}

TerminalResult<Answer> TerminalClient::Purchase(const PurchaseRequest& request) {
  if (!AllDigits(request.pan) || request.pan.size() < 8 || request.pan.size() > 19) {
    return Fail(TerminalError::Kind::kState, "pan: 8 to 19 digits");
  }
  if (request.amount_minor < 0 || request.amount_minor > 999999999999) {
    return Fail(TerminalError::Kind::kState, "amount: 0 to 999999999999 minor units");
  }
  if (request.currency.size() != 3 || !AllDigits(request.currency)) {
    return Fail(TerminalError::Kind::kState, "currency: 3 digits (ISO 4217 numeric)");
  }
  if (!request.expiry.empty() && (request.expiry.size() != 4 || !AllDigits(request.expiry))) {
    return Fail(TerminalError::Kind::kState, "expiry: YYMM");
  }
  std::optional<crypto::SecretBytes> pin;
  if (request.pin) {
    auto p = crypto::SecretBytes::FromString(*request.pin);
    if (!p || !crypto::ValidatePin(*p)) {
      return Fail(TerminalError::Kind::kState, "pin: 4 to 12 digits");
    }
    pin = std::move(*p);
  }
  Message m;
  m.SetMti("0200");
  m.Set(2, request.pan);
  m.Set(3, "000000");
  m.Set(4, ZeroPad(static_cast<std::uint64_t>(request.amount_minor), 12));
  m.Set(7, TransmissionTime(options_.now()));
  if (!request.expiry.empty()) {
    m.Set(14, request.expiry);
  }
  m.Set(22, pin ? "051" : "012");
  m.Set(41, options_.tid);
  m.Set(42, options_.mid);
  m.Set(49, request.currency);
  return Exchange(m, pin ? &*pin : nullptr, request.pan);
}

TerminalResult<Answer> TerminalClient::Exchange(Message& request, const crypto::SecretBytes* pin,
                                                std::string_view pan) {
  auto counter = NextCounter();
  if (!counter) {
    return counter.error();
  }
  std::array<std::uint8_t, crypto::kTdesKsnSize> ksn = initial_ksn_;
  ksn[7] &= 0xE0;
  ksn[8] = 0;
  ksn[9] = 0;
  ksn[7] |= static_cast<std::uint8_t>((*counter >> 16) & 0x1F);
  ksn[8] = static_cast<std::uint8_t>((*counter >> 8) & 0xFF);
  ksn[9] = static_cast<std::uint8_t>(*counter & 0xFF);
  Answer answer;
  answer.ksn_hex = crypto::ToHex(ksn);
  answer.ksn_counter = *counter;

  auto key_error = [](std::string_view what) {
    return Fail(TerminalError::Kind::kState, std::string(what) + ": key derivation failed");
  };
  auto mac_request_key =
      crypto::DeriveTdesWorkingKey(bdk_, ksn, crypto::TdesDukptVariant::kMacRequest);
  auto mac_response_key =
      crypto::DeriveTdesWorkingKey(bdk_, ksn, crypto::TdesDukptVariant::kMacResponse);
  if (!mac_request_key || !mac_response_key) {
    return key_error("MAC");
  }
  const std::string stan = ZeroPad(*counter % 1000000 == 0 ? 1 : *counter % 1000000, 6);
  request.Set(11, stan);
  if (pin != nullptr) {
    auto pin_key = crypto::DeriveTdesWorkingKey(bdk_, ksn, crypto::TdesDukptVariant::kPin);
    if (!pin_key) {
      return key_error("PIN");
    }
    auto block = crypto::EncipherPinBlock(crypto::PinBlockFormat::kIso0, *pin_key, *pin, pan,
                                          crypto::SystemRandom());
    if (!block) {
      return Fail(TerminalError::Kind::kState, "PIN block: " + block.error().message());
    }
    const auto v = block->view();
    request.Set(52, std::string_view(reinterpret_cast<const char*>(v.data()), v.size()));
  }
  request.Set(62, answer.ksn_hex);
  const iso8583::MacFunction mac = [&](std::span<const std::uint8_t> data,
                                       std::array<std::uint8_t, 8>& out) {
    auto m = crypto::RetailMac(*mac_request_key, data, crypto::MacPadding::kMethod1);
    if (!m) {
      return false;
    }
    out = *m;
    return true;
  };
  std::string packed;
  if (auto r = iso8583::PackWithMac(*dialect_, request, mac, packed); !r) {
    return Fail(TerminalError::Kind::kState, "request not packed: " + r.error().Describe());
  }
  std::string frame;
  if (auto r = iso8583::AppendFrame(
          kFraming, kRequestTpdu.bytes(),
          std::span(reinterpret_cast<const std::uint8_t*>(packed.data()), packed.size()), frame);
      !r) {
    return Fail(TerminalError::Kind::kState, "request not framed: " + r.error().Describe());
  }

  Connection connection(options_, impl_->tls.get());
  auto received = connection.Run(frame);
  if (!received) {
    return received.error();
  }
  constexpr iso8583::Tpdu kReplyTpdu = kRequestTpdu.SwapForReply();
  if (received->tpdu != std::string_view(reinterpret_cast<const char*>(kReplyTpdu.bytes().data()),
                                         iso8583::Tpdu::kSize)) {
    return Fail(
        TerminalError::Kind::kProtocol,
        "answer TPDU " +
            crypto::ToHex(std::span(reinterpret_cast<const std::uint8_t*>(received->tpdu.data()),
                                    received->tpdu.size())) +
            " is not the request's swapped (600000 0001)");
  }
  Message reply;
  if (auto r = iso8583::Unpack(*dialect_, received->message, reply); !r) {
    return Fail(TerminalError::Kind::kProtocol, "answer not iso87b: " + r.error().Describe());
  }
  if (reply.mti() != ResponseMti(request.mti()) || reply.Get(11) != stan) {
    return Fail(TerminalError::Kind::kProtocol, "answer " + std::string(reply.mti()) + " stan " +
                                                    std::string(reply.Get(11)) +
                                                    " does not match the request");
  }
  const int mac_field = iso8583::MacField(reply);
  answer.mac_present = reply.Has(mac_field);
  if (answer.mac_present) {
    auto input = iso8583::MacInput(*dialect_, reply, received->message);
    const std::string_view got = reply.Get(mac_field);
    answer.mac_ok =
        input && crypto::VerifyRetailMac(
                     *mac_response_key,
                     std::span(reinterpret_cast<const std::uint8_t*>(input->data()), input->size()),
                     std::span(reinterpret_cast<const std::uint8_t*>(got.data()), got.size()))
                     .has_value();
  }
  answer.response_code = std::string(reply.Get(39));
  answer.response = reply;  // copies: the values stop pointing into `received`
  return answer;
}

}  // namespace sy::sim
