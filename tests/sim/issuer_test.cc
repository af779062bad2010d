#include "sim/issuer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <streambuf>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "crypto/hex.h"
#include "crypto/mac.h"
#include "crypto/pin_block.h"
#include "iso8583/codec.h"
#include "iso8583/framing.h"
#include "iso8583/mac_slot.h"
#include "iso8583/tlv.h"
#include "proto/yaml.h"

namespace sy::sim {
namespace {

namespace asio = boost::asio;
using iso8583::Message;
using Tcp = asio::ip::tcp;

// TEST keys only.
constexpr const char* kZpk = "0123456789ABCDEFFEDCBA9876543210";
constexpr const char* kZak = "89ABCDEF0123456776543210FEDCBA98";
constexpr const char* kGood = "4761739001010010";     // PIN 1234, 1000.00
constexpr const char* kExpired = "4761739001010028";  // expired 2001
constexpr const char* kDnh = "4761739001010036";      // do not honour
constexpr const char* kLow = "4761739001010044";      // 5.00
constexpr const char* kUnknown = "4761739001019999";

proto::IssuerSimConfig Config(bool with_zak = false) {
  proto::IssuerSimConfig c;
  c.set_name("test-issuer");
  c.set_zpk(kZpk);
  if (with_zak) {
    c.set_zak(kZak);
  }
  auto add = [&](const char* pan, const char* expiry, std::int64_t balance, bool dnh) {
    proto::CardAccount* a = c.add_cards();
    a->set_pan(pan);
    a->set_pin("1234");
    a->set_expiry(expiry);
    a->set_balance_minor(balance);
    a->set_do_not_honour(dnh);
  };
  add(kGood, "3012", 100000, false);
  add(kExpired, "2001", 100000, false);
  add(kDnh, "3012", 100000, true);
  add(kLow, "3012", 500, false);
  return c;
}

IssuerOptions FixedClock(std::vector<std::string>* log = nullptr) {
  IssuerOptions o;
  // 2026-11-27.
  o.now = [] { return std::chrono::sys_days{std::chrono::year{2026} / 11 / 27}; };
  if (log != nullptr) {
    o.log = [log](std::string_view line) { log->emplace_back(line); };
  }
  return o;
}

crypto::SecretBytes Key(const char* hex) { return crypto::SecretFromHex(hex).value(); }

std::string PinBlock(std::string_view pin, std::string_view pan) {
  auto block = crypto::EncipherPinBlock(crypto::PinBlockFormat::kIso0, Key(kZpk),
                                        crypto::SecretBytes::FromString(pin).value(), pan,
                                        crypto::SystemRandom())
                   .value();
  return {reinterpret_cast<const char*>(block.bytes.data()), block.size};
}

Message Request(std::string_view mti, std::string_view pc, std::string_view pan,
                std::int64_t amount, std::string_view stan) {
  Message m;
  m.SetMti(mti);
  m.Set(2, pan);
  m.Set(3, pc);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%012lld", static_cast<long long>(amount));
  m.Set(4, buf);
  m.Set(7, "1127101500");
  m.Set(11, stan);
  m.Set(32, "476173");
  m.Set(37, "633110" + std::string(stan));
  m.Set(41, "TERM0001");
  m.Set(49, "978");
  return m;
}

Message Purchase(std::string_view pan, std::int64_t amount, std::string_view stan) {
  return Request("0200", "000000", pan, amount, stan);
}

Message Reversal(std::string_view mti, std::string_view original_mti,
                 std::string_view original_stan, std::string_view stan) {
  Message m;
  m.SetMti(mti);
  m.Set(2, kGood);
  m.Set(3, "000000");
  m.Set(4, "000000001000");
  m.Set(7, "1127101600");
  m.Set(11, stan);
  m.Set(37, "633110" + std::string(original_stan));
  m.Set(39, "68");
  m.Set(49, "978");
  // Field 90: original MTI, STAN, transmission date and time, 32 and 33 (11 digits each).
  m.Set(90, std::string(original_mti) + std::string(original_stan) + "1127101500" + "00000476173" +
                "00000476173");
  return m;
}

std::string Rc(const std::optional<Message>& m) {
  return m ? std::string(m->Get(39)) : std::string("<none>");
}

std::int64_t Balance(const IssuerSimulator& sim, const char* pan) {
  return sim.Account(pan).value().balance_minor;
}

// Packs with a MAC under the ZAK (or `key`), then unpacks, as the request would arrive.
Message Maced(Message m, std::string& wire, const char* key = kZak) {
  const crypto::SecretBytes zak = Key(key);
  auto dialect = iso8583::LoadDialect("iso87a").value();
  iso8583::MacFunction fn = [&](std::span<const std::uint8_t> data,
                                std::array<std::uint8_t, 8>& out) {
    out = crypto::RetailMac(zak, data, crypto::MacPadding::kMethod1).value();
    return true;
  };
  wire.clear();
  EXPECT_TRUE(iso8583::PackWithMac(*dialect, m, fn, wire).has_value());
  Message unpacked;
  EXPECT_TRUE(iso8583::Unpack(*dialect, wire, unpacked).has_value());
  return unpacked;
}

bool ResponseMacVerifies(const Message& response) {
  auto dialect = iso8583::LoadDialect("iso87a").value();
  std::string wire;
  if (!iso8583::Pack(*dialect, response, wire)) {
    return false;
  }
  Message unpacked;
  if (!iso8583::Unpack(*dialect, wire, unpacked)) {
    return false;
  }
  auto input = iso8583::MacInput(*dialect, unpacked, wire);
  if (!input) {
    return false;
  }
  const std::string_view mac = unpacked.Get(iso8583::MacField(unpacked));
  return crypto::VerifyRetailMac(
             Key(kZak), {reinterpret_cast<const std::uint8_t*>(input->data()), input->size()},
             {reinterpret_cast<const std::uint8_t*>(mac.data()), mac.size()})
      .has_value();
}

// ---- decisions ---------------------------------------------------------------------------------

TEST(IssuerDecideTest, AnswersNetworkManagementWith0810And00) {
  IssuerSimulator sim(Config(), FixedClock());
  for (const char* code : {"001", "301", "002"}) {
    Message m;
    m.SetMti("0800");
    m.Set(7, "1127101500");
    m.Set(11, std::string("000") + code);
    m.Set(70, code);
    auto r = sim.Decide(m);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->mti(), "0810");
    EXPECT_EQ(r->Get(39), "00");
    EXPECT_EQ(r->Get(70), code);
    EXPECT_EQ(r->Get(11), m.Get(11));
  }
  Message unknown;
  unknown.SetMti("0800");
  unknown.Set(11, "000009");
  unknown.Set(70, "999");
  EXPECT_EQ(Rc(sim.Decide(unknown)), "12");
}

TEST(IssuerDecideTest, ApprovesPurchaseEchoesFieldsAndDebitsBalance) {
  IssuerSimulator sim(Config(), FixedClock());
  const Message req = Purchase(kGood, 1234, "000101");
  auto r = sim.Decide(req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->mti(), "0210");
  EXPECT_EQ(r->Get(39), "00");
  EXPECT_EQ(r->Get(38).size(), 6u);
  for (int n : {4, 11, 37, 41, 49}) {
    EXPECT_EQ(r->Get(n), req.Get(n)) << "field " << n;
  }
  EXPECT_FALSE(r->Has(64)) << "no ZAK, no MAC";
  EXPECT_EQ(Balance(sim, kGood), 100000 - 1234);
}

TEST(IssuerDecideTest, DeclinesUnknownCardWith14) {
  IssuerSimulator sim(Config(), FixedClock());
  auto r = sim.Decide(Purchase(kUnknown, 100, "000102"));
  EXPECT_EQ(Rc(r), "14");
  EXPECT_FALSE(r->Has(38));
}

TEST(IssuerDecideTest, DeclinesExpiredAccountWith54AndAccountExpiryWinsOverField14) {
  IssuerSimulator sim(Config(), FixedClock());
  EXPECT_EQ(Rc(sim.Decide(Purchase(kExpired, 100, "000103"))), "54");
  Message claims_valid = Purchase(kExpired, 100, "000104");
  claims_valid.Set(14, "3012");
  EXPECT_EQ(Rc(sim.Decide(claims_valid)), "54");
  Message claims_expired = Purchase(kGood, 100, "000105");
  claims_expired.Set(14, "2001");
  EXPECT_EQ(Rc(sim.Decide(claims_expired)), "00");
  EXPECT_EQ(Balance(sim, kExpired), 100000);
}

TEST(IssuerDecideTest, CardValidUntilTheEndOfItsExpiryMonth) {
  proto::IssuerSimConfig c = Config();
  c.mutable_cards(0)->set_expiry("2611");
  IssuerSimulator sim(c, FixedClock());  // 2026-11-27
  EXPECT_EQ(Rc(sim.Decide(Purchase(kGood, 100, "000106"))), "00");
  c.mutable_cards(0)->set_expiry("2610");
  IssuerSimulator sim2(c, FixedClock());
  EXPECT_EQ(Rc(sim2.Decide(Purchase(kGood, 100, "000107"))), "54");
}

TEST(IssuerDecideTest, DeclinesDoNotHonourWith05) {
  IssuerSimulator sim(Config(), FixedClock());
  EXPECT_EQ(Rc(sim.Decide(Purchase(kDnh, 100, "000108"))), "05");
  EXPECT_EQ(Balance(sim, kDnh), 100000);
}

TEST(IssuerDecideTest, DeclinesInsufficientFundsWith51AndLeavesBalance) {
  IssuerSimulator sim(Config(), FixedClock());
  EXPECT_EQ(Rc(sim.Decide(Purchase(kLow, 501, "000109"))), "51");
  EXPECT_EQ(Balance(sim, kLow), 500);
  EXPECT_EQ(Rc(sim.Decide(Purchase(kLow, 500, "000110"))), "00");
  EXPECT_EQ(Balance(sim, kLow), 0);
}

TEST(IssuerDecideTest, ApprovesRightPinAndDeclinesWrongPinWith55) {
  IssuerSimulator sim(Config(), FixedClock());
  Message right = Purchase(kGood, 100, "000111");
  right.Set(52, PinBlock("1234", kGood));
  EXPECT_EQ(Rc(sim.Decide(right)), "00");
  Message wrong = Purchase(kGood, 100, "000112");
  wrong.Set(52, PinBlock("9999", kGood));
  EXPECT_EQ(Rc(sim.Decide(wrong)), "55");
  EXPECT_EQ(sim.Account(kGood)->wrong_pins, 1u);
  EXPECT_EQ(Balance(sim, kGood), 100000 - 100);
}

TEST(IssuerDecideTest, PinBlockBoundToAnotherPanIsAWrongPin) {
  IssuerSimulator sim(Config(), FixedClock());
  Message m = Purchase(kGood, 100, "000113");
  m.Set(52, PinBlock("1234", kLow));
  EXPECT_EQ(Rc(sim.Decide(m)), "55");
}

TEST(IssuerDecideTest, ExhaustedPinTriesGive75EvenWithTheRightPin) {
  IssuerSimulator sim(Config(), FixedClock());  // 3 wrong PINs allowed
  for (int i = 0; i < 3; ++i) {
    Message wrong = Purchase(kGood, 100, "00012" + std::to_string(i));
    wrong.Set(52, PinBlock("4321", kGood));
    EXPECT_EQ(Rc(sim.Decide(wrong)), "55") << i;
  }
  Message right = Purchase(kGood, 100, "000130");
  right.Set(52, PinBlock("1234", kGood));
  EXPECT_EQ(Rc(sim.Decide(right)), "75");
  EXPECT_EQ(Balance(sim, kGood), 100000);
}

TEST(IssuerDecideTest, RightPinResetsTheWrongPinCount) {
  IssuerSimulator sim(Config(), FixedClock());
  int stan = 140;
  auto attempt = [&](const char* pin) {
    Message m = Purchase(kGood, 1, "000" + std::to_string(stan++));
    m.Set(52, PinBlock(pin, kGood));
    return Rc(sim.Decide(m));
  };
  EXPECT_EQ(attempt("1111"), "55");
  EXPECT_EQ(attempt("2222"), "55");
  EXPECT_EQ(attempt("1234"), "00");
  EXPECT_EQ(sim.Account(kGood)->wrong_pins, 0u);
  EXPECT_EQ(attempt("1111"), "55");
  EXPECT_EQ(attempt("1111"), "55");
  EXPECT_EQ(attempt("1234"), "00");
}

TEST(IssuerDecideTest, TakesThePanFromTrack2) {
  IssuerSimulator sim(Config(), FixedClock());
  Message m = Purchase(kGood, 250, "000150");
  m.Unset(2);
  m.Set(35, std::string(kGood) + "=30122011234500000");
  EXPECT_EQ(Rc(sim.Decide(m)), "00");
  EXPECT_EQ(Balance(sim, kGood), 100000 - 250);
}

TEST(IssuerDecideTest, RefundCreditsTheAccount) {
  IssuerSimulator sim(Config(), FixedClock());
  auto r = sim.Decide(Request("0200", "200000", kLow, 700, "000151"));
  EXPECT_EQ(Rc(r), "00");
  EXPECT_EQ(r->Get(38).size(), 6u);
  EXPECT_EQ(Balance(sim, kLow), 1200);
}

TEST(IssuerDecideTest, PreAuthorisationHoldsTheAmount) {
  IssuerSimulator sim(Config(), FixedClock());
  auto r = sim.Decide(Request("0100", "000000", kLow, 400, "000152"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->mti(), "0110");
  EXPECT_EQ(r->Get(39), "00");
  EXPECT_EQ(Balance(sim, kLow), 100);
  EXPECT_EQ(Rc(sim.Decide(Request("0100", "000000", kLow, 400, "000153"))), "51");
}

TEST(IssuerDecideTest, BalanceInquiryReturnsTheBalanceInField54) {
  IssuerSimulator sim(Config(), FixedClock());
  Message m = Request("0200", "310000", kLow, 0, "000154");
  m.Unset(4);
  auto r = sim.Decide(m);
  EXPECT_EQ(Rc(r), "00");
  EXPECT_EQ(r->Get(54), "0002978C000000000500");
  EXPECT_EQ(Balance(sim, kLow), 500);
}

TEST(IssuerDecideTest, CurrencyOtherThanTheAccountsIsRefused) {
  IssuerSimulator sim(Config(), FixedClock());
  Message m = Purchase(kGood, 100, "000155");
  m.Set(49, "840");
  EXPECT_EQ(Rc(sim.Decide(m)), "12");
  EXPECT_EQ(Balance(sim, kGood), 100000);
}

TEST(IssuerDecideTest, DuplicateGetsTheOriginalAnswerWithoutASecondDebit) {
  IssuerSimulator sim(Config(), FixedClock());
  auto first = sim.Decide(Purchase(kGood, 1000, "000160"));
  auto again = sim.Decide(Purchase(kGood, 1000, "000160"));
  ASSERT_TRUE(first && again);
  EXPECT_EQ(again->Get(39), "00");
  EXPECT_EQ(again->Get(38), first->Get(38));
  EXPECT_EQ(Balance(sim, kGood), 100000 - 1000);
  // Same STAN, another transmission time: a new request.
  Message later = Purchase(kGood, 1000, "000160");
  later.Set(7, "1127111500");
  auto third = sim.Decide(later);
  EXPECT_EQ(Rc(third), "00");
  EXPECT_NE(third->Get(38), first->Get(38));
  EXPECT_EQ(Balance(sim, kGood), 100000 - 2000);
}

TEST(IssuerDecideTest, ReversalRestoresTheBalanceOnceAcrossRepeatsAndDuplicates) {
  IssuerSimulator sim(Config(), FixedClock());
  ASSERT_EQ(Rc(sim.Decide(Purchase(kGood, 1000, "000170"))), "00");
  ASSERT_EQ(Balance(sim, kGood), 99000);
  auto r = sim.Decide(Reversal("0420", "0200", "000170", "000171"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->mti(), "0430");
  EXPECT_EQ(r->Get(39), "00");
  EXPECT_EQ(Balance(sim, kGood), 100000);
  EXPECT_EQ(Rc(sim.Decide(Reversal("0420", "0200", "000170", "000171"))), "00");  // duplicate
  auto repeat = sim.Decide(Reversal("0421", "0200", "000170", "000171"));
  ASSERT_TRUE(repeat);
  EXPECT_EQ(repeat->mti(), "0430");
  EXPECT_EQ(repeat->Get(39), "00");
  EXPECT_EQ(Rc(sim.Decide(Reversal("0421", "0200", "000170", "000172"))), "00");
  EXPECT_EQ(Balance(sim, kGood), 100000);
}

TEST(IssuerDecideTest, ReversalOfARefundAndOfAPreAuthUndoesThem) {
  IssuerSimulator sim(Config(), FixedClock());
  ASSERT_EQ(Rc(sim.Decide(Request("0200", "200000", kLow, 300, "000180"))), "00");
  ASSERT_EQ(Rc(sim.Decide(Request("0100", "000000", kLow, 700, "000181"))), "00");
  ASSERT_EQ(Balance(sim, kLow), 100);
  EXPECT_EQ(Rc(sim.Decide(Reversal("0420", "0100", "000181", "000182"))), "00");
  EXPECT_EQ(Balance(sim, kLow), 800);
  EXPECT_EQ(Rc(sim.Decide(Reversal("0420", "0200", "000180", "000183"))), "00");
  EXPECT_EQ(Balance(sim, kLow), 500);
}

TEST(IssuerDecideTest, ReversalOfUnknownOrDeclinedOriginalIsAcknowledgedAndChangesNothing) {
  IssuerSimulator sim(Config(), FixedClock());
  EXPECT_EQ(Rc(sim.Decide(Reversal("0420", "0200", "999999", "000190"))), "00");
  ASSERT_EQ(Rc(sim.Decide(Purchase(kLow, 9999, "000191"))), "51");
  EXPECT_EQ(Rc(sim.Decide(Reversal("0420", "0200", "000191", "000192"))), "00");
  EXPECT_EQ(Balance(sim, kGood), 100000);
  EXPECT_EQ(Balance(sim, kLow), 500);
  Message no90 = Reversal("0420", "0200", "000191", "000193");
  no90.Unset(90);
  EXPECT_EQ(Rc(sim.Decide(no90)), "30");
}

TEST(IssuerDecideTest, AdviceIsAppliedEvenPastTheBalanceAndOnlyOnce) {
  IssuerSimulator sim(Config(), FixedClock());
  auto r = sim.Decide(Request("0220", "000000", kLow, 800, "000200"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->mti(), "0230");
  EXPECT_EQ(r->Get(39), "00");
  EXPECT_EQ(Balance(sim, kLow), -300);
  auto repeat = sim.Decide(Request("0221", "000000", kLow, 800, "000200"));
  ASSERT_TRUE(repeat);
  EXPECT_EQ(repeat->mti(), "0230");
  EXPECT_EQ(Balance(sim, kLow), -300);
  auto pre = sim.Decide(Request("0120", "000000", kGood, 100, "000201"));
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->mti(), "0130");
  EXPECT_EQ(Balance(sim, kGood), 99900);
  // A timeout reversal of the stand-in transaction undoes the advice.
  EXPECT_EQ(Rc(sim.Decide(Reversal("0420", "0220", "000200", "000202"))), "00");
  EXPECT_EQ(Balance(sim, kLow), 500);
}

TEST(IssuerDecideTest, ACompletionAdviceReleasesItsPreAuthorizationsHoldAndTakesTheFinalAmount) {
  IssuerSimulator sim(Config(), FixedClock());
  ASSERT_EQ(Rc(sim.Decide(Request("0100", "000000", kGood, 1000, "000230"))), "00");
  EXPECT_EQ(Balance(sim, kGood), 99000);  // held
  Message completion = Request("0220", "000000", kGood, 1150, "000231");
  completion.Set(38, "123456");
  completion.Set(39, "00");
  completion.Set(90, std::string("0100000230") + "1127101500" + "00000476173" + "00000476173");
  ASSERT_EQ(Rc(sim.Decide(completion)), "00");
  EXPECT_EQ(Balance(sim, kGood), 100000 - 1150);  // the hold released, the final amount taken
  Message repeat = completion;
  repeat.SetMti("0221");
  ASSERT_EQ(Rc(sim.Decide(repeat)), "00");
  EXPECT_EQ(Balance(sim, kGood), 100000 - 1150);  // once
}

TEST(IssuerDecideTest, AnswersEmvDataWithTags91And8A) {
  IssuerSimulator sim(Config(), FixedClock());
  const std::string icc("\x9F\x26\x08\x01\x02\x03\x04\x05\x06\x07\x08", 11);
  for (auto [pan, arc] : {std::pair{kGood, "00"}, std::pair{kDnh, "05"}}) {
    Message m = Purchase(pan, 100, pan == kGood ? "000210" : "000211");
    m.Set(55, icc);
    auto r = sim.Decide(m);
    ASSERT_TRUE(r && r->Has(55));
    const std::string_view f55 = r->Get(55);
    const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(f55.data()),
                                              f55.size());
    auto t91 = iso8583::FindTlv(bytes, 0x91).value();
    ASSERT_TRUE(t91);
    EXPECT_GE(t91->value.size(), 8u);
    EXPECT_LE(t91->value.size(), 16u);
    auto t8a = iso8583::FindTlv(bytes, 0x8A).value();
    ASSERT_TRUE(t8a);
    EXPECT_EQ(std::string(t8a->value.begin(), t8a->value.end()), arc);
  }
  EXPECT_FALSE(sim.Decide(Purchase(kGood, 100, "000212"))->Has(55));
}

TEST(IssuerDecideTest, RightMacIsApprovedAndTheAnswerIsMaced) {
  IssuerSimulator sim(Config(true), FixedClock());
  std::string wire;
  const Message req = Maced(Purchase(kGood, 100, "000220"), wire);
  auto r = sim.Decide(req);
  EXPECT_EQ(Rc(r), "00");
  ASSERT_TRUE(r->Has(64));
  EXPECT_TRUE(ResponseMacVerifies(*r));
  EXPECT_EQ(Balance(sim, kGood), 99900);
  // Declines are MACed too.
  auto decline = sim.Decide(Maced(Purchase(kDnh, 100, "000221"), wire));
  EXPECT_EQ(Rc(decline), "05");
  EXPECT_TRUE(ResponseMacVerifies(*decline));
  // So is a network management answer (its field 70 puts the MAC in 128).
  Message signon;
  signon.SetMti("0800");
  signon.Set(7, "1127101500");
  signon.Set(11, "000222");
  signon.Set(70, "001");
  auto s = sim.Decide(Maced(signon, wire));
  EXPECT_EQ(Rc(s), "00");
  EXPECT_TRUE(s->Has(128));
  EXPECT_TRUE(ResponseMacVerifies(*s));
}

TEST(IssuerDecideTest, WrongOrMissingMacGets63UnmacedAndChangesNothing) {
  IssuerSimulator sim(Config(true), FixedClock());
  std::string wire;
  const Message wrong_key =
      Maced(Purchase(kGood, 100, "000230"), wire, "0123456789ABCDEFFEDCBA9876543210");
  auto r = sim.Decide(wrong_key);
  EXPECT_EQ(Rc(r), "63");
  EXPECT_FALSE(r->Has(64));
  Message tampered = Maced(Purchase(kGood, 100, "000231"), wire);
  tampered.Set(4, "000000000001");
  EXPECT_EQ(Rc(sim.Decide(tampered)), "63");
  EXPECT_EQ(Rc(sim.Decide(Purchase(kGood, 100, "000232"))), "63");  // no MAC at all
  EXPECT_EQ(Balance(sim, kGood), 100000);
  // An echo need not be MACed.
  Message echo;
  echo.SetMti("0800");
  echo.Set(11, "000233");
  echo.Set(70, "301");
  EXPECT_EQ(Rc(sim.Decide(echo)), "00");
}

TEST(IssuerDecideTest, IgnoresMessagesThatAreNotRequests) {
  IssuerSimulator sim(Config(), FixedClock());
  Message m = Purchase(kGood, 100, "000240");
  m.SetMti("0210");
  EXPECT_FALSE(sim.Decide(m));
  m.SetMti("0500");
  EXPECT_EQ(Rc(sim.Decide(m)), "12");
  EXPECT_EQ(Balance(sim, kGood), 100000);
}

TEST(IssuerDecideTest, LogsMaskedPanAndNeverTheClearPanOrPin) {
  std::vector<std::string> log;
  IssuerSimulator sim(Config(), FixedClock(&log));
  Message m = Purchase(kGood, 100, "000250");
  m.Set(52, PinBlock("1234", kGood));
  ASSERT_EQ(Rc(sim.Decide(m)), "00");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_THAT(log[0], ::testing::HasSubstr("0200"));
  EXPECT_THAT(log[0], ::testing::HasSubstr("stan=000250"));
  EXPECT_THAT(log[0], ::testing::HasSubstr("476173******0010"));
  EXPECT_THAT(log[0], ::testing::HasSubstr("amount=000000000100"));
  EXPECT_THAT(log[0], ::testing::HasSubstr("rc=00"));
  EXPECT_THAT(log[0], ::testing::Not(::testing::HasSubstr(kGood)));
  EXPECT_THAT(log[0], ::testing::Not(::testing::HasSubstr("1234")));
}

TEST(IssuerConfigTest, RejectsBadKeysAndCardsNamingTheKey) {
  auto expect_error = [](proto::IssuerSimConfig c, const std::string& key) {
    try {
      IssuerSimulator sim(c);
      ADD_FAILURE() << "accepted a config with a bad " << key;
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr(key));
    }
  };
  proto::IssuerSimConfig c = Config();
  c.set_zpk("0123");
  expect_error(c, "zpk");
  c = Config();
  c.set_zak("XYZ");
  expect_error(c, "zak");
  c = Config();
  c.mutable_cards(1)->set_expiry("2613");
  expect_error(c, "cards[1].expiry");
  c = Config();
  c.mutable_cards(2)->set_pin("12");
  expect_error(c, "cards[2].pin");
  c = Config();
  c.mutable_cards(3)->set_pan(kGood);
  expect_error(c, "cards[3].pan");
  c = Config();
  c.set_dialect("iso99z");
  expect_error(c, "dialect");
}

TEST(IssuerConfigTest, DemoCardFileLoadsAndDecides) {
  const char* root = std::getenv("SY_SOURCE_DIR");
  const std::string path =
      std::string(root != nullptr ? root : SY_DEFAULT_SOURCE_DIR) + "/deploy/demo/issuer-a.yaml";
  proto::IssuerSimConfig c;
  ASSERT_EQ(proto::MergeYamlFile(path, c), "");
  IssuerSimulator sim(c, FixedClock());
  EXPECT_EQ(sim.name(), "issuer-a");
  EXPECT_EQ(Balance(sim, "4761739001010010"), 100000);
  std::string wire;
  Message m = Purchase("4761739001010010", 100, "000260");
  m.Set(52, PinBlock("1234", "4761739001010010"));
  auto dialect = iso8583::LoadDialect("iso87a").value();
  // The demo's link to issuer-a is MACed under the TEST ZAK that the switch's route names too:
  // an unMACed request gets 63, a MACed one is decided and answered MACed.
  ASSERT_EQ(c.zak(), kZak);
  ASSERT_TRUE(iso8583::Pack(*dialect, m, wire));
  Message in;
  ASSERT_TRUE(iso8583::Unpack(*dialect, wire, in));
  EXPECT_EQ(Rc(sim.Decide(in)), "63");
  Message second = Purchase("4761739001010010", 100, "000261");
  second.Set(52, PinBlock("1234", "4761739001010010"));
  Message maced = Maced(second, wire);
  auto answer = sim.Decide(maced);
  EXPECT_EQ(Rc(answer), "00");
  ASSERT_TRUE(answer);
  EXPECT_TRUE(ResponseMacVerifies(*answer));
}

// ---- over TCP ----------------------------------------------------------------------------------

std::string Frame(const Message& m) {
  auto dialect = iso8583::LoadDialect("iso87a").value();
  std::string packed;
  EXPECT_TRUE(iso8583::Pack(*dialect, m, packed).has_value());
  std::string frame;
  EXPECT_TRUE(iso8583::AppendFrame(
                  {.kind = iso8583::FrameKind::kNac, .tpdu = false}, {},
                  {reinterpret_cast<const std::uint8_t*>(packed.data()), packed.size()}, frame)
                  .has_value());
  return frame;
}

struct ClientResult {
  bool done = false;
  bool timed_out = false;                  // the deadline passed before `expect` answers came
  bool eof = false;                        // the simulator closed the connection
  std::vector<std::string> order;          // STANs in the order the answers came
  std::map<std::string, Message> answers;  // by STAN
};

// Connects, writes all frames at once (pipelined), reads answers until `expect` have come, the
// connection closes, or `deadline` passes.
asio::awaitable<void> Client(std::uint16_t port, std::string bytes, std::size_t expect,
                             std::chrono::milliseconds deadline, ClientResult& out) {
  using namespace asio::experimental::awaitable_operators;
  auto ex = co_await asio::this_coro::executor;
  Tcp::socket s(ex);
  co_await s.async_connect({asio::ip::make_address("127.0.0.1"), port}, asio::use_awaitable);
  co_await asio::async_write(s, asio::buffer(bytes), asio::use_awaitable);
  auto dialect = iso8583::LoadDialect("iso87a").value();
  iso8583::FrameReader reader({.kind = iso8583::FrameKind::kNac, .tpdu = false});
  asio::steady_timer timer(ex, deadline);
  while (out.answers.size() < expect) {
    std::span<std::uint8_t> area = reader.Prepare(4096);
    auto got = co_await (s.async_read_some(asio::buffer(area.data(), area.size()),
                                           asio::as_tuple(asio::use_awaitable)) ||
                         timer.async_wait(asio::use_awaitable));
    if (got.index() == 1) {
      out.timed_out = true;
      break;
    }
    auto [ec, n] = std::get<0>(got);
    if (ec) {
      out.eof = true;
      break;
    }
    reader.Commit(n);
    while (true) {
      auto frame = reader.Next();
      if (!frame || !*frame) {
        break;
      }
      Message m;
      const std::string_view msg(reinterpret_cast<const char*>((*frame)->message.data()),
                                 (*frame)->message.size());
      if (!iso8583::Unpack(*dialect, msg, m)) {
        ADD_FAILURE() << "an answer that does not unpack";
        continue;
      }
      const std::string stan(m.Get(11));
      out.order.push_back(stan);
      out.answers.emplace(stan, Message(m));  // the copy owns its values
    }
  }
  out.done = true;
}

// Runs the client against the simulator; stops the simulator when the client is done and
// checks that the io_context then runs out of work (a bounded run, never a sleep).
void RunClient(IssuerSimulator& sim, asio::io_context& io, std::uint16_t port, std::string bytes,
               std::size_t expect, std::chrono::milliseconds deadline, ClientResult& out) {
  asio::co_spawn(io, Client(port, std::move(bytes), expect, deadline, out),
                 [&](std::exception_ptr e) {
                   if (e) {
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       ADD_FAILURE() << "client: " << ex.what();
                     }
                   }
                   sim.Stop();
                 });
  io.run_for(deadline + std::chrono::seconds(10));
  EXPECT_TRUE(io.stopped()) << "the io_context still had work after Stop()";
}

