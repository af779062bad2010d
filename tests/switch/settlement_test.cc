// Settlement (issue 8): what counts and what does not, fees at their rounding boundaries and
// limits, currencies, completions, refunds, batches never closed, negative nets carried forward,
// settlement dates over weekends and holidays, byte-identical re-runs, crashes mid-write, and a
// journal of 20,000 mixed records whose settlement equals its approved totals.

#include "switch/settlement/settlement.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "storage/batch_store.h"
#include "storage/journal.h"
#include "storage/saf_queue.h"
#include "storage/store.h"
#include "switch/settlement/agreement_file.h"
#include "switch/settlement/output.h"

namespace sy::server::settlement {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono;
using ::testing::HasSubstr;

constexpr std::uint32_t kEur = 978;
constexpr std::uint32_t kCny = 156;
constexpr std::uint32_t kUsd = 840;

sys_days Date(int y, unsigned m, unsigned d) { return sys_days(year{y} / month{m} / day{d}); }

struct Spec {
  std::string mid = "MERCHANT0000001";
  std::string tid = "TERM0001";
  std::string mti = "0200";
  std::string pc = "000000";
  std::int64_t amount = 10000;
  std::uint32_t currency = kEur;
  std::string rc = "00";
  proto::TxnState state = proto::TXN_ANSWERED;
  std::string date = "20261127";  // a Friday
  std::uint32_t batch = 0;
  bool stand_in = false;
  std::string route = "issuer-a";
};

proto::TransactionRecord Rec(std::uint64_t id, const Spec& s) {
  proto::TransactionRecord r;
  r.set_id(id);
  r.set_mid(s.mid);
  r.set_tid(s.tid);
  r.set_mti(s.mti);
  r.set_processing_code(s.pc);
  r.set_stan(std::to_string(100000 + id));
  r.set_rrn(std::to_string(300000000000 + id));
  r.set_amount_minor(s.amount);
  r.set_currency(s.currency);
  r.set_response_code(s.rc);
  r.set_state(s.state);
  r.set_business_date(s.date);
  r.set_batch_number(s.batch);
  r.set_stand_in(s.stand_in);
  r.set_route(s.route);
  r.mutable_pan()->set_masked("476173******0010");
  return r;
}

onboarding::FeeSchedule Schedule(std::uint16_t currency, std::int64_t rate, std::int64_t fixed = 0,
                                 std::int64_t min = 0, std::optional<std::int64_t> max = {}) {
  onboarding::FeeSchedule s;
  s.currency = currency;
  s.rates["any"] = rate;
  s.fixed_fee_minor = fixed;
  s.min_fee_minor = min;
  s.max_fee_minor = max;
  return s;
}

onboarding::Agreement Terms(const std::string& mid, std::vector<onboarding::FeeSchedule> fees,
                            int cycle = 1, std::uint32_t version = 1,
                            sys_days from = Date(2026, 1, 1)) {
  onboarding::Agreement a;
  a.merchant_id = mid;
  a.version = version;
  a.effective_from = from;
  a.fees = std::move(fees);
  a.settlement_cycle_days = cycle;
  return a;
}

struct Fixture {
  AgreementBook book;
  onboarding::HolidayCalendar holidays;
  SettlementInputs Inputs(const std::string& date = "20261127") const {
    SettlementInputs in;
    in.business_date = date;
    in.agreements = &book;
    in.holidays = &holidays;
    return in;
  }
};

SettlementRun MustSettle(const SettlementInputs& in,
                         const std::vector<proto::TransactionRecord>& recs,
                         const std::vector<proto::BatchRecord>& batches = {}) {
  auto run = SettleRecords(in, recs, batches);
  EXPECT_TRUE(run) << (run ? "" : run.error().Describe());
  return run ? *run : SettlementRun{};
}

const Row* Find(const SettlementRun& run, const std::string& mid, std::uint32_t currency) {
  for (const auto& r : run.rows) {
    if (r.mid == mid && r.currency == currency) {
      return &r;
    }
  }
  return nullptr;
}

std::string TempDir() {
  std::string t = (fs::temp_directory_path() / "sy-settle-XXXXXX").string();
  EXPECT_NE(::mkdtemp(t.data()), nullptr);
  return t;
}

std::map<std::string, std::string> ReadAll(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    out[e.path().filename().string()] = ss.str();
  }
  return out;
}

TEST(SettlementErrorTest, EveryErrorHasAMessage) {
  for (int e = static_cast<int>(kFirstError); e <= static_cast<int>(kLastError); ++e) {
    const auto ec = make_error_code(static_cast<Error>(e));
    EXPECT_STREQ(ec.category().name(), "sy.settlement");
    EXPECT_THAT(ec.message(), ::testing::Not(HasSubstr("unknown")));
  }
}

TEST(SettlementTest, FeesRoundHalfUpAtTheBoundary) {
  Fixture f;
  // 0.125% = 1250 hundredths of a bp: 400 × 0.125% = 0.5 → 1; 399 → 0.49875 → 0; 1200 → 1.5 → 2.
  f.book.versions["M1"] = {Terms("M1", {Schedule(kEur, 1250)})};
  f.book.versions["M2"] = {Terms("M2", {Schedule(kEur, 1250)})};
  f.book.versions["M3"] = {Terms("M3", {Schedule(kEur, 1250)})};
  auto run = MustSettle(f.Inputs(),
                        {Rec(1, {.mid = "M1", .amount = 400}), Rec(2, {.mid = "M2", .amount = 399}),
                         Rec(3, {.mid = "M3", .amount = 1200})});
  ASSERT_EQ(run.rows.size(), 3u);
  EXPECT_EQ(Find(run, "M1", kEur)->fees_minor, 1);
  EXPECT_EQ(Find(run, "M2", kEur)->fees_minor, 0);
  EXPECT_EQ(Find(run, "M3", kEur)->fees_minor, 2);
  EXPECT_EQ(Find(run, "M1", kEur)->net_minor, 399);
}

TEST(SettlementTest, FeesAreClampedPerTransactionToMinimumAndMaximum) {
  Fixture f;
  // 1% plus 3 fixed, at least 10, at most 50 — per transaction, not per day.
  f.book.versions["M1"] = {Terms("M1", {Schedule(kEur, 10000, 3, 10, 50)})};
  auto run = MustSettle(f.Inputs(), {Rec(1, {.mid = "M1", .amount = 100}),     // 1+3 → 10
                                     Rec(2, {.mid = "M1", .amount = 2000}),    // 20+3 = 23
                                     Rec(3, {.mid = "M1", .amount = 100000})}  // 1003 → 50
  );
  const Row* r = Find(run, "M1", kEur);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->fees_minor, 10 + 23 + 50);
  EXPECT_EQ(r->gross_minor, 102100);
  EXPECT_EQ(r->net_minor, 102100 - 83);
  EXPECT_EQ(r->payable_minor, r->net_minor);
}

