#include "sim/issuer.h"

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <deque>
#include <exception>
#include <set>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

#include "crypto/hex.h"
#include "crypto/mac.h"
#include "crypto/pin_block.h"
#include "iso8583/codec.h"
#include "iso8583/framing.h"
#include "iso8583/mac_slot.h"
#include "iso8583/mask.h"
#include "iso8583/tlv.h"

namespace sy::sim {
namespace {

namespace asio = boost::asio;
using iso8583::Message;
using Tcp = asio::ip::tcp;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A digit string as a whole number; std::nullopt when not digits or too long to be an amount.
std::optional<std::int64_t> ParseAmount(std::string_view s) {
  if (!AllDigits(s) || s.size() > 18) {
    return std::nullopt;
  }
  std::int64_t v = 0;
  for (char c : s) {
    v = v * 10 + (c - '0');
  }
  return v;
}

// The PAN of a request: field 2, else track 2 (field 35) up to its separator.
std::string_view RequestPan(const Message& m) {
  if (m.Has(2)) {
    return m.Get(2);
  }
  std::string_view track = m.Get(35);
  if (!track.empty() && track.front() == ';') {
    track.remove_prefix(1);
  }
  return track.substr(0, track.find_first_of("=D"));
}

// "0200 stan=000123 pan=476173******0010 amount=000000001000": what a log may show of a request.
std::string DescribeRequest(const Message& m) {
  std::string s(m.mti());
  s += " stan=";
  s += m.Has(11) ? m.Get(11) : "-";
  const std::string_view pan = RequestPan(m);
  if (!pan.empty()) {
    s += " pan=" + iso8583::MaskPan(pan);
  }
  if (m.Has(4)) {
    s += " amount=";
    s += m.Get(4);
  }
  return s;
}

// The MTI of the answer: 0100 -> 0110, 0421 -> 0430 (function digit + 1, origin 0).
std::string ResponseMti(std::string_view mti) {
  std::string r(mti);
  r[2] = static_cast<char>(r[2] + 1);
  r[3] = '0';
  return r;
}

// A request MTI with the repeat digit cleared (0421 -> 0420, 0221 -> 0220).
std::string BaseMti(std::string_view mti) {
  std::string r(mti);
  r[3] = '0';
  return r;
}

crypto::SecretBytes KeyFromHex(const std::string& hex, std::string_view what,
                               std::initializer_list<std::size_t> sizes) {
  auto key = crypto::SecretFromHex(hex);
  if (!key || std::find(sizes.begin(), sizes.end(), key->size()) == sizes.end()) {
    throw std::invalid_argument(std::string(what) + ": not a TDES key in hex (" +
                                std::to_string(*sizes.begin() * 2) + " hex digits)");
  }
  return std::move(*key);
}

}  // namespace

// ---- decisions ---------------------------------------------------------------------------------

IssuerSimulator::IssuerSimulator(const proto::IssuerSimConfig& config, IssuerOptions options)
    : config_(config), options_(std::move(options)), random_(options_.seed) {
  approval_offset_ = static_cast<std::uint32_t>(random_() % 1000000U);
  name_ = config.name().empty() ? "issuer" : config.name();
  const std::string dialect = config.dialect().empty() ? "iso87a" : config.dialect();
  auto loaded = iso8583::LoadDialect(dialect);
  if (!loaded) {
    throw std::invalid_argument("dialect: " + loaded.error().message);
  }
  dialect_ = *loaded;
  if (!config.zpk().empty()) {
    zpk_ = KeyFromHex(config.zpk(), "zpk", {16, 24});
  }
  if (!config.zak().empty()) {
    zak_ = KeyFromHex(config.zak(), "zak", {16});  // X9.19 retail MAC: K || K'
  }
  if (config.latency().max_ms() != 0 && config.latency().max_ms() < config.latency().min_ms()) {
    throw std::invalid_argument("latency: max_ms is below min_ms");
  }
  if (config.drop_per_mille() > 1000) {
    throw std::invalid_argument("drop_per_mille: above 1000");
  }
  for (int i = 0; i < config.cards_size(); ++i) {
    const proto::CardAccount& c = config.cards(i);
    const std::string at = "cards[" + std::to_string(i) + "].";
    if (!AllDigits(c.pan()) || c.pan().size() < 8 || c.pan().size() > 19) {
      throw std::invalid_argument(at + "pan: not 8 to 19 digits");
    }
    Card card;
    card.pan = c.pan();
    if (!c.pin().empty()) {
      if (!AllDigits(c.pin()) || c.pin().size() < 4 || c.pin().size() > 12) {
        throw std::invalid_argument(at + "pin: not 4 to 12 digits");
      }
      if (zpk_.empty()) {
        throw std::invalid_argument(at + "pin: a card with a PIN needs a zpk");
      }
      card.pin = crypto::SecretBytes::FromString(c.pin()).value();
    }
    if (!c.expiry().empty()) {
      const int month =
          AllDigits(c.expiry()) && c.expiry().size() == 4 ? std::stoi(c.expiry().substr(2)) : 0;
      if (month < 1 || month > 12) {
        throw std::invalid_argument(at + "expiry: not YYMM");
      }
      card.expiry_yymm = std::stoi(c.expiry());
    }
    card.balance = c.balance_minor();
    card.currency = c.currency() == 0 ? 978 : c.currency();
    card.do_not_honour = c.do_not_honour();
    card.pin_tries = c.pin_tries() == 0 ? 3 : c.pin_tries();
    if (!cards_.emplace(card.pan, std::move(card)).second) {
      throw std::invalid_argument(at + "pan: the same card twice");
    }
  }
}

IssuerSimulator::~IssuerSimulator() = default;

std::optional<AccountView> IssuerSimulator::Account(std::string_view pan) const {
  std::lock_guard lock(mu_);
  auto it = cards_.find(pan);
  if (it == cards_.end()) {
    return std::nullopt;
  }
  return AccountView{it->second.balance, it->second.wrong_pins};
}

int IssuerSimulator::CurrentYymm() const {
  using namespace std::chrono;
  const auto now = options_.now ? options_.now() : system_clock::now();
  const year_month_day ymd{floor<days>(now)};
  return (static_cast<int>(ymd.year()) % 100) * 100 + static_cast<int>(unsigned{ymd.month()});
}

std::string IssuerSimulator::NextApprovalCode() {
  // Unique for the first million approvals of a run (7919 is prime to 10^6) and not the STAN.
  const auto n =
      static_cast<std::uint32_t>((approval_offset_ + 7919ULL * approvals_++) % 1000000ULL);
  char code[8];
  std::snprintf(code, sizeof code, "%06u", static_cast<unsigned>(n));
  return std::string(code, 6);
}

void IssuerSimulator::Remember(const std::string& key, Approved approved) {
  if (approved_.insert_or_assign(key, std::move(approved)).second) {
    approved_order_.push_back(key);
    if (approved_order_.size() > kMaxApproved) {
      approved_.erase(approved_order_.front());
      approved_order_.pop_front();
    }
  }
}

bool IssuerSimulator::DrawDrop() {
  std::lock_guard lock(mu_);
  const std::uint32_t per_mille = config_.drop_per_mille();
  return per_mille != 0 &&
         std::uniform_int_distribution<std::uint32_t>(0, 999)(random_) < per_mille;
}

std::chrono::milliseconds IssuerSimulator::DrawLatency() {
  std::lock_guard lock(mu_);
  const std::uint32_t lo = config_.latency().min_ms();
  const std::uint32_t hi = std::max(lo, config_.latency().max_ms());
  if (hi == 0) {
    return std::chrono::milliseconds(0);
  }
  return std::chrono::milliseconds(std::uniform_int_distribution<std::uint32_t>(lo, hi)(random_));
}

bool IssuerSimulator::VerifyMac(const Message& request) const {
  const int field = iso8583::MacField(request);
  if (!request.Has(field)) {
    return false;
  }
  // Pack(Unpack(x)) == x, so packing the request again gives the bytes the MAC was made over.
  std::string wire;
  if (!iso8583::Pack(*dialect_, request, wire)) {
    return false;
  }
  auto input = iso8583::MacInput(*dialect_, request, wire);
  if (!input) {
    return false;
  }
  const std::string_view mac = request.Get(field);
  return crypto::VerifyRetailMac(
             zak_, {reinterpret_cast<const std::uint8_t*>(input->data()), input->size()},
             {reinterpret_cast<const std::uint8_t*>(mac.data()), mac.size()},
             crypto::MacPadding::kMethod1)
      .has_value();
}

std::string IssuerSimulator::Authorize(const Message& request, Message& response) {
  const bool preauth = request.mti() == "0100";
  const std::string_view pc = request.Get(3);
  std::string rc;
  std::optional<std::int64_t> amount;
  const std::string_view pan = RequestPan(request);
  auto card_it = cards_.find(pan);
  Card* card = card_it == cards_.end() ? nullptr : &card_it->second;
  const std::string_view txn = pc.size() == 6 ? pc.substr(0, 2) : std::string_view();
  const bool purchase = txn == "00";
  const bool refund = txn == "20" && !preauth;
  const bool inquiry = txn == "31";

  if (!request.Has(11) || pc.size() != 6 || pan.empty()) {
    rc = "30";
  } else if (!purchase && !refund && !inquiry) {
    rc = "12";
  } else if (!inquiry && !(amount = ParseAmount(request.Get(4)))) {
    rc = "30";
  } else if (!inquiry && *amount <= 0) {
    rc = "13";
  } else if (card == nullptr) {
    rc = "14";
  } else if (request.Has(49) && request.Get(49) != std::to_string(card->currency)) {
    rc = "12";  // this simulator keeps one currency per account and does no conversion
  } else {
    // The account's expiry wins over field 14; a card is valid to the end of its month.
    int expiry = card->expiry_yymm;
    if (expiry < 0 && request.Has(14) && AllDigits(request.Get(14))) {
      expiry = std::stoi(std::string(request.Get(14)));
    }
    if (expiry >= 0 && expiry < CurrentYymm()) {
      rc = "54";
    } else if (card->do_not_honour) {
      rc = "05";
    } else if (request.Has(52) && !card->pin.empty()) {
      if (card->wrong_pins >= card->pin_tries) {
        rc = "75";
      } else {
        const std::string_view block = request.Get(52);
        // The clear PIN stays in this SecretBytes, compared in constant time and wiped.
        auto pin = crypto::DecipherPinBlock(
            crypto::PinBlockFormat::kIso0, zpk_,
            {reinterpret_cast<const std::uint8_t*>(block.data()), block.size()}, pan);
        if (pin && *pin == card->pin) {
          card->wrong_pins = 0;
        } else {
          ++card->wrong_pins;
          rc = "55";
        }
      }
    }
    if (rc.empty()) {
      if (purchase && card->balance < *amount) {
        rc = "51";
      } else {
        rc = "00";
        std::int64_t delta = 0;
        if (purchase) {
          delta = -*amount;  // a pre-auth holds the amount: it leaves the available balance
        } else if (refund) {
          delta = *amount;
        }
        card->balance += delta;
        if (delta != 0) {
          Remember(BaseMti(request.mti()) + std::string(request.Get(11)),
                   Approved{card->pan, delta, false});
        }
        response.Set(38, NextApprovalCode());
        if (inquiry) {
          // ISO 8583:1987 field 54: account type, amount type 02 (available), currency, sign,
          // 12 digits.
          char amount54[32];
          std::snprintf(amount54, sizeof amount54, "%.2s02%03u%c%012lld", pc.substr(2, 2).data(),
                        card->currency, card->balance < 0 ? 'D' : 'C',
                        static_cast<long long>(card->balance < 0 ? -card->balance : card->balance));
          response.Set(54, amount54);
        }
      }
    }
  }
  if (request.Has(55)) {
    // Tag 91 issuer authentication data (an ARPC-shaped 8 bytes and the 2-byte response code),
    // 8A authorization response code, as EMV Book 3 6.5.10 / Annex A lay them out.
    std::vector<std::uint8_t> arpc(10);
    for (std::size_t i = 0; i < 8; ++i) {
      arpc[i] = static_cast<std::uint8_t>(random_());
    }
    const char* arc = rc == "00" ? "00" : "05";
    arpc[8] = static_cast<std::uint8_t>(arc[0]);
    arpc[9] = static_cast<std::uint8_t>(arc[1]);
    std::vector<std::uint8_t> tlv;
    iso8583::TlvWriter writer(tlv);
    const std::uint8_t arc_bytes[2] = {static_cast<std::uint8_t>(arc[0]),
                                       static_cast<std::uint8_t>(arc[1])};
    if (writer.Add(0x91, arpc) && writer.Add(0x8A, arc_bytes)) {
      response.Set(55, {reinterpret_cast<const char*>(tlv.data()), tlv.size()});
    }
  }
  return rc;
}

std::string IssuerSimulator::Advise(const Message& request) {
  // A stand-in approval the switch already gave: the issuer applies it whatever the balance.
  const std::string_view pc = request.Get(3);
  const auto amount = ParseAmount(request.Get(4));
  const std::string_view pan = RequestPan(request);
  if (!request.Has(11) || pc.size() != 6 || !amount || pan.empty()) {
    return "30";
  }
  std::int64_t delta = 0;
  if (pc.substr(0, 2) == "00") {
    delta = -*amount;
  } else if (pc.substr(0, 2) == "20") {
    delta = *amount;
  } else {
    return "12";
  }
  auto it = cards_.find(pan);
  if (it == cards_.end()) {
    return "14";
  }
  // Keyed on the MTI without its repeat digit, so a 0221 after a lost 0230 applies nothing.
  const std::string key = BaseMti(request.mti()) + std::string(request.Get(11));
  if (!approved_.contains(key)) {
    // A completion names its pre-authorization in 90 (original MTI, STAN, ...): the hold is
    // released and the final amount taken instead.
    if (const std::string_view original = request.Get(90);
        original.size() == 42 && original.substr(0, 4) == "0100") {
      auto hold = approved_.find("0100" + std::string(original.substr(4, 6)));
      if (hold != approved_.end() && !hold->second.reversed && hold->second.pan == it->second.pan) {
        it->second.balance -= hold->second.delta;
        hold->second.reversed = true;
      }
    }
    it->second.balance += delta;
    Remember(key, Approved{it->second.pan, delta, false});
  }
  return "00";
}

std::string IssuerSimulator::Reverse(const Message& request) {
  // Field 90: original MTI (4), STAN (6), transmission date and time (10), 32 (11), 33 (11).
  const std::string_view original = request.Get(90);
  if (!request.Has(11) || original.size() != 42) {
    return "30";
  }
  const std::string key = BaseMti(original.substr(0, 4)) + std::string(original.substr(4, 6));
  auto it = approved_.find(key);
  if (it != approved_.end() && !it->second.reversed) {
    auto card = cards_.find(it->second.pan);
    if (card != cards_.end()) {
      card->second.balance -= it->second.delta;
    }
    it->second.reversed = true;
  }
  // An unknown original, a repeat and a duplicate all get 00: nothing (more) to undo.
  return "00";
}

void IssuerSimulator::MacResponse(Message& response) {
  if (zak_.empty()) {
    return;
  }
  const iso8583::MacFunction fn = [this](std::span<const std::uint8_t> data,
                                         std::array<std::uint8_t, 8>& out) {
    auto m = crypto::RetailMac(zak_, data, crypto::MacPadding::kMethod1);
    if (!m) {
      return false;
    }
    out = *m;
    return true;
  };
  std::string wire;
  if (!iso8583::PackWithMac(*dialect_, response, fn, wire)) {
    // Cannot happen with the fields copied from a request that unpacked; answer 96 rather than
    // send an unMACed answer.
    const std::string stan(response.Get(11));
    const std::string mti(response.mti());
    response.Reset();
    response.SetMti(mti);
    response.Set(11, stan);
    response.Set(39, "96");
    if (!iso8583::PackWithMac(*dialect_, response, fn, wire)) {
      response.Unset(iso8583::MacField(response));
    }
  }
}

std::optional<Message> IssuerSimulator::Decide(const Message& request) {
  std::string rc;
  std::optional<Message> response;
  {
    std::lock_guard lock(mu_);
    response = DecideLocked(request, rc);
  }
  if (options_.log && !rc.empty()) {
    options_.log(name_ + ": " + DescribeRequest(request) + " rc=" + rc);
  }
  return response;
}

std::optional<Message> IssuerSimulator::DecideLocked(const Message& request, std::string& log_rc) {
  const std::string_view mti = request.mti();
  if (mti.size() != 4 || !AllDigits(mti) || (mti[2] - '0') % 2 != 0) {
    log_rc = "none (not a request)";
    return std::nullopt;
  }
  Message response;
  response.SetMti(ResponseMti(mti));
  for (int n : {3, 4, 7, 11, 37, 41, 49}) {
    if (request.Has(n)) {
      response.Set(n, request.Get(n));
    }
  }
  const bool sign_on_or_key_change =
      mti == "0800" && (request.Get(70) == "001" || request.Get(70) == "101");
  const bool needs_mac = mti != "0800" || sign_on_or_key_change;
  if (!zak_.empty() && (request.Has(iso8583::MacField(request)) || needs_mac) &&
      !VerifyMac(request)) {
    // INTERFACE.md: every answer to a MACed request is MACed, except a 63.
    response.Set(39, "63");
    log_rc = "63";
    return response;
  }
  const std::string dup_key =
      std::string(mti) + std::string(request.Get(11)) + "/" + std::string(request.Get(7));
  if (auto it = answered_.find(dup_key); it != answered_.end()) {
    Message again;
    if (iso8583::Unpack(*dialect_, it->second, again)) {
      log_rc = std::string(again.Get(39)) + " (duplicate, answered again)";
      return Message(again);  // the copy owns its values; `again` views the stored bytes
    }
  }

  std::string rc;
  const std::string base = BaseMti(mti);
  if (base == "0800") {
    const std::string_view code = request.Get(70);
    rc = code == "001" || code == "002" || code == "301" ? "00" : "12";
    if (request.Has(70)) {
      response.Set(70, code);
    }
  } else if (mti == "0100" || mti == "0200") {
    rc = Authorize(request, response);
  } else if (base == "0120" || base == "0220") {
    rc = Advise(request);
  } else if (base == "0420") {
    rc = Reverse(request);
  } else {
    rc = "12";
  }
  response.Set(39, rc);
  MacResponse(response);
  log_rc = std::string(response.Get(39));
  if (std::string packed; iso8583::Pack(*dialect_, response, packed)) {
    answered_.emplace(dup_key, std::move(packed));
    answered_order_.push_back(dup_key);
    if (answered_order_.size() > kMaxAnswered) {
      answered_.erase(answered_order_.front());
      answered_order_.pop_front();
    }
  }
  return response;
}

// ---- the server --------------------------------------------------------------------------------

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Tcp::socket socket, IssuerSimulator& sim, asio::steady_timer::time_point stall_until,
          std::function<bool()> draw_drop, std::function<std::chrono::milliseconds()> draw_latency)
      : socket_(std::move(socket)),
        sim_(sim),
        reader_({.kind = iso8583::FrameKind::kNac, .tpdu = false}),
        stall_until_(stall_until),
        draw_drop_(std::move(draw_drop)),
        draw_latency_(std::move(draw_latency)) {}

  [[nodiscard]] asio::any_io_executor executor() { return socket_.get_executor(); }

  static asio::awaitable<void> ReadLoop(std::shared_ptr<Session> self) {
    while (!self->closed_) {
      const std::span<std::uint8_t> area = self->reader_.Prepare(4096);
      auto [ec, n] =
          co_await self->socket_.async_read_some(asio::buffer(area.data(), area.size()), kAsTuple);
      if (ec) {
        break;
      }
      self->reader_.Commit(n);
      while (true) {
        auto frame = self->reader_.Next();
        if (!frame) {
          self->Log("closing a connection: " + frame.error().Describe());
          self->Drain();
          co_return;
        }
        if (!*frame) {
          break;
        }
        Message request;
        if (auto r = iso8583::Unpack(self->sim_.dialect(), (*frame)->message, request); !r) {
          self->Log("closing a connection: " + r.error().Describe());
          self->Drain();
          co_return;
        }
        self->Handle(request);
      }
    }
    self->Close();
  }

  // On the session's strand: reads no more, and closes once the answers already decided are
  // written (a connection that sends garbage loses nothing it was promised).
  void Drain() {
    draining_ = true;
    if (!writing_ && timers_.empty()) {
      Close();
    }
  }

  // On the session's strand.
  void Close() {
    if (closed_) {
      return;
    }
    closed_ = true;
    boost::system::error_code ignored;
    socket_.shutdown(Tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    for (asio::steady_timer* t : timers_) {
      t->cancel();
    }
  }

 private:
  void Log(const std::string& line) { sim_.Log(line); }

  void Handle(const Message& request) {
    if (asio::steady_timer::clock_type::now() < stall_until_) {
      Log(sim_.name() + ": " + DescribeRequest(request) + " stalled (not answered)");
      return;
    }
    if (draw_drop_()) {
      Log(sim_.name() + ": " + DescribeRequest(request) + " dropped");
      return;
    }
    std::optional<Message> response = sim_.Decide(request);
    if (!response) {
      return;
    }
    std::string packed;
    std::string frame;
    if (auto r = iso8583::Pack(sim_.dialect(), *response, packed); !r) {
      Log("cannot pack an answer: " + r.error().Describe());
      return;
    }
    if (auto r = iso8583::AppendFrame(
            reader_.options(), {},
            {reinterpret_cast<const std::uint8_t*>(packed.data()), packed.size()}, frame);
        !r) {
      Log("cannot frame an answer: " + r.error().Describe());
      return;
    }
    const std::chrono::milliseconds delay = draw_latency_();
    if (delay.count() == 0) {
      Enqueue(std::move(frame));
      return;
    }
    asio::co_spawn(executor(), Delayed(shared_from_this(), std::move(frame), delay), Completion());
  }

  static asio::awaitable<void> Delayed(std::shared_ptr<Session> self, std::string frame,
                                       std::chrono::milliseconds delay) {
    asio::steady_timer timer(self->executor(), delay);
    self->timers_.insert(&timer);
    auto [ec] = co_await timer.async_wait(kAsTuple);
    self->timers_.erase(&timer);
    if (!ec && !self->closed_) {
      self->Enqueue(std::move(frame));
    }
    if (self->draining_) {
      self->Drain();
    }
  }

  void Enqueue(std::string frame) {
    outbox_.push_back(std::move(frame));
    if (!writing_) {
      writing_ = true;
      asio::co_spawn(executor(), WriteLoop(shared_from_this()), Completion());
    }
  }

  // Answers queued while the previous write was on the wire go out in one gathered write.
  static asio::awaitable<void> WriteLoop(std::shared_ptr<Session> self) {
    std::deque<std::string> batch;
    std::vector<asio::const_buffer> buffers;
    while (!self->outbox_.empty() && !self->closed_) {
      batch.swap(self->outbox_);
      buffers.clear();
      for (const std::string& frame : batch) {
        buffers.emplace_back(asio::buffer(frame));
      }
      auto [ec, n] = co_await asio::async_write(self->socket_, buffers, kAsTuple);
      batch.clear();
      if (ec) {
        self->Close();
      }
    }
    self->outbox_.clear();
    self->writing_ = false;
    if (self->draining_) {
      self->Drain();
    }
  }

  std::function<void(std::exception_ptr)> Completion() {
    return [self = shared_from_this()](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          self->Log(std::string("a connection failed: ") + ex.what());
        }
        self->Close();
      }
    };
  }

  Tcp::socket socket_;
  IssuerSimulator& sim_;
  iso8583::FrameReader reader_;
  asio::steady_timer::time_point stall_until_;
  std::function<bool()> draw_drop_;
  std::function<std::chrono::milliseconds()> draw_latency_;
  std::deque<std::string> outbox_;
  bool writing_ = false;
  bool draining_ = false;
  bool closed_ = false;
  std::set<asio::steady_timer*> timers_;  // answers waiting out their latency
};

}  // namespace

