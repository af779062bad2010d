#include "sim/terminal.h"

#include <fcntl.h>
#include <openssl/ssl.h>
#include <unistd.h>

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
#include <boost/json.hpp>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "crypto/dukpt_aes.h"
#include "crypto/dukpt_tdes.h"
#include "crypto/hex.h"
#include "crypto/mac.h"
#include "crypto/master_session.h"
#include "crypto/pin_block.h"
#include "iso8583/codec.h"
#include "iso8583/mac_slot.h"

namespace sy::sim {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace json = boost::json;
using iso8583::Message;
using Tcp = asio::ip::tcp;

// The TPDU a terminal sends (INTERFACE.md "Framing"): id 60, destination 0001, source 0000.
constexpr iso8583::Tpdu kRequestTpdu(0x0001, 0x0000);
constexpr std::string_view kStateFormat = "switchyard-term-state/1";
constexpr std::int64_t kMaxAmount = 999999999999;

TerminalError Fail(TerminalError::Kind kind, std::string message) {
  return TerminalError{kind, std::move(message), {}};
}
TerminalError Usage(std::string message) {
  return Fail(TerminalError::Kind::kUsage, std::move(message));
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

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string_view Chars(std::span<const std::uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
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

// Fields 12 (hhmmss) and 13 (MMDD): the terminal's local time.
std::pair<std::string, std::string> LocalTime(std::chrono::system_clock::time_point now) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  localtime_r(&t, &tm);
  char time[64];
  char date[64];
  std::snprintf(time, sizeof time, "%02d%02d%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::snprintf(date, sizeof date, "%02d%02d", tm.tm_mon + 1, tm.tm_mday);
  return {time, date};
}

std::string ResponseMti(std::string_view mti) {
  std::string r(mti);
  r[2] = static_cast<char>(r[2] + 1);
  r[3] = '0';
  return r;
}

// Debits: purchases and completions; credits: refunds (docs/terminal-messages.md "Batch").
bool IsDebit(const BatchItem& i) {
  return (i.mti == "0200" && i.processing_code.starts_with("00")) || i.mti == "0220";
}
bool IsCredit(const BatchItem& i) { return i.mti == "0200" && i.processing_code.starts_with("20"); }
bool InBatch(const BatchItem& i) {
  return i.status == BatchItem::Status::kApproved && (IsDebit(i) || IsCredit(i));
}

std::string CheckPan(std::string_view pan) {
  if (!AllDigits(pan) || pan.size() < 8 || pan.size() > 19) {
    return "pan: 8 to 19 digits";
  }
  return {};
}
std::string CheckAmount(std::int64_t amount) {
  if (amount < 0 || amount > kMaxAmount) {
    return "amount: 0 to 999999999999 minor units";
  }
  return {};
}
std::string CheckCurrency(std::string_view currency) {
  if (currency.size() != 3 || !AllDigits(currency)) {
    return "currency: 3 digits (ISO 4217 numeric)";
  }
  return {};
}
std::string CheckExpiry(std::string_view expiry) {
  if (!expiry.empty() && (expiry.size() != 4 || !AllDigits(expiry))) {
    return "expiry: YYMM";
  }
  return {};
}
std::string CheckRrn(std::string_view rrn) {
  if (rrn.empty() || rrn.size() > 12) {
    return "rrn: 1 to 12 characters (the original's field 37)";
  }
  return {};
}

// The next KSN counter after `current`: X9.24-1:2009 A.3 (TDES, at most 10 one-bits in 21 bits),
// X9.24-3:2017 6.1 (AES, at most 16 one-bits in 32 bits).
std::optional<std::uint32_t> NextKsnCounter(KeyScheme scheme, std::uint32_t current) {
  const bool aes = scheme == KeyScheme::kDukptAes;
  const int max_bits = aes ? crypto::kAesMaxCounterBits : crypto::kTdesMaxCounterBits;
  const std::uint64_t limit = aes ? 0xFFFFFFFFULL : crypto::kTdesCounterMask;
  std::uint64_t c = std::uint64_t{current} + 1;
  while (c <= limit && std::popcount(c) > max_bits) {
    ++c;
  }
  if (c > limit) {
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(c);
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
  Connection(const TerminalOptions& options, const iso8583::FramingOptions& framing,
             ssl::context* tls)
      : options_(options), framing_(framing), tls_(tls), socket_(io_), timer_(io_) {
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
    boost::system::error_code ignored;
    socket_.set_option(Tcp::no_delay(true), ignored);  // the request leaves at once
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
    iso8583::FrameReader reader(framing_);
    while (true) {
      auto next = reader.Next();
      if (!next) {
        co_return Fail(TerminalError::Kind::kProtocol, "bad frame: " + next.error().Describe());
      }
      if (*next) {
        const iso8583::Frame& f = **next;
        out.tpdu.assign(Chars(f.tpdu));
        out.message.assign(Chars(f.message));
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
  iso8583::FramingOptions framing_;
  ssl::context* tls_;
  asio::io_context io_;
  Tcp::resolver resolver_{io_};
  Tcp::socket socket_;
  asio::steady_timer timer_;
  std::optional<ssl::stream<Tcp::socket&>> stream_;
};

// Master/session working keys, unwrapped from the TR-31 blocks of an 0810's field 48.
struct WorkingKeys {
  crypto::SecretBytes pin;
  crypto::KeyAlgorithm pin_algorithm = crypto::KeyAlgorithm::kTdes;
  crypto::SecretBytes mac;
  crypto::KeyAlgorithm mac_algorithm = crypto::KeyAlgorithm::kTdes;
};

crypto::KeyAlgorithm BlockAlgorithm(std::string_view block) {
  // X9.143 6.2: byte 7 of the header is the wrapped key's algorithm.
  return block.size() > 7 && block[7] == 'A' ? crypto::KeyAlgorithm::kAes
                                             : crypto::KeyAlgorithm::kTdes;
}

// Both blocks unwrapped under the TMK, each checked for its role; a sentence on failure.
boost::system::result<WorkingKeys, std::string> UnwrapWorkingKeys(
    const crypto::SecretBytes& tmk, crypto::KeyAlgorithm tmk_algorithm, std::string_view pin_block,
    std::string_view mac_block) {
  auto pin = crypto::UnwrapSessionKey(tmk, tmk_algorithm, crypto::SessionKeyRole::kPin, pin_block);
  if (!pin) {
    return std::string("PIN key block: ") + pin.error().message();
  }
  auto mac = crypto::UnwrapSessionKey(tmk, tmk_algorithm, crypto::SessionKeyRole::kMac, mac_block);
  if (!mac) {
    return std::string("MAC key block: ") + mac.error().message();
  }
  WorkingKeys keys;
  keys.pin = std::move(*pin);
  keys.pin_algorithm = BlockAlgorithm(pin_block);
  keys.mac = std::move(*mac);
  keys.mac_algorithm = BlockAlgorithm(mac_block);
  return keys;
}

// Field 48 of an 0810: two TR-31 blocks back to back, the PIN key's first; each block's length is
// the 4 digits after its version byte (X9.143 6.2).
std::optional<std::pair<std::string_view, std::string_view>> SplitKeyBlocks(std::string_view f48) {
  auto length = [](std::string_view b) -> std::size_t {
    if (b.size() < 5 || !AllDigits(b.substr(1, 4))) {
      return 0;
    }
    return static_cast<std::size_t>(std::stoul(std::string(b.substr(1, 4))));
  };
  const std::size_t first = length(f48);
  if (first < 16 || first >= f48.size()) {
    return std::nullopt;
  }
  const std::string_view rest = f48.substr(first);
  if (length(rest) != rest.size()) {
    return std::nullopt;
  }
  return std::pair{f48.substr(0, first), rest};
}

// The keys one request is MACed and its PIN enciphered under.
struct RequestKeys {
  bool cmac = false;  // AES-CMAC (leftmost 8 bytes), else the X9.19 retail MAC
  crypto::SecretBytes mac_request;
  crypto::SecretBytes mac_response;
  crypto::SecretBytes pin;
  crypto::PinBlockFormat pin_format = crypto::PinBlockFormat::kIso0;
};

bool ComputeMac(const RequestKeys& keys, const crypto::SecretBytes& key,
                std::span<const std::uint8_t> data, std::array<std::uint8_t, 8>& out) {
  if (keys.cmac) {
    auto m = crypto::AesCmac(key, data);
    if (!m) {
      return false;
    }
    std::copy_n(m->begin(), out.size(), out.begin());
    return true;
  }
  auto m = crypto::RetailMac(key, data, crypto::MacPadding::kMethod1);
  if (!m) {
    return false;
  }
  out = *m;
  return true;
}

bool VerifyMac(bool cmac, const crypto::SecretBytes& key, std::string_view data,
               std::string_view mac) {
  return cmac ? crypto::VerifyAesCmac(key, Bytes(data), Bytes(mac)).has_value()
              : crypto::VerifyRetailMac(key, Bytes(data), Bytes(mac)).has_value();
}

// ---- the state file ----

json::object ItemToJson(const BatchItem& i) {
  return json::object{{"mti", i.mti},
                      {"stan", i.stan},
                      {"time", i.transmission_time},
                      {"pc", i.processing_code},
                      {"pan", i.pan},  // TEST cards only: see the banner of terminal.h
                      {"expiry", i.expiry},
                      {"amount", i.amount_minor},
                      {"currency", i.currency},
                      {"rrn", i.rrn},
                      {"auth", i.auth_code},
                      {"original_rrn", i.original_rrn},
                      {"status", StatusName(i.status)}};
}

std::string JsonText(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) {
    throw std::invalid_argument(std::string("'") + std::string(key) + "' is not a string");
  }
  return std::string(v->get_string());
}

std::int64_t JsonInt(const json::object& o, std::string_view key, std::int64_t max) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_int64() || v->get_int64() < 0 || v->get_int64() > max) {
    throw std::invalid_argument(std::string("'") + std::string(key) +
                                "' is not a number from 0 to " + std::to_string(max));
  }
  return v->get_int64();
}

BatchItem ItemFromJson(const json::value& v) {
  if (!v.is_object()) {
    throw std::invalid_argument("an item is not an object");
  }
  const json::object& o = v.get_object();
  BatchItem i;
  i.mti = JsonText(o, "mti");
  i.stan = JsonText(o, "stan");
  i.transmission_time = JsonText(o, "time");
  i.processing_code = JsonText(o, "pc");
  i.pan = JsonText(o, "pan");
  i.expiry = JsonText(o, "expiry");
  i.amount_minor = JsonInt(o, "amount", kMaxAmount);
  i.currency = JsonText(o, "currency");
  i.rrn = JsonText(o, "rrn");
  i.auth_code = JsonText(o, "auth");
  i.original_rrn = JsonText(o, "original_rrn");
  const std::string status = JsonText(o, "status");
  bool known = false;
  for (auto s :
       {BatchItem::Status::kSent, BatchItem::Status::kApproved, BatchItem::Status::kDeclined,
        BatchItem::Status::kVoided, BatchItem::Status::kReversed, BatchItem::Status::kCompleted}) {
    if (StatusName(s) == status) {
      i.status = s;
      known = true;
    }
  }
  if (!known || (i.mti != "0100" && i.mti != "0200" && i.mti != "0220") || i.stan.size() != 6 ||
      !AllDigits(i.stan) || i.transmission_time.size() != 10 || !AllDigits(i.transmission_time) ||
      i.processing_code.size() != 6 || !AllDigits(i.processing_code) || !CheckPan(i.pan).empty() ||
      !CheckCurrency(i.currency).empty() || !CheckExpiry(i.expiry).empty() || i.rrn.size() > 12 ||
      i.auth_code.size() > 6 || i.original_rrn.size() > 12) {
    throw std::invalid_argument("an item (stan " + i.stan + ") has a bad value");
  }
  return i;
}

// Writes `text` to `path` atomically: a temporary file in the same directory, flushed to disk,
// then renamed over the old one. Mode 0600: the file holds test PANs.
std::string WriteAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return "cannot write " + tmp + ": " + std::strerror(errno);
  }
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      return "cannot write " + tmp + ": " + why;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    return "cannot write " + tmp + ": " + why;
  }
  ::close(fd);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    return "cannot write " + path + ": " + ec.message();
  }
  return {};
}

}  // namespace