TEST(SettlementTest, ReversedVoidedDeclinedAndPreauthorizationsAreExcluded) {
  Fixture f;
  f.book.versions["M1"] = {Terms("M1", {Schedule(kEur, 0)})};
  std::vector<proto::TransactionRecord> recs = {
      Rec(1, {.mid = "M1", .amount = 1000}),                                  // counted
      Rec(2, {.mid = "M1", .amount = 2000, .state = proto::TXN_REVERSED}),    // reversed
      Rec(3, {.mid = "M1", .amount = 4000, .state = proto::TXN_VOIDED}),      // voided
      Rec(4, {.mid = "M1", .amount = 8000, .rc = "05"}),                      // declined
      Rec(5, {.mid = "M1", .mti = "0100", .pc = "300000", .amount = 16000}),  // pre-auth
      Rec(6, {.mid = "M1",
              .mti = "0100",
              .pc = "300000",
              .amount = 32000,
              .state = proto::TXN_COMPLETED}),                  // completed pre-auth
      Rec(7, {.mid = "M1", .mti = "0400", .amount = 64000}),    // a reversal itself
      Rec(8, {.mid = "M1", .pc = "020000", .amount = 128000}),  // a void itself
      Rec(9, {.mid = "M1", .amount = 256000, .rc = "", .state = proto::TXN_FORWARDED}),
      Rec(10, {.mid = "M1", .pc = "200000", .amount = 500, .state = proto::TXN_REVERSED}),
  };
  auto run = MustSettle(f.Inputs(), recs);
  ASSERT_EQ(run.rows.size(), 1u);
  EXPECT_EQ(run.rows[0].purchase_count, 1u);
  EXPECT_EQ(run.rows[0].gross_minor, 1000);
  EXPECT_EQ(run.rows[0].refund_count, 0u);
  EXPECT_EQ(run.records_read, recs.size());
  EXPECT_EQ(run.records_settled, 1u);
}

TEST(SettlementTest, CompletionsAndStandInApprovalsCountAsGross) {
  Fixture f;
  f.book.versions["M1"] = {Terms("M1", {Schedule(kEur, 10000)})};  // 1%
  auto run =
      MustSettle(f.Inputs(), {Rec(1, {.mid = "M1", .amount = 1000, .stand_in = true}),
                              Rec(2, {.mid = "M1", .mti = "0220", .pc = "000000", .amount = 5000}),
                              Rec(3, {.mid = "M1",
                                      .mti = "0221",
                                      .pc = "000000",
                                      .amount = 3000,
                                      .state = proto::TXN_BATCHED,
                                      .batch = 4})});
  const Row* r = Find(run, "M1", kEur);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->purchase_count, 1u);
  EXPECT_EQ(r->completion_count, 2u);
  EXPECT_EQ(r->completion_minor, 8000);
  EXPECT_EQ(r->gross_minor, 9000);
  EXPECT_EQ(r->stand_in_count, 1u);
  EXPECT_EQ(r->fees_minor, 10 + 50 + 30);
}

TEST(SettlementTest, RefundsReturnTheFeeOnlyWhenTheAgreementSaysSo) {
  Fixture f;
  f.book.versions["KEEP"] = {Terms("KEEP", {Schedule(kEur, 10000)})};
  f.book.versions["BACK"] = {Terms("BACK", {Schedule(kEur, 10000)})};
  f.book.refund_returns_fee.emplace("BACK", 1);
  std::vector<proto::TransactionRecord> recs;
  for (const std::string mid : {"KEEP", "BACK"}) {
    recs.push_back(Rec(recs.size() + 1, {.mid = mid, .amount = 10000}));
    recs.push_back(Rec(recs.size() + 1, {.mid = mid, .pc = "200000", .amount = 4000}));
  }
  auto run = MustSettle(f.Inputs(), recs);
  const Row* keep = Find(run, "KEEP", kEur);
  const Row* back = Find(run, "BACK", kEur);
  ASSERT_TRUE(keep && back);
  EXPECT_EQ(keep->refund_count, 1u);
  EXPECT_EQ(keep->refund_minor, 4000);
  EXPECT_EQ(keep->fees_minor, 100);
  EXPECT_EQ(keep->net_minor, 10000 - 4000 - 100);
  EXPECT_EQ(back->fees_minor, 100 - 40);
  EXPECT_EQ(back->net_minor, 10000 - 4000 - 60);
}

TEST(SettlementTest, EachCurrencyIsItsOwnRowWithItsOwnSchedule) {
  Fixture f;
  f.book.versions["M1"] = {
      Terms("M1", {Schedule(kEur, 10000), Schedule(kCny, 20000), Schedule(kUsd, 0, 7)})};
  auto run = MustSettle(f.Inputs(), {Rec(1, {.mid = "M1", .amount = 1000, .currency = kEur}),
                                     Rec(2, {.mid = "M1", .amount = 1000, .currency = kCny}),
                                     Rec(3, {.mid = "M1", .amount = 1000, .currency = kUsd}),
                                     Rec(4, {.mid = "M1", .amount = 3000, .currency = kCny})});
  ASSERT_EQ(run.rows.size(), 3u);
  EXPECT_EQ(run.rows[0].currency, kCny);  // ordered by mid, then currency
  EXPECT_EQ(Find(run, "M1", kCny)->gross_minor, 4000);
  EXPECT_EQ(Find(run, "M1", kCny)->fees_minor, 80);
  EXPECT_EQ(Find(run, "M1", kEur)->fees_minor, 10);
  EXPECT_EQ(Find(run, "M1", kUsd)->fees_minor, 7);
}

TEST(SettlementTest, WithoutTermsTransactionsAreHeldNotSettled) {
  Fixture f;
  f.book.versions["M1"] = {Terms("M1", {Schedule(kEur, 0)})};
  auto run = MustSettle(f.Inputs(), {Rec(1, {.mid = "NOBODY", .amount = 1000}),
                                     Rec(2, {.mid = "M1", .amount = 1000, .currency = kCny})});
  EXPECT_TRUE(run.rows.empty());
  ASSERT_EQ(run.exceptions.size(), 2u);
  EXPECT_EQ(run.exceptions[0].kind, "held");
  EXPECT_EQ(run.records_settled, 0u);
}

TEST(SettlementTest, AgreementInForceOnTheBusinessDateApplies) {
  Fixture f;
  f.book.versions["M1"] = {Terms("M1", {Schedule(kEur, 10000)}, 1, 1, Date(2026, 1, 1)),
                           Terms("M1", {Schedule(kEur, 20000)}, 2, 2, Date(2026, 11, 28))};
  auto before = MustSettle(f.Inputs("20261127"), {Rec(1, {.mid = "M1", .amount = 1000})});
  auto after =
      MustSettle(f.Inputs("20261130"), {Rec(2, {.mid = "M1", .amount = 1000, .date = "20261130"})});
  EXPECT_EQ(before.rows.at(0).fees_minor, 10);
  EXPECT_EQ(before.rows.at(0).agreement_version, 1u);
  EXPECT_EQ(after.rows.at(0).fees_minor, 20);
  EXPECT_EQ(after.rows.at(0).agreement_version, 2u);
  EXPECT_EQ(after.rows.at(0).settlement_date, "20261202");  // Monday T+2 → Wednesday
}

