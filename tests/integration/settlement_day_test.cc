// The settlement proof of issue 8: about 20,000 varied transactions from sixteen DUKPT terminals
// of eight merchants in two currencies — purchases with and without PIN, issuer and switch
// declines, refunds, voids, reversals, pre-authorizations and completions, stand-in approvals and
// issuer timeouts — run through the real pipeline in one process, against two issuer simulators,
// under an injected clock that crosses the business day's cutover mid-run. Batches close at the
// end of each day (one through a 95 and an upload), one terminal never closes its batch and one
// closes it late, after the cutover. Then both business dates are settled and the test shows:
//  - per merchant and currency, the settlement's counts and amounts equal, to the minor unit,
//    what the terminals were told was approved and not voided or reversed, and the journal's own
//    approved totals read straight from its records;
//  - every journal record belongs to exactly one business date, every counted one is settled
//    exactly once, and what arrived after the cutover never reaches the first date's run;
//  - the batch reconciliation shows the closed, reconciled, late and never-closed batches, and
//    the issuer reconciliation balances every route once the SAF queue is delivered, listing
//    exactly the items whose delivery the test held back;
//  - a second run of each date gives byte-identical files.

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include "crypto/dukpt_tdes.h"
#include "crypto/hex.h"
#include "crypto/mac.h"
#include "crypto/pin_block.h"
#include "iso8583/codec.h"
#include "iso8583/mac_slot.h"
#include "sim/issuer.h"
#include "storage/batch_store.h"
#include "storage/journal.h"
#include "storage/saf_queue.h"
#include "storage/store.h"
#include "switch/business_day.h"
#include "switch/config.h"
#include "switch/log.h"
#include "switch/pipeline.h"
#include "switch/settlement/output.h"
#include "switch/settlement/run.h"
#include "switch/settlement/settlement.h"

namespace sy::server {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace st = settlement;
using namespace std::chrono;

constexpr std::string_view kBdk = "0123456789ABCDEFFEDCBA9876543210";  // X9.24-1 A.4 test BDK
constexpr std::string_view kZpk = "89ABCDEF0123456776543210FEDCBA98";
constexpr std::string_view kDay1 = "20261127";
constexpr std::string_view kDay2 = "20261128";
constexpr int kTerminals = 16;  // two per merchant: even ones in EUR, odd ones in USD
constexpr int kTransactions = 20000;
constexpr int kNeverCloses = 5;  // its batch is closed only by the settlement, at cutover
constexpr int kClosesLate = 6;   // closes its day-1 batch after the cutover
constexpr int kUploads = 7;      // closes day 1 with wrong totals: 95, upload, 960000

crypto::SecretBytes Key(std::string_view hex) { return crypto::SecretFromHex(hex).value(); }

// A Luhn-valid PAN: `prefix`, then `n` as digits, then the check digit.
std::string LuhnPan(std::string_view prefix, int n, std::size_t length = 16) {
  std::string body(prefix);
  const std::string digits = std::to_string(n);
  body.append(length - 1 - body.size() - digits.size(), '0');
  body += digits;
  int sum = 0;
  bool twice = true;
  for (auto it = body.rbegin(); it != body.rend(); ++it, twice = !twice) {
    int d = *it - '0';
    if (twice) {
      d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    }
    sum += d;
  }
  return body + static_cast<char>('0' + (10 - sum % 10) % 10);
}

std::string Amount12(std::int64_t minor) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%012lld", static_cast<long long>(minor));
  return buf;
}

std::string Stan6(std::uint32_t n) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%06u", n % 1000000);
  return buf;
}

// The issuer side: a simulator per route, answering in-process, with faults set by the test.
class SimGateway final : public IssuerGateway {
 public:
  asio::awaitable<Outcome> Send(std::string route, iso8583::Message request) override {
    if (fault == Failure::kDown) {
      co_return Outcome{std::nullopt, Failure::kDown};
    }
    auto answer = sims.at(route)->Decide(request);
    if (fault == Failure::kTimeout) {
      // Sent and applied by the issuer, but the answer never arrives in time.
      co_return Outcome{std::nullopt, Failure::kTimeout};
    }
    co_return Outcome{std::move(answer), Failure::kNone};
  }
  std::map<std::string, std::unique_ptr<sim::IssuerSimulator>> sims;
  Failure fault = Failure::kNone;
};

struct Card {
  std::string pan;
  std::uint32_t currency = 978;
  bool pin = true;         // has a PIN at the issuer: purchases may carry one
  bool wrong_pin = false;  // the test sends a wrong PIN for it (pin_tries is high)
  bool do_not_honour = false;
};

// What a terminal knows of one of its approved transactions.
struct Item {
  std::string mti;  // 0200, 0100, 0220
  std::string pc;
  std::string stan;
  std::string f7;
  std::string rrn;
  std::string approval;
  std::int64_t amount = 0;
  std::size_t card = 0;
  std::string date;        // the business date the switch stamped (by the clock at receipt)
  bool gone = false;       // voided or reversed
  bool completed = false;  // a pre-authorization completed
  std::int64_t refunded = 0;
  bool stand_in = false;
};

struct Terminal {
  std::string tid;
  std::string mid;
  std::uint32_t currency = 978;
  int index = 0;
  std::uint32_t ksn = 0;
  std::uint32_t stan = 0;
  std::uint32_t batch = 1;
  std::vector<Item> items;     // approved, in the open batch (purchases, completions, refunds)
  std::vector<Item> preauths;  // approved pre-authorizations not yet completed
  std::vector<Item> older;     // approved purchases of closed batches (refundable)
};