struct TerminalClient::Impl {
  std::unique_ptr<ssl::context> tls;
  iso8583::FramingOptions framing;
  crypto::SecretBytes initial_key;        // DUKPT: the IPEK (TDES) or initial key (AES)
  std::vector<std::uint8_t> initial_ksn;  // DUKPT: 10 bytes TDES, 12 AES
  crypto::SecretBytes tmk;                // master-session
  // The state (kept in the state file).
  std::uint32_t counter = 0;
  std::uint32_t stan = 0;
  std::uint32_t batch = 1;
  std::vector<BatchItem> items;
  std::optional<BatchItem> last;
  std::string pin_key_block;  // master-session: the TR-31 blocks as received (under the TMK)
  std::string mac_key_block;
  std::optional<WorkingKeys> keys;  // ... and unwrapped
};

struct TerminalClient::Send {
  bool mac = false;
  const crypto::SecretBytes* pin = nullptr;
  std::string_view pan;
  const BatchItem* pending = nullptr;  // recorded as the last request before the request leaves
  bool install_keys = false;           // an 0810 to 001/101: master-session keys in 48
};

std::string_view KeySchemeName(KeyScheme scheme) noexcept {
  switch (scheme) {
    case KeyScheme::kDukptTdes:
      return "dukpt-tdes";
    case KeyScheme::kDukptAes:
      return "dukpt-aes";
    case KeyScheme::kMasterSession:
      return "master-session";
  }
  return "?";
}

std::optional<KeyScheme> KeySchemeFromName(std::string_view name) noexcept {
  for (auto s : {KeyScheme::kDukptTdes, KeyScheme::kDukptAes, KeyScheme::kMasterSession}) {
    if (KeySchemeName(s) == name) {
      return s;
    }
  }
  return std::nullopt;
}

