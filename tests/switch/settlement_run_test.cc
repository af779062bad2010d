// Settlement runs (issue 8): the run as the CLI and the admin API both make it — recorded in the
// ledger whether it succeeds or fails, re-runs byte-identical and marked as such, one run at a
// time per output directory across threads and processes — the admin API's /v1/settlement-runs
// with its roles, 202/409 and lists, `switchyard settle` and `switchyard admin settlement`, and
// the ledger as metrics.

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "crypto/digest.h"
#include "crypto/hex.h"
#include "crypto/tls_identity.h"
#include "proto/onboarding.pb.h"
#include "storage/journal.h"
#include "storage/registry.h"
#include "storage/saf_queue.h"
#include "storage/store.h"
#include "switch/admin/admin_api.h"
#include "switch/admin/admin_client.h"
#include "switch/admin/admin_http.h"
#include "switch/admin/admin_settlement.h"
#include "switch/business_day.h"
#include "switch/settlement/run.h"

namespace sy::server::settlement {
namespace {

namespace fs = std::filesystem;
namespace pb = google::protobuf;

constexpr std::string_view kDate = "20261127";  // a Friday
constexpr std::string_view kOps = "ops-operator-token";
constexpr std::string_view kAnn = "ann-reviewer-token";

constexpr std::string_view kAgreements = R"(merchants:
  - mid: "MERCHANT0000001"
    versions:
      - version: 1
        effective_from: "20260101"
        cycle_days: 1
        fees:
          - {currency: 978, rates: {any: 1250}, fixed_fee_minor: 5}
  - mid: "MERCHANT0000002"
    versions:
      - version: 1
        effective_from: "20260101"
        cycle_days: 2
        fees:
          - {currency: 978, rates: {any: 2000}}
          - {currency: 840, rates: {any: 2000}}
)";

std::string Digest(std::string_view token) {
  return crypto::ToHex(
      crypto::Sha256(std::span(reinterpret_cast<const std::uint8_t*>(token.data()), token.size())));
}

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

template <class M>
M Parse(const std::string& json) {
  M m;
  const auto status = pb::util::JsonStringToMessage(json, &m);
  EXPECT_TRUE(status.ok()) << status.message() << "\n" << json;
  return m;
}

class SettlementRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / ("sy-settle-run-" + std::to_string(rd()));
    fs::create_directories(dir_);
    store_ = storage::Store::Open({.path = (dir_ / "store").string(), .sync = false}).value();
    journal_ = std::make_unique<storage::Journal>(*store_, nullptr);
    std::ofstream(dir_ / "agreements.yaml") << kAgreements;
    // A day: purchases of two merchants in two currencies, a refund, a reversed purchase whose
    // reversal is still queued, and a decline.
    Add("MERCHANT0000001", "0200", "000000", 10000, 978, "00", proto::TXN_ANSWERED);
    Add("MERCHANT0000001", "0200", "000000", 2550, 978, "00", proto::TXN_ANSWERED);
    Add("MERCHANT0000001", "0200", "200000", 500, 978, "00", proto::TXN_ANSWERED);
    Add("MERCHANT0000002", "0200", "000000", 7000, 840, "00", proto::TXN_ANSWERED);
    const auto reversed =
        Add("MERCHANT0000002", "0200", "000000", 900, 978, "00", proto::TXN_REVERSED);
    Add("MERCHANT0000002", "0200", "000000", 300, 978, "05", proto::TXN_ANSWERED);
    storage::SafQueue saf(*store_);
    proto::SafEntry e;
    e.set_destination("issuer-a");
    e.set_message_type("0420");
    e.set_reason_code("17");
    e.set_txn_id(reversed);
    ASSERT_TRUE(saf.Enqueue(e));
  }
  void TearDown() override {
    api_.reset();
    runs_.reset();
    registry_.reset();
    journal_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  std::uint64_t Add(const std::string& mid, const std::string& mti, const std::string& pc,
                    std::int64_t amount, std::uint32_t currency, const std::string& rc,
                    proto::TxnState state) {
    proto::TransactionRecord r;
    r.set_tid(mid == "MERCHANT0000001" ? "TERM0001" : "TERM0002");
    r.set_mid(mid);
    r.set_mti(mti);
    r.set_processing_code(pc);
    r.set_stan(std::to_string(100000 + ++stan_));
    r.set_transmission_time("1127090000");
    r.set_rrn(std::to_string(733100000000 + stan_));
    r.set_amount_minor(amount);
    r.set_currency(currency);
    r.set_response_code(rc);
    r.set_state(state);
    r.set_business_date(std::string(kDate));
    r.set_route("issuer-a");
    r.set_issuer_stan(r.stan());
    r.mutable_pan()->set_masked("476173******0010");
    EXPECT_FALSE(journal_->AppendSync(r, ""));
    return r.id();
  }

  RunRequest Request(std::string source = "cli", std::string by = "tester") {
    RunRequest req;
    req.store = store_.get();
    req.business_date = std::string(kDate);
    req.agreements_path = (dir_ / "agreements.yaml").string();
    req.source = std::move(source);
    req.by = std::move(by);
    req.now_micros = [this] { return now_ += 1000; };
    return req;
  }

  std::string Out() const { return (dir_ / "settlement").string(); }

  // The admin API with the settlement endpoints, over this fixture's store.
  void StartApi(WriteOptions write_options = {}) {
    registry_ = std::make_unique<storage::Registry>(*store_);
    auto add = [&](const char* name, std::string_view token, const char* role) {
      auto* t = admin_config_.add_tokens();
      t->set_name(name);
      t->set_token_sha256(Digest(token));
      t->set_role(role);
    };
    add("ops", kOps, "operator");
    add("ann", kAnn, "reviewer");
    ASSERT_EQ(admin::ResolveAdminConfig(admin_config_, dir_.string()), "");
    runs_ = std::make_unique<admin::SettlementApi>(
        admin::SettlementApiOptions{.store = store_.get(),
                                    .out_dir = Out(),
                                    .agreements = (dir_ / "agreements.yaml").string(),
                                    .now_micros = [this] { return now_ += 1000; },
                                    .write_options = std::move(write_options)});
    admin::AdminOptions options;
    options.settlement = runs_.get();
    api_ = std::make_unique<admin::AdminApi>(admin_config_, *registry_, clock_, options);
  }

  admin::HttpResponse Call(std::string_view method, std::string_view target, std::string_view token,
                           std::string_view body = {}) {
    admin::Headers h;
    if (!token.empty()) {
      h["authorization"] = "Bearer " + std::string(token);
    }
    return api_->Handle(method, target, h, body);
  }

  fs::path dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<storage::Journal> journal_;
  std::uint64_t stan_ = 0;
  std::atomic<std::int64_t> now_{1'795'770'000'000'000};
  proto::AdminConfig admin_config_;
  std::unique_ptr<storage::Registry> registry_;
  ManualClock clock_{std::chrono::sys_days(std::chrono::year(2026) / 11 / 28)};
  std::unique_ptr<admin::SettlementApi> runs_;
  std::unique_ptr<admin::AdminApi> api_;
};

// The admin API records agreements in the registry; a run settles a merchant by those versions
// (here MERCHANT0000002: 1.00 % + 0.10 instead of the file's 2.00 %), and by the file's for
// merchants the registry has none for (MERCHANT0000001). Without the file, the registry alone:
// a merchant with no agreement anywhere has its records held for review.
TEST_F(SettlementRunTest, SettlesByTheRegistrysAgreementsBeforeTheFiles) {
  storage::Registry registry(*store_);
  proto::Agreement a;
  a.set_merchant_id("MERCHANT0000002");
  a.set_version(1);
  a.set_effective_from("20260101");
  a.set_settlement_cycle_days(1);
  a.set_signed_by("Li Si");
  for (std::uint32_t currency : {978U, 840U}) {
    auto* f = a.add_fees();
    f->set_currency(currency);
    (*f->mutable_rates())["any"] = 10000;  // 1.00 % in hundredths of a basis point
    f->set_fixed_fee_minor(10);
  }
  ASSERT_FALSE(
      registry.Put("agreement", "MERCHANT0000002/000001", a, {.actor = "ops", .reason = "signed"}));
  {
    auto lock = RunLock::Acquire(Out(), false).value();
    RunOutcome with_file = RunSettlement(Request(), lock);
    ASSERT_FALSE(with_file.problem) << with_file.problem->Describe();
    ASSERT_TRUE(with_file.run);
    const Row* usd = nullptr;
    const Row* eur = nullptr;
    for (const auto& r : with_file.run->rows) {
      if (r.mid == "MERCHANT0000002" && r.currency == 840) {
        usd = &r;
      } else if (r.mid == "MERCHANT0000001" && r.currency == 978) {
        eur = &r;
      }
    }
    ASSERT_NE(usd, nullptr);
    EXPECT_EQ(usd->fees_minor, 70 + 10);  // 7000 at 1 % + 0.10
    EXPECT_EQ(usd->cycle_days, 1);        // the file says 2
    ASSERT_NE(eur, nullptr);
    EXPECT_EQ(eur->agreement_version, 1U);  // from the file
  }
  fs::remove(dir_ / "agreements.yaml");
  fs::remove_all(Out());
  auto lock = RunLock::Acquire(Out(), false).value();
  RunOutcome registry_only = RunSettlement(Request(), lock);
  ASSERT_FALSE(registry_only.problem) << registry_only.problem->Describe();
  ASSERT_TRUE(registry_only.run);
  // MERCHANT0000001 has no agreement anywhere now: its records are held for review, not settled.
  bool settled_m1 = false;
  for (const auto& r : registry_only.run->rows) {
    settled_m1 = settled_m1 || (r.mid == "MERCHANT0000001" && r.agreement_version != 0);
  }
  EXPECT_FALSE(settled_m1);
  std::size_t held = 0;
  for (const auto& e : registry_only.run->exceptions) {
    if (e.kind == "held" && e.mid == "MERCHANT0000001") {
      ++held;
      EXPECT_NE(e.reason.find("no agreement"), std::string::npos) << e.reason;
    }
  }
  EXPECT_EQ(held, 3U);  // two purchases and the refund
}

TEST_F(SettlementRunTest, RecordsEachRunAndMarksAnIdenticalReRun) {
  auto lock = RunLock::Acquire(Out(), false).value();
  RunOutcome first = RunSettlement(Request(), lock);
  ASSERT_FALSE(first.problem) << first.problem->Describe();
  const proto::SettlementRunRecord& a = first.record;
  EXPECT_EQ(a.run_id(), "20261127-1");
  EXPECT_EQ(a.result(), "ok");
  EXPECT_EQ(a.source(), "cli");
  EXPECT_EQ(a.by(), "tester");
  EXPECT_FALSE(a.rerun());
  EXPECT_EQ(a.records_read(), 6U);
  EXPECT_EQ(a.records_settled(), 4U);
  EXPECT_EQ(a.rows(), 2U);  // MERCHANT0000001/978, MERCHANT0000002/840 (its 978 ones do not count)
  EXPECT_GT(a.duration_micros(), 0);
  EXPECT_EQ(a.finished_micros() - a.started_micros(), a.duration_micros());
  // Control totals per currency, to the minor unit: 978 gross 12550, refunds 500.
  ASSERT_EQ(a.totals_size(), 2);
  EXPECT_EQ(a.totals(0).currency(), 840U);
  EXPECT_EQ(a.totals(0).gross_minor(), 7000);
  EXPECT_EQ(a.totals(1).currency(), 978U);
  EXPECT_EQ(a.totals(1).gross_minor(), 12550);
  EXPECT_EQ(a.totals(1).refund_minor(), 500);
  // The reversal still queued is unmatched at the issuer.
  EXPECT_EQ(a.unmatched_issuer_items(), 1U);
  // Every file written, with its digest as its sidecar has it.
  ASSERT_GE(a.files_size(), 7);
  for (const auto& f : a.files()) {
    const std::string sidecar =
        Slurp(fs::path(Out()) / std::string(kDate) / (f.name() + ".sha256"));
    EXPECT_EQ(sidecar.substr(0, 64), f.sha256()) << f.name();
    EXPECT_EQ(Sha256Hex(Slurp(fs::path(Out()) / std::string(kDate) / f.name())), f.sha256());
  }

  const std::string before = Slurp(fs::path(Out()) / std::string(kDate) / "settlement.json");
  RunOutcome second = RunSettlement(Request("api", "ops"), lock);
  ASSERT_FALSE(second.problem);
  EXPECT_EQ(second.record.run_id(), "20261127-2");
  EXPECT_TRUE(second.record.rerun());
  EXPECT_TRUE(second.record.identical_to_previous());
  EXPECT_EQ(Slurp(fs::path(Out()) / std::string(kDate) / "settlement.json"), before);

  // A new record of the date: the re-run is recorded as one whose files changed.
  Add("MERCHANT0000001", "0200", "000000", 1, 978, "00", proto::TXN_ANSWERED);
  RunOutcome third = RunSettlement(Request(), lock);
  ASSERT_FALSE(third.problem);
  EXPECT_TRUE(third.record.rerun());
  EXPECT_FALSE(third.record.identical_to_previous());

  const auto ledger = ReadLedger(Out());
  ASSERT_EQ(ledger.size(), 3U);
  EXPECT_EQ(ledger[0].run_id(), "20261127-1");
  EXPECT_EQ(ledger[1].source(), "api");
  EXPECT_EQ(ledger[2].records_read(), 7U);
  // Files hold no wall-clock time: only the ledger does.
  for (const auto& f : a.files()) {
    EXPECT_EQ(Slurp(fs::path(Out()) / std::string(kDate) / f.name()).find("1795770"),
              std::string::npos)
        << f.name();
  }
}

TEST_F(SettlementRunTest, RecordsAFailedRunWithItsReason) {
  auto lock = RunLock::Acquire(Out(), false).value();
  std::ofstream(dir_ / "agreements.yaml") << "merchants: [{mid: M, colour: red}]\n";
  RunOutcome o = RunSettlement(Request(), lock);
  ASSERT_TRUE(o.problem);
  EXPECT_EQ(o.problem->code, make_error_code(Error::kBadAgreements));
  EXPECT_EQ(o.record.result(), "failed");
  EXPECT_NE(o.record.error().find("colour"), std::string::npos) << o.record.error();
  // A store that could not be opened is recorded too, and so is a file that cannot be written.
  RunRequest no_store = Request();
  no_store.store = nullptr;
  no_store.store_error = "lock held by another process";
  EXPECT_NE(RunSettlement(no_store, lock).record.error().find("lock held"), std::string::npos);
  std::ofstream(dir_ / "agreements.yaml") << kAgreements;
  RunRequest crash = Request();
  crash.write_options.before_rename = [](std::string_view) { return false; };
  EXPECT_EQ(RunSettlement(crash, lock).record.result(), "failed");
  const auto ledger = ReadLedger(Out());
  ASSERT_EQ(ledger.size(), 3U);
  for (const auto& r : ledger) {
    EXPECT_EQ(r.result(), "failed");
  }
  // A later successful run is not a re-run: none succeeded before it.
  RunOutcome ok = RunSettlement(Request(), lock);
  EXPECT_EQ(ok.record.run_id(), "20261127-4");
  EXPECT_FALSE(ok.record.rerun());
  const LedgerSummary s = Summarize(ReadLedger(Out()));
  EXPECT_EQ(s.ok, 1U);
  EXPECT_EQ(s.failed, 3U);
  EXPECT_EQ(s.last_success_date, kDate);
  EXPECT_DOUBLE_EQ(s.last_duration_seconds, ok.record.duration_micros() / 1e6);
}

TEST_F(SettlementRunTest, ATornLedgerLineIsSkippedAndTheNextRecordStaysWhole) {
  auto lock = RunLock::Acquire(Out(), false).value();
  ASSERT_FALSE(RunSettlement(Request(), lock).problem);
  // A crash mid-append leaves half a line without its newline.
  { std::ofstream(fs::path(Out()) / "runs.jsonl", std::ios::app) << R"({"run_id": "2026112)"; }
  EXPECT_EQ(ReadLedger(Out()).size(), 1U);
  ASSERT_FALSE(RunSettlement(Request(), lock).problem);
  const auto ledger = ReadLedger(Out());
  ASSERT_EQ(ledger.size(), 2U);
  EXPECT_EQ(ledger[1].run_id(), "20261127-2");
}

TEST_F(SettlementRunTest, OneRunAtATimePerDirectoryAcrossThreadsAndProcesses) {
  // Another process is refused while this one holds it, and takes it once it is released.
  auto try_in_child = [&] {
    const pid_t pid = fork();
    if (pid == 0) {
      auto l = RunLock::Acquire(Out(), false);
      _exit(l ? 0 : (l.error().code == make_error_code(Error::kBusy) ? 3 : 4));
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  {
    auto held = RunLock::Acquire(Out(), false);
    ASSERT_TRUE(held);
    auto second = RunLock::Acquire(Out(), false);  // another thread's attempt, as the API's
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, make_error_code(Error::kBusy));
    EXPECT_EQ(try_in_child(), 3);
  }
  EXPECT_EQ(try_in_child(), 0);
  // A holder killed with SIGKILL leaves the directory free.
  const pid_t pid = fork();
  if (pid == 0) {
    auto l = RunLock::Acquire(Out(), /*wait=*/true);
    pause();
    _exit(0);
  }
  for (int i = 0; i < 200 && RunLock::Acquire(Out(), false); ++i) {
    usleep(10000);  // until the child holds it
  }
  EXPECT_FALSE(RunLock::Acquire(Out(), false));
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  EXPECT_TRUE(RunLock::Acquire(Out(), false));
}

TEST_F(SettlementRunTest, TheApiStartsARunForAnOperatorAndListsWhatIsRecorded) {
  StartApi();
  const std::string body = R"({"business_date": "20261127"})";
  EXPECT_EQ(Call("POST", "/v1/settlement-runs", "", body).status, 401);
  auto reviewer = Call("POST", "/v1/settlement-runs", kAnn, body);
  EXPECT_EQ(reviewer.status, 403) << reviewer.body;
  auto unknown = Call("POST", "/v1/settlement-runs", kOps, R"({"date": "20261127"})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(Parse<proto::ErrorBody>(unknown.body).field(), "date");
  auto bad = Call("POST", "/v1/settlement-runs", kOps, R"({"business_date": "20261131"})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(Parse<proto::ErrorBody>(bad.body).field(), "business_date");
  EXPECT_EQ(Call("POST", "/v1/settlement-runs", kOps, "{}").status, 400);
  EXPECT_EQ(Call("DELETE", "/v1/settlement-runs", kOps).status, 405);

  auto started = Call("POST", "/v1/settlement-runs", kOps, body);
  ASSERT_EQ(started.status, 202) << started.body;
  const auto shown = Parse<proto::SettlementRunAnswer>(started.body).run();
  EXPECT_EQ(shown.run_id(), "20261127-1");
  EXPECT_EQ(shown.by(), "ops");
  runs_->WaitIdle();
  auto listed = Call("GET", "/v1/settlement-runs/20261127", kAnn);  // every role reads
  ASSERT_EQ(listed.status, 200) << listed.body;
  auto list = Parse<proto::SettlementRunList>(listed.body);
  ASSERT_EQ(list.runs_size(), 1);
  EXPECT_EQ(list.runs(0).result(), "ok");
  EXPECT_EQ(list.runs(0).source(), "api");
  EXPECT_EQ(list.runs(0).by(), "ops");
  EXPECT_EQ(list.runs(0).records_settled(), 4U);
  // The same directory layout as the CLI's.
  EXPECT_TRUE(fs::exists(fs::path(Out()) / "20261127" / "settlement-20261130.txt"));
  EXPECT_TRUE(fs::exists(fs::path(Out()) / "20261127" / "issuer-reconciliation.csv"));

  // A re-run: byte-identical, recorded as such.
  const std::string before = Slurp(fs::path(Out()) / "20261127" / "settlement.csv");
  ASSERT_EQ(Call("POST", "/v1/settlement-runs", kOps, body).status, 202);
  runs_->WaitIdle();
  list = Parse<proto::SettlementRunList>(Call("GET", "/v1/settlement-runs", kAnn).body);
  ASSERT_EQ(list.runs_size(), 2);
  EXPECT_TRUE(list.runs(1).rerun());
  EXPECT_TRUE(list.runs(1).identical_to_previous());
  EXPECT_EQ(Slurp(fs::path(Out()) / "20261127" / "settlement.csv"), before);

  EXPECT_EQ(Call("GET", "/v1/settlement-runs/20261126", kAnn).status, 404);
  EXPECT_EQ(Call("GET", "/v1/settlement-runs/2026-11-27", kAnn).status, 400);
  EXPECT_EQ(Parse<proto::SettlementRunList>(
                Call("GET", "/v1/settlement-runs?business_date=20261126", kAnn).body)
                .runs_size(),
            0);
  const admin::SettlementMetrics m = runs_->Metrics();
  EXPECT_EQ(m.ledger.ok, 2U);
  EXPECT_EQ(m.ledger.failed, 0U);
  EXPECT_EQ(m.ledger.last_success_date, "20261127");
  EXPECT_FALSE(m.running);
}

TEST_F(SettlementRunTest, ASecondRunWhileOneIsInProgressIsRefusedWith409) {
  // The run stops before its first rename until the test lets it go on.
  std::promise<void> reached;
  std::promise<void> go;
  auto go_future = go.get_future().share();
  std::atomic<bool> first{true};
  StartApi({.before_rename = [&, go_future](std::string_view) {
    if (first.exchange(false)) {
      reached.set_value();
      go_future.wait();
    }
    return true;
  }});
  const std::string body = R"({"business_date": "20261127"})";
  ASSERT_EQ(Call("POST", "/v1/settlement-runs", kOps, body).status, 202);
  reached.get_future().wait();
  // In progress: listed as running; a second POST, of any date, is refused.
  auto list = Parse<proto::SettlementRunList>(Call("GET", "/v1/settlement-runs", kOps).body);
  ASSERT_EQ(list.runs_size(), 1);
  EXPECT_EQ(list.runs(0).result(), "running");
  EXPECT_TRUE(runs_->Metrics().running);
  auto again = Call("POST", "/v1/settlement-runs", kOps, body);
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_NE(again.body.find("20261127-1"), std::string::npos) << again.body;
  EXPECT_EQ(Call("POST", "/v1/settlement-runs", kOps, R"({"business_date": "20261128"})").status,
            409);
  // The CLI beside it waits for the directory, then runs: the two never interleave.
  std::ostringstream out, err;
  std::istringstream in;
  cli::Io io{in, out, err};
  std::thread cli_run([&] {
    // The CLI opens the store as a secondary instance, as beside a running switch.
    const std::string data = dir_.string();
    const std::string args[] = {"--data", data, "--date", "20261127"};
    std::vector<std::string_view> a(std::begin(args), std::end(args));
    EXPECT_EQ(cli::RunSettle(a, io), cli::kExitOk) << err.str();
  });
  for (int i = 0; i < 500 && err.str().find("waiting") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(err.str().find("waiting"), std::string::npos) << err.str();
  go.set_value();
  runs_->WaitIdle();
  cli_run.join();
  const auto ledger = ReadLedger(Out());
  ASSERT_EQ(ledger.size(), 2U);
  EXPECT_EQ(ledger[0].source(), "api");
  EXPECT_EQ(ledger[0].run_id(), "20261127-1");
  EXPECT_EQ(ledger[1].source(), "cli");
  EXPECT_EQ(ledger[1].run_id(), "20261127-2");
  EXPECT_TRUE(ledger[1].identical_to_previous());
  EXPECT_LE(ledger[0].finished_micros(), ledger[1].started_micros());
  // While the CLI (another process, here a held lock) runs, the API refuses.
  {
    auto held = RunLock::Acquire(Out(), false).value();
    auto busy = Call("POST", "/v1/settlement-runs", kOps, body);
    EXPECT_EQ(busy.status, 409);
    EXPECT_NE(busy.body.find("switchyard settle"), std::string::npos) << busy.body;
  }
  EXPECT_EQ(runs_->Metrics().refused, 3U);
}

TEST_F(SettlementRunTest, TheAdminCommandRunsListsAndShowsOverHttps) {
  StartApi();
  const std::string cert = (dir_ / "admin.crt").string();
  const std::string key = (dir_ / "admin.key").string();
  ASSERT_TRUE(crypto::WriteSelfSignedCertificate(cert, key, "switchyard", 2));
  proto::AdminConfig tls = admin_config_;
  tls.set_certificate(cert);
  tls.set_private_key(key);
  boost::asio::io_context io_context;
  admin::AdminHttp http(io_context.get_executor(), admin::MakeAdminTlsContext(tls), *api_);
  ASSERT_FALSE(http.Start("127.0.0.1", 0));
  std::thread server([&] { io_context.run(); });
  const std::string url = "https://127.0.0.1:" + std::to_string(http.port());
  std::ofstream(dir_ / "ops.token") << kOps << "\n";
  auto admin_cmd = [&](std::vector<std::string> words, std::string& out_text) {
    std::vector<std::string> args = {"--url", url, "--token-file", (dir_ / "ops.token").string(),
                                     "--ca",  cert};
    args.insert(args.end(), words.begin(), words.end());
    std::vector<std::string_view> a(args.begin(), args.end());
    std::ostringstream out, err;
    std::istringstream in;
    cli::Io io{in, out, err};
    const int rc = cli::RunAdmin(a, io);
    out_text = out.str() + err.str();
    return rc;
  };
  std::string text;
  EXPECT_EQ(admin_cmd({"settlement", "run", "20261127"}, text), cli::kExitOk) << text;
  EXPECT_NE(text.find("20261127-1  ok  by ops (api)"), std::string::npos) << text;
  EXPECT_NE(text.find("currency 978"), std::string::npos) << text;
  EXPECT_NE(text.find("settlement.csv"), std::string::npos) << text;
  EXPECT_EQ(admin_cmd({"settlement", "run", "20261127"}, text), cli::kExitOk) << text;
  EXPECT_NE(text.find("re-run, identical files"), std::string::npos) << text;
  EXPECT_EQ(admin_cmd({"settlement", "list"}, text), cli::kExitOk) << text;
  EXPECT_NE(text.find("20261127-2"), std::string::npos) << text;
  EXPECT_EQ(admin_cmd({"settlement", "show", "20261127", "--json"}, text), cli::kExitOk) << text;
  EXPECT_EQ(Parse<proto::SettlementRunList>(text).runs_size(), 2);
  EXPECT_EQ(admin_cmd({"settlement", "show", "20261101"}, text), cli::kExitFailure) << text;
  EXPECT_NE(text.find("404 not_found"), std::string::npos) << text;
  EXPECT_EQ(admin_cmd({"settlement", "run"}, text), cli::kExitUsage) << text;
  http.Stop();
  server.join();
}

}  // namespace
}  // namespace sy::server::settlement