// Per business date, merchant and currency: what the terminals were told.
struct Expect {
  std::uint32_t purchases = 0, completions = 0, refunds = 0;
  std::int64_t purchase_minor = 0, completion_minor = 0, refund_minor = 0;
  bool operator==(const Expect&) const = default;
};
using Key3 = std::tuple<std::string, std::string, std::uint32_t>;

class SettlementDayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogLevel(LogLevel::kWarning);  // not a line per transaction: 20,000 of them
    std::vector<std::string> problems;
    config_ = LoadConfig("", problems).value();
    config_.mutable_business_day()->set_cutover("21:30");  // from 21:30 UTC, the next date
    config_.clear_merchants();
    config_.clear_terminals();
    for (int m = 0; m < kTerminals / 2; ++m) {
      auto* merchant = config_.add_merchants();
      merchant->set_mid("MERCHANT00000" + std::to_string(10 + m));
      merchant->set_name("Proof Merchant " + std::to_string(m));
      merchant->set_mcc("5411");
      merchant->set_currency(978);
    }
    for (int i = 0; i < kTerminals; ++i) {
      char tid[24], ksn[40];
      std::snprintf(tid, sizeof tid, "PROOF%03d", i);
      std::snprintf(ksn, sizeof ksn, "FFFF98765432%02XE00000", i);
      auto* t = config_.add_terminals();
      t->set_tid(tid);
      t->set_mid(config_.merchants(i / 2).mid());
      t->set_key_scheme("dukpt-tdes");
      t->set_bdk_id("bdk-demo");
      t->set_initial_ksn(ksn);
      t->set_serial("PROOF-" + std::to_string(i));
      t->set_model("proof");
      Terminal term;
      term.tid = tid;
      term.mid = t->mid();
      term.currency = i % 2 == 0 ? 978 : 840;
      term.index = i;
      terminals_.push_back(term);
    }
    dir_ =
        fs::temp_directory_path() / ("sy-settlement-day-" + std::to_string(std::random_device()()));
    store_ = storage::Store::Open({.path = (dir_ / "store").string(), .sync = false}).value();
    pans_ = std::make_unique<crypto::PanProtector>(
        crypto::PanProtector::Create("data-test", crypto::SecretBytes(32)).value());
    journal_ = std::make_unique<storage::Journal>(*store_, pans_.get());
    saf_ = std::make_unique<storage::SafQueue>(*store_);
    keys_ = std::make_unique<crypto::SoftwareKeyStore>(crypto::SecretBytes(32));
    ASSERT_TRUE(
        keys_->AddKey("bdk-demo", crypto::KeyKind::kBdk, crypto::KeyAlgorithm::kTdes, Key(kBdk)));
    for (const char* zpk : {"zpk-issuer-a", "zpk-issuer-b"}) {
      ASSERT_TRUE(
          keys_->AddKey(zpk, crypto::KeyKind::kZpk, crypto::KeyAlgorithm::kTdes, Key(kZpk)));
    }
    bins_ = std::make_unique<routing::BinRouter>(BuildBinTable(config_).value());
    clock_ = std::make_unique<ManualClock>(sys_days(year{2026} / 11 / 27) + hours(8));

    // Cards: on issuer-a (visa, 4...) and issuer-b (mastercard, 5...), in both currencies.
    int n = 1;
    for (std::uint32_t currency : {978U, 840U}) {
      for (int k = 0; k < 5; ++k) {
        cards_.push_back({LuhnPan("476173", n++), currency, k != 4, k == 3, false});
        cards_.push_back({LuhnPan("520000", n++), currency, k != 4, false, false});
      }
      cards_.push_back({LuhnPan("476173", n++), currency, true, false, true});  // always 05
    }
    for (const char* route : {"issuer-a", "issuer-b"}) {
      proto::IssuerSimConfig c;
      c.set_name(route);
      c.set_zpk(std::string(kZpk));
      for (const Card& card : cards_) {
        auto* a = c.add_cards();
        a->set_pan(card.pan);
        if (card.pin) {
          a->set_pin("1234");
          a->set_pin_tries(1'000'000);
        }
        a->set_expiry("2812");
        a->set_balance_minor(1'000'000'000'000);
        a->set_currency(card.currency);
        a->set_do_not_honour(card.do_not_honour);
      }
      sim::IssuerOptions o;
      o.now = [this] { return clock_->Now(); };
      o.seed = 7;
      issuer_.sims.emplace(route, std::make_unique<sim::IssuerSimulator>(c, o));
    }
    pipeline_ = std::make_unique<Pipeline>(
        io_.get_executor(),
        Pipeline::Deps{&config_, keys_.get(), journal_.get(), saf_.get(), store_.get(), bins_.get(),
                       &issuer_, clock_.get()},
        "iso87b", 4);
    ASSERT_TRUE(ParseCutover(config_.business_day().cutover(), cutover_));
  }

  void TearDown() override {
    SetLogLevel(LogLevel::kInfo);
    pipeline_.reset();
    saf_.reset();
    journal_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  std::string Today() const { return BusinessDate(clock_->Now(), cutover_); }

  // Packs `m` for terminal t at its next KSN counter, MACed (or not) under its DUKPT key.
  std::string Build(Terminal& t, iso8583::Message& m, bool mac = true) {
    char ksn_hex[21];
    std::snprintf(ksn_hex, sizeof ksn_hex, "FFFF98765432%02XE%05X", t.index, ++t.ksn);
    m.Set(41, t.tid);
    m.Set(62, ksn_hex);
    std::string out;
    if (!mac) {
      EXPECT_TRUE(iso8583::Pack(*dialect_, m, out).has_value());
      return out;
    }
    const auto ksn = crypto::FromHex(ksn_hex).value();
    const auto key =
        crypto::DeriveTdesWorkingKey(Key(kBdk), ksn, crypto::TdesDukptVariant::kMacRequest).value();
    auto fn = [&](std::span<const std::uint8_t> data, std::array<std::uint8_t, 8>& mac_out) {
      auto r = crypto::RetailMac(key, data, crypto::MacPadding::kMethod1);
      if (!r) {
        return false;
      }
      mac_out = *r;
      return true;
    };
    EXPECT_TRUE(iso8583::PackWithMac(*dialect_, m, fn, out).has_value());
    return out;
  }

  // The PIN block of `pin` for the KSN the next Build of t will use.
  std::string PinBlock(const Terminal& t, std::string_view pan, std::string_view pin) {
    char ksn_hex[21];
    std::snprintf(ksn_hex, sizeof ksn_hex, "FFFF98765432%02XE%05X", t.index, t.ksn + 1);
    const auto pin_key = crypto::DeriveTdesWorkingKey(Key(kBdk), crypto::FromHex(ksn_hex).value(),
                                                      crypto::TdesDukptVariant::kPin)
                             .value();
    auto block = crypto::EncipherPinBlock(crypto::PinBlockFormat::kIso0, pin_key,
                                          crypto::SecretBytes::FromString(pin).value(), pan,
                                          crypto::SystemRandom())
                     .value();
    return std::string(reinterpret_cast<const char*>(block.bytes.data()), block.size);
  }

  struct Answer {
    std::string mti, rc, rrn, approval;
  };

  Answer Send(const std::string& wire) {
    Request r;
    r.message = wire;
    r.frame = "\x60\x00\x01\x00\x00" + wire;
    Response out;
    asio::co_spawn(io_, pipeline_->Handle(r), [&](std::exception_ptr e, Response resp) {
      EXPECT_FALSE(e);
      out = std::move(resp);
    });
    io_.restart();
    io_.run();
    Answer a;
    if (!out.message) {
      ADD_FAILURE() << "no answer";
      return a;
    }
    iso8583::Message m;
    EXPECT_TRUE(iso8583::Unpack(*dialect_, *out.message, m).has_value());
    a.mti = std::string(m.mti());
    a.rc = std::string(m.Get(39));
    a.rrn = std::string(m.Get(37));
    a.approval = std::string(m.Get(38));
    return a;
  }

  // A card request of terminal t (0100 or 0200), the fields every one carries.
  iso8583::Message CardRequest(Terminal& t, std::string_view mti, std::string_view pc,
                               std::string_view pan, std::int64_t amount, std::string& f7) {
    iso8583::Message m;
    m.SetMti(mti);
    m.Set(2, pan);
    m.Set(3, pc);
    m.Set(4, Amount12(amount));
    f7 = TransmissionTime(clock_->Now());
    m.Set(7, f7);
    m.Set(11, Stan6(++t.stan));
    m.Set(14, "2812");
    m.Set(22, "051");
    m.Set(42, t.mid);
    m.Set(49, std::to_string(t.currency));
    return m;
  }

  void Count(const std::string& date, const Terminal& t, const std::string& kind,
             std::int64_t amount, int sign) {
    Expect& e = expect_[{date, t.mid, t.currency}];
    if (kind == "purchase") {
      e.purchases += sign;
      e.purchase_minor += sign * amount;
    } else if (kind == "completion") {
      e.completions += sign;
      e.completion_minor += sign * amount;
    } else {
      e.refunds += sign;
      e.refund_minor += sign * amount;
    }
  }

  // ---- the operations of a terminal ----------------------------------------------------------

  void Purchase(Terminal& t, std::mt19937_64& rng) {
    std::vector<std::size_t> usable;
    for (std::size_t c = 0; c < cards_.size(); ++c) {
      if (cards_[c].currency == t.currency) {
        usable.push_back(c);
      }
    }
    const std::size_t c = usable[rng() % usable.size()];
    const Card& card = cards_[c];
    const bool with_pin = card.pin && rng() % 2 == 0;
    // Small amounts often (within the stand-in limit of issuer-a), up to 2,000.00.
    const std::int64_t amount = rng() % 3 == 0 ? 1 + static_cast<std::int64_t>(rng() % 5000)
                                               : 1 + static_cast<std::int64_t>(rng() % 200000);
    std::string f7;
    iso8583::Message m = CardRequest(t, "0200", "000000", card.pan, amount, f7);
    const std::string stan(m.Get(11));
    if (with_pin) {
      m.Set(52, PinBlock(t, card.pan, card.wrong_pin && rng() % 3 == 0 ? "9999" : "1234"));
    }
    const std::string date = Today();
    const Answer a = Send(Build(t, m));
    ++sent_;
    rc_counts_[a.rc]++;
    if (a.rc != "00") {
      return;
    }
    Item item{"0200", "000000", stan, f7, a.rrn, a.approval, amount, c, date};
    item.stand_in = a.approval.starts_with("S");
    t.items.push_back(item);
    Count(date, t, "purchase", amount, +1);
  }

  void SwitchDecline(Terminal& t, std::mt19937_64& rng) {
    const int kind = static_cast<int>(rng() % 3);
    std::string pan = kind == 0   ? LuhnPan("476173", 999)
                      : kind == 1 ? "4761739001010011"   // fails Luhn
                                  : "6011000990139424";  // no BIN route
    std::string f7;
    iso8583::Message m = CardRequest(t, "0200", "000000", pan, 1000, f7);
    if (kind == 0) {
      m.Set(14, "2610");  // expired
    }
    const Answer a = Send(Build(t, m));
    ++sent_;
    rc_counts_[a.rc]++;
    EXPECT_EQ(a.rc, kind == 0 ? "54" : (kind == 1 ? "14" : "92"));
  }

  // An open-batch purchase of t, untouched (not voided, reversed or refunded), or null.
  Item* OpenPurchase(Terminal& t, std::mt19937_64& rng) {
    std::vector<Item*> candidates;
    for (auto& i : t.items) {
      if (i.mti == "0200" && i.pc == "000000" && !i.gone && i.refunded == 0) {
        candidates.push_back(&i);
      }
    }
    return candidates.empty() ? nullptr : candidates[rng() % candidates.size()];
  }

  void Refund(Terminal& t, std::mt19937_64& rng) {
    std::vector<Item*> candidates;
    for (auto* list : {&t.items, &t.older}) {
      for (auto& i : *list) {
        if (i.mti == "0200" && i.pc == "000000" && !i.gone && i.refunded < i.amount) {
          candidates.push_back(&i);
        }
      }
    }
    if (candidates.empty()) {
      return Purchase(t, rng);
    }
    Item& original = *candidates[rng() % candidates.size()];
    const std::int64_t amount =
        1 + static_cast<std::int64_t>(
                rng() % static_cast<std::uint64_t>(original.amount - original.refunded));
    std::string f7;
    iso8583::Message m = CardRequest(t, "0200", "200000", cards_[original.card].pan, amount, f7);
    m.Set(37, original.rrn);
    const std::string stan(m.Get(11));
    const std::string date = Today();
    const Answer a = Send(Build(t, m));
    ++sent_;
    rc_counts_["refund " + a.rc]++;
    if (a.rc != "00") {
      return;
    }
    original.refunded += amount;
    t.items.push_back({"0200", "200000", stan, f7, a.rrn, a.approval, amount, original.card, date});
    Count(date, t, "refund", amount, +1);
  }

  // A void (0200 02xxxx) or a reversal (0400) of an open-batch purchase: it no longer counts, on
  // the date it was approved.
  void Undo(Terminal& t, std::mt19937_64& rng, bool reversal) {
    Item* original = OpenPurchase(t, rng);
    if (original == nullptr) {
      return Purchase(t, rng);
    }
    iso8583::Message m;
    if (reversal) {
      m.SetMti("0400");
      m.Set(2, cards_[original->card].pan);
      m.Set(3, original->pc);
      m.Set(4, Amount12(original->amount));
      m.Set(7, original->f7);
      m.Set(11, original->stan);
      m.Set(42, t.mid);
      m.Set(49, std::to_string(t.currency));
    } else {
      std::string f7;
      m = CardRequest(t, "0200", "020000", cards_[original->card].pan, original->amount, f7);
      m.Set(22, "012");
      m.Set(37, original->rrn);
    }
    const Answer a = Send(Build(t, m));
    ++sent_;
    rc_counts_[(reversal ? "reversal " : "void ") + a.rc]++;
    EXPECT_EQ(a.rc, "00") << (reversal ? "reversal" : "void") << " of " << original->rrn;
    if (a.rc == "00") {
      original->gone = true;
      Count(original->date, t, "purchase", original->amount, -1);
      undone_across_cutover_ += original->date != Today() ? 1 : 0;
    }
  }

  void Preauth(Terminal& t, std::mt19937_64& rng) {
    std::vector<std::size_t> usable;
    for (std::size_t c = 0; c < cards_.size(); ++c) {
      if (cards_[c].currency == t.currency && !cards_[c].do_not_honour) {
        usable.push_back(c);
      }
    }
    const std::size_t c = usable[rng() % usable.size()];
    const std::int64_t amount = 1000 + static_cast<std::int64_t>(rng() % 50000);
    std::string f7;
    iso8583::Message m = CardRequest(t, "0100", "000000", cards_[c].pan, amount, f7);
    const std::string stan(m.Get(11));
    const std::string date = Today();
    const Answer a = Send(Build(t, m));
    ++sent_;
    rc_counts_["preauth " + a.rc]++;
    if (a.rc == "00") {
      t.preauths.push_back({"0100", "000000", stan, f7, a.rrn, a.approval, amount, c, date});
    }
  }

  void Completion(Terminal& t, std::mt19937_64& rng) {
    if (t.preauths.empty()) {
      return Preauth(t, rng);
    }
    const std::size_t k = rng() % t.preauths.size();
    Item pre = t.preauths[k];
    t.preauths.erase(t.preauths.begin() + static_cast<std::ptrdiff_t>(k));
    // Within the 15 % tolerance, either side of the held amount.
    const std::int64_t amount = pre.amount * (85 + static_cast<std::int64_t>(rng() % 31)) / 100;
    std::string f7;
    iso8583::Message m = CardRequest(t, "0220", "000000", cards_[pre.card].pan, amount, f7);
    m.Set(22, "012");
    m.Set(37, pre.rrn);
    m.Set(38, pre.approval);
    const std::string stan(m.Get(11));
    const std::string date = Today();
    const Answer a = Send(Build(t, m));
    ++sent_;
    rc_counts_["completion " + a.rc]++;
    EXPECT_EQ(a.rc, "00") << "completion of " << pre.rrn << " approval " << pre.approval;
    if (a.rc != "00") {
      return;
    }
    completed_across_cutover_ += pre.date != date ? 1 : 0;
    t.items.push_back({"0220", "000000", stan, f7, a.rrn, a.approval, amount, pre.card, date});
    Count(date, t, "completion", amount, +1);
  }

  // Batch close (0500) with the terminal's own totals of its open batch; `off_by_one` sends a
  // debit count one too high, so the switch answers 95 and the terminal uploads its items (all
  // but `keep_back`, plus one the switch never saw) and closes with 960000.
  void CloseBatch(Terminal& t, bool off_by_one = false) {
    std::uint32_t debits = 0, credits = 0;
    std::int64_t debit_minor = 0, credit_minor = 0;
    for (const auto& i : t.items) {
      if (i.gone) {
        continue;
      }
      if (i.pc.starts_with("20")) {
        credits++;
        credit_minor += i.amount;
      } else {
        debits++;
        debit_minor += i.amount;
      }
    }
    auto close = [&](std::string_view pc, std::uint32_t d) {
      iso8583::Message m;
      m.SetMti("0500");
      m.Set(3, pc);
      m.Set(7, TransmissionTime(clock_->Now()));
      m.Set(11, Stan6(++t.stan));
      m.Set(42, t.mid);
      m.Set(49, std::to_string(t.currency));
      char buf[32];
      std::snprintf(buf, sizeof buf, "%06u", t.batch);
      m.Set(60, buf);
      std::snprintf(buf, sizeof buf, "%010u", credits);
      m.Set(74, buf);
      std::snprintf(buf, sizeof buf, "%010u", d);
      m.Set(76, buf);
      m.Set(86, "0000" + Amount12(credit_minor));
      m.Set(88, "0000" + Amount12(debit_minor));
      return Send(Build(t, m, /*mac=*/false));
    };
    const Answer first = close("920000", debits + (off_by_one ? 1 : 0));
    EXPECT_EQ(first.rc, off_by_one ? "95" : "00") << t.tid << " batch " << t.batch;
    if (off_by_one) {
      bool kept_back = false;
      for (const auto& i : t.items) {
        if (i.gone) {
          continue;
        }
        if (!kept_back) {
          kept_back = true;  // the switch has it, the terminal "lost" it: switch-only
          switch_only_rrn_ = i.rrn;
          continue;
        }
        Upload(t, i.pc, i.mti, i.stan, i.rrn, i.approval, i.amount, cards_[i.card].pan);
      }
      // One only the terminal has: an exception for review, never settled.
      Upload(t, "000000", "0200", "999999", "633199999999", "ZZZZZZ", 4242, cards_[0].pan);
      EXPECT_EQ(close("960000", debits + 1).rc, "00");
    }
    for (auto& i : t.items) {
      if (i.mti == "0200" && i.pc == "000000" && !i.gone) {
        t.older.push_back(i);  // closed: refundable, no longer voidable or reversible
      }
    }
    t.items.clear();
    t.batch++;
  }

  void Upload(Terminal& t, std::string_view pc, std::string_view mti, std::string_view stan,
              std::string_view rrn, std::string_view approval, std::int64_t amount,
              std::string_view pan) {
    iso8583::Message m;
    m.SetMti("0320");
    m.Set(2, pan);
    m.Set(3, pc);
    m.Set(4, Amount12(amount));
    m.Set(7, TransmissionTime(clock_->Now()));
    m.Set(11, Stan6(++t.stan));
    m.Set(14, "2812");
    m.Set(22, "012");
    m.Set(37, rrn);
    m.Set(38, approval);
    m.Set(42, t.mid);
    m.Set(49, std::to_string(t.currency));
    m.Set(60, std::string(mti) + std::string(stan));
    EXPECT_EQ(Send(Build(t, m)).rc, "00");
  }

  // The SAF drainer, as the daemon's: rebuilds each entry from the journal, delivers it to the
  // route's issuer, records the acknowledgement, then removes the entry. Entries of `hold_back`
  // transactions stay queued.
  void DrainSaf(const std::set<std::uint64_t>& hold_back) {
    for (const auto& e : saf_->List().value()) {
      if (hold_back.contains(e.txn_id())) {
        continue;
      }
      const auto rec = journal_->Get(e.txn_id()).value();
      std::string pan = journal_->RevealPan(rec).value();
      iso8583::Message m;
      m.SetMti(e.message_type());
      m.Set(2, pan);
      m.Set(3, rec.processing_code());
      m.Set(4, Amount12(rec.amount_minor()));
      m.Set(7, TransmissionTime(clock_->Now()));
      m.Set(11, Stan6(++saf_stan_));
      m.Set(37, rec.rrn());
      if (!e.reason_code().empty()) {
        m.Set(39, e.reason_code());
      } else {
        m.Set(38, rec.approval_code());
        m.Set(39, "00");
      }
      m.Set(41, rec.tid());
      m.Set(42, rec.mid());
      m.Set(49, std::to_string(rec.currency()));
      std::optional<proto::TransactionRecord> referenced;
      if (e.message_type() == "0420") {
        referenced = rec;
      } else if (rec.mti() == "0220" && rec.original_id() != 0) {
        referenced = journal_->Get(rec.original_id()).value();
      }
      if (referenced) {
        std::string f90 =
            referenced->mti() + referenced->issuer_stan() + referenced->issuer_transmission_time();
        f90.resize(20, '0');
        f90 += "0123456789012345678901";  // 32 and 33, 11 digits each
        m.Set(90, f90);
      }
      auto answer = issuer_.sims.at(e.destination())->Decide(m);
      ASSERT_TRUE(answer.has_value()) << e.message_type();
      proto::SafEntry attempt = e;
      attempt.set_attempts(1);
      ASSERT_FALSE(journal_->RecordDelivery(
          attempt, answer->Get(39),
          duration_cast<microseconds>(clock_->Now().time_since_epoch()).count()));
      ASSERT_FALSE(saf_->Acknowledge(e));
      ++delivered_;
    }
  }

  proto::SwitchConfig config_;
  fs::path dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<crypto::PanProtector> pans_;
  std::unique_ptr<storage::Journal> journal_;
  std::unique_ptr<storage::SafQueue> saf_;
  std::unique_ptr<crypto::SoftwareKeyStore> keys_;
  std::unique_ptr<routing::BinRouter> bins_;
  std::unique_ptr<ManualClock> clock_;
  std::chrono::minutes cutover_{0};
  SimGateway issuer_;
  asio::io_context io_;
  std::unique_ptr<Pipeline> pipeline_;
  std::shared_ptr<const iso8583::Dialect> dialect_ = iso8583::LoadDialect("iso87b").value();
  std::vector<Card> cards_;
  std::vector<Terminal> terminals_;
  std::map<Key3, Expect> expect_;
  std::map<std::string, int> rc_counts_;
  int sent_ = 0;
  int delivered_ = 0;
  std::uint32_t saf_stan_ = 500000;
  int undone_across_cutover_ = 0;
  int completed_across_cutover_ = 0;
  std::string switch_only_rrn_;
};