std::string_view StatusName(BatchItem::Status status) noexcept {
  switch (status) {
    case BatchItem::Status::kSent:
      return "sent";
    case BatchItem::Status::kApproved:
      return "approved";
    case BatchItem::Status::kDeclined:
      return "declined";
    case BatchItem::Status::kVoided:
      return "voided";
    case BatchItem::Status::kReversed:
      return "reversed";
    case BatchItem::Status::kCompleted:
      return "completed";
  }
  return "?";
}

std::string_view MacStatus(const Answer& answer) noexcept {
  if (answer.mac_present) {
    return answer.mac_ok ? "ok" : "BAD";
  }
  // INTERFACE.md: every answer to a MACed request is MACed, except a 63 and an early 30.
  if (answer.mac_sent && answer.response_code != "63" && answer.response_code != "30") {
    return "missing";
  }
  return "none";
}

std::optional<std::uint32_t> ParseKsnState(std::string_view text,
                                           std::string_view initial_ksn_hex) {
  std::istringstream in{std::string(text)};
  std::string ksn;
  std::string counter;
  if (!(in >> ksn >> counter) || Upper(ksn) != Upper(initial_ksn_hex) || !AllDigits(counter) ||
      counter.size() > 10) {
    return std::nullopt;
  }
  const std::uint64_t v = std::stoull(counter);
  const std::uint64_t limit = ksn.size() == 2 * crypto::kAesKsnSize ? 0xFFFFFFFFULL
                              : ksn.size() == 2 * crypto::kTdesKsnSize
                                  ? std::uint64_t{crypto::kTdesCounterMask}
                                  : 0;
  if (v > limit) {
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
  Impl& s = *impl_;
  if (!options_.now) {
    options_.now = [] { return std::chrono::system_clock::now(); };
  }
  auto dialect = iso8583::LoadDialect(options_.dialect);
  if (!dialect) {
    throw std::invalid_argument("dialect " + options_.dialect + ": " + dialect.error().message);
  }
  dialect_ = *dialect;
  s.framing = {.kind = options_.framing,
               .tpdu = options_.framing == iso8583::FrameKind::kNac && options_.tpdu};
  switch (options_.key_scheme) {
    case KeyScheme::kDukptTdes: {
      auto ksn = crypto::FromHex(options_.initial_ksn_hex);
      if (!ksn || ksn->size() != crypto::kTdesKsnSize) {
        throw std::invalid_argument("ksn: not a TDES KSN in hex (20 hex digits)");
      }
      s.initial_ksn = std::move(*ksn);
      if (!options_.initial_key_hex.empty()) {
        auto ipek = crypto::SecretFromHex(options_.initial_key_hex);
        if (!ipek || ipek->size() != 16) {
          throw std::invalid_argument("initial key: not a TDES IPEK in hex (32 hex digits)");
        }
        s.initial_key = std::move(*ipek);
      } else {
        auto bdk = crypto::SecretFromHex(options_.bdk_hex);
        if (!bdk || bdk->size() != 16) {
          throw std::invalid_argument("bdk: not a double-length TDES key in hex (32 hex digits)");
        }
        auto ipek = crypto::DeriveTdesIpek(*bdk, s.initial_ksn);  // ANSI X9.24-1:2009 A.6
        if (!ipek) {
          throw std::invalid_argument("bdk: no IPEK derived: " + ipek.error().message());
        }
        s.initial_key = std::move(*ipek);
      }
      s.counter = *crypto::TdesKsnCounter(s.initial_ksn);
      break;
    }
    case KeyScheme::kDukptAes: {
      auto ksn = crypto::FromHex(options_.initial_ksn_hex);
      if (!ksn || ksn->size() != crypto::kAesKsnSize) {
        throw std::invalid_argument("ksn: not an AES KSN in hex (24 hex digits)");
      }
      s.initial_ksn = std::move(*ksn);
      const bool given = !options_.initial_key_hex.empty();
      auto key = crypto::SecretFromHex(given ? options_.initial_key_hex : options_.bdk_hex);
      if (!key || !crypto::IsValidKeySize(crypto::KeyAlgorithm::kAes, key->size())) {
        throw std::invalid_argument(
            given ? "initial key: not an AES key in hex (32, 48 or 64 hex digits)"
                  : "bdk: not an AES key in hex (32, 48 or 64 hex digits)");
      }
      if (given) {
        s.initial_key = std::move(*key);
      } else {
        // ANSI X9.24-3:2017 6.3.3: the initial key from the BDK and the initial key ID.
        auto initial = crypto::DeriveAesInitialKey(
            *key, std::span(s.initial_ksn.data(), crypto::kAesInitialKeyIdSize));
        if (!initial) {
          throw std::invalid_argument("bdk: no initial key derived: " + initial.error().message());
        }
        s.initial_key = std::move(*initial);
      }
      s.counter = *crypto::AesKsnCounter(s.initial_ksn);
      break;
    }
    case KeyScheme::kMasterSession: {
      auto tmk = crypto::SecretFromHex(options_.tmk_hex);
      if (!tmk || !crypto::IsValidKeySize(options_.tmk_algorithm, tmk->size())) {
        throw std::invalid_argument(options_.tmk_algorithm == crypto::KeyAlgorithm::kAes
                                        ? "tmk: not an AES key in hex (32, 48 or 64 hex digits)"
                                        : "tmk: not a TDES key in hex (32 or 48 hex digits)");
      }
      s.tmk = std::move(*tmk);
      break;
    }
  }
  if (options_.tid.empty() || options_.tid.size() > 8) {
    throw std::invalid_argument("tid: 1 to 8 characters");
  }
  if (options_.mid.empty() || options_.mid.size() > 15) {
    throw std::invalid_argument("mid: 1 to 15 characters");
  }
  if (!options_.state_file.empty()) {
    LoadState();
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
    s.tls = std::move(ctx);
  }
}

TerminalClient::~TerminalClient() = default;

std::uint32_t TerminalClient::counter() const noexcept { return impl_->counter; }
std::uint32_t TerminalClient::stan() const noexcept { return impl_->stan; }
std::uint32_t TerminalClient::batch_number() const noexcept { return impl_->batch; }
const std::vector<BatchItem>& TerminalClient::items() const noexcept { return impl_->items; }
const std::optional<BatchItem>& TerminalClient::last() const noexcept { return impl_->last; }
bool TerminalClient::has_working_keys() const noexcept { return impl_->keys.has_value(); }

BatchTotals TerminalClient::totals() const {
  BatchTotals t;
  bool first = true;
  for (const BatchItem& i : impl_->items) {
    if (!InBatch(i)) {
      continue;
    }
    if (first) {
      t.currency = i.currency;
      first = false;
    }
    if (IsCredit(i)) {
      ++t.credits_count;
      t.credits_minor += i.amount_minor;
    } else {
      ++t.debits_count;
      t.debits_minor += i.amount_minor;
    }
  }
  return t;
}

void TerminalClient::LoadState() {
  Impl& s = *impl_;
  const std::string& path = options_.state_file;
  std::ifstream in(path);
  if (!in) {
    return;  // a new terminal
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  const auto start = text.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) {
    return;
  }
  const bool dukpt = options_.key_scheme != KeyScheme::kMasterSession;
  if (text[start] != '{') {
    // The first format: "<initial KSN hex> <counter>", KSN only; another terminal's is ignored.
    if (auto c = ParseKsnState(text, crypto::ToHex(s.initial_ksn)); dukpt && c && *c > s.counter) {
      s.counter = *c;
    }
    return;
  }
  const std::string where = "state file " + path + ": ";
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object() || v.get_object().if_contains("format") == nullptr ||
      !v.get_object().at("format").is_string() ||
      v.get_object().at("format").get_string() != kStateFormat) {
    throw std::invalid_argument(
        where + "not a switchyard term state file (" +
        (ec ? ec.message() : "no \"format\": \"" + std::string(kStateFormat) + "\"") + ")");
  }
  const json::object& o = v.get_object();
  try {
    const std::string tid = JsonText(o, "tid");
    if (tid != options_.tid) {
      throw std::invalid_argument("it belongs to terminal " + tid + ", not " + options_.tid +
                                  " (give each terminal its own --state)");
    }
    const std::string scheme = JsonText(o, "scheme");
    if (scheme != KeySchemeName(options_.key_scheme)) {
      throw std::invalid_argument("it is a " + scheme + " terminal's, not a " +
                                  std::string(KeySchemeName(options_.key_scheme)) +
                                  " one (give each terminal its own --state)");
    }
    if (dukpt && o.if_contains("initial_ksn") != nullptr &&
        Upper(JsonText(o, "initial_ksn")) == crypto::ToHex(s.initial_ksn)) {
      // Another initial KSN (keys injected again) starts from its own counter.
      const auto c = static_cast<std::uint32_t>(JsonInt(
          o, "ksn_counter",
          options_.key_scheme == KeyScheme::kDukptAes ? 0xFFFFFFFFLL : crypto::kTdesCounterMask));
      s.counter = std::max(s.counter, c);
    }
    s.stan = static_cast<std::uint32_t>(JsonInt(o, "stan", 999999));
    s.batch = static_cast<std::uint32_t>(JsonInt(o, "batch", 999999));
    if (s.batch == 0) {
      s.batch = 1;
    }
    if (const json::value* items = o.if_contains("items"); items != nullptr) {
      if (!items->is_array()) {
        throw std::invalid_argument("'items' is not an array");
      }
      for (const json::value& item : items->get_array()) {
        s.items.push_back(ItemFromJson(item));
      }
    }
    if (const json::value* last = o.if_contains("last"); last != nullptr) {
      s.last = ItemFromJson(*last);
    }
    if (const json::value* keys = o.if_contains("session_keys");
        keys != nullptr && options_.key_scheme == KeyScheme::kMasterSession) {
      if (!keys->is_object()) {
        throw std::invalid_argument("'session_keys' is not an object");
      }
      const std::string pin = JsonText(keys->get_object(), "pin");
      const std::string mac = JsonText(keys->get_object(), "mac");
      auto unwrapped = UnwrapWorkingKeys(s.tmk, options_.tmk_algorithm, pin, mac);
      if (!unwrapped) {
        throw std::invalid_argument("its working keys do not unwrap under --tmk (" +
                                    unwrapped.error() +
                                    "): another TMK? delete the file and sign on again");
      }
      s.pin_key_block = pin;
      s.mac_key_block = mac;
      s.keys = std::move(*unwrapped);
    }
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(where + e.what());
  }
}