TEST(IssuerServerTest, AnswersPipelinedRequestsOutOfOrderMatchedOnStan) {
  proto::IssuerSimConfig c = Config(true);
  c.mutable_latency()->set_min_ms(0);
  c.mutable_latency()->set_max_ms(40);
  std::vector<std::string> log;
  IssuerOptions options = FixedClock();
  options.seed = 7;
  asio::io_context io;
  IssuerSimulator sim(c, options);
  const std::uint16_t port = sim.Start(io, 0);
  ASSERT_NE(port, 0);
  std::string bytes;
  std::string wire;
  constexpr int kCount = 12;
  for (int i = 0; i < kCount; ++i) {
    char stan[16];
    std::snprintf(stan, sizeof stan, "%06d", 300 + i);
    bytes += Frame(Maced(Purchase(i % 3 == 2 ? kDnh : kGood, 100, stan), wire));
  }
  ClientResult result;
  RunClient(sim, io, port, bytes, kCount, std::chrono::seconds(10), result);
  ASSERT_TRUE(result.done);
  EXPECT_FALSE(result.timed_out);
  ASSERT_EQ(result.answers.size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    char stan[16];
    std::snprintf(stan, sizeof stan, "%06d", 300 + i);
    const Message& a = result.answers.at(stan);
    EXPECT_EQ(a.mti(), "0210");
    EXPECT_EQ(a.Get(39), i % 3 == 2 ? "05" : "00") << stan;
    EXPECT_TRUE(ResponseMacVerifies(a)) << stan;
  }
  EXPECT_EQ(Balance(sim, kGood), 100000 - 8 * 100);
  // Latencies drawn in [0, 40] ms: 12 answers in the order sent would take 1 chance in 12!.
  std::vector<std::string> sent;
  for (int i = 0; i < kCount; ++i) {
    sent.push_back("000" + std::to_string(300 + i));
  }
  EXPECT_NE(result.order, sent) << "answers came in request order despite random latency";
}