TEST(SettlementTest, BrandsComeFromTheBinTableThenFallBackToAny) {
  std::vector<routing::BinEntry> entries = {{"400000", "499999", "visa", false, "issuer-a"},
                                            {"510000", "559999", "mastercard", false, "issuer-b"},
                                            {"620000", "629999", "unionpay", false, "issuer-b"}};
  auto bins = routing::BinTable::Build(entries, {"issuer-a", "issuer-b"}).value();
  auto brand = MakeBrandResolver(&bins, {{"on-us", "unionpay"}});
  auto rec = Rec(1, {.route = "issuer-a"});
  EXPECT_EQ(brand(rec), "visa");  // the route has one brand
  rec.set_route("issuer-b");
  rec.mutable_pan()->set_masked("512345******0001");
  EXPECT_EQ(brand(rec), "mastercard");  // mixed route: by the masked PAN's BIN
  rec.set_route("on-us");
  EXPECT_EQ(brand(rec), "unionpay");  // explicit route brand
  rec.set_route("elsewhere");
  rec.mutable_pan()->set_masked("");
  EXPECT_EQ(brand(rec), "any");

  Fixture f;
  auto s = Schedule(kEur, 30000);
  s.rates["visa"] = 10000;
  f.book.versions["M1"] = {Terms("M1", {s})};
  auto in = f.Inputs();
  in.brand_of = brand;
  auto unknown = Rec(2, {.mid = "M1", .amount = 1000, .route = "elsewhere"});
  unknown.mutable_pan()->set_masked("999999******0001");  // in no BIN range: "any"
  auto run = MustSettle(in, {Rec(1, {.mid = "M1", .amount = 1000, .route = "issuer-a"}), unknown});
  EXPECT_EQ(run.rows.at(0).fees_minor, 10 + 30);
}

TEST(SettlementTest, SettlementDatesSkipWeekendsAndHolidays) {
  Fixture f;
  // Monday 30 November 2026 a holiday; Saturday 5 December a working day.
  f.holidays = onboarding::HolidayCalendar({Date(2026, 11, 30)}, {Date(2026, 12, 5)});
  f.book.versions["T0"] = {Terms("T0", {Schedule(kEur, 0)}, 0)};
  f.book.versions["T1"] = {Terms("T1", {Schedule(kEur, 0)}, 1)};
  f.book.versions["T3"] = {Terms("T3", {Schedule(kEur, 0)}, 3)};
  auto recs = [](const std::string& date) {
    return std::vector<proto::TransactionRecord>{Rec(1, {.mid = "T0", .date = date}),
                                                 Rec(2, {.mid = "T1", .date = date}),
                                                 Rec(3, {.mid = "T3", .date = date})};
  };
  // Friday 27th: T+0 Friday; T+1 skips the weekend and the Monday holiday → Tuesday 1 Dec;
  // T+3 → Thursday 3 Dec.
  auto fri = MustSettle(f.Inputs("20261127"), recs("20261127"));
  EXPECT_EQ(Find(fri, "T0", kEur)->settlement_date, "20261127");
  EXPECT_EQ(Find(fri, "T1", kEur)->settlement_date, "20261201");
  EXPECT_EQ(Find(fri, "T3", kEur)->settlement_date, "20261203");
  // Saturday 28th: T+0 → Tuesday (Monday is a holiday).
  auto sat = MustSettle(f.Inputs("20261128"), recs("20261128"));
  EXPECT_EQ(Find(sat, "T0", kEur)->settlement_date, "20261201");
  // Thursday 3 Dec, T+1 → Friday 4th; T+3 → the working Saturday 5th counts: Monday 7th.
  auto thu = MustSettle(f.Inputs("20261203"), recs("20261203"));
  EXPECT_EQ(Find(thu, "T1", kEur)->settlement_date, "20261204");
  EXPECT_EQ(Find(thu, "T3", kEur)->settlement_date, "20261207");

  // One settlement file per settlement date.
  auto files = RenderRun(fri).value();
  EXPECT_TRUE(files.contains("settlement-20261127.txt"));
  EXPECT_TRUE(files.contains("settlement-20261201.txt"));
  EXPECT_TRUE(files.contains("settlement-20261203.txt"));
}

TEST(SettlementTest, NeverClosedBatchesAreSettledAndClosedAtCutover) {
  Fixture f;
  f.book.versions["M1"] = {Terms("M1", {Schedule(kEur, 0)})};
  proto::BatchRecord closed;
  closed.set_tid("TERM0001");
  closed.set_batch_number(7);
  closed.set_business_date("20261127");
  closed.set_status(proto::BatchRecord::BATCH_RECONCILED);
  closed.set_currency(kEur);
  closed.set_switch_debit_count(1);
  closed.set_switch_debit_amount(1000);
  closed.set_terminal_debit_count(2);
  closed.set_terminal_debit_amount(1500);
  auto* only = closed.add_terminal_only();
  only->set_mti("0200");
  only->set_stan("000777");
  only->set_processing_code("000000");
  only->set_amount_minor(500);
  only->set_currency(kEur);
  only->set_masked_pan("476173******0010");
  proto::BatchRecord other_day = closed;
  other_day.set_business_date("20261126");
  other_day.set_batch_number(6);

  auto run =
      MustSettle(f.Inputs(),
                 {Rec(1, {.mid = "M1",
                          .tid = "TERM0001",
                          .amount = 1000,
                          .state = proto::TXN_BATCHED,
                          .batch = 7}),
                  Rec(2, {.mid = "M1", .tid = "TERM0002", .amount = 2000}),  // batch never closed
                  Rec(3, {.mid = "M1", .tid = "TERM0002", .pc = "200000", .amount = 300}),
                  Rec(4, {.mid = "M1", .tid = "TERM0002", .amount = 9000, .rc = "51"})},
                 {closed, other_day});
  ASSERT_EQ(run.rows.size(), 1u);
  EXPECT_EQ(run.rows[0].gross_minor, 3000);  // the open batch's purchase is settled
  EXPECT_EQ(run.rows[0].refund_minor, 300);
  EXPECT_EQ(run.rows[0].gross_minor, 3000);  // the terminal-only 500 is not

  ASSERT_EQ(run.batches.size(), 2u);
  EXPECT_EQ(run.batches[0].tid, "TERM0001");
  EXPECT_EQ(run.batches[0].status, "reconciled");
  EXPECT_FALSE(run.batches[0].balanced());
  EXPECT_EQ(run.batches[1].tid, "TERM0002");
  EXPECT_EQ(run.batches[1].batch_number, 0u);
  EXPECT_EQ(run.batches[1].status, "closed at cutover");
  EXPECT_EQ(run.batches[1].switch_debit_minor, 2000);
  EXPECT_EQ(run.batches[1].switch_credit_minor, 300);
  EXPECT_FALSE(run.batches[1].has_terminal_totals);

  ASSERT_EQ(run.exceptions.size(), 1u);
  EXPECT_EQ(run.exceptions[0].kind, "terminal_only");
  EXPECT_EQ(run.exceptions[0].stan, "000777");
  EXPECT_EQ(run.exceptions[0].masked_pan, "476173******0010");
  EXPECT_THAT(RenderReconciliationCsv(run), HasSubstr("closed at cutover"));
}