TerminalResult<void> TerminalClient::SaveState() {
  if (options_.state_file.empty()) {
    return {};
  }
  const Impl& s = *impl_;
  // One fact per line, one item per line: small enough to read and diff by hand.
  std::vector<std::pair<std::string, std::string>> facts;
  auto fact = [&](std::string key, const json::value& value) {
    facts.emplace_back(std::move(key), json::serialize(value));
  };
  fact("format", json::string(kStateFormat));
  fact("tid", json::string(options_.tid));
  fact("scheme", json::string(KeySchemeName(options_.key_scheme)));
  if (options_.key_scheme != KeyScheme::kMasterSession) {
    fact("initial_ksn", json::string(crypto::ToHex(s.initial_ksn)));
    fact("ksn_counter", s.counter);
  }
  fact("stan", s.stan);
  fact("batch", s.batch);
  if (s.keys) {
    // Enciphered under the TMK, exactly as the switch sent them: never a clear key on disk.
    fact("session_keys", json::object{{"pin", s.pin_key_block}, {"mac", s.mac_key_block}});
  }
  if (s.last) {
    fact("last", ItemToJson(*s.last));
  }
  std::string items = "[";
  for (std::size_t n = 0; n < s.items.size(); ++n) {
    items += (n == 0 ? "\n  " : ",\n  ") + json::serialize(ItemToJson(s.items[n]));
  }
  items += s.items.empty() ? "]" : "\n]";
  facts.emplace_back("items", items);
  std::string text = "{\n";
  for (std::size_t n = 0; n < facts.size(); ++n) {
    text += json::serialize(json::string(facts[n].first)) + ": " + facts[n].second +
            (n + 1 < facts.size() ? ",\n" : "\n");
  }
  text += "}\n";
  if (std::string e = WriteAtomically(options_.state_file, text); !e.empty()) {
    return Fail(TerminalError::Kind::kState, e);
  }
  return {};
}