TEST_F(SettlementDayTest, SettlementEqualsTheApprovedTotalsAcrossTheCutover) {
  const auto started = steady_clock::now();
  for (auto& t : terminals_) {
    iso8583::Message m;
    m.SetMti("0800");
    m.Set(7, TransmissionTime(clock_->Now()));
    m.Set(11, Stan6(++t.stan));
    m.Set(70, "001");
    ASSERT_EQ(Send(Build(t, m)).rc, "00") << t.tid;
  }
  // 27 hours of traffic: 08:00 on the 27th to 11:00 on the 28th; the cutover (21:30) falls
  // half-way.
  const auto step = duration_cast<system_clock::duration>(hours(27)) / kTransactions;
  const auto cutover_at = sys_days(year{2026} / 11 / 27) + hours(21) + minutes(30);
  std::mt19937_64 rng(20261127);
  bool day1_closed = false;
  bool late_closed = false;
  std::uint64_t day1_records_at_cutover = 0;
  for (int i = 0; i < kTransactions; ++i) {
    if (!day1_closed && clock_->Now() + step >= cutover_at) {
      // The end of day 1: every terminal closes its batch but two.
      for (auto& t : terminals_) {
        if (t.index != kNeverCloses && t.index != kClosesLate) {
          CloseBatch(t, t.index == kUploads);
        }
      }
      day1_closed = true;
      clock_->Set(cutover_at);
      ASSERT_EQ(Today(), kDay2);
      // Frozen at the cutoff: nothing received from now on is of day 1.
      day1_records_at_cutover =
          storage::ScanProtos<proto::TransactionRecord>(*store_, storage::Cf::kJournal, "")
              .value()
              .size();
    }
    if (day1_closed && !late_closed && i > kTransactions * 5 / 8) {
      CloseBatch(terminals_[kClosesLate]);  // day-1 and day-2 items in one batch, closed on day 2
      late_closed = true;
    }
    Terminal& t = terminals_[rng() % terminals_.size()];
    const int op = static_cast<int>(rng() % 100);
    if (op < 45) {
      Purchase(t, rng);
    } else if (op < 50) {
      SwitchDecline(t, rng);
    } else if (op < 58) {
      Refund(t, rng);
    } else if (op < 63) {
      Undo(t, rng, /*reversal=*/false);
    } else if (op < 68) {
      Undo(t, rng, /*reversal=*/true);
    } else if (op < 76) {
      Preauth(t, rng);
    } else if (op < 84) {
      Completion(t, rng);
    } else if (op < 92) {
      // The issuer is unreachable: small no-PIN purchases on issuer-a stand in, others get 91.
      issuer_.fault = IssuerGateway::Failure::kDown;
      Purchase(t, rng);
      issuer_.fault = IssuerGateway::Failure::kNone;
    } else if (op < 95) {
      // The issuer approves but its answer is late: 91 to the terminal, a 0420 queued.
      issuer_.fault = IssuerGateway::Failure::kTimeout;
      Purchase(t, rng);
      issuer_.fault = IssuerGateway::Failure::kNone;
    } else {
      Purchase(t, rng);
    }
    clock_->Advance(step);
  }
  // The end of day 2: every terminal but the one that never closes.
  for (auto& t : terminals_) {
    if (t.index != kNeverCloses) {
      CloseBatch(t);
    }
  }
  ASSERT_TRUE(day1_closed && late_closed);
  // The mix was varied: each kind happened, on both dates.
  EXPECT_GE(sent_, kTransactions);
  for (const char* rc : {"00", "05", "14", "54", "55", "91", "92", "refund 00", "void 00",
                         "reversal 00", "preauth 00", "completion 00"}) {
    EXPECT_GT(rc_counts_[rc], 0) << rc;
  }
  EXPECT_GT(undone_across_cutover_, 0);
  EXPECT_GT(completed_across_cutover_, 0);

  // Everything owed to the issuers is delivered but three day-2 stand-in advices.
  std::set<std::uint64_t> held_back;
  for (const auto& e : saf_->List().value()) {
    const auto rec = journal_->Get(e.txn_id()).value();
    if (held_back.size() < 3 && e.message_type() == "0220" && rec.stand_in() &&
        rec.business_date() == kDay2 &&
        (rec.state() == proto::TXN_ANSWERED || rec.state() == proto::TXN_BATCHED)) {
      held_back.insert(e.txn_id());
    }
  }
  ASSERT_EQ(held_back.size(), 3U);
  DrainSaf(held_back);
  EXPECT_GT(delivered_, 100);

  // ---- settle both dates ----------------------------------------------------------------------
  const auto all =
      storage::ScanProtos<proto::TransactionRecord>(*store_, storage::Cf::kJournal, "").value();
  std::ofstream(dir_ / "agreements.yaml") << [&] {
    std::string y = "merchants:\n";
    for (const auto& m : config_.merchants()) {
      y += "  - mid: \"" + m.mid() +
           "\"\n    versions:\n      - version: 1\n"
           "        effective_from: \"20260101\"\n        cycle_days: 1\n        fees:\n"
           "          - {currency: 978, rates: {visa: 1250, mastercard: 1500, any: 2000}, "
           "fixed_fee_minor: 5, max_fee_minor: 900}\n"
           "          - {currency: 840, rates: {any: 1800}, min_fee_minor: 3}\n";
    }
    return y;
  }();
  const std::string out = (dir_ / "settlement").string();
  auto table = bins_->Snapshot();
  auto settle = [&](std::string_view date) {
    auto lock = st::RunLock::Acquire(out, /*wait=*/false).value();
    st::RunRequest req;
    req.store = store_.get();
    req.business_date = std::string(date);
    req.agreements_path = (dir_ / "agreements.yaml").string();
    req.bins = table.get();
    req.source = "test";
    st::RunOutcome o = st::RunSettlement(req, lock);
    EXPECT_FALSE(o.problem) << o.problem->Describe();
    return o;
  };
  st::RunOutcome day1 = settle(kDay1);
  st::RunOutcome day2 = settle(kDay2);
  ASSERT_TRUE(day1.run && day2.run);

  // 1. Per merchant and currency: the settlement equals what the terminals were told, to the
  //    minor unit, and the journal's approved totals read straight from its records.
  std::map<Key3, Expect> journal_totals;
  std::uint64_t counted = 0;
  for (const auto& r : all) {
    const bool approved = r.response_code() == "00" &&
                          (r.state() == proto::TXN_ANSWERED || r.state() == proto::TXN_BATCHED);
    const std::string_view type = std::string_view(r.processing_code()).substr(0, 2);
    Expect& e = journal_totals[{r.business_date(), r.mid(), r.currency()}];
    if (!approved) {
      continue;
    }
    if (r.mti() == "0200" && type == "00") {
      e.purchases++;
      e.purchase_minor += r.amount_minor();
    } else if (r.mti() == "0220") {
      e.completions++;
      e.completion_minor += r.amount_minor();
    } else if (r.mti() == "0200" && type == "20") {
      e.refunds++;
      e.refund_minor += r.amount_minor();
    } else {
      continue;
    }
    ++counted;
  }
  std::map<Key3, Expect> settled;
  std::int64_t gross_all = 0;
  for (const auto* o : {&day1, &day2}) {
    for (const auto& row : o->run->rows) {
      Expect& e = settled[{o->run->business_date, row.mid, row.currency}];
      e.purchases = row.purchase_count;
      e.purchase_minor = row.purchase_minor;
      e.completions = row.completion_count;
      e.completion_minor = row.completion_minor;
      e.refunds = row.refund_count;
      e.refund_minor = row.refund_minor;
      gross_all += row.gross_minor;
      EXPECT_EQ(row.gross_minor, row.purchase_minor + row.completion_minor);
      EXPECT_EQ(row.net_minor, row.gross_minor - row.refund_minor - row.fees_minor);
    }
    EXPECT_TRUE(o->run->exceptions.size() <= 1) << "only the uploaded terminal-only item";
  }
  auto nonzero = [](std::map<Key3, Expect> m) {
    std::erase_if(m, [](const auto& kv) { return kv.second == Expect{}; });
    return m;
  };
  const auto told = nonzero(expect_);
  EXPECT_EQ(settled.size(), told.size());
  for (const auto& [key, e] : told) {
    SCOPED_TRACE(std::get<0>(key) + " " + std::get<1>(key) + " " +
                 std::to_string(std::get<2>(key)));
    ASSERT_TRUE(settled.contains(key));
    EXPECT_EQ(settled.at(key).purchases, e.purchases);
    EXPECT_EQ(settled.at(key).purchase_minor, e.purchase_minor);
    EXPECT_EQ(settled.at(key).completions, e.completions);
    EXPECT_EQ(settled.at(key).completion_minor, e.completion_minor);
    EXPECT_EQ(settled.at(key).refunds, e.refunds);
    EXPECT_EQ(settled.at(key).refund_minor, e.refund_minor);
  }
  EXPECT_EQ(nonzero(journal_totals), told);
  // Both currencies and every merchant on both dates.
  std::set<std::uint32_t> currencies;
  std::set<std::string> dates;
  for (const auto& [key, e] : settled) {
    dates.insert(std::get<0>(key));
    currencies.insert(std::get<2>(key));
  }
  EXPECT_EQ(dates, (std::set<std::string>{std::string(kDay1), std::string(kDay2)}));
  EXPECT_EQ(currencies, (std::set<std::uint32_t>{840, 978}));
  EXPECT_EQ(settled.size(), 2U * kTerminals);

  // 2. Nothing counted twice or lost across the cutover: every record belongs to one date, every
  //    counted one is settled once, and day 1 has exactly what arrived before the cutover.
  EXPECT_EQ(day1.run->records_read + day2.run->records_read, all.size());
  EXPECT_EQ(day1.run->records_settled + day2.run->records_settled, counted);
  EXPECT_EQ(day1.run->records_read, day1_records_at_cutover);
  std::uint64_t of_day1 = 0;
  for (const auto& r : all) {
    of_day1 += r.business_date() == kDay1 ? 1 : 0;
    EXPECT_TRUE(r.business_date() == kDay1 || r.business_date() == kDay2) << r.id();
    if (r.business_date() == kDay1) {
      EXPECT_LT(r.received_micros() == 0 ? r.events(0).at_micros() : r.received_micros(),
                duration_cast<microseconds>(cutover_at.time_since_epoch()).count())
          << r.id();
    }
  }
  EXPECT_EQ(of_day1, day1.run->records_read);
  std::int64_t told_gross = 0;
  for (const auto& [key, e] : told) {
    told_gross += e.purchase_minor + e.completion_minor;
  }
  EXPECT_EQ(gross_all, told_gross);

  // 3. Batches: closed and balanced at the end of each day; the upload's batch reconciled with
  //    its switch-only and terminal-only items; the late batch on day 2; the never-closed
  //    terminal's records closed at cutover on both dates.
  auto batch_of = [](const st::SettlementRun& run, const std::string& tid, std::uint32_t number) {
    const st::BatchReconciliation* found = nullptr;
    for (const auto& b : run.batches) {
      if (b.tid == tid && b.batch_number == number) {
        found = &b;
      }
    }
    return found;
  };
  for (const auto& t : terminals_) {
    SCOPED_TRACE(t.tid);
    const auto* b1 = batch_of(*day1.run, t.tid, 1);
    const auto* b2 = batch_of(*day2.run, t.tid, t.index == kClosesLate ? 1 : 2);
    const auto* late_in_day1 = batch_of(*day1.run, t.tid, 0);
    if (t.index == kNeverCloses) {
      ASSERT_NE(late_in_day1, nullptr);
      EXPECT_EQ(late_in_day1->status, "closed at cutover");
      ASSERT_NE(batch_of(*day2.run, t.tid, 0), nullptr);
      EXPECT_EQ(b1, nullptr);
      continue;
    }
    EXPECT_EQ(late_in_day1, nullptr);  // every day-1 record of the others is in a closed batch
    if (t.index == kClosesLate) {
      EXPECT_EQ(b1, nullptr);  // closed on day 2, with day-1 items
      ASSERT_NE(b2, nullptr);
      EXPECT_TRUE(b2->balanced());
      continue;
    }
    ASSERT_NE(b1, nullptr);
    ASSERT_NE(b2, nullptr);
    EXPECT_TRUE(b2->balanced());
    if (t.index == kUploads) {
      EXPECT_EQ(b1->status, "reconciled");
      EXPECT_FALSE(b1->balanced());
      ASSERT_EQ(b1->switch_only_txn_ids.size(), 1U);
      EXPECT_EQ(journal_->Get(b1->switch_only_txn_ids[0])->rrn(), switch_only_rrn_);
    } else {
      EXPECT_EQ(b1->status, "closed");
      EXPECT_TRUE(b1->balanced());
    }
  }
  ASSERT_EQ(day1.run->exceptions.size(), 1U);
  EXPECT_EQ(day1.run->exceptions[0].kind, "terminal_only");
  EXPECT_EQ(day1.run->exceptions[0].rrn, "633199999999");
  EXPECT_TRUE(day2.run->exceptions.empty());
  // The late batch holds both dates' records, each settled on its own date only.
  {
    const auto* late = batch_of(*day2.run, terminals_[kClosesLate].tid, 1);
    ASSERT_NE(late, nullptr);
    std::set<std::string> late_dates;
    for (const auto& r : journal_->ListByTerminalBatch(terminals_[kClosesLate].tid, 1).value()) {
      late_dates.insert(r.business_date());
    }
    EXPECT_EQ(late_dates.size(), 2U);
  }

  // 4. Issuer reconciliation: day 1 balances on every route; day 2 lists exactly the held-back
  //    advices, and balances once they are delivered.
  for (const auto& r : day1.run->routes) {
    EXPECT_TRUE(r.balanced()) << r.route << " " << r.currency << "\n"
                              << st::RenderIssuerReconciliationCsv(*day1.run);
  }
  EXPECT_TRUE(day1.run->unmatched.empty()) << st::RenderIssuerReconciliationCsv(*day1.run);
  std::set<std::uint64_t> unmatched_ids;
  for (const auto& u : day2.run->unmatched) {
    unmatched_ids.insert(u.txn_id);
    EXPECT_EQ(u.message, "0220");
    EXPECT_EQ(u.masked_pan.find_first_not_of("0123456789*"), std::string::npos);
    EXPECT_NE(u.masked_pan.find("******"), std::string::npos);
  }
  EXPECT_EQ(unmatched_ids, held_back);
  std::uint32_t stand_ins = 0;
  for (const auto& r : day2.run->routes) {
    stand_ins += r.stand_in_count;
  }
  EXPECT_GT(stand_ins, 3U);
  DrainSaf({});
  st::RunOutcome day2_again = settle(kDay2);
  EXPECT_TRUE(day2_again.run->unmatched.empty());
  for (const auto& r : day2_again.run->routes) {
    EXPECT_TRUE(r.balanced()) << r.route << " " << r.currency;
  }

  // 5. A second run of day 1 gives byte-identical files; so does day 2's once nothing changed.
  st::RunOutcome day1_again = settle(kDay1);
  EXPECT_TRUE(day1_again.record.rerun());
  EXPECT_TRUE(day1_again.record.identical_to_previous());
  EXPECT_FALSE(day2_again.record.identical_to_previous());  // the advices were delivered since
  EXPECT_TRUE(settle(kDay2).record.identical_to_previous());

  const auto took = duration_cast<milliseconds>(steady_clock::now() - started);
  std::cout << "settlement day: " << sent_ << " transactions, " << all.size()
            << " journal records (" << of_day1 << " on " << kDay1 << "), " << counted
            << " counted, " << delivered_ << " SAF deliveries, " << took.count() << " ms\n";
}

}  // namespace
}  // namespace sy::server