class IssuerSimulator::Server {
 public:
  Server(IssuerSimulator& sim, asio::io_context& io)
      : sim_(sim), io_(io), acceptor_(asio::make_strand(io)) {}

  std::uint16_t Listen(const std::string& host, std::uint16_t port) {
    const Tcp::endpoint endpoint(asio::ip::make_address(host), port);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(Tcp::acceptor::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
    stall_until_ =
        asio::steady_timer::clock_type::now() + std::chrono::milliseconds(sim_.config_.stall_ms());
    asio::co_spawn(acceptor_.get_executor(), Accept(), [this](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          sim_.Log(std::string("the listener failed: ") + ex.what());
        }
      }
    });
    return acceptor_.local_endpoint().port();
  }

  void Stop() {
    std::vector<std::shared_ptr<Session>> sessions;
    {
      std::lock_guard lock(mu_);
      if (stopped_) {
        return;
      }
      stopped_ = true;
      for (auto& w : sessions_) {
        if (auto s = w.lock()) {
          sessions.push_back(std::move(s));
        }
      }
      sessions_.clear();
    }
    asio::post(acceptor_.get_executor(), [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
    });
    for (auto& s : sessions) {
      asio::post(s->executor(), [s] { s->Close(); });
    }
  }

 private:
  asio::awaitable<void> Accept() {
    while (true) {
      auto [ec, socket] =
          co_await acceptor_.async_accept(asio::any_io_executor(asio::make_strand(io_)), kAsTuple);
      if (ec) {
        std::lock_guard lock(mu_);
        if (stopped_ || ec == asio::error::operation_aborted || !acceptor_.is_open()) {
          co_return;
        }
        continue;  // a connection that failed during accept; keep listening
      }
      // Answers go out as soon as they are written, as an issuer host's do: with Nagle's
      // algorithm a small answer could wait for the acknowledgement of the previous one.
      boost::system::error_code ignored;
      socket.set_option(Tcp::no_delay(true), ignored);
      auto session = std::make_shared<Session>(
          std::move(socket), sim_, stall_until_, [this] { return sim_.DrawDrop(); },
          [this] { return sim_.DrawLatency(); });
      {
        std::lock_guard lock(mu_);
        if (stopped_) {
          co_return;  // the session closes its socket when it goes away
        }
        std::erase_if(sessions_, [](const std::weak_ptr<Session>& w) { return w.expired(); });
        sessions_.push_back(session);
      }
      asio::co_spawn(session->executor(), Session::ReadLoop(session),
                     [this, session](std::exception_ptr e) {
                       if (e) {
                         sim_.Log("a connection failed");
                         session->Close();
                       }
                     });
    }
  }

  IssuerSimulator& sim_;
  asio::io_context& io_;
  Tcp::acceptor acceptor_;
  asio::steady_timer::time_point stall_until_;
  std::mutex mu_;
  bool stopped_ = false;
  std::vector<std::weak_ptr<Session>> sessions_;
};

std::uint16_t IssuerSimulator::Start(asio::io_context& io, std::uint16_t port) {
  if (server_) {
    throw std::logic_error("IssuerSimulator::Start called twice");
  }
  server_ = std::make_shared<Server>(*this, io);
  const std::string host = config_.listen().host().empty() ? "127.0.0.1" : config_.listen().host();
  return server_->Listen(host, port);
}

void IssuerSimulator::Stop() {
  if (server_) {
    server_->Stop();
  }
}

void IssuerSimulator::Log(const std::string& line) const {
  if (options_.log) {
    options_.log(line);
  }
}

}  // namespace sy::sim