TerminalResult<Answer> TerminalClient::Exchange(Message& request, const Send& send) {
  Impl& s = *impl_;
  const bool dukpt = options_.key_scheme != KeyScheme::kMasterSession;
  const bool aes = options_.key_scheme == KeyScheme::kDukptAes;
  if (send.mac && !dukpt && !s.keys) {
    return Usage("no working keys yet: sign on first (the 0810 brings them)");
  }
  // The PIN block's size must fit the dialect's field 52 (format 4 is 16 bytes).
  crypto::PinBlockFormat pin_format = crypto::PinBlockFormat::kIso0;
  if (aes || (!dukpt && s.keys && s.keys->pin_algorithm == crypto::KeyAlgorithm::kAes)) {
    pin_format = crypto::PinBlockFormat::kIso4;
  }
  if (send.pin != nullptr) {
    const iso8583::FieldSpec& f52 = dialect_->field(52);
    const std::size_t size = crypto::PinBlockSize(pin_format);
    if (!f52.defined || (f52.is_fixed() ? f52.max_length != size : f52.max_length < size)) {
      return Usage("the PIN block (ISO 9564 format " +
                   std::to_string(static_cast<int>(pin_format)) + ") is " + std::to_string(size) +
                   " bytes, but field 52 of dialect " + dialect_->name() + " holds " +
                   std::to_string(f52.max_length) +
                   ": use a dialect whose field 52 takes it (--dialect FILE)");
    }
  }

  // Counters first, persisted before anything leaves: a crash never makes the next run replay a
  // KSN or a STAN.
  const std::uint32_t old_stan = s.stan;
  const std::uint32_t old_counter = s.counter;
  std::optional<BatchItem> old_last = s.last;
  if (!request.Has(11)) {
    s.stan = s.stan % 999999 + 1;
    request.Set(11, ZeroPad(s.stan, 6));
  }
  const std::string stan(request.Get(11));
  Answer answer;
  answer.mac_sent = send.mac;
  std::vector<std::uint8_t> ksn;
  if (send.mac && dukpt) {
    auto c = NextKsnCounter(options_.key_scheme, s.counter);
    if (!c) {
      s.stan = old_stan;
      return Fail(TerminalError::Kind::kState,
                  "KSN counter exhausted: the terminal needs new keys");
    }
    s.counter = *c;
    ksn = s.initial_ksn;
    if (aes) {
      for (int n = 0; n < 4; ++n) {
        ksn[8 + n] = static_cast<std::uint8_t>(*c >> (24 - 8 * n));
      }
    } else {
      ksn[7] = static_cast<std::uint8_t>((ksn[7] & 0xE0) | ((*c >> 16) & 0x1F));
      ksn[8] = static_cast<std::uint8_t>((*c >> 8) & 0xFF);
      ksn[9] = static_cast<std::uint8_t>(*c & 0xFF);
    }
    answer.ksn_hex = crypto::ToHex(ksn);
    answer.ksn_counter = *c;
  }
  if (send.pending != nullptr) {
    s.last = *send.pending;
    s.last->stan = stan;
    s.last->transmission_time = std::string(request.Get(7));
    s.last->status = BatchItem::Status::kSent;
  }
  if (auto saved = SaveState(); !saved) {
    s.stan = old_stan;
    s.counter = old_counter;
    s.last = std::move(old_last);
    return saved.error();
  }

  // The keys of this request.
  RequestKeys keys;
  keys.pin_format = pin_format;
  if (send.mac) {
    auto key_error = [](std::string_view what) {
      return Fail(TerminalError::Kind::kState, std::string(what) + ": key derivation failed");
    };
    if (options_.key_scheme == KeyScheme::kDukptTdes) {
      // ANSI X9.24-1:2009 A.4.1: the request and response MAC variants and the PIN variant.
      // From the IPEK, as the terminal holds it: the transaction key, then its variants.
      auto transaction = crypto::DeriveTdesTransactionKey(s.initial_key, ksn);
      if (!transaction) {
        return key_error("MAC");
      }
      auto req = crypto::ApplyTdesVariant(*transaction, crypto::TdesDukptVariant::kMacRequest);
      auto resp = crypto::ApplyTdesVariant(*transaction, crypto::TdesDukptVariant::kMacResponse);
      if (!req || !resp) {
        return key_error("MAC");
      }
      keys.mac_request = std::move(*req);
      keys.mac_response = std::move(*resp);
      if (send.pin != nullptr) {
        auto pin = crypto::ApplyTdesVariant(*transaction, crypto::TdesDukptVariant::kPin);
        if (!pin) {
          return key_error("PIN");
        }
        keys.pin = std::move(*pin);
      }
    } else if (aes) {
      // ANSI X9.24-3:2017 6.6: AES-128 working keys for MAC generation (requests), MAC
      // verification (answers) and PIN encryption, as the switch derives them.
      using U = crypto::AesDukptKeyUsage;
      constexpr auto kType = crypto::AesDukptKeyType::kAes128;
      // From the initial key, as the terminal holds it: the counter's derivation key, then the
      // working keys.
      auto derivation = crypto::DeriveAesDerivationKey(s.initial_key, ksn);
      if (!derivation) {
        return key_error("MAC");
      }
      auto req =
          crypto::DeriveAesWorkingKeyFromDerivationKey(*derivation, ksn, U::kMacGeneration, kType);
      auto resp = crypto::DeriveAesWorkingKeyFromDerivationKey(*derivation, ksn,
                                                               U::kMacVerification, kType);
      if (!req || !resp) {
        return key_error("MAC");
      }
      keys.cmac = true;
      keys.mac_request = std::move(*req);
      keys.mac_response = std::move(*resp);
      if (send.pin != nullptr) {
        auto pin = crypto::DeriveAesWorkingKeyFromDerivationKey(*derivation, ksn, U::kPinEncryption,
                                                                kType);
        if (!pin) {
          return key_error("PIN");
        }
        keys.pin = std::move(*pin);
      }
    } else {
      // Master/session: one MAC key both ways (docs/terminal-messages.md).
      keys.cmac = s.keys->mac_algorithm == crypto::KeyAlgorithm::kAes;
      keys.mac_request = s.keys->mac.Clone();
      keys.mac_response = s.keys->mac.Clone();
      keys.pin = s.keys->pin.Clone();
    }
  }
  if (send.pin != nullptr) {
    auto block = crypto::EncipherPinBlock(keys.pin_format, keys.pin, *send.pin, send.pan,
                                          crypto::SystemRandom());
    if (!block) {
      return Usage("PIN block: " + block.error().message());
    }
    request.Set(52, Chars(block->view()));
  }
  if (!answer.ksn_hex.empty()) {
    request.Set(62, answer.ksn_hex);
  }
  std::string packed;
  if (send.mac) {
    const iso8583::MacFunction mac = [&](std::span<const std::uint8_t> data,
                                         std::array<std::uint8_t, 8>& out) {
      return ComputeMac(keys, keys.mac_request, data, out);
    };
    if (auto r = iso8583::PackWithMac(*dialect_, request, mac, packed); !r) {
      return Fail(TerminalError::Kind::kState, "request not packed: " + r.error().Describe());
    }
  } else if (auto r = iso8583::Pack(*dialect_, request, packed); !r) {
    return Fail(TerminalError::Kind::kState, "request not packed: " + r.error().Describe());
  }
  std::string frame;
  const std::span<const std::uint8_t> tpdu =
      s.framing.tpdu ? std::span<const std::uint8_t>(kRequestTpdu.bytes())
                     : std::span<const std::uint8_t>();
  if (auto r = iso8583::AppendFrame(s.framing, tpdu, Bytes(packed), frame); !r) {
    return Fail(TerminalError::Kind::kState, "request not framed: " + r.error().Describe());
  }
  answer.request = request;

  Connection connection(options_, s.framing, s.tls.get());
  auto received = connection.Run(frame);
  if (!received) {
    return received.error();
  }
  if (s.framing.tpdu) {
    constexpr iso8583::Tpdu kReplyTpdu = kRequestTpdu.SwapForReply();
    if (received->tpdu != Chars(kReplyTpdu.bytes())) {
      return Fail(TerminalError::Kind::kProtocol,
                  "answer TPDU " + crypto::ToHex(Bytes(received->tpdu)) +
                      " is not the request's swapped (600000 0001)");
    }
  }
  Message reply;
  if (auto r = iso8583::Unpack(*dialect_, received->message, reply); !r) {
    return Fail(TerminalError::Kind::kProtocol,
                "answer not " + dialect_->name() + ": " + r.error().Describe());
  }
  // INTERFACE.md "Other rules": MTI + 10, echoing 11, 41 and, when present, 4.
  if (reply.mti() != ResponseMti(request.mti()) || reply.Get(11) != stan) {
    return Fail(TerminalError::Kind::kProtocol,
                "answer " + std::string(reply.mti()) + " stan " + std::string(reply.Get(11)) +
                    " does not match the request (" + std::string(request.mti()) + " stan " + stan +
                    ")");
  }
  if (reply.Has(41) && reply.Get(41) != request.Get(41)) {
    return Fail(TerminalError::Kind::kProtocol, "answer for terminal " +
                                                    std::string(reply.Get(41)) + ", not " +
                                                    std::string(request.Get(41)));
  }
  if (request.Has(4) && reply.Get(4) != request.Get(4)) {
    return Fail(TerminalError::Kind::kProtocol,
                reply.Has(4) ? "answer amount " + std::string(reply.Get(4)) +
                                   " is not the request's " + std::string(request.Get(4))
                             : std::string("answer does not echo the amount (field 4)"));
  }
  answer.response_code = std::string(reply.Get(39));
  const int mac_field = iso8583::MacField(reply);
  answer.mac_present = reply.Has(mac_field);
  auto input = iso8583::MacInput(*dialect_, reply, received->message);
  if (answer.mac_present && send.mac) {
    answer.mac_ok = input && VerifyMac(keys.cmac, keys.mac_response, *input, reply.Get(mac_field));
  }
  if (send.install_keys && options_.key_scheme == KeyScheme::kMasterSession &&
      answer.response_code == "00") {
    // Only keys that came under a MAC that verifies (or, for the first sign-on, which is not
    // MACed, straight from the TMK) replace the current ones.
    if (send.mac && !answer.mac_ok) {
      return Fail(TerminalError::Kind::kProtocol,
                  "the 0810's MAC does not verify: its working keys are not taken");
    }
    auto blocks = SplitKeyBlocks(reply.Get(48));
    if (!blocks) {
      return Fail(TerminalError::Kind::kProtocol,
                  "0810 00 without two TR-31 key blocks in field 48 (PIN key, then MAC key)");
    }
    auto unwrapped =
        UnwrapWorkingKeys(s.tmk, options_.tmk_algorithm, blocks->first, blocks->second);
    if (!unwrapped) {
      return Fail(TerminalError::Kind::kProtocol, "0810 field 48: " + unwrapped.error());
    }
    s.pin_key_block = std::string(blocks->first);
    s.mac_key_block = std::string(blocks->second);
    s.keys = std::move(*unwrapped);
    answer.keys_installed = true;
    if (answer.mac_present && !send.mac) {
      // An answer to the keyless first sign-on that is MACed anyway: under the new MAC key.
      answer.mac_ok = input && VerifyMac(s.keys->mac_algorithm == crypto::KeyAlgorithm::kAes,
                                         s.keys->mac, *input, reply.Get(mac_field));
    }
  }
  answer.response = reply;  // copies: the values stop pointing into `received`
  return answer;
}

