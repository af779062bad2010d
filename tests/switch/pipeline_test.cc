// The pipeline end to end in one process: a real key store, journal and SAF queue, a fake issuer,
// and terminal-side messages built with the terminal's own DUKPT keys.

#include "switch/pipeline.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <random>

#include "crypto/dukpt_aes.h"
#include "crypto/dukpt_tdes.h"
#include "crypto/hex.h"
#include "crypto/mac.h"
#include "crypto/master_session.h"
#include "crypto/pin_block.h"
#include "iso8583/codec.h"
#include "iso8583/json.h"
#include "iso8583/mac_slot.h"
#include "switch/config.h"

namespace sy::server {
namespace {

namespace asio = boost::asio;
using namespace std::chrono;

constexpr std::string_view kBdk = "0123456789ABCDEFFEDCBA9876543210";  // X9.24-1 A.4 test BDK
constexpr std::string_view kZpk = "89ABCDEF0123456776543210FEDCBA98";
constexpr std::string_view kPan = "4761739001010010";  // Luhn-valid test card
constexpr std::string_view kPin = "1234";
constexpr std::string_view kTmk = "0123456789ABCDEFFEDCBA9876543210";  // TERM0003's TEST TMK

crypto::SecretBytes Key(std::string_view hex) { return crypto::SecretFromHex(hex).value(); }

class FakeIssuer final : public IssuerGateway {
 public:
  asio::awaitable<Outcome> Send(std::string route, iso8583::Message request) override {
    routes.push_back(route);
    requests.push_back(request);
    if (hold) {
      auto held = hold;  // answers once the test cancels it
      (void)co_await held->async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (failure != Failure::kNone) {
      co_return Outcome{std::nullopt, failure};
    }
    iso8583::Message r;
    r.SetMti(request.mti() == "0100" ? "0110" : "0210");
    r.Set(11, request.Get(11));
    r.Set(37, request.Get(37));
    r.Set(39, response_code);
    if (response_code == "00") {
      r.Set(38, "A1B2C3");
    }
    co_return Outcome{r, Failure::kNone};
  }
  std::vector<std::string> routes;
  std::vector<iso8583::Message> requests;
  std::string response_code = "00";
  Failure failure = Failure::kNone;
  std::shared_ptr<asio::steady_timer> hold;  // when set, every answer waits for its cancel
};

// Every test runs twice: with the terminals on two strands (several io threads) and with the
// pipeline told that its executor runs on one thread (steps run where the request arrives).
class PipelineTest : public ::testing::TestWithParam<std::size_t> {
 protected:
  void SetUp() override {
    std::vector<std::string> problems;
    config_ = LoadConfig("", problems).value();
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / ("sy-pipeline-" + std::to_string(rd()));
    store_ = storage::Store::Open({.path = (dir_ / "store").string()}).value();
    pans_ = std::make_unique<crypto::PanProtector>(
        crypto::PanProtector::Create("data-test", crypto::SecretBytes(32)).value());
    journal_ = std::make_unique<storage::Journal>(*store_, pans_.get());
    saf_ = std::make_unique<storage::SafQueue>(*store_);
    keys_ = std::make_unique<crypto::SoftwareKeyStore>(crypto::SecretBytes(32));
    ASSERT_TRUE(
        keys_->AddKey("bdk-demo", crypto::KeyKind::kBdk, crypto::KeyAlgorithm::kTdes, Key(kBdk)));
    ASSERT_TRUE(keys_->AddKey("zpk-issuer-a", crypto::KeyKind::kZpk, crypto::KeyAlgorithm::kTdes,
                              Key(kZpk)));
    ASSERT_TRUE(keys_->AddKey("zpk-issuer-b", crypto::KeyKind::kZpk, crypto::KeyAlgorithm::kTdes,
                              Key(kZpk)));
    ASSERT_TRUE(
        keys_->AddKey("tmk-demo", crypto::KeyKind::kTmk, crypto::KeyAlgorithm::kTdes, Key(kTmk)));
    bins_ = std::make_unique<routing::BinRouter>(BuildBinTable(config_).value());
    clock_ = std::make_unique<ManualClock>(sys_days(year{2026} / 11 / 27) + hours(9));
    pipeline_ = std::make_unique<Pipeline>(
        io_.get_executor(),
        Pipeline::Deps{&config_, keys_.get(), journal_.get(), saf_.get(), store_.get(), bins_.get(),
                       &issuer_, clock_.get()},
        "iso87b", GetParam());
  }
  void TearDown() override {
    issuer_.hold.reset();  // a timer of io_, which goes before issuer_
    pipeline_.reset();
    journal_.reset();
    saf_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A terminal message for TERM0001 at KSN counter `counter`, MACed under the MAC-request key.
  std::string Build(iso8583::Message m, std::uint32_t counter, bool mac = true,
                    std::string_view tid = "TERM0001") {
    char ksn_hex[21];
    std::snprintf(ksn_hex, sizeof(ksn_hex), "FFFF9876543210E%05X", counter);
    m.Set(41, tid);
    m.Set(62, ksn_hex);
    const auto ksn = crypto::FromHex(ksn_hex).value();
    std::string out;
    if (!mac) {
      EXPECT_TRUE(iso8583::Pack(*dialect_, m, out).has_value());
      return out;
    }
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

  iso8583::Message SignOn(std::string_view stan) {
    iso8583::Message m;
    m.SetMti("0800");
    m.Set(7, "1127090000");
    m.Set(11, stan);
    m.Set(70, "001");
    return m;
  }

  iso8583::Message Purchase(std::string_view stan, std::uint32_t counter, std::string_view amount,
                            bool with_pin = true, std::string_view pan = kPan) {
    iso8583::Message m;
    m.SetMti("0200");
    m.Set(2, pan);
    m.Set(3, "000000");
    m.Set(4, amount);
    m.Set(7, "1127090001");
    m.Set(11, stan);
    m.Set(14, "2812");
    m.Set(22, "051");
    m.Set(42, "MERCHANT0000001");
    m.Set(49, "978");
    if (with_pin) {
      char ksn_hex[21];
      std::snprintf(ksn_hex, sizeof(ksn_hex), "FFFF9876543210E%05X", counter);
      const auto pin_key = crypto::DeriveTdesWorkingKey(Key(kBdk), crypto::FromHex(ksn_hex).value(),
                                                        crypto::TdesDukptVariant::kPin)
                               .value();
      auto block = crypto::EncipherPinBlock(crypto::PinBlockFormat::kIso0, pin_key,
                                            crypto::SecretBytes::FromString(kPin).value(), pan,
                                            crypto::SystemRandom())
                       .value();
      m.Set(52, std::string_view(reinterpret_cast<const char*>(block.bytes.data()), block.size));
    }
    return m;
  }

  // Starts `wire` through the pipeline without running the io_context; `out` is set when it is
  // answered.
  void Start(const std::string& wire, std::optional<Response>& out,
             std::vector<std::string> peer_names = {}) {
    Request r;
    r.peer_names = std::move(peer_names);
    r.message = wire;
    r.frame = "\x60\x00\x01\x00\x00" + wire;
    asio::co_spawn(io_, pipeline_->Handle(r), [&out](std::exception_ptr e, Response resp) {
      ASSERT_FALSE(e);
      out = std::move(resp);
    });
  }

  Response Send(const std::string& wire, std::vector<std::string> peer_names = {}) {
    std::optional<Response> out;
    Start(wire, out, std::move(peer_names));
    io_.restart();
    io_.run();
    EXPECT_TRUE(out.has_value()) << "the pipeline never answered";
    return out.value_or(Response{});
  }

  // Starts `wire` with the issuer holding its answers, and runs until the request waits at the
  // issuer; the test releases it with issuer_.hold->cancel().
  void StartHeldAtIssuer(const std::string& wire, std::optional<Response>& out) {
    issuer_.hold = std::make_shared<asio::steady_timer>(io_, asio::steady_timer::time_point::max());
    Start(wire, out);
    io_.restart();
    for (int i = 0; i < 10000 && issuer_.requests.empty(); ++i) {
      io_.run_one();
    }
    ASSERT_EQ(issuer_.requests.size(), 1U);
  }

  iso8583::Message Decode(const Response& r) {
    iso8583::Message m;
    EXPECT_TRUE(r.message.has_value());
    if (r.message) {
      EXPECT_TRUE(iso8583::Unpack(*dialect_, *r.message, m).has_value());
      decoded_.push_back(*r.message);  // keep the bytes the views point into
      EXPECT_TRUE(iso8583::Unpack(*dialect_, decoded_.back(), m).has_value());
    }
    return m;
  }

  void SignOnOk() {
    auto r = Decode(Send(Build(SignOn("000001"), 1)));
    ASSERT_EQ(r.Get(39), "00");
  }

  proto::SwitchConfig config_;
  std::filesystem::path dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<crypto::PanProtector> pans_;
  std::unique_ptr<storage::Journal> journal_;
  std::unique_ptr<storage::SafQueue> saf_;
  std::unique_ptr<crypto::SoftwareKeyStore> keys_;
  std::unique_ptr<routing::BinRouter> bins_;
  std::unique_ptr<ManualClock> clock_;
  FakeIssuer issuer_;
  asio::io_context io_;
  std::unique_ptr<Pipeline> pipeline_;
  std::shared_ptr<const iso8583::Dialect> dialect_ = iso8583::LoadDialect("iso87b").value();
  std::deque<std::string> decoded_;
};

TEST_P(PipelineTest, ASignOnWithAValidMacActivatesTheTerminal) {
  EXPECT_EQ(pipeline_->TerminalStatus("TERM0001"), "provisioned");
  auto r = Decode(Send(Build(SignOn("000001"), 1)));
  EXPECT_EQ(r.mti(), "0810");
  EXPECT_EQ(r.Get(39), "00");
  EXPECT_TRUE(r.Has(128) || r.Has(64));
  EXPECT_EQ(pipeline_->TerminalStatus("TERM0001"), "active");
}

TEST_P(PipelineTest, ApprovesAPurchaseDurablyWithTheIssuersAnswerAndAResponseMac) {
  SignOnOk();
  Response resp = Send(Build(Purchase("000002", 2, "000000001000"), 2));
  iso8583::Message r = Decode(resp);
  EXPECT_EQ(r.mti(), "0210");
  EXPECT_EQ(r.Get(39), "00");
  EXPECT_EQ(r.Get(38), "A1B2C3");
  EXPECT_EQ(r.Get(11), "000002");
  EXPECT_EQ(r.Get(4), "000000001000");
  ASSERT_EQ(r.Get(37).size(), 12U);
  // The response is MACed under the MAC-response variant of the request's KSN.
  const auto ksn = crypto::FromHex("FFFF9876543210E00002").value();
  const auto key =
      crypto::DeriveTdesWorkingKey(Key(kBdk), ksn, crypto::TdesDukptVariant::kMacResponse).value();
  auto input = iso8583::MacInput(*dialect_, r, *resp.message).value();
  auto mac =
      crypto::RetailMac(key, {reinterpret_cast<const std::uint8_t*>(input.data()), input.size()},
                        crypto::MacPadding::kMethod1)
          .value();
  EXPECT_EQ(r.Get(64), std::string_view(reinterpret_cast<const char*>(mac.data()), 8));
  // The issuer got format 0 under its ZPK, with the switch's own STAN and RRN.
  ASSERT_EQ(issuer_.requests.size(), 1U);
  const iso8583::Message& sent = issuer_.requests[0];
  EXPECT_EQ(issuer_.routes[0], "issuer-a");
  EXPECT_EQ(sent.Get(37), r.Get(37));
  EXPECT_EQ(sent.Get(32), "12345678901");
  EXPECT_EQ(sent.Get(18), "5814");
  const std::string_view block = sent.Get(52);
  auto pin = crypto::DecipherPinBlock(
      crypto::PinBlockFormat::kIso0, Key(kZpk),
      {reinterpret_cast<const std::uint8_t*>(block.data()), block.size()}, kPan);
  ASSERT_TRUE(pin.has_value());
  EXPECT_EQ(pin->as_chars(), kPin);
  // Approved means durable: the journal holds the answered transaction, PAN sealed.
  auto rec = journal_->FindByRrn(r.Get(37));
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->state(), proto::TXN_ANSWERED);
  EXPECT_EQ(rec->response_code(), "00");
  EXPECT_EQ(rec->pan().masked(), "476173******0010");
  EXPECT_EQ(journal_->InFlight().value().size(), 0U);
}

// A merchant the admin API onboarded transacts only while an agreement of its is in force: here
// version 1 ended on 2026-11-27 (the test's business date), so a purchase gets 03, journaled;
// version 2 from that day lets the next one through.
TEST_P(PipelineTest, AMerchantWithoutAnAgreementInForceGets03) {
  SignOnOk();
  proto::MerchantConfig m = config_.merchants(0);
  m.set_agreement_required(true);
  auto* v1 = m.add_agreement_terms();
  v1->set_version(1);
  v1->set_effective_from("20260101");
  v1->set_effective_until("20261127");
  pipeline_->UpsertMerchant(m);
  iso8583::Message refused = Decode(Send(Build(Purchase("000002", 2, "000000001000"), 2)));
  EXPECT_EQ(refused.Get(39), "03");
  EXPECT_TRUE(issuer_.requests.empty()) << "nothing goes to the issuer";
  auto rec = journal_->FindByStan("TERM0001", "000002", refused.Get(7));
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->response_code(), "03");
  auto* v2 = m.add_agreement_terms();
  v2->set_version(2);
  v2->set_effective_from("20261127");
  pipeline_->UpsertMerchant(m);
  EXPECT_EQ(Decode(Send(Build(Purchase("000003", 3, "000000001000"), 3))).Get(39), "00");
}

TEST_P(PipelineTest, RefusesAPurchaseFromATerminalThatNeverSignedOnWithAMacedAnswer) {
  auto r = Decode(Send(Build(Purchase("000002", 2, "000000001000"), 2)));
  EXPECT_EQ(r.Get(39), "58");
  EXPECT_TRUE(r.Has(64));  // the request's MAC verified, so the decline is MACed
  EXPECT_TRUE(issuer_.requests.empty());
}

TEST_P(PipelineTest, AnswersAWrongMacWith63Unmaced) {
  SignOnOk();
  std::string wire = Build(Purchase("000002", 2, "000000001000"), 2);
  wire.back() ^= 0x01;  // the last MAC byte
  auto r = Decode(Send(wire));
  EXPECT_EQ(r.Get(39), "63");
  EXPECT_FALSE(r.Has(64));
  EXPECT_EQ(pipeline_->stats().mac_failures.load(), 1U);
  EXPECT_TRUE(issuer_.requests.empty());
}

TEST_P(PipelineTest, ReplaysTheOriginalAnswerToAnExactRetransmissionAndRefusesAReusedKey) {
  SignOnOk();
  const std::string wire = Build(Purchase("000002", 2, "000000001000"), 2);
  Response first = Send(wire);
  Response again = Send(wire);
  ASSERT_TRUE(first.message && again.message);
  EXPECT_EQ(*again.message, *first.message);
  EXPECT_EQ(issuer_.requests.size(), 1U);
  auto other = Decode(Send(Build(Purchase("000002", 3, "000000002000"), 3)));
  EXPECT_EQ(other.Get(39), "94");
  EXPECT_EQ(issuer_.requests.size(), 1U);
}

TEST_P(PipelineTest, ARetransmissionWhileTheOriginalIsAtTheIssuerGetsTheOriginalsAnswer) {
  SignOnOk();
  const std::string wire = Build(Purchase("000002", 2, "000000001000"), 2);
  std::optional<Response> first;
  std::optional<Response> again;
  ASSERT_NO_FATAL_FAILURE(StartHeldAtIssuer(wire, first));
  Start(wire, again);
  io_.restart();
  io_.poll();  // the retransmission reaches the duplicate check and waits
  EXPECT_FALSE(first.has_value());
  EXPECT_FALSE(again.has_value());
  issuer_.hold->cancel();
  io_.restart();
  io_.run();
  ASSERT_TRUE(first.has_value() && first->message.has_value());
  ASSERT_TRUE(again.has_value() && again->message.has_value());
  EXPECT_EQ(*again->message, *first->message);
  EXPECT_EQ(Decode(*first).Get(39), "00");
  EXPECT_EQ(issuer_.requests.size(), 1U);  // the retransmission never went out
  EXPECT_EQ(pipeline_->stats().duplicates.load(), 1U);
}

TEST_P(PipelineTest, RefusesAReplayedKsnCounter) {
  SignOnOk();
  ASSERT_EQ(Decode(Send(Build(Purchase("000002", 5, "000000001000"), 5))).Get(39), "00");
  auto r = Decode(Send(Build(Purchase("000003", 4, "000000001000"), 4)));
  EXPECT_EQ(r.Get(39), "63");
}

TEST_P(PipelineTest, RemembersTheKsnHighWaterMarkAcrossARestart) {
  SignOnOk();
  ASSERT_EQ(Decode(Send(Build(Purchase("000002", 5, "000000001000"), 5))).Get(39), "00");
  // A new pipeline over the same store, as after a restart (the terminal is active again after
  // its next sign-on, which must itself use a fresh KSN).
  pipeline_ =
      std::make_unique<Pipeline>(io_.get_executor(),
                                 Pipeline::Deps{&config_, keys_.get(), journal_.get(), saf_.get(),
                                                store_.get(), bins_.get(), &issuer_, clock_.get()},
                                 "iso87b", 2);
  EXPECT_EQ(Decode(Send(Build(SignOn("000003"), 4))).Get(39), "63");
  EXPECT_EQ(Decode(Send(Build(SignOn("000004"), 6))).Get(39), "00");
  // Another request with a spent KSN: 63.
  EXPECT_EQ(Decode(Send(Build(Purchase("000005", 5, "000000001000"), 5))).Get(39), "63");
}

TEST_P(PipelineTest, AnExactRetransmissionAfterARestartGetsTheOriginalAnswer) {
  SignOnOk();
  const std::string wire = Build(Purchase("000002", 2, "000000001000"), 2);
  Response first = Send(wire);
  ASSERT_EQ(Decode(first).Get(39), "00");
  ASSERT_FALSE(store_->Write({{storage::Cf::kMeta, "test/flush", "1"}}));  // behind the answer
  pipeline_ =
      std::make_unique<Pipeline>(io_.get_executor(),
                                 Pipeline::Deps{&config_, keys_.get(), journal_.get(), saf_.get(),
                                                store_.get(), bins_.get(), &issuer_, clock_.get()},
                                 "iso87b", 2);
  Response again = Send(wire);
  ASSERT_TRUE(again.message.has_value());
  EXPECT_EQ(*again.message, *first.message);  // byte for byte, MAC included
  EXPECT_EQ(issuer_.requests.size(), 1U);     // the issuer saw it once
  // The same key with other bytes: 94.
  EXPECT_EQ(Decode(Send(Build(Purchase("000002", 3, "000000002000"), 3))).Get(39), "94");
  // The next business day the window is empty again (and yesterday's is deleted by retention).
  ASSERT_FALSE(store_->DeleteRange(storage::Cf::kMeta, "dup/", "dup/20261128"));
  std::size_t left = 0;
  ASSERT_FALSE(store_->Scan(storage::Cf::kMeta, "dup/", [&](std::string_view, std::string_view) {
    ++left;
    return true;
  }));
  EXPECT_EQ(left, 0U);
}

TEST_P(PipelineTest, ChecksTheCardBeforeRouting) {
  SignOnOk();
  EXPECT_EQ(Decode(Send(Build(Purchase("000002", 2, "000000001000", false, "4761739001010011"), 2)))
                .Get(39),
            "14");
  auto expired = Purchase("000003", 3, "000000001000", false);
  expired.Set(14, "2610");
  EXPECT_EQ(Decode(Send(Build(expired, 3))).Get(39), "54");
  // A Luhn-valid PAN no BIN routes.
  EXPECT_EQ(Decode(Send(Build(Purchase("000004", 4, "000000001000", false, "6011000990139424"), 4)))
                .Get(39),
            "92");
  EXPECT_TRUE(issuer_.requests.empty());
  // Each decline is journaled all the same.
  auto declined = journal_->ListByTerminalBatch("TERM0001", 0).value();
  ASSERT_EQ(declined.size(), 3U);
  EXPECT_EQ(declined[0].response_code(), "14");
  EXPECT_EQ(declined[1].response_code(), "54");
  EXPECT_EQ(declined[2].response_code(), "92");
  EXPECT_EQ(declined[2].pan().masked(), "601100******9424");
}

TEST_P(PipelineTest, AnswersAnIssuerTimeoutWith91AndQueuesAReversal) {
  SignOnOk();
  issuer_.failure = IssuerGateway::Failure::kTimeout;
  auto r = Decode(Send(Build(Purchase("000002", 2, "000000001000"), 2)));
  EXPECT_EQ(r.Get(39), "91");
  auto saf = saf_->List().value();
  ASSERT_EQ(saf.size(), 1U);
  EXPECT_EQ(saf[0].message_type(), "0420");
  EXPECT_EQ(saf[0].reason_code(), "68");
  EXPECT_EQ(saf[0].destination(), "issuer-a");
  EXPECT_EQ(journal_->Get(saf[0].txn_id()).value().response_code(), "91");
}

TEST_P(PipelineTest, StandsInForASmallNoPinPurchaseWhenTheIssuerIsDownAndQueuesTheAdvice) {
  SignOnOk();
  issuer_.failure = IssuerGateway::Failure::kDown;
  auto small = Decode(Send(Build(Purchase("000002", 2, "000000001000", false), 2)));
  EXPECT_EQ(small.Get(39), "00");
  EXPECT_EQ(small.Get(38).substr(0, 1), "S");
  auto with_pin = Decode(Send(Build(Purchase("000003", 3, "000000001000", true), 3)));
  EXPECT_EQ(with_pin.Get(39), "91");
  auto large = Decode(Send(Build(Purchase("000004", 4, "000000009000", false), 4)));
  EXPECT_EQ(large.Get(39), "91");
  auto saf = saf_->List().value();
  ASSERT_EQ(saf.size(), 1U);
  EXPECT_EQ(saf[0].message_type(), "0220");
  EXPECT_TRUE(journal_->Get(saf[0].txn_id()).value().stand_in());
}

TEST_P(PipelineTest, AnswersFormatErrorsAndUnknownTerminals) {
  iso8583::Message m = SignOn("000009");
  m.Set(41, "TERM0099");
  std::string unknown;
  ASSERT_TRUE(iso8583::Pack(*dialect_, m, unknown).has_value());
  EXPECT_EQ(Decode(Send(unknown)).Get(39), "58");
  // Field 41 decodable, field 70 (n3 BCD) broken: 30.
  std::string broken = Build(SignOn("000010"), 10, false);
  broken.back() = '\x0A';
  auto r = Decode(Send(broken));
  EXPECT_EQ(r.Get(39), "30");
  // Not even an MTI: nothing to answer, the connection closes.
  Response garbage = Send(std::string("\xFF\xFF", 2));
  EXPECT_FALSE(garbage.message.has_value());
  EXPECT_TRUE(garbage.close_connection);
}

iso8583::Message ReversalOf(std::string_view mti, std::string_view stan, std::string_view amount) {
  iso8583::Message m;
  m.SetMti(mti);
  m.Set(2, kPan);
  m.Set(3, "000000");
  m.Set(4, amount);
  m.Set(7, "1127090001");  // the original's 7 and 11
  m.Set(11, stan);
  m.Set(42, "MERCHANT0000001");
  m.Set(49, "978");
  return m;
}

TEST_P(PipelineTest, AReversalRacingItsOriginalWaitsForItsAnswerThenReversesIt) {
  SignOnOk();
  std::optional<Response> purchase;
  std::optional<Response> reversal;
  ASSERT_NO_FATAL_FAILURE(
      StartHeldAtIssuer(Build(Purchase("000002", 2, "000000001000"), 2), purchase));
  Start(Build(ReversalOf("0400", "000002", "000000001000"), 3), reversal);
  io_.restart();
  io_.poll();
  EXPECT_FALSE(reversal.has_value());  // waiting for the original's answer
  issuer_.hold->cancel();
  io_.restart();
  io_.run();
  ASSERT_TRUE(purchase.has_value() && reversal.has_value());
  EXPECT_EQ(Decode(*purchase).Get(39), "00");
  auto r = Decode(*reversal);
  EXPECT_EQ(r.mti(), "0410");
  EXPECT_EQ(r.Get(39), "00");
  auto saf = saf_->List().value();
  ASSERT_EQ(saf.size(), 1U);  // the approved original is reversed at the issuer
  EXPECT_EQ(saf[0].message_type(), "0420");
  EXPECT_EQ(journal_->Get(saf[0].txn_id()).value().state(), proto::TXN_REVERSED);
}

TEST_P(PipelineTest, ReversesAnApprovedPurchaseThroughTheSafQueueAndAnswersItsRepeatAgain) {
  SignOnOk();
  auto purchase = Decode(Send(Build(Purchase("000002", 2, "000000001000"), 2)));
  ASSERT_EQ(purchase.Get(39), "00");
  auto r = Decode(Send(Build(ReversalOf("0400", "000002", "000000001000"), 3)));
  EXPECT_EQ(r.mti(), "0410");
  EXPECT_EQ(r.Get(39), "00");
  EXPECT_TRUE(r.Has(64));
  auto repeat = Decode(Send(Build(ReversalOf("0401", "000002", "000000001000"), 4)));
  EXPECT_EQ(repeat.mti(), "0410");
  EXPECT_EQ(repeat.Get(39), "00");
  auto saf = saf_->List().value();
  ASSERT_EQ(saf.size(), 1U);  // reversed once, whatever the repeats
  EXPECT_EQ(saf[0].message_type(), "0420");
  EXPECT_EQ(saf[0].reason_code(), "17");
  EXPECT_EQ(journal_->Get(saf[0].txn_id()).value().state(), proto::TXN_REVERSED);
  EXPECT_EQ(issuer_.requests.size(), 1U);  // the reversal goes out through SAF, not inline
}

TEST_P(PipelineTest, AnswersAReversalOfAnUnknownOriginalWithoutIssuerTraffic) {
  SignOnOk();
  auto r = Decode(Send(Build(ReversalOf("0400", "000077", "000000001000"), 2)));
  EXPECT_EQ(r.Get(39), "00");
  EXPECT_TRUE(saf_->List().value().empty());
  EXPECT_TRUE(issuer_.requests.empty());
}

TEST_P(PipelineTest, RefundsUpToThePurchaseAmountAgainstItsRrn) {
  SignOnOk();
  auto purchase = Decode(Send(Build(Purchase("000002", 2, "000000001000", false), 2)));
  ASSERT_EQ(purchase.Get(39), "00");
  const std::string rrn(purchase.Get(37));
  auto refund = [&](std::string_view stan, std::uint32_t counter, std::string_view amount,
                    std::string_view original_rrn) {
    iso8583::Message m = Purchase(stan, counter, amount, false);
    m.Set(3, "200000");
    m.Set(37, original_rrn);
    return Decode(Send(Build(m, counter))).Get(39);
  };
  EXPECT_EQ(refund("000003", 3, "000000000600", rrn), "00");
  EXPECT_EQ(issuer_.requests.back().Get(3), "200000");        // refunds go online
  EXPECT_EQ(refund("000004", 4, "000000000500", rrn), "13");  // 600 + 500 > 1000
  EXPECT_EQ(refund("000005", 5, "000000000400", rrn), "00");  // exactly the rest
  EXPECT_EQ(refund("000006", 6, "000000000001", rrn), "13");
  EXPECT_EQ(refund("000007", 7, "000000000100", "699999999999"), "25");
  auto original = journal_->FindByRrn(rrn).value();
  EXPECT_EQ(original.refunded_minor(), 1000);
}

// ---- voids, completions, batch close and upload --------------------------------------------

iso8583::Message FollowUp(std::string_view mti, std::string_view pc, std::string_view stan,
                          std::string_view amount, std::string_view rrn) {
  iso8583::Message m;
  m.SetMti(mti);
  m.Set(2, kPan);
  m.Set(3, pc);
  m.Set(4, amount);
  m.Set(7, "1127091000");
  m.Set(11, stan);
  m.Set(14, "2812");
  m.Set(22, "012");
  m.Set(37, rrn);
  m.Set(42, "MERCHANT0000001");
  m.Set(49, "978");
  return m;
}

iso8583::Message BatchCloseMessage(std::string_view pc, std::string_view stan, int debits,
                                   std::int64_t debit_amount, int credits,
                                   std::int64_t credit_amount) {
  iso8583::Message m;
  m.SetMti("0500");
  m.Set(3, pc);
  m.Set(7, "1127180000");
  m.Set(11, stan);
  m.Set(42, "MERCHANT0000001");
  m.Set(49, "978");
  m.Set(60, "000007");
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%010d", credits);
  m.Set(74, buf);
  std::snprintf(buf, sizeof(buf), "%010d", debits);
  m.Set(76, buf);
  std::snprintf(buf, sizeof(buf), "%016lld", static_cast<long long>(credit_amount));
  m.Set(86, buf);
  std::snprintf(buf, sizeof(buf), "%016lld", static_cast<long long>(debit_amount));
  m.Set(88, buf);
  return m;
}

TEST_P(PipelineTest, VoidsAnApprovedPurchaseOfTheOpenBatchAndReversesItAtTheIssuer) {
  SignOnOk();
  auto purchase = Decode(Send(Build(Purchase("000002", 2, "000000001000", false), 2)));
  ASSERT_EQ(purchase.Get(39), "00");
  const std::string rrn(purchase.Get(37));
  // Another amount: 13; another card: 25; an unknown RRN: 25.
  EXPECT_EQ(
      Decode(Send(Build(FollowUp("0200", "020000", "000003", "000000000999", rrn), 3))).Get(39),
      "13");
  auto other_card = FollowUp("0200", "020000", "000004", "000000001000", rrn);
  other_card.Set(2, "4761739001010028");
  EXPECT_EQ(Decode(Send(Build(other_card, 4))).Get(39), "25");
  EXPECT_EQ(
      Decode(Send(Build(FollowUp("0200", "020000", "000005", "000000001000", "633100000000"), 5)))
          .Get(39),
      "25");
  auto v = Decode(Send(Build(FollowUp("0200", "020000", "000006", "000000001000", rrn), 6)));
  EXPECT_EQ(v.mti(), "0210");
  EXPECT_EQ(v.Get(39), "00");
  EXPECT_EQ(v.Get(38), "A1B2C3");
  EXPECT_TRUE(v.Has(64));
  EXPECT_NE(v.Get(37), rrn);  // the void's own RRN
  auto original = journal_->FindByRrn(rrn).value();
  EXPECT_EQ(original.state(), proto::TXN_VOIDED);
  auto saf = saf_->List().value();
  ASSERT_EQ(saf.size(), 1U);
  EXPECT_EQ(saf[0].message_type(), "0420");
  EXPECT_EQ(saf[0].reason_code(), "17");
  EXPECT_EQ(saf[0].txn_id(), original.id());
  EXPECT_EQ(issuer_.requests.size(), 1U);  // the void itself goes through SAF, not inline
  // Voided once: a second void, and a refund of the voided purchase, find nothing to act on.
  EXPECT_EQ(
      Decode(Send(Build(FollowUp("0200", "020000", "000007", "000000001000", rrn), 7))).Get(39),
      "25");
  EXPECT_EQ(
      Decode(Send(Build(FollowUp("0200", "200000", "000008", "000000000100", rrn), 8))).Get(39),
      "25");
}

TEST_P(PipelineTest, CompletesAPreAuthorizationOnceWithinItsTolerance) {
  SignOnOk();
  iso8583::Message pre = Purchase("000002", 2, "000000001000", false);
  pre.SetMti("0100");
  auto preauth = Decode(Send(Build(pre, 2)));
  ASSERT_EQ(preauth.mti(), "0110");
  ASSERT_EQ(preauth.Get(39), "00");
  const std::string rrn(preauth.Get(37));
  auto completion = [&](std::string_view stan, std::uint32_t counter, std::string_view amount,
                        std::string_view approval) {
    iso8583::Message m = FollowUp("0220", "000000", stan, amount, rrn);
    m.Set(38, approval);
    return Decode(Send(Build(m, counter)));
  };
  EXPECT_EQ(completion("000003", 3, "000000001151", "A1B2C3").Get(39), "13");  // > 115 %
  EXPECT_EQ(completion("000004", 4, "000000001100", "ZZZZZZ").Get(39), "25");  // approval code
  auto done = completion("000005", 5, "000000001150", "A1B2C3");
  EXPECT_EQ(done.mti(), "0230");
  EXPECT_EQ(done.Get(39), "00");
  EXPECT_TRUE(done.Has(64));
  EXPECT_EQ(completion("000006", 6, "000000000500", "A1B2C3").Get(39), "25");  // at most one
  EXPECT_EQ(journal_->FindByRrn(rrn).value().state(), proto::TXN_COMPLETED);
  auto saf = saf_->List().value();
  ASSERT_EQ(saf.size(), 1U);
  EXPECT_EQ(saf[0].message_type(), "0220");
  auto advice = journal_->Get(saf[0].txn_id()).value();
  EXPECT_EQ(advice.mti(), "0220");
  EXPECT_EQ(advice.amount_minor(), 1150);
  EXPECT_EQ(advice.approval_code(), "A1B2C3");
}

TEST_P(PipelineTest, RefusesACompletionOfAnExpiredPreAuthorization) {
  SignOnOk();
  iso8583::Message pre = Purchase("000002", 2, "000000001000", false);
  pre.SetMti("0100");
  auto preauth = Decode(Send(Build(pre, 2)));
  ASSERT_EQ(preauth.Get(39), "00");
  clock_->Advance(days(8));  // valid 7 business days by default
  iso8583::Message m = FollowUp("0220", "000003", "000003", "000000001000", preauth.Get(37));
  m.Set(3, "000000");
  m.Set(38, "A1B2C3");
  EXPECT_EQ(Decode(Send(Build(m, 3))).Get(39), "25");
}

TEST_P(PipelineTest, ClosesABatchWhoseTotalsAgree) {
  SignOnOk();
  ASSERT_EQ(Decode(Send(Build(Purchase("000002", 2, "000000001000", false), 2))).Get(39), "00");
  auto second = Decode(Send(Build(Purchase("000003", 3, "000000000500", false), 3)));
  ASSERT_EQ(second.Get(39), "00");
  const std::string first_rrn(journal_->FindByStan("TERM0001", "000002", "1127090001")->rrn());
  // The second purchase is voided, the first partly refunded: debits 1 / 1000, credits 1 / 200.
  ASSERT_EQ(
      Decode(Send(Build(FollowUp("0200", "020000", "000004", "000000000500", second.Get(37)), 4)))
          .Get(39),
      "00");
  ASSERT_EQ(Decode(Send(Build(FollowUp("0200", "200000", "000005", "000000000200", first_rrn), 5)))
                .Get(39),
            "00");
  auto close =
      Decode(Send(Build(BatchCloseMessage("920000", "000006", 1, 1000, 1, 200), 6, false)));
  EXPECT_EQ(close.mti(), "0510");
  EXPECT_EQ(close.Get(39), "00");
  EXPECT_FALSE(close.Has(64));  // the 0500 is not MACed, nor is its answer
  EXPECT_TRUE(journal_->ListByTerminalBatch("TERM0001", 0)->empty());
  auto batched = journal_->ListByTerminalBatch("TERM0001", 7).value();
  EXPECT_EQ(batched.size(), 4U);  // every record of the open batch: two purchases, void, refund
  std::size_t in_state = 0;
  for (const auto& r : batched) {
    in_state += r.state() == proto::TXN_BATCHED ? 1 : 0;
  }
  EXPECT_EQ(in_state, 2U);  // the counted purchase and refund
  storage::BatchStore batches(*store_);
  auto b = batches.GetBatch("TERM0001", 7).value();
  EXPECT_EQ(b.status(), proto::BatchRecord::BATCH_CLOSED);
  EXPECT_EQ(b.switch_debit_amount(), 1000);
  EXPECT_EQ(b.switch_credit_amount(), 200);
  // The terminal did not hear the 0510 and closes again (a new STAN): 00 again; other totals: 12.
  EXPECT_EQ(
      Decode(Send(Build(BatchCloseMessage("920000", "000007", 1, 1000, 1, 200), 7, false))).Get(39),
      "00");
  EXPECT_EQ(
      Decode(Send(Build(BatchCloseMessage("920000", "000008", 3, 1000, 1, 200), 8, false))).Get(39),
      "12");
}

TEST_P(PipelineTest, ABatchCloseLeavesATransactionStillInFlightInTheOpenBatch) {
  SignOnOk();
  proto::TransactionRecord in_flight;
  in_flight.set_tid("TERM0001");
  in_flight.set_mid("MERCHANT0000001");
  in_flight.set_mti("0200");
  in_flight.set_processing_code("000000");
  in_flight.set_stan("000099");
  in_flight.set_transmission_time("1127170000");
  in_flight.set_rrn("633100000099");
  in_flight.set_amount_minor(700);
  in_flight.set_currency(978);
  in_flight.set_business_date("20261127");
  in_flight.set_state(proto::TXN_FORWARDED);
  ASSERT_FALSE(journal_->AppendSync(in_flight, kPan));
  auto close = Decode(Send(Build(BatchCloseMessage("920000", "000002", 0, 0, 0, 0), 2, false)));
  EXPECT_EQ(close.Get(39), "00");
  // Its outcome is written by its own pipeline later, with batch 0: the close must not move it.
  EXPECT_EQ(journal_->Get(in_flight.id())->batch_number(), 0U);
}

TEST_P(PipelineTest, ReconcilesABatchThroughItsUploadWhenTheTotalsDisagree) {
  SignOnOk();
  auto a = Decode(Send(Build(Purchase("000002", 2, "000000001000", false), 2)));
  auto b = Decode(Send(Build(Purchase("000003", 3, "000000000700", false), 3)));
  ASSERT_EQ(a.Get(39), "00");
  ASSERT_EQ(b.Get(39), "00");
  // An upload before any 95: 12.
  auto upload = [&](std::string_view stan, std::uint32_t counter, std::string_view rrn,
                    std::string_view amount, std::string_view original_stan) {
    iso8583::Message m = FollowUp("0320", "000000", stan, amount, rrn);
    m.Set(38, "A1B2C3");
    m.Set(60, "0200" + std::string(original_stan));
    return Decode(Send(Build(m, counter)));
  };
  EXPECT_EQ(upload("000004", 4, a.Get(37), "000000001000", "000002").Get(39), "12");
  auto close = Decode(Send(Build(BatchCloseMessage("920000", "000005", 2, 1500, 0, 0), 5, false)));
  EXPECT_EQ(close.Get(39), "95");
  auto u1 = upload("000006", 6, a.Get(37), "000000001000", "000002");
  EXPECT_EQ(u1.mti(), "0330");
  EXPECT_EQ(u1.Get(39), "00");
  EXPECT_TRUE(u1.Has(64));
  // An item only the terminal has (an RRN the switch never gave), uploaded twice.
  EXPECT_EQ(upload("000007", 7, "633100009999", "000000000500", "000042").Get(39), "00");
  EXPECT_EQ(upload("000008", 8, "633100009999", "000000000500", "000042").Get(39), "00");
  auto done = Decode(Send(Build(BatchCloseMessage("960000", "000009", 2, 1500, 0, 0), 9, false)));
  EXPECT_EQ(done.Get(39), "00");
  storage::BatchStore batches(*store_);
  auto batch = batches.GetBatch("TERM0001", 7).value();
  EXPECT_EQ(batch.status(), proto::BatchRecord::BATCH_RECONCILED);
  EXPECT_EQ(batch.upload_count(), 3U);
  ASSERT_EQ(batch.uploaded_txn_ids_size(), 1);
  ASSERT_EQ(batch.exception_txn_ids_size(), 1);  // b: only the switch had it
  EXPECT_EQ(journal_->Get(batch.exception_txn_ids(0))->rrn(), b.Get(37));
  ASSERT_EQ(batch.terminal_only_size(), 1);  // de-duplicated, held for review
  EXPECT_EQ(batch.terminal_only(0).masked_pan(), "476173******0010");
  EXPECT_EQ(batch.terminal_only(0).stan(), "000042");
}

TEST_P(PipelineTest, CountsRequestsByMtiResponseCodeAndRouteWithTheirLatency) {
  SignOnOk();
  ASSERT_EQ(Decode(Send(Build(Purchase("000002", 2, "000000001000"), 2))).Get(39), "00");
  const std::string again = Build(Purchase("000003", 3, "000000001000"), 3);
  ASSERT_EQ(Decode(Send(again)).Get(39), "00");
  ASSERT_EQ(Decode(Send(again)).Get(39), "00");  // answered from the duplicate window
  std::map<std::string, std::uint64_t> seen;
  pipeline_->stats().by_type.ForEach(
      [&](std::string_view mti, std::string_view rc, std::string_view route, std::uint64_t n) {
        seen[std::string(mti) + "/" + std::string(rc) + "/" + std::string(route)] = n;
      });
  EXPECT_EQ(seen["0800/00/none"], 1U);
  EXPECT_EQ(seen["0200/00/issuer-a"], 2U);
  EXPECT_EQ(seen["0200/replay/none"], 1U);
  EXPECT_EQ(seen.size(), 3U);
  const auto observations = [](const LatencyHistogram& h) {
    std::uint64_t total = 0;
    for (auto n : h.Read().buckets) {
      total += n;
    }
    return total;
  };
  EXPECT_EQ(observations(pipeline_->stats().end_to_end), 4U);
  EXPECT_EQ(observations(pipeline_->stats().issuer), 2U);
  // Two durable writes per approved purchase ("forwarded", then the outcome); the sign-on and
  // the replayed answer wait for none.
  EXPECT_EQ(observations(pipeline_->stats().journal), 4U);
}

// ---- master/session terminals ---------------------------------------------------------------

// TERM0003 packs `m`, MACed (X9.19) under `mac_key` when given.
std::string BuildSession(const iso8583::Dialect& dialect, iso8583::Message m,
                         const crypto::SecretBytes* mac_key) {
  m.Set(41, "TERM0003");
  std::string out;
  if (mac_key == nullptr) {
    EXPECT_TRUE(iso8583::Pack(dialect, m, out).has_value());
    return out;
  }
  auto fn = [&](std::span<const std::uint8_t> data, std::array<std::uint8_t, 8>& mac_out) {
    mac_out = crypto::RetailMac(*mac_key, data, crypto::MacPadding::kMethod1).value();
    return true;
  };
  EXPECT_TRUE(iso8583::PackWithMac(dialect, m, fn, out).has_value());
  return out;
}

struct SessionKeys {
  crypto::SecretBytes pin;
  crypto::SecretBytes mac;
};

// The keys of an 0810's field 48: the PIN key's TR-31 block, then the MAC key's.
SessionKeys Unwrap(const iso8583::Message& answer) {
  const std::string_view f48 = answer.Get(48);
  EXPECT_GT(f48.size(), 16U);
  const std::size_t first = std::stoul(std::string(f48.substr(1, 4)));
  auto pin = crypto::UnwrapSessionKey(Key(kTmk), crypto::KeyAlgorithm::kTdes,
                                      crypto::SessionKeyRole::kPin, f48.substr(0, first));
  auto mac = crypto::UnwrapSessionKey(Key(kTmk), crypto::KeyAlgorithm::kTdes,
                                      crypto::SessionKeyRole::kMac, f48.substr(first));
  EXPECT_TRUE(pin);
  EXPECT_TRUE(mac);
  return {pin ? std::move(*pin) : crypto::SecretBytes(),
          mac ? std::move(*mac) : crypto::SecretBytes()};
}

bool AnswerMacVerifies(const iso8583::Dialect& dialect, const std::string& wire,
                       const crypto::SecretBytes& mac_key) {
  iso8583::Message m;
  if (!iso8583::Unpack(dialect, wire, m)) {
    return false;
  }
  auto input = iso8583::MacInput(dialect, m, wire);
  const std::string_view mac = m.Get(iso8583::MacField(m));
  return input && mac.size() == 8 &&
         crypto::VerifyRetailMac(
             mac_key, {reinterpret_cast<const std::uint8_t*>(input->data()), input->size()},
             {reinterpret_cast<const std::uint8_t*>(mac.data()), mac.size()})
             .has_value();
}

TEST_P(PipelineTest, DeliversSessionKeysToAMasterSessionTerminalAndUsesThem) {
  iso8583::Message sign_on = SignOn("000001");
  Response first = Send(BuildSession(*dialect_, sign_on, nullptr));  // no keys yet: no MAC
  auto answer = Decode(first);
  ASSERT_EQ(answer.mti(), "0810");
  ASSERT_EQ(answer.Get(39), "00");
  SessionKeys keys = Unwrap(answer);
  EXPECT_EQ(pipeline_->TerminalStatus("TERM0003"), "provisioned");

  // A purchase with a PIN under the delivered PIN key, MACed under the MAC key: approved, the
  // PIN re-enciphered under the issuer's ZPK, and the terminal active.
  iso8583::Message p = Purchase("000002", 0, "000000001000", false);
  p.Set(42, "MERCHANT0000001");
  auto block = crypto::EncipherPinBlock(crypto::PinBlockFormat::kIso0, keys.pin,
                                        crypto::SecretBytes::FromString(kPin).value(), kPan,
                                        crypto::SystemRandom())
                   .value();
  p.Set(52, std::string_view(reinterpret_cast<const char*>(block.bytes.data()), block.size));
  Response paid = Send(BuildSession(*dialect_, p, &keys.mac));
  auto r = Decode(paid);
  ASSERT_EQ(r.Get(39), "00");
  EXPECT_TRUE(AnswerMacVerifies(*dialect_, *paid.message, keys.mac));
  EXPECT_EQ(pipeline_->TerminalStatus("TERM0003"), "active");
  const std::string_view sent = issuer_.requests.back().Get(52);
  auto pin = crypto::DecipherPinBlock(
      crypto::PinBlockFormat::kIso0, Key(kZpk),
      {reinterpret_cast<const std::uint8_t*>(sent.data()), sent.size()}, kPan);
  ASSERT_TRUE(pin);
  EXPECT_EQ(pin->as_chars(), kPin);

  // Now that it holds keys, a sign-on without its MAC is refused (30: the MAC is missing); a key
  // change MACed under the current key is answered under that key, with new keys.
  EXPECT_EQ(Decode(Send(BuildSession(*dialect_, SignOn("000003"), nullptr))).Get(39), "30");
  iso8583::Message change = SignOn("000004");
  change.Set(70, "101");
  Response changed = Send(BuildSession(*dialect_, change, &keys.mac));
  auto c = Decode(changed);
  ASSERT_EQ(c.Get(39), "00");
  EXPECT_TRUE(AnswerMacVerifies(*dialect_, *changed.message, keys.mac));
  SessionKeys next = Unwrap(c);
  EXPECT_FALSE(next.mac == keys.mac);
  // The replaced key no longer MACs transactions (it may only sign on again); the new one does.
  EXPECT_EQ(
      Decode(Send(BuildSession(*dialect_, Purchase("000005", 0, "000000000100", false), &keys.mac)))
          .Get(39),
      "63");
  EXPECT_EQ(
      Decode(Send(BuildSession(*dialect_, Purchase("000006", 0, "000000000100", false), &next.mac)))
          .Get(39),
      "00");
  // The keys survive a restart (a new key store and pipeline): they were stored as TR-31 blocks
  // under the TMK, and the first request MACed under them makes the terminal active again.
  crypto::SoftwareKeyStore fresh(crypto::SecretBytes(32));
  ASSERT_TRUE(
      fresh.AddKey("tmk-demo", crypto::KeyKind::kTmk, crypto::KeyAlgorithm::kTdes, Key(kTmk)));
  ASSERT_TRUE(
      fresh.AddKey("zpk-issuer-a", crypto::KeyKind::kZpk, crypto::KeyAlgorithm::kTdes, Key(kZpk)));
  pipeline_ =
      std::make_unique<Pipeline>(io_.get_executor(),
                                 Pipeline::Deps{&config_, &fresh, journal_.get(), saf_.get(),
                                                store_.get(), bins_.get(), &issuer_, clock_.get()},
                                 "iso87b", 2);
  EXPECT_EQ(
      Decode(Send(BuildSession(*dialect_, Purchase("000007", 0, "000000000100", false), &next.mac)))
          .Get(39),
      "00");
  pipeline_.reset();
}

TEST_P(PipelineTest, MutualTlsRequiresTheCertificateToNameTheTerminal) {
  SignOnOk();
  EXPECT_EQ(Decode(Send(Build(Purchase("000002", 2, "000000001000"), 2), {"DEMO-0001", "TERM0009"}))
                .Get(39),
            "58");
  EXPECT_EQ(Decode(Send(Build(Purchase("000003", 3, "000000001000"), 3), {"DEMO-0001", "TERM0001"}))
                .Get(39),
            "00");
}

// An AES DUKPT terminal (TERM0002) on a listener whose dialect gives field 52 16 bytes: its
// format 4 PIN block is translated to format 0 under the issuer's ZPK.
TEST_P(PipelineTest, TranslatesAnAesDukptFormat4PinBlockFromAPin16Listener) {
  constexpr std::string_view kAesBdk = "FEDCBA9876543210F1F1F1F1F1F1F1F1";
  ASSERT_TRUE(keys_->AddKey("bdk-demo-aes", crypto::KeyKind::kBdk, crypto::KeyAlgorithm::kAes,
                            Key(kAesBdk)));
  auto pin16 = iso8583::LoadDialect("iso87b-pin16").value();
  auto build = [&](iso8583::Message m, std::uint32_t counter) {
    char ksn_hex[25];
    std::snprintf(ksn_hex, sizeof(ksn_hex), "1234567890123456%08X", counter);
    const auto ksn = crypto::FromHex(ksn_hex).value();
    m.Set(41, "TERM0002");
    m.Set(42, "MERCHANT0000002");
    m.Set(62, ksn_hex);
    const auto mac_key =
        crypto::DeriveAesWorkingKey(Key(kAesBdk), ksn, crypto::AesDukptKeyUsage::kMacGeneration,
                                    crypto::AesDukptKeyType::kAes128)
            .value();
    auto fn = [&](std::span<const std::uint8_t> data, std::array<std::uint8_t, 8>& out) {
      auto full = crypto::AesCmac(mac_key, data).value();
      std::copy_n(full.begin(), 8, out.begin());
      return true;
    };
    std::string wire;
    EXPECT_TRUE(iso8583::PackWithMac(*pin16, m, fn, wire).has_value());
    return wire;
  };
  auto send = [&](const std::string& wire) {
    Request r;
    r.message = wire;
    r.frame = "\x60\x00\x01\x00\x00" + wire;
    r.dialect = pin16;
    Response out;
    asio::co_spawn(io_, pipeline_->Handle(r), [&](std::exception_ptr e, Response resp) {
      ASSERT_FALSE(e);
      out = std::move(resp);
    });
    io_.restart();
    io_.run();
    iso8583::Message m;
    decoded_.push_back(out.message.value_or(""));
    EXPECT_TRUE(iso8583::Unpack(*pin16, decoded_.back(), m).has_value());
    return m;
  };
  ASSERT_EQ(send(build(SignOn("000001"), 1)).Get(39), "00");
  iso8583::Message p = Purchase("000002", 0, "000000001000", false);
  p.Set(42, "MERCHANT0000002");
  const auto ksn = crypto::FromHex("123456789012345600000002").value();
  const auto pek =
      crypto::DeriveAesWorkingKey(Key(kAesBdk), ksn, crypto::AesDukptKeyUsage::kPinEncryption,
                                  crypto::AesDukptKeyType::kAes128)
          .value();
  auto block = crypto::EncipherPinBlock(crypto::PinBlockFormat::kIso4, pek,
                                        crypto::SecretBytes::FromString(kPin).value(), kPan,
                                        crypto::SystemRandom())
                   .value();
  ASSERT_EQ(block.size, 16U);
  p.Set(52, std::string_view(reinterpret_cast<const char*>(block.bytes.data()), block.size));
  auto answer = send(build(p, 2));
  ASSERT_EQ(answer.Get(39), "00");
  const std::string_view sent = issuer_.requests.back().Get(52);
  ASSERT_EQ(sent.size(), 8U);
  auto pin = crypto::DecipherPinBlock(
      crypto::PinBlockFormat::kIso0, Key(kZpk),
      {reinterpret_cast<const std::uint8_t*>(sent.data()), sent.size()}, kPan);
  ASSERT_TRUE(pin);
  EXPECT_EQ(pin->as_chars(), kPin);
}

TEST_P(PipelineTest, CountsTerminalsByStatus) {
  auto before = pipeline_->TerminalCounts();
  EXPECT_EQ(before["active"], 0U);
  EXPECT_EQ(before["provisioned"], static_cast<std::uint64_t>(config_.terminals_size()));
  SignOnOk();
  auto after = pipeline_->TerminalCounts();
  EXPECT_EQ(after["active"], 1U);
  EXPECT_EQ(after["provisioned"], before["provisioned"] - 1);
}

TEST_P(PipelineTest, ATerminalStaysActiveAcrossARestart) {
  SignOnOk();
  // The activation is written behind the answer; the writer keeps order, so a write of our own
  // completes after it.
  ASSERT_FALSE(store_->Write({{storage::Cf::kMeta, "test/flush", "1"}}));
  pipeline_ =
      std::make_unique<Pipeline>(io_.get_executor(),
                                 Pipeline::Deps{&config_, keys_.get(), journal_.get(), saf_.get(),
                                                store_.get(), bins_.get(), &issuer_, clock_.get()},
                                 "iso87b", 2);
  EXPECT_EQ(pipeline_->TerminalStatus("TERM0001"), "active");
  EXPECT_EQ(Decode(Send(Build(Purchase("000002", 2, "000000001000"), 2))).Get(39), "00");
  EXPECT_EQ(pipeline_->TerminalStatus("TERM0002"), "provisioned");
}

TEST_P(PipelineTest, TakesItsTerminalsAndMerchantsFromTheRegistryWhenThereIsOne) {
  storage::Registry registry(*store_);
  proto::TerminalProfile t = config_.terminals(0);  // TERM0001's keys, filed under another TID
  t.set_tid("TERM0009");
  ASSERT_FALSE(registry.Put("terminal", "TERM0009", t, {.actor = "test", .reason = "onboarded"}));
  ASSERT_FALSE(registry.Put("merchant", config_.merchants(0).mid(), config_.merchants(0),
                            {.actor = "test", .reason = "onboarded"}));
  Pipeline::Deps deps{&config_,    keys_.get(), journal_.get(), saf_.get(), store_.get(),
                      bins_.get(), &issuer_,    clock_.get(),   &registry};
  pipeline_ = std::make_unique<Pipeline>(io_.get_executor(), deps, "iso87b", 2);
  EXPECT_EQ(pipeline_->TerminalStatus("TERM0009"), "provisioned");
  EXPECT_EQ(pipeline_->TerminalStatus("TERM0001"), "");  // only in the configuration
  EXPECT_EQ(Decode(Send(Build(SignOn("000001"), 1, true, "TERM0009"))).Get(39), "00");
  EXPECT_EQ(pipeline_->TerminalStatus("TERM0009"), "active");
  pipeline_.reset();
}

TEST_P(PipelineTest, ServesATerminalProvisionedOrSuspendedWhileItRuns) {
  proto::TerminalProfile t = config_.terminals(0);  // TERM0001's keys under a new TID
  t.set_tid("TERM0009");
  EXPECT_EQ(pipeline_->TerminalStatus("TERM0009"), "");
  pipeline_->UpsertTerminal(t);
  EXPECT_EQ(pipeline_->TerminalStatus("TERM0009"), "provisioned");
  EXPECT_EQ(Decode(Send(Build(SignOn("000001"), 1, true, "TERM0009"))).Get(39), "00");
  EXPECT_EQ(Decode(Send(Build(Purchase("000002", 2, "000000001000"), 2, true, "TERM0009"))).Get(39),
            "00");
  // A profile change that leaves it "provisioned" does not undo the activation; a suspension
  // applies from the next request.
  pipeline_->UpsertTerminal(t);
  EXPECT_EQ(Decode(Send(Build(Purchase("000003", 3, "000000001000"), 3, true, "TERM0009"))).Get(39),
            "00");
  t.set_status("suspended");
  pipeline_->UpsertTerminal(t);
  EXPECT_EQ(Decode(Send(Build(Purchase("000004", 4, "000000001000"), 4, true, "TERM0009"))).Get(39),
            "58");
  EXPECT_EQ(pipeline_->TerminalStatus("TERM0009"), "suspended");
}

TEST(LuhnTest, ChecksTheCheckDigit) {
  EXPECT_TRUE(LuhnValid("4761739001010010"));
  EXPECT_TRUE(LuhnValid("6011000990139424"));
  EXPECT_FALSE(LuhnValid("4761739001010011"));
  EXPECT_FALSE(LuhnValid("47617390010"));
  EXPECT_FALSE(LuhnValid("476173900101001X"));
}

INSTANTIATE_TEST_SUITE_P(Shards, PipelineTest,
                         ::testing::Values(std::size_t{2}, Pipeline::kOneThread),
                         [](const ::testing::TestParamInfo<std::size_t>& info) {
                           return info.param == Pipeline::kOneThread
                                      ? std::string("OneThread")
                                      : "Strands" + std::to_string(info.param);
                         });

}  // namespace
}  // namespace sy::server