TEST(SettlementTest, NegativeNetIsCarriedForwardToTheNextRun) {
  Fixture f;
  f.book.versions["M1"] = {Terms("M1", {Schedule(kEur, 0, 10)})};
  const std::string out = TempDir();
  // Friday: a 50 purchase (fee 10) and a 500 refund: net 50 − 500 − 10 = −460.
  auto fri = MustSettle(
      f.Inputs("20261127"),
      {Rec(1, {.mid = "M1", .amount = 50}), Rec(2, {.mid = "M1", .pc = "200000", .amount = 500})});
  ASSERT_EQ(fri.rows.at(0).net_minor, -460);
  EXPECT_EQ(fri.rows.at(0).payable_minor, 0);
  EXPECT_EQ(fri.rows.at(0).carried_forward_minor, -460);
  ASSERT_TRUE(WriteRun(fri, out));

  // Saturday: nothing for M1; the amount is carried on. Monday: 1000 (fee 10) − 460 = 530.
  auto in = f.Inputs("20261128");
  in.carried_in = ReadCarriedForward(out, "20261128").value();
  EXPECT_EQ((in.carried_in[{"M1", kEur}]), -460);
  auto sat = MustSettle(in, {});
  ASSERT_EQ(sat.rows.size(), 1u);
  EXPECT_EQ(sat.rows[0].carried_forward_minor, -460);
  ASSERT_TRUE(WriteRun(sat, out));

  in = f.Inputs("20261130");
  in.carried_in = ReadCarriedForward(out, "20261130").value();
  auto mon = MustSettle(in, {Rec(3, {.mid = "M1", .amount = 1000, .date = "20261130"})});
  EXPECT_EQ(mon.rows.at(0).carried_in_minor, -460);
  EXPECT_EQ(mon.rows.at(0).net_minor, 990);
  EXPECT_EQ(mon.rows.at(0).payable_minor, 530);
  EXPECT_EQ(mon.rows.at(0).carried_forward_minor, 0);
  ASSERT_TRUE(WriteRun(mon, out));
  EXPECT_TRUE(ReadCarriedForward(out, "20261201").value().empty());

  // A first run of an earlier date than one already settled would reuse a carried amount.
  auto out_of_order = ReadCarriedForward(out, "20261126");
  ASSERT_FALSE(out_of_order);
  EXPECT_EQ(out_of_order.error().code, make_error_code(Error::kBadLedger));
  // An altered carried-forward file is refused.
  { std::ofstream(out + "/20261130/carried-forward.csv", std::ios::app) << "20261130,M1,978,-1\n"; }
  EXPECT_FALSE(ReadCarriedForward(out, "20261201"));
  fs::remove_all(out);
}

TEST(SettlementOutputTest, SettlementFileHasFixedRecordsAndControlTotals) {
  Fixture f;
  f.book.versions["M1"] = {Terms("M1", {Schedule(kEur, 10000), Schedule(kCny, 10000)})};
  f.book.versions["M2"] = {Terms("M2", {Schedule(kEur, 10000)})};
  auto run = MustSettle(
      f.Inputs(), {Rec(1, {.mid = "M1", .amount = 1000}), Rec(2, {.mid = "M2", .amount = 2000}),
                   Rec(3, {.mid = "M1", .amount = 500, .currency = kCny})});
  auto file = RenderSettlementFile(run, "20261130").value();
  std::vector<std::string> lines;
  std::istringstream is(file);
  for (std::string l; std::getline(is, l);) {
    EXPECT_EQ(l.size(), 160u) << l;
    lines.push_back(l);
  }
  // H, D(CNY M1), T(CNY), D(EUR M1), D(EUR M2), T(EUR), Z
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[0].substr(0, 25), "H2026113020261127SYSETL01");
  EXPECT_EQ(lines[1].substr(0, 19), "DM1             156");
  EXPECT_EQ(lines[2].substr(0, 13), "T156000000001");
  EXPECT_EQ(lines[5].substr(0, 22), "T978000000002000000002");
  EXPECT_EQ(lines[5].substr(22, 18), "+00000000000003000");  // gross
  EXPECT_EQ(lines[5].substr(58, 18), "+00000000000000030");  // fees
  EXPECT_EQ(lines[5].substr(76, 18), "+00000000000002970");  // net
  EXPECT_EQ(lines[6].substr(0, 19), "Z000000007000000003");
  EXPECT_THAT(file, ::testing::Not(HasSubstr("\r")));
}

TEST(SettlementOutputTest, ReRunGivesByteIdenticalFilesWithVerifiedSidecars) {
  Fixture f;
  f.book.versions["M1"] = {Terms("M1", {Schedule(kEur, 1250)})};
  f.book.versions["M,2"] = {Terms("M,2", {Schedule(kEur, 1250)}, 2)};
  std::vector<proto::TransactionRecord> recs;
  for (int i = 0; i < 50; ++i) {
    recs.push_back(Rec(i + 1, {.mid = i % 2 ? "M1" : "M,2", .amount = 1000 + i * 37}));
  }
  const std::string out = TempDir();
  auto run1 = MustSettle(f.Inputs(), recs);
  auto w1 = WriteRun(run1, out);
  ASSERT_TRUE(w1) << w1.error().Describe();
  const auto first = ReadAll(out + "/20261127");
  // Records in another order give the same run.
  std::reverse(recs.begin(), recs.end());
  auto run2 = MustSettle(f.Inputs(), recs);
  ASSERT_TRUE(WriteRun(run2, out));
  const auto second = ReadAll(out + "/20261127");
  EXPECT_EQ(first, second);
  EXPECT_TRUE(first.contains("settlement.csv.sha256"));
  EXPECT_TRUE(first.contains("settlement-20261130.txt"));
  EXPECT_TRUE(first.contains("settlement-20261201.txt"));
  for (const auto& [name, contents] : first) {
    if (name.ends_with(".sha256")) {
      const std::string data_name = name.substr(0, name.size() - 7);
      EXPECT_EQ(contents, Sha256Hex(first.at(data_name)) + "  " + data_name + "\n");
    }
  }
  EXPECT_THAT(first.at("settlement.csv"), HasSubstr("\"M,2\""));
  fs::remove_all(out);
}