TerminalResult<Answer> TerminalClient::NetworkManagement(std::string_view code, bool maced) {
  Message m;
  m.SetMti("0800");
  m.Set(7, TransmissionTime(options_.now()));
  m.Set(41, options_.tid);
  m.Set(42, options_.mid);
  m.Set(70, code);
  if (code == "001" && !options_.software_version.empty()) {
    m.Set(48, options_.software_version);  // the switch shows it (docs/terminal-messages.md)
  }
  const bool keys = code == "001" || code == "101";
  auto answer = Exchange(m, {.mac = maced, .install_keys = keys});
  if (answer && answer->keys_installed) {
    if (auto saved = SaveState(); !saved) {
      return Fail(TerminalError::Kind::kState,
                  "new working keys received but not kept: " + saved.error().message);
    }
  }
  return answer;
}

TerminalResult<Answer> TerminalClient::SignOn() {
  // A master/session terminal's first sign-on, before it holds any working key, is not MACed.
  return NetworkManagement("001",
                           options_.key_scheme != KeyScheme::kMasterSession || has_working_keys());
}

TerminalResult<Answer> TerminalClient::SignOff() { return NetworkManagement("002", false); }

TerminalResult<Answer> TerminalClient::Echo() { return NetworkManagement("301", false); }

TerminalResult<Answer> TerminalClient::KeyChange() {
  if (options_.key_scheme == KeyScheme::kMasterSession && !has_working_keys()) {
    return Usage("no working keys to MAC the key change with: sign on first");
  }
  return NetworkManagement("101", true);
}

TerminalResult<Answer> TerminalClient::Financial(Message& request, BatchItem item,
                                                 const std::optional<std::string>& pin_digits) {
  Impl& s = *impl_;
  std::optional<crypto::SecretBytes> pin;
  if (pin_digits) {
    auto p = crypto::SecretBytes::FromString(*pin_digits);
    if (!p || !crypto::ValidatePin(*p)) {
      return Usage("pin: 4 to 12 digits");
    }
    pin = std::move(*p);
  }
  request.Set(41, options_.tid);
  request.Set(42, options_.mid);
  auto answer = Exchange(
      request, {.mac = true, .pin = pin ? &*pin : nullptr, .pan = item.pan, .pending = &item});
  if (!answer) {
    return answer;  // `last` stays "sent": the reversal's candidate
  }
  BatchItem& last = *s.last;
  last.rrn = std::string(answer->response.Get(37));
  last.auth_code = std::string(answer->response.Get(38));
  const bool approved = answer->response_code == "00";
  last.status = approved ? BatchItem::Status::kApproved : BatchItem::Status::kDeclined;
  if (approved) {
    if (last.mti == "0200" && last.processing_code.starts_with("02")) {
      // A void: its original leaves the batch.
      for (BatchItem& i : s.items) {
        if (i.rrn == last.original_rrn && i.status == BatchItem::Status::kApproved) {
          i.status = BatchItem::Status::kVoided;
          break;
        }
      }
    } else {
      if (last.mti == "0220") {
        for (BatchItem& i : s.items) {
          if (i.mti == "0100" && i.rrn == last.original_rrn &&
              i.status == BatchItem::Status::kApproved) {
            i.status = BatchItem::Status::kCompleted;
            break;
          }
        }
      }
      s.items.push_back(last);
    }
  }
  if (auto saved = SaveState(); !saved) {
    return Fail(TerminalError::Kind::kState,
                "answer " + answer->response_code +
                    " received but the state was not saved: " + saved.error().message);
  }
  return answer;
}

namespace {

// Card fields (2, 14), entry mode (22) and condition code (25).
void SetCard(Message& m, const std::string& pan, const std::string& expiry, bool pin) {
  m.Set(2, pan);
  if (!expiry.empty()) {
    m.Set(14, expiry);
  }
  m.Set(22, pin ? "051" : "012");
  m.Set(25, "00");
}

// The batch item or pre-authorization (mti) whose RRN is `rrn`, newest first.
const BatchItem* FindByRrn(const std::vector<BatchItem>& items, std::string_view rrn,
                           std::string_view mti, BatchItem::Status status) {
  for (auto it = items.rbegin(); it != items.rend(); ++it) {
    if (it->rrn == rrn && it->status == status && (mti.empty() || it->mti == mti)) {
      return &*it;
    }
  }
  return nullptr;
}

}  // namespace