TEST(IssuerServerTest, DropsEveryRequestAtDropPerMille1000) {
  proto::IssuerSimConfig c = Config();
  c.set_drop_per_mille(1000);
  std::vector<std::string> log;
  asio::io_context io;
  IssuerSimulator sim(c, FixedClock(&log));
  const std::uint16_t port = sim.Start(io, 0);
  ClientResult result;
  RunClient(sim, io, port, Frame(Purchase(kGood, 100, "000400")), 1, std::chrono::milliseconds(300),
            result);
  EXPECT_TRUE(result.timed_out);
  EXPECT_TRUE(result.answers.empty());
  EXPECT_EQ(Balance(sim, kGood), 100000) << "a dropped request is never decided";
  ASSERT_EQ(log.size(), 1u);
  EXPECT_THAT(log[0], ::testing::HasSubstr("dropped"));
}

TEST(IssuerServerTest, AnswersNothingDuringTheStall) {
  proto::IssuerSimConfig c = Config();
  c.set_stall_ms(60000);
  asio::io_context io;
  IssuerSimulator sim(c, FixedClock());
  const std::uint16_t port = sim.Start(io, 0);
  ClientResult result;
  RunClient(sim, io, port, Frame(Purchase(kGood, 100, "000410")), 1, std::chrono::milliseconds(300),
            result);
  EXPECT_TRUE(result.timed_out);
  EXPECT_TRUE(result.answers.empty());
}