// The files of a run as RenderRun makes them, with their sidecars.
std::map<std::string, std::string> Expected(const SettlementRun& run) {
  auto files = RenderRun(run).value();
  std::map<std::string, std::string> out = files;
  for (const auto& [name, contents] : files) {
    out[name + ".sha256"] = Sha256Hex(contents) + "  " + name + "\n";
  }
  return out;
}

// Every final file is the old run's or the new run's version, whole.
void ExpectNoHalfWrittenFile(const std::string& dir, const std::map<std::string, std::string>& a,
                             const std::map<std::string, std::string>& b) {
  for (const auto& [name, contents] : ReadAll(dir)) {
    if (name.ends_with(".tmp")) {
      continue;  // a temporary, removed by the next run
    }
    const bool is_a = a.contains(name) && a.at(name) == contents;
    const bool is_b = b.contains(name) && b.at(name) == contents;
    EXPECT_TRUE(is_a || is_b) << name << " is neither version";
  }
}

TEST(SettlementOutputTest, FailureBetweenTempWriteAndRenameLeavesNoHalfWrittenFile) {
  Fixture f;
  f.book.versions["M1"] = {Terms("M1", {Schedule(kEur, 1250)})};
  const std::string out = TempDir();
  auto old_run = MustSettle(f.Inputs(), {Rec(1, {.mid = "M1", .amount = 1000})});
  ASSERT_TRUE(WriteRun(old_run, out));
  auto new_run = MustSettle(
      f.Inputs(), {Rec(1, {.mid = "M1", .amount = 1000}), Rec(2, {.mid = "M1", .amount = 7000})});
  for (int fail_at = 0; fail_at < 10; ++fail_at) {
    int calls = 0;
    WriteOptions o;
    o.before_rename = [&](std::string_view) { return calls++ != fail_at; };
    auto w = WriteRun(new_run, out, o);
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().code, make_error_code(Error::kInjectedFailure));
    ExpectNoHalfWrittenFile(out + "/20261127", Expected(old_run), Expected(new_run));
    // The carried-forward file is the last one: its run is complete only if it verifies.
  }
  ASSERT_TRUE(WriteRun(new_run, out));
  EXPECT_EQ(ReadAll(out + "/20261127"), Expected(new_run));  // and no temporaries left
  fs::remove_all(out);
}

TEST(SettlementOutputTest, SigkillMidRunLeavesNoHalfWrittenFileAndReRunCompletes) {
  Fixture f;
  f.book.versions["M1"] = {Terms("M1", {Schedule(kEur, 1250)})};
  f.book.versions["M2"] = {Terms("M2", {Schedule(kEur, 1250)})};
  std::vector<proto::TransactionRecord> recs;
  for (int i = 0; i < 2000; ++i) {
    recs.push_back(Rec(i + 1, {.mid = i % 3 ? "M1" : "M2", .amount = 100 + i}));
  }
  auto run = MustSettle(f.Inputs(), recs);
  const auto expected = Expected(run);
  for (int kill_at : {0, 3, 7}) {
    const std::string out = TempDir();
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      int calls = 0;
      WriteOptions o;
      o.before_rename = [&](std::string_view) {
        if (calls++ == kill_at) {
          ::kill(::getpid(), SIGKILL);  // the temporary is written and synced, not renamed
        }
        return true;
      };
      (void)WriteRun(run, out, o).has_value();
      ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(WTERMSIG(status), SIGKILL);
    ExpectNoHalfWrittenFile(out + "/20261127", expected, expected);
    bool saw_tmp = false;
    for (const auto& [name, contents] : ReadAll(out + "/20261127")) {
      saw_tmp |= name.ends_with(".tmp");
    }
    EXPECT_TRUE(saw_tmp);
    // A killed run is not complete: the next date refuses to carry from it.
    EXPECT_FALSE(ReadCarriedForward(out, "20261128"));
    ASSERT_TRUE(WriteRun(run, out));
    EXPECT_EQ(ReadAll(out + "/20261127"), expected);
    fs::remove_all(out);
  }
}

TEST(AgreementFileTest, LoadsVersionsFeesCycleAndRefundFlag) {
  constexpr std::string_view kYaml = R"(
merchants:
  - mid: "MERCHANT0000001"
    versions:
      - version: 1
        effective_from: "20260101"
        cycle_days: 2
        refund_returns_fee: true
        fees:
          - {currency: 978, rates: {visa: 1250, any: 1500}, fixed_fee_minor: 5,
             min_fee_minor: 1, max_fee_minor: 500}
      - version: 2
        effective_from: "20270101"
        fees: [{currency: 978, rates: {any: 1000}}]
route_brands: {on-us: unionpay}
)";
  auto book = LoadAgreementBook(kYaml, "agreements.yaml");
  ASSERT_TRUE(book) << book.error().Describe();
  const auto& v = book->versions.at("MERCHANT0000001");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].settlement_cycle_days, 2);
  EXPECT_EQ(v[0].fees.at(0).rates.at("visa"), 1250);
  EXPECT_EQ(v[0].fees.at(0).max_fee_minor, 500);
  EXPECT_EQ(v[1].settlement_cycle_days, 1);
  EXPECT_TRUE(book->refund_returns_fee.contains(
      std::pair<std::string, std::uint32_t>("MERCHANT0000001", 1)));
  EXPECT_FALSE(book->refund_returns_fee.contains(
      std::pair<std::string, std::uint32_t>("MERCHANT0000001", 2)));
  EXPECT_EQ(book->route_brands.at("on-us"), "unionpay");
}

TEST(AgreementFileTest, RefusesUnknownKeysAndInvalidAgreementsWithTheirPath) {
  auto bad = LoadAgreementBook(
      "merchants: [{mid: M1, versions: [{version: 1, effective_from: '20260101', "
      "fees: [{currency: 978, rate: {any: 1}}]}]}]",
      "a.yaml");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("merchants[0].versions[0].fees[0].rate"));
  auto invalid = LoadAgreementBook(
      "merchants: [{mid: M1, versions: [{version: 1, effective_from: '20260101', "
      "fees: [{currency: 978, rates: {any: 2000000}}]}]}]",
      "a.yaml");
  ASSERT_FALSE(invalid);
  EXPECT_THAT(invalid.error().message, HasSubstr("rates.any"));
  auto date = LoadAgreementBook(
      "merchants: [{mid: M1, versions: [{version: 1, effective_from: '20260230', "
      "fees: [{currency: 978, rates: {any: 1}}]}]}]",
      "a.yaml");
  ASSERT_FALSE(date);
  EXPECT_THAT(date.error().message, HasSubstr("effective_from"));
}

TEST(AgreementFileTest, LoadsHolidaysAndWorkingDays) {
  auto cal = LoadHolidays("# 2026\n20261001\n20261002  # national day\n\n+20261010\n", "h.txt");
  ASSERT_TRUE(cal);
  EXPECT_FALSE(cal->IsBusinessDay(Date(2026, 10, 1)));
  EXPECT_TRUE(cal->IsBusinessDay(Date(2026, 10, 10)));  // a Saturday made a working day
  auto bad = LoadHolidays("20261001\n2026-10-02\n", "h.txt");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("line 2"));
}