TerminalResult<Answer> TerminalClient::Purchase(const PurchaseRequest& request) {
  return Authorize("0200", request);
}

TerminalResult<Answer> TerminalClient::PreAuth(const PurchaseRequest& request) {
  return Authorize("0100", request);
}

TerminalResult<Answer> TerminalClient::Authorize(std::string_view mti,
                                                 const PurchaseRequest& request) {
  for (const std::string& e : {CheckPan(request.pan), CheckAmount(request.amount_minor),
                               CheckCurrency(request.currency), CheckExpiry(request.expiry)}) {
    if (!e.empty()) {
      return Usage(e);
    }
  }
  const auto now = options_.now();
  const auto [local_time, local_date] = LocalTime(now);
  Message m;
  m.SetMti(mti);
  SetCard(m, request.pan, request.expiry, request.pin.has_value());
  m.Set(3, "000000");
  m.Set(4, ZeroPad(static_cast<std::uint64_t>(request.amount_minor), 12));
  m.Set(7, TransmissionTime(now));
  m.Set(12, local_time);
  m.Set(13, local_date);
  m.Set(49, request.currency);
  if (!request.icc.empty()) {
    m.Set(55, request.icc);
  }
  BatchItem item{.mti = std::string(mti),
                 .processing_code = "000000",
                 .pan = request.pan,
                 .expiry = request.expiry,
                 .amount_minor = request.amount_minor,
                 .currency = request.currency};
  return Financial(m, std::move(item), request.pin);
}

TerminalResult<Answer> TerminalClient::Refund(const RefundRequest& request) {
  if (auto e = CheckRrn(request.rrn); !e.empty()) {
    return Usage(e);
  }
  const BatchItem* original = nullptr;
  for (auto status :
       {BatchItem::Status::kApproved, BatchItem::Status::kVoided, BatchItem::Status::kReversed}) {
    original = original != nullptr ? original : FindByRrn(impl_->items, request.rrn, "", status);
  }
  if (original != nullptr && !(original->mti == "0200" && IsDebit(*original))) {
    original = nullptr;  // only a purchase is refunded
  }
  BatchItem item{.mti = "0200",
                 .processing_code = "200000",
                 .pan = request.pan,
                 .expiry = request.expiry,
                 .amount_minor = request.amount_minor,
                 .currency = request.currency,
                 .original_rrn = request.rrn};
  if (item.pan.empty()) {
    if (original == nullptr) {
      return Usage("the purchase with rrn " + request.rrn +
                   " is not in this terminal's batch: give the card's pan");
    }
    item.pan = original->pan;
    item.expiry = request.expiry.empty() ? original->expiry : request.expiry;
  }
  if (item.currency.empty()) {
    item.currency = original != nullptr ? original->currency : "978";
  }
  for (const std::string& e : {CheckPan(item.pan), CheckAmount(item.amount_minor),
                               CheckCurrency(item.currency), CheckExpiry(item.expiry)}) {
    if (!e.empty()) {
      return Usage(e);
    }
  }
  Message m;
  m.SetMti("0200");
  SetCard(m, item.pan, item.expiry, request.pin.has_value());
  m.Set(3, item.processing_code);
  m.Set(4, ZeroPad(static_cast<std::uint64_t>(item.amount_minor), 12));
  m.Set(7, TransmissionTime(options_.now()));
  m.Set(37, request.rrn);
  m.Set(49, item.currency);
  return Financial(m, std::move(item), request.pin);
}

TerminalResult<Answer> TerminalClient::Void(const VoidRequest& request) {
  if (auto e = CheckRrn(request.rrn); !e.empty()) {
    return Usage(e);
  }
  const BatchItem* original =
      FindByRrn(impl_->items, request.rrn, "", BatchItem::Status::kApproved);
  if (original != nullptr && !InBatch(*original)) {
    original = nullptr;
  }
  if (original == nullptr && (request.pan.empty() || !request.amount_minor)) {
    return Usage("rrn " + request.rrn +
                 " is not in this terminal's open batch: give the card's pan and the amount");
  }
  BatchItem item{
      .mti = "0200",
      .processing_code = "020000",
      .pan = request.pan.empty() ? original->pan : request.pan,
      .expiry = request.expiry,
      .amount_minor = request.amount_minor ? *request.amount_minor : original->amount_minor,
      .currency = original != nullptr ? original->currency : "978",
      .original_rrn = request.rrn};
  if (item.expiry.empty() && original != nullptr && request.pan.empty()) {
    item.expiry = original->expiry;
  }
  for (const std::string& e :
       {CheckPan(item.pan), CheckAmount(item.amount_minor), CheckExpiry(item.expiry)}) {
    if (!e.empty()) {
      return Usage(e);
    }
  }
  Message m;
  m.SetMti("0200");
  SetCard(m, item.pan, item.expiry, false);  // no PIN (docs/terminal-messages.md)
  m.Set(3, item.processing_code);
  m.Set(4, ZeroPad(static_cast<std::uint64_t>(item.amount_minor), 12));
  m.Set(7, TransmissionTime(options_.now()));
  m.Set(37, request.rrn);
  m.Set(49, item.currency);
  return Financial(m, std::move(item), std::nullopt);
}

TerminalResult<Answer> TerminalClient::Completion(const CompletionRequest& request) {
  if (auto e = CheckRrn(request.rrn); !e.empty()) {
    return Usage(e);
  }
  const BatchItem* preauth =
      FindByRrn(impl_->items, request.rrn, "0100", BatchItem::Status::kApproved);
  BatchItem item{.mti = "0220",
                 .processing_code = "000000",
                 .pan = request.pan,
                 .expiry = request.expiry,
                 .amount_minor = request.amount_minor,
                 .currency = request.currency,
                 .auth_code = request.auth_code,
                 .original_rrn = request.rrn};
  if (preauth == nullptr && (item.pan.empty() || item.auth_code.empty())) {
    return Usage("the pre-authorization with rrn " + request.rrn +
                 " is not in this terminal's state: give the card's pan and the auth code");
  }
  if (item.pan.empty()) {
    item.pan = preauth->pan;
    item.expiry = request.expiry.empty() ? preauth->expiry : request.expiry;
  }
  if (item.auth_code.empty()) {
    item.auth_code = preauth->auth_code;
  }
  if (item.currency.empty()) {
    item.currency = preauth != nullptr ? preauth->currency : "978";
  }
  for (const std::string& e : {CheckPan(item.pan), CheckAmount(item.amount_minor),
                               CheckCurrency(item.currency), CheckExpiry(item.expiry)}) {
    if (!e.empty()) {
      return Usage(e);
    }
  }
  if (item.auth_code.size() > 6) {
    return Usage("auth code: 1 to 6 characters (the pre-authorization's field 38)");
  }
  std::string auth = item.auth_code;
  auth.resize(6, ' ');
  Message m;
  m.SetMti("0220");
  SetCard(m, item.pan, item.expiry, false);  // no PIN (docs/terminal-messages.md)
  m.Set(3, item.processing_code);
  m.Set(4, ZeroPad(static_cast<std::uint64_t>(item.amount_minor), 12));
  m.Set(7, TransmissionTime(options_.now()));
  m.Set(37, request.rrn);
  m.Set(38, auth);
  m.Set(49, item.currency);
  // The completion's own 38 is the answer's; until then it is the pre-authorization's.
  return Financial(m, std::move(item), std::nullopt);
}