TEST(IssuerServerTest, ClosesAConnectionThatSendsGarbage) {
  asio::io_context io;
  IssuerSimulator sim(Config(), FixedClock());
  const std::uint16_t port = sim.Start(io, 0);
  // A well-framed message whose MTI is not digits: the simulator cannot answer it.
  std::string garbage("\x00\x06ZZZZ!!", 8);
  ClientResult result;
  RunClient(sim, io, port, Frame(Purchase(kGood, 100, "000420")) + garbage, 2,
            std::chrono::seconds(10), result);
  EXPECT_TRUE(result.eof);
  EXPECT_FALSE(result.timed_out);
  ASSERT_EQ(result.answers.size(), 1u) << "the good request before the garbage is answered";
}

// ---- the command -------------------------------------------------------------------------------

int RunCli(std::vector<std::string_view> args, std::string& out, std::string& err) {
  std::istringstream in;
  std::ostringstream o;
  std::ostringstream e;
  cli::Io io{in, o, e};
  const int rc = cli::RunIssuerSim(args, io);
  out = o.str();
  err = e.str();
  return rc;
}

TEST(IssuerSimCommandTest, RejectsBadCommandLinesAndBadConfigs) {
  std::string out;
  std::string err;
  EXPECT_EQ(RunCli({}, out, err), cli::kExitUsage);
  EXPECT_THAT(err, ::testing::HasSubstr("--config"));
  EXPECT_EQ(RunCli({"--port", "70000", "--config", "x.yaml"}, out, err), cli::kExitUsage);
  EXPECT_EQ(RunCli({"--bogus"}, out, err), cli::kExitUsage);
  EXPECT_EQ(RunCli({"--config", "/nonexistent/issuer.yaml"}, out, err), cli::kExitFailure);
  EXPECT_EQ(RunCli({"--help"}, out, err), cli::kExitOk);
  EXPECT_THAT(out, ::testing::HasSubstr("issuer-sim"));
}