// About 20,000 records through the journal, with every state and code mixed, over two business
// dates: each date's settlement equals the journal's approved totals to the minor unit.
TEST(SettlementJournalTest, TotalsEqualTheJournalsApprovedTotalsToTheMinorUnit) {
  const std::string dir = TempDir();
  auto store = storage::Store::Open({.path = dir + "/store", .sync = false}).value();
  storage::Journal journal(*store, nullptr);
  storage::BatchStore batches(*store);

  Fixture f;
  const std::vector<std::string> mids = {"MERCHANT0000001", "MERCHANT0000002", "MERCHANT0000003",
                                         "MERCHANT0000004", "MERCHANT0000005"};
  for (std::size_t i = 0; i < mids.size(); ++i) {
    auto eur = Schedule(kEur, 1250 + 500 * static_cast<std::int64_t>(i), 0, 1, 2000);
    auto cny = Schedule(kCny, 6000, 2);
    f.book.versions[mids[i]] = {Terms(mids[i], {eur, cny}, static_cast<int>(i % 3))};
    if (i % 2) {
      f.book.refund_returns_fee.emplace(mids[i], 1);
    }
  }
  const std::string dates[] = {"20261127", "20261128"};
  struct Expect {
    std::uint32_t purchases = 0, completions = 0, refunds = 0;
    std::int64_t gross = 0, refund = 0, fees = 0;
  };
  std::map<std::pair<std::string, MerchantCurrency>, Expect> expect;
  std::mt19937_64 rng(8);
  const proto::TxnState states[] = {proto::TXN_ANSWERED, proto::TXN_ANSWERED, proto::TXN_BATCHED,
                                    proto::TXN_REVERSED, proto::TXN_VOIDED,   proto::TXN_FORWARDED};
  const char* codes[] = {"00", "00", "00", "05", "51", "91"};
  struct Type {
    const char* mti;
    const char* pc;
  };
  const Type types[] = {{"0200", "000000"}, {"0200", "003000"}, {"0220", "000000"},
                        {"0200", "200000"}, {"0100", "300000"}, {"0400", "000000"},
                        {"0200", "020000"}};
  constexpr int kRecords = 20000;
  for (int i = 0; i < kRecords; ++i) {
    Spec s;
    s.date = dates[i * 2 < kRecords ? 0 : 1];
    s.mid = mids[rng() % mids.size()];
    s.tid = "TERM000" + std::to_string(rng() % 8);
    const Type& t = types[rng() % std::size(types)];
    s.mti = t.mti;
    s.pc = t.pc;
    s.currency = rng() % 4 ? kEur : kCny;
    s.amount = static_cast<std::int64_t>(rng() % 500000);
    if (rng() % 50 == 0) {
      s.amount = 400 * static_cast<std::int64_t>(rng() % 5);  // half-unit boundaries, zero
    }
    s.state = states[rng() % std::size(states)];
    s.rc = s.state == proto::TXN_FORWARDED ? "" : codes[rng() % std::size(codes)];
    s.stand_in = rng() % 10 == 0;
    s.batch = s.state == proto::TXN_BATCHED ? 1 + static_cast<std::uint32_t>(rng() % 3) : 0;
    auto rec = Rec(0, s);
    ASSERT_FALSE(journal.AppendSync(rec, ""));
    // The journal's approved totals, by the rule of docs/interface.md's batch totals.
    const bool approved =
        s.rc == "00" && (s.state == proto::TXN_ANSWERED || s.state == proto::TXN_BATCHED);
    const bool debit = (s.mti == "0200" && s.pc.starts_with("00")) || s.mti == "0220";
    const bool credit = s.mti == "0200" && s.pc.starts_with("20");
    if (!approved || !(debit || credit)) {
      continue;
    }
    auto& e = expect[{s.date, {s.mid, s.currency}}];
    const auto& sched = f.book.versions.at(s.mid)[0].fees[s.currency == kEur ? 0 : 1];
    const std::int64_t fee = onboarding::Fee(s.amount, "any", sched).value();
    if (debit) {
      (s.mti == "0220" ? e.completions : e.purchases)++;
      e.gross += s.amount;
      e.fees += fee;
    } else {
      e.refunds++;
      e.refund += s.amount;
      if (f.book.refund_returns_fee.contains(std::pair(s.mid, 1u))) {
        e.fees -= fee;
      }
    }
  }
  proto::BatchRecord b;
  b.set_tid("TERM0001");
  b.set_batch_number(1);
  b.set_business_date("20261127");
  b.set_status(proto::BatchRecord::BATCH_CLOSED);
  ASSERT_FALSE(batches.PutBatch(b));

  std::size_t total_rows = 0;
  std::uint64_t read = 0;
  for (const auto& date : dates) {
    auto in = f.Inputs(date);
    in.store = store.get();
    auto run = Settle(in);
    ASSERT_TRUE(run) << run.error().Describe();
    read += run->records_read;
    EXPECT_TRUE(run->exceptions.empty());
    for (const auto& r : run->rows) {
      SCOPED_TRACE(date + " " + r.mid + " " + std::to_string(r.currency));
      const auto& e = expect.at({date, {r.mid, r.currency}});
      EXPECT_EQ(r.purchase_count, e.purchases);
      EXPECT_EQ(r.completion_count, e.completions);
      EXPECT_EQ(r.refund_count, e.refunds);
      EXPECT_EQ(r.gross_minor, e.gross);
      EXPECT_EQ(r.refund_minor, e.refund);
      EXPECT_EQ(r.fees_minor, e.fees);
      EXPECT_EQ(r.net_minor, e.gross - e.refund - e.fees);
      ++total_rows;
    }
    if (date == dates[0]) {
      int closed = 0, at_cutover = 0;
      for (const auto& rb : run->batches) {
        if (rb.tid == "TERM0001") {
          closed += rb.batch_number == 1 && rb.status == "closed";
          at_cutover += rb.batch_number == 0 && rb.status == "closed at cutover";
        }
      }
      EXPECT_EQ(closed, 1);
      EXPECT_GE(at_cutover, 1);  // its open batch (per currency), closed at cutover
    }
  }
  EXPECT_EQ(read, static_cast<std::uint64_t>(kRecords));
  EXPECT_EQ(total_rows, expect.size());

  // The same through a read-only secondary instance, as the settle command runs it.
  auto in = f.Inputs(dates[1]);
  auto primary_run = Settle([&] {
                       auto i = in;
                       i.store = store.get();
                       return i;
                     }())
                         .value();
  auto secondary = storage::Store::Open({.path = dir + "/store", .read_only = true}).value();
  in.store = secondary.get();
  auto secondary_run = Settle(in).value();
  EXPECT_EQ(RenderJson(primary_run), RenderJson(secondary_run));
  secondary.reset();
  store.reset();
  fs::remove_all(dir);
}