TerminalResult<Answer> TerminalClient::Reversal(const ReversalRequest& request) {
  Impl& s = *impl_;
  std::optional<BatchItem> target;
  if (request.stan) {
    if (request.stan->empty() || request.stan->size() > 6 || !AllDigits(*request.stan)) {
      return Usage("stan: 1 to 6 digits");
    }
    const std::string stan = ZeroPad(std::stoul(*request.stan), 6);
    for (auto it = s.items.rbegin(); it != s.items.rend() && !target; ++it) {
      if (it->stan == stan) {
        target = *it;
      }
    }
    if (!target && s.last && s.last->stan == stan) {
      target = s.last;
    }
    if (!target) {
      return Usage("no transaction with stan " + stan + " in this terminal's batch or last");
    }
  } else if (s.last) {
    target = s.last;
  } else {
    return Usage("nothing to reverse: this terminal has sent no financial request");
  }
  Message m;
  m.SetMti(request.repeat ? "0401" : "0400");
  m.Set(2, target->pan);
  m.Set(3, target->processing_code);
  m.Set(4, ZeroPad(static_cast<std::uint64_t>(target->amount_minor), 12));
  m.Set(7, target->transmission_time);  // the original's 11 and 7 (INTERFACE.md)
  m.Set(11, target->stan);
  m.Set(41, options_.tid);
  m.Set(42, options_.mid);
  m.Set(49, target->currency);
  // 90: original MTI, STAN, transmission time; acquirer and forwarder unknown to a terminal.
  m.Set(90, target->mti + target->stan + target->transmission_time + std::string(22, '0'));
  auto answer = Exchange(m, {.mac = true});
  if (!answer) {
    return answer;
  }
  if (answer->response_code == "00") {
    auto same = [&](const BatchItem& i) {
      return i.stan == target->stan && i.transmission_time == target->transmission_time;
    };
    for (BatchItem& i : s.items) {
      if (same(i)) {
        i.status = BatchItem::Status::kReversed;
      }
    }
    if (s.last && same(*s.last)) {
      s.last->status = BatchItem::Status::kReversed;
    }
    // A reversed void puts its original back; a reversed completion its pre-authorization.
    const bool was_void = target->mti == "0200" && target->processing_code.starts_with("02");
    if (target->status == BatchItem::Status::kApproved && (was_void || target->mti == "0220")) {
      for (BatchItem& i : s.items) {
        if (i.rrn == target->original_rrn &&
            i.status == (was_void ? BatchItem::Status::kVoided : BatchItem::Status::kCompleted)) {
          i.status = BatchItem::Status::kApproved;
          break;
        }
      }
    }
    if (auto saved = SaveState(); !saved) {
      return Fail(TerminalError::Kind::kState,
                  "reversal approved but the state was not saved: " + saved.error().message);
    }
  }
  return answer;
}

TerminalResult<BatchCloseResult> TerminalClient::BatchClose() {
  Impl& s = *impl_;
  const BatchTotals totals = this->totals();
  for (const BatchItem& i : s.items) {
    if (InBatch(i) && i.currency != totals.currency) {
      return Usage("the batch holds more than one currency (" + totals.currency + ", " +
                   i.currency + "): one currency per batch");
    }
  }
  const std::string batch = ZeroPad(s.batch, 6);
  auto close_request = [&](std::string_view processing_code) {
    Message m;
    m.SetMti("0500");
    m.Set(3, processing_code);
    m.Set(7, TransmissionTime(options_.now()));
    m.Set(41, options_.tid);
    m.Set(42, options_.mid);
    m.Set(49, totals.currency);
    m.Set(60, batch);
    m.Set(74, ZeroPad(static_cast<std::uint64_t>(totals.credits_count), 10));
    m.Set(76, ZeroPad(static_cast<std::uint64_t>(totals.debits_count), 10));
    m.Set(86, ZeroPad(static_cast<std::uint64_t>(totals.credits_minor), 16));
    m.Set(88, ZeroPad(static_cast<std::uint64_t>(totals.debits_minor), 16));
    return m;
  };
  BatchCloseResult result;
  auto later_failure = [&](TerminalError e) {
    e.completed = std::move(result.answers);
    return e;
  };
  Message first = close_request("920000");
  auto answer = Exchange(first, {.mac = false});
  if (!answer) {
    return answer.error();
  }
  std::string code = answer->response_code;
  result.answers.push_back(std::move(*answer));
  if (code == "95") {
    // Totals disagree: upload the whole batch, one 0320 per item, then close again.
    const std::vector<BatchItem> upload = [&] {
      std::vector<BatchItem> v;
      std::copy_if(s.items.begin(), s.items.end(), std::back_inserter(v), InBatch);
      return v;
    }();
    for (const BatchItem& i : upload) {
      Message m;
      m.SetMti("0320");
      m.Set(2, i.pan);
      m.Set(3, i.processing_code);
      m.Set(4, ZeroPad(static_cast<std::uint64_t>(i.amount_minor), 12));
      m.Set(7, TransmissionTime(options_.now()));
      m.Set(37, i.rrn);
      if (!i.auth_code.empty()) {
        std::string auth = i.auth_code;
        auth.resize(6, ' ');
        m.Set(38, auth);
      }
      m.Set(41, options_.tid);
      m.Set(42, options_.mid);
      m.Set(49, i.currency);
      m.Set(60, i.mti + i.stan);
      auto uploaded = Exchange(m, {.mac = true});
      if (!uploaded) {
        return later_failure(std::move(uploaded.error()));
      }
      result.answers.push_back(std::move(*uploaded));
    }
    Message again = close_request("960000");
    auto second = Exchange(again, {.mac = false});
    if (!second) {
      return later_failure(std::move(second.error()));
    }
    code = second->response_code;
    result.answers.push_back(std::move(*second));
  }
  if (code == "00") {
    // Closed: a new batch; open pre-authorizations and an unanswered request stay.
    std::erase_if(s.items, [](const BatchItem& i) {
      return !(i.mti == "0100" && i.status == BatchItem::Status::kApproved);
    });
    if (s.last && s.last->status != BatchItem::Status::kSent) {
      s.last.reset();
    }
    s.batch = s.batch % 999999 + 1;
    result.closed = true;
    result.closed_batch = batch;
    if (auto saved = SaveState(); !saved) {
      return later_failure(
          Fail(TerminalError::Kind::kState,
               "batch closed but the state was not saved: " + saved.error().message));
    }
  }
  return result;
}

}  // namespace sy::sim