// An output stream buffer another thread can wait on: the command writes its log to it.
class WatchedBuf : public std::streambuf {
 public:
  // Waits until the text holds a whole line containing `what` (the stream writes a line in
  // pieces) or the deadline passes; returns the text so far.
  std::string WaitForLine(std::string_view what, std::chrono::milliseconds deadline) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, deadline, [&] {
      const std::size_t at = text_.find(what);
      return at != std::string::npos && text_.find('\n', at) != std::string::npos;
    });
    return text_;
  }
  std::string text() {
    std::lock_guard lock(mu_);
    return text_;
  }

 protected:
  int_type overflow(int_type c) override {
    if (c != traits_type::eof()) {
      const char ch = traits_type::to_char_type(c);
      xsputn(&ch, 1);
    }
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    {
      std::lock_guard lock(mu_);
      text_.append(s, static_cast<std::size_t>(n));
    }
    cv_.notify_all();
    return n;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string text_;
};

TEST(IssuerSimCommandTest, ServesUntilSigtermAndLogsEachRequest) {
  const std::string path = ::testing::TempDir() + "issuer_sim_command_test.yaml";
  {
    std::ofstream f(path);
    f << "name: cmd-test\nlisten: {host: 127.0.0.1, port: 9583}\nzpk: " << kZpk
      << "\ncards:\n  - {pan: \"" << kGood << "\", pin: \"1234\", expiry: \"3012\", "
      << "balance_minor: 100000}\n";
  }
  WatchedBuf out_buf;
  std::ostream out(&out_buf);
  std::ostringstream err;
  std::istringstream in;
  cli::Io io{in, out, err};
  int rc = -1;
  std::vector<std::string_view> args = {"--config", path, "--port", "0"};
  std::thread runner([&] { rc = cli::RunIssuerSim(args, io); });

  const std::string started = out_buf.WaitForLine("listening on", std::chrono::seconds(10));
  const std::size_t at = started.find("issuer-sim cmd-test listening on 127.0.0.1:");
  const bool armed = started.find("listening on") != std::string::npos;
  bool served = false;
  if (at != std::string::npos) {
    const int port = std::atoi(started.c_str() + at + 43);
    EXPECT_GT(port, 0);
    asio::io_context client_io;
    ClientResult result;
    asio::co_spawn(client_io,
                   Client(static_cast<std::uint16_t>(port), Frame(Purchase(kGood, 100, "000500")),
                          1, std::chrono::seconds(10), result),
                   asio::detached);
    client_io.run_for(std::chrono::seconds(15));
    served = result.answers.size() == 1 && result.answers.begin()->second.Get(39) == "00";
    EXPECT_TRUE(served);
  } else {
    ADD_FAILURE() << "no listening line; out: " << started << " err: " << err.str();
  }
  if (armed) {
    // The command's signal_set is waiting (it starts the line only after arming it).
    std::raise(SIGTERM);
  }
  runner.join();
  EXPECT_EQ(rc, cli::kExitOk) << err.str();
  const std::string log = out_buf.text();
  EXPECT_THAT(log, ::testing::HasSubstr("cmd-test: 0200 stan=000500 pan=476173******0010"));
  EXPECT_THAT(log, ::testing::HasSubstr("rc=00"));
  EXPECT_THAT(log, ::testing::Not(::testing::HasSubstr(kGood)));
  EXPECT_THAT(log, ::testing::HasSubstr("stopped"));
}

}  // namespace
}  // namespace sy::sim