// ---- issuer reconciliation ---------------------------------------------------------------------

proto::SafEntry Queued(std::uint64_t txn, const std::string& type,
                       const std::string& route = "issuer-a") {
  proto::SafEntry e;
  e.set_destination(route);
  e.set_message_type(type);
  e.set_txn_id(txn);
  return e;
}

proto::SafDelivery Delivered(std::uint64_t txn, const std::string& type,
                             const std::string& rc = "00", const std::string& route = "issuer-a") {
  proto::SafDelivery d;
  d.set_destination(route);
  d.set_message_type(type);
  d.set_txn_id(txn);
  d.set_response_code(rc);
  return d;
}

const RouteReconciliation* FindRoute(const SettlementRun& run, const std::string& route,
                                     std::uint32_t currency) {
  for (const auto& r : run.routes) {
    if (r.route == route && r.currency == currency) {
      return &r;
    }
  }
  return nullptr;
}

// The unmatched items of a transaction, as "message: reason".
std::vector<std::string> UnmatchedOf(const SettlementRun& run, std::uint64_t txn) {
  std::vector<std::string> out;
  for (const auto& u : run.unmatched) {
    if (u.txn_id == txn) {
      out.push_back(u.message + ": " + u.reason);
    }
  }
  return out;
}

TEST(IssuerReconciliationTest, MatchesApprovalsAgainstWhatTheIssuerAcknowledged) {
  Fixture f;
  f.book.versions["MERCHANT0000001"] = {Terms("MERCHANT0000001", {Schedule(kEur, 0)})};
  std::vector<proto::TransactionRecord> recs;
  auto add = [&](Spec s) {
    recs.push_back(Rec(recs.size() + 1, s));
    return recs.back().id();
  };
  const auto online = add({.amount = 1000});
  const auto refund = add({.pc = "200000", .amount = 300});
  const auto stand_in_told = add({.amount = 200, .stand_in = true});
  const auto stand_in_untold = add({.amount = 150, .stand_in = true});
  const auto completion_told = add({.mti = "0220", .amount = 700});
  const auto reversed_pending = add({.amount = 400, .state = proto::TXN_REVERSED});
  const auto voided_told = add({.amount = 250, .state = proto::TXN_VOIDED});
  const auto timeout_pending = add({.amount = 600, .rc = "91"});
  const auto timeout_told = add({.amount = 650, .rc = "91"});
  const auto in_flight = add({.amount = 50, .rc = "", .state = proto::TXN_FORWARDED});
  const auto preauth_untold = add({.mti = "0100", .amount = 90, .stand_in = true});
  const auto advice_refused = add({.amount = 80, .stand_in = true});
  const auto reversal_lost = add({.amount = 70, .state = proto::TXN_REVERSED});
  const auto declined = add({.amount = 60, .rc = "05"});
  const auto void_record = add({.pc = "020000", .amount = 250});
  const auto other_route = add({.amount = 5000, .currency = kUsd, .route = "issuer-b"});
  IssuerEvidence ev;
  ev.delivered = {Delivered(stand_in_told, "0220"), Delivered(completion_told, "0220"),
                  Delivered(voided_told, "0420"), Delivered(timeout_told, "0420"),
                  Delivered(advice_refused, "0220", "05")};
  ev.pending = {Queued(stand_in_untold, "0220"), Queued(reversed_pending, "0420"),
                Queued(timeout_pending, "0420"), Queued(preauth_untold, "0120"),
                Queued(999999, "0420")};  // another date's transaction: not this run's
  auto run = SettleRecords(f.Inputs(), recs, {}, ev).value();

  const RouteReconciliation* a = FindRoute(run, "issuer-a", kEur);
  ASSERT_NE(a, nullptr);
  // The switch settles: online 1000, stand-ins 200 + 150 + 80, completion 700; refund 300.
  EXPECT_EQ(a->switch_debit_count, 5U);
  EXPECT_EQ(a->switch_debit_minor, 1000 + 200 + 150 + 80 + 700);
  EXPECT_EQ(a->switch_credit_count, 1U);
  EXPECT_EQ(a->switch_credit_minor, 300);
  EXPECT_EQ(a->stand_in_count, 3U);
  // The issuer knows: online 1000, the told stand-in 200 and completion 700, and still holds the
  // reversed purchases whose 0420 it has not acknowledged (400 queued, 70 never queued).
  EXPECT_EQ(a->issuer_debit_count, 5U);
  EXPECT_EQ(a->issuer_debit_minor, 1000 + 200 + 700 + 400 + 70);
  EXPECT_EQ(a->issuer_credit_minor, 300);
  EXPECT_EQ(a->advices_owed, 5U);  // two stand-ins told, one not, the pre-auth's, the refused
  EXPECT_EQ(a->advices_acknowledged, 3U);
  EXPECT_EQ(a->reversals_owed, 5U);
  EXPECT_EQ(a->reversals_acknowledged, 2U);
  EXPECT_FALSE(a->balanced());

  EXPECT_TRUE(UnmatchedOf(run, online).empty());
  EXPECT_TRUE(UnmatchedOf(run, refund).empty());
  EXPECT_TRUE(UnmatchedOf(run, stand_in_told).empty());
  EXPECT_TRUE(UnmatchedOf(run, completion_told).empty());
  EXPECT_TRUE(UnmatchedOf(run, voided_told).empty());
  EXPECT_TRUE(UnmatchedOf(run, timeout_told).empty());
  EXPECT_TRUE(UnmatchedOf(run, declined).empty());
  EXPECT_TRUE(UnmatchedOf(run, void_record).empty());  // its original carries the reversal
  EXPECT_THAT(UnmatchedOf(run, stand_in_untold),
              ::testing::ElementsAre(HasSubstr("0220: stand-in approval advice queued")));
  EXPECT_THAT(UnmatchedOf(run, reversed_pending),
              ::testing::ElementsAre(HasSubstr("0420: reversal queued, not yet acknowledged: "
                                               "the issuer still holds the approval")));
  EXPECT_THAT(UnmatchedOf(run, timeout_pending),
              ::testing::ElementsAre(HasSubstr("(91), not yet acknowledged: the issuer may hold")));
  EXPECT_THAT(UnmatchedOf(run, in_flight),
              ::testing::ElementsAre(HasSubstr("no outcome recorded yet (in flight)")));
  EXPECT_THAT(UnmatchedOf(run, preauth_untold),
              ::testing::ElementsAre(HasSubstr("0120: stand-in approval advice queued")));
  EXPECT_THAT(UnmatchedOf(run, advice_refused),
              ::testing::ElementsAre("0220: advice answered 05 by the issuer"));
  EXPECT_THAT(UnmatchedOf(run, reversal_lost),
              ::testing::ElementsAre("0420: 0420 owed to the issuer but neither queued nor "
                                     "acknowledged"));
  EXPECT_TRUE(UnmatchedOf(run, 999999).empty());
  EXPECT_EQ(a->unmatched, run.unmatched.size());
  // Each unmatched item names the card masked, the terminal's STAN, the RRN and the amount.
  for (const auto& u : run.unmatched) {
    EXPECT_EQ(u.masked_pan, "476173******0010");
    EXPECT_FALSE(u.stan.empty());
    EXPECT_FALSE(u.rrn.empty());
  }
  const RouteReconciliation* b = FindRoute(run, "issuer-b", kUsd);
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(b->balanced());
  EXPECT_EQ(b->issuer_debit_minor, 5000);
  (void)other_route;

  // Once everything owed is acknowledged (and the in-flight one answered), the route balances.
  for (auto& r : recs) {
    if (r.id() == in_flight) {
      r.set_state(proto::TXN_ANSWERED);
      r.set_response_code("05");
    }
  }
  ev.pending.clear();
  ev.delivered = {Delivered(stand_in_told, "0220"),   Delivered(stand_in_untold, "0220"),
                  Delivered(completion_told, "0220"), Delivered(preauth_untold, "0120"),
                  Delivered(advice_refused, "0220"),  Delivered(reversed_pending, "0420"),
                  Delivered(voided_told, "0420"),     Delivered(timeout_pending, "0420"),
                  Delivered(timeout_told, "0420"),    Delivered(reversal_lost, "0420")};
  auto done = SettleRecords(f.Inputs(), recs, {}, ev).value();
  a = FindRoute(done, "issuer-a", kEur);
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(a->balanced()) << RenderIssuerReconciliationCsv(done);
  EXPECT_TRUE(done.unmatched.empty()) << RenderIssuerReconciliationCsv(done);
  EXPECT_EQ(a->issuer_debit_minor, a->switch_debit_minor);
}

TEST(IssuerReconciliationTest, AcknowledgementsAreRecordedInTheJournalByBusinessDate) {
  const std::string dir = TempDir();
  auto store = storage::Store::Open({.path = dir + "/store", .sync = false}).value();
  storage::Journal journal(*store, nullptr);
  storage::SafQueue saf(*store);
  Fixture f;
  f.book.versions["MERCHANT0000001"] = {Terms("MERCHANT0000001", {Schedule(kEur, 0)})};
  auto reversed = Rec(0, {.amount = 400, .state = proto::TXN_REVERSED});
  auto next_day = Rec(0, {.amount = 500, .state = proto::TXN_REVERSED, .date = "20261128"});
  ASSERT_FALSE(journal.AppendSync(reversed, ""));
  ASSERT_FALSE(journal.AppendSync(next_day, ""));
  auto e = Queued(reversed.id(), "0420");
  e.set_seq(saf.Enqueue(e).value());
  ASSERT_TRUE(saf.Enqueue(Queued(next_day.id(), "0420")));
  auto in = f.Inputs();
  in.store = store.get();
  auto before = Settle(in).value();
  ASSERT_EQ(before.unmatched.size(), 1U);
  EXPECT_THAT(before.unmatched[0].reason, HasSubstr("reversal queued"));

  // The SAF drainer's order: the acknowledgement recorded, then the entry removed.
  e.set_attempts(2);
  ASSERT_FALSE(journal.RecordDelivery(e, "00", 1'795'770'000'000'000));
  ASSERT_FALSE(saf.Acknowledge(e));
  auto delivered = storage::Journal::ListDeliveries(*store, "20261127").value();
  ASSERT_EQ(delivered.size(), 1U);
  EXPECT_EQ(delivered[0].txn_id(), reversed.id());
  EXPECT_EQ(delivered[0].message_type(), "0420");
  EXPECT_EQ(delivered[0].attempts(), 2U);
  EXPECT_TRUE(storage::Journal::ListDeliveries(*store, "20261128").value().empty());
  auto after = Settle(in).value();
  EXPECT_TRUE(after.unmatched.empty());
  EXPECT_EQ(after.routes.at(0).reversals_acknowledged, 1U);
  // Recorded twice (a crash between the two writes sends it again): still one.
  ASSERT_FALSE(journal.RecordDelivery(e, "00", 1'795'770'000'000'001));
  EXPECT_EQ(storage::Journal::ListDeliveries(*store, "20261127").value().size(), 1U);
  // Unknown transaction: kNotFound, nothing recorded.
  EXPECT_EQ(journal.RecordDelivery(Queued(424242, "0420"), "00", 1),
            storage::make_error_code(storage::Error::kNotFound));
  // Retention removes them with their records.
  EXPECT_EQ(journal.Prune("20261128").value(), 1U);
  EXPECT_TRUE(storage::Journal::ListDeliveries(*store, "20261127").value().empty());
  store.reset();
  fs::remove_all(dir);
}

TEST(IssuerReconciliationTest, FilesListEveryUnmatchedItemWithoutAClearPan) {
  Fixture f;
  f.book.versions["MERCHANT0000001"] = {Terms("MERCHANT0000001", {Schedule(kEur, 0)})};
  std::vector<proto::TransactionRecord> recs = {Rec(1, {.amount = 100, .stand_in = true}),
                                                Rec(2, {.amount = 200})};
  IssuerEvidence ev;
  ev.pending = {Queued(1, "0220")};
  auto run = SettleRecords(f.Inputs(), recs, {}, ev).value();
  auto files = RenderRun(run).value();
  ASSERT_TRUE(files.contains("issuer-reconciliation.csv"));
  ASSERT_TRUE(files.contains("reconciliation.json"));
  EXPECT_EQ(files["issuer-reconciliation.csv"],
            "business_date,route,currency,switch_debit_count,switch_debit_minor,"
            "switch_credit_count,switch_credit_minor,issuer_debit_count,issuer_debit_minor,"
            "issuer_credit_count,issuer_credit_minor,stand_in_count,advices_owed,"
            "advices_acknowledged,reversals_owed,reversals_acknowledged,unmatched,balanced\n"
            "20261127,issuer-a,978,2,300,0,0,1,200,0,0,1,1,0,0,0,1,no\n"
            "\n"
            "route,currency,txn_id,tid,mid,mti,processing_code,stan,rrn,masked_pan,amount_minor,"
            "message,reason\n"
            "issuer-a,978,1,TERM0001,MERCHANT0000001,0200,000000,100001,300000000001,"
            "476173******0010,100,0220,\"stand-in approval advice queued, not yet acknowledged: "
            "the issuer has not been told\"\n");
  const std::string& json = files["reconciliation.json"];
  EXPECT_THAT(json, HasSubstr("\"routes_unbalanced\": 1"));
  EXPECT_THAT(json, HasSubstr("\"unmatched\": 1"));
  EXPECT_THAT(json, HasSubstr("\"masked_pan\": \"476173******0010\""));
  // Deterministic: the same inputs render the same bytes.
  EXPECT_EQ(RenderRun(SettleRecords(f.Inputs(), recs, {}, ev).value()).value(), files);
}

}  // namespace
}  // namespace sy::server::settlement
