#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <latch>
#include <random>
#include <thread>

#include "crypto/digest.h"
#include "crypto/hex.h"
#include "crypto/tls_identity.h"
#include "proto/onboarding.pb.h"
#include "storage/registry.h"
#include "switch/admin/admin_api.h"
#include "switch/admin/admin_client.h"
#include "switch/admin/admin_http.h"

namespace sy::server::admin {
namespace {

namespace pb = google::protobuf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsSupersetOf;

constexpr std::string_view kAnn = "ann-reviewer-token";
constexpr std::string_view kBob = "bob-reviewer-token";
constexpr std::string_view kOps = "ops-operator-token";
constexpr std::string_view kAud = "aud-auditor-token";

std::string Digest(std::string_view token) {
  return crypto::ToHex(
      crypto::Sha256(std::span(reinterpret_cast<const std::uint8_t*>(token.data()), token.size())));
}

constexpr std::string_view kIndividual = R"({
  "type": "individual",
  "legal_name": "Zhang San",
  "id_document": {"type": "prc_resident_id", "number": "11010519491231002X"},
  "settlement_account": {"bank": "Bank of China", "account_name": "ZHANG  SAN",
                         "account_number": "6222 0212 3456 7890 128", "scheme": "card"},
  "mcc": "5411",
  "address": {"country": "CN", "region": "Beijing", "city": "Beijing", "line1": "1 Xidan St"},
  "contact": {"name": "Zhang San", "phone": "+86 138 0013 8000"}
})";

constexpr std::string_view kAgreementBody = R"({
  "effective_from": "20260301",
  "fees": [{"currency": 156, "rates": {"unionpay": 3800, "visa": 12500},
            "fixed_fee_minor": 0, "min_fee_minor": 0}],
  "settlement_cycle_days": 1,
  "deposit": {"amount_minor": 100000, "currency": 156},
  "signed_by": "Zhang San"
})";

template <class M>
M Parse(const std::string& json) {
  M m;
  const auto status = pb::util::JsonStringToMessage(json, &m);
  EXPECT_TRUE(status.ok()) << status.message() << "\n" << json;
  return m;
}

std::vector<std::string> Fields(const proto::ErrorBody& e) {
  std::vector<std::string> out;
  for (const auto& f : e.errors()) {
    out.push_back(f.field());
  }
  return out;
}

class AdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / ("sy-admin-" + std::to_string(rd()));
    store_ = storage::Store::Open({.path = (dir_ / "store").string()}).value();
    registry_ = std::make_unique<storage::Registry>(*store_);
    auto add = [&](const char* name, std::string_view token, const char* role) {
      auto* t = config_.add_tokens();
      t->set_name(name);
      t->set_token_sha256(Digest(token));
      t->set_role(role);
    };
    add("ann", kAnn, "reviewer");
    add("bob", kBob, "reviewer");
    add("ops", kOps, "operator");
    add("aud", kAud, "auditor");
    ASSERT_EQ(ResolveAdminConfig(config_, dir_.string()), "");
    api_ = std::make_unique<AdminApi>(config_, *registry_, clock_);
  }
  void TearDown() override {
    api_.reset();
    registry_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  HttpResponse Call(std::string_view method, std::string_view target, std::string_view token,
                    std::string_view body = {}) {
    Headers h;
    if (!token.empty()) {
      h["authorization"] = "Bearer " + std::string(token);
    }
    return api_->Handle(method, target, h, body);
  }

  // Submits the sample individual's application; its id.
  std::string SubmitSample() {
    auto r = Call("POST", "/v1/applications", kOps, kIndividual);
    EXPECT_EQ(r.status, 201) << r.body;
    return Parse<proto::ApplicationView>(r.body).application().id();
  }

  HttpResponse Move(std::string_view token, const std::string& id, std::string_view to,
                    std::uint64_t version, std::string_view reason = "",
                    std::string_view extra = "") {
    std::string body = R"({"to": ")" + std::string(to) + R"(", "version": )" +
                       std::to_string(version) + R"(, "reason": ")" + std::string(reason) + "\"" +
                       std::string(extra) + "}";
    return Call("POST", "/v1/applications/" + id + "/transitions", token, body);
  }

  proto::MerchantApplication Approve(const std::string& id) {
    EXPECT_EQ(Move(kAnn, id, "in_review", 1).status, 200);
    auto r = Move(kAnn, id, "approved", 2, "documents complete");
    EXPECT_EQ(r.status, 200) << r.body;
    return Parse<proto::ApplicationView>(r.body).application();
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<storage::Registry> registry_;
  proto::AdminConfig config_;
  // Monday 2 March 2026, 02:00 UTC.
  ManualClock clock_{std::chrono::sys_days(std::chrono::year(2026) / 3 / 2) +
                     std::chrono::hours(2)};
  std::unique_ptr<AdminApi> api_;
};

TEST(ResolveAdminConfigTest, FillsDefaultsAndNamesEveryBadToken) {
  proto::AdminConfig a;
  EXPECT_EQ(ResolveAdminConfig(a, "/var/sy"), "");
  EXPECT_EQ(a.address(), "127.0.0.1");
  EXPECT_EQ(a.port(), 9443U);
  EXPECT_EQ(a.certificate(), "/var/sy/tls/switch.crt");
  EXPECT_EQ(a.private_key(), "/var/sy/tls/switch.key");
  EXPECT_EQ(a.review_target_days(), 5U);
  auto* t = a.add_tokens();
  t->set_name("ann");
  t->set_token_sha256("secret");  // a token, not its digest
  t->set_role("admin");
  auto* u = a.add_tokens();
  u->set_name("ann");
  u->set_token_sha256(Digest("x"));
  u->set_role("auditor");
  const std::string problems = ResolveAdminConfig(a, "/var/sy");
  EXPECT_NE(problems.find("admin.tokens[0].token_sha256"), std::string::npos) << problems;
  EXPECT_NE(problems.find("admin.tokens[0].role"), std::string::npos) << problems;
  EXPECT_NE(problems.find("admin.tokens[1].name"), std::string::npos) << problems;
}

TEST_F(AdminApiTest, RefusesMissingAndUnknownTokensWith401AndWrongRolesWith403) {
  auto r = Call("GET", "/v1/applications", "");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Parse<proto::ErrorBody>(r.body).code(), "unauthenticated");
  r = Call("GET", "/v1/applications", "not-a-token-we-know");
  EXPECT_EQ(r.status, 401);
  r = api_->Handle("GET", "/v1/applications", {{"authorization", "Basic YW5uOnB3"}}, "");
  EXPECT_EQ(r.status, 401);
  // An auditor cannot submit, a reviewer cannot read the audit log, an operator cannot approve.
  r = Call("POST", "/v1/applications", kAud, kIndividual);
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(Parse<proto::ErrorBody>(r.body).code(), "forbidden");
  EXPECT_EQ(Call("GET", "/v1/audit", kAnn).status, 403);
  EXPECT_EQ(Call("POST", "/v1/terminals", kAnn, "{}").status, 403);
  const std::string id = SubmitSample();
  EXPECT_EQ(Move(kOps, id, "in_review", 1).status, 403);
  EXPECT_EQ(Move(kAud, id, "in_review", 1).status, 403);
  // Every role reads; health needs no token; unknown endpoints are 404 after authentication.
  EXPECT_EQ(Call("GET", "/v1/applications/" + id, kAud).status, 200);
  EXPECT_EQ(Call("GET", "/v1/health", "").status, 200);
  EXPECT_EQ(Call("GET", "/v1/nothing", kAud).status, 404);
  EXPECT_EQ(Call("GET", "/v1/nothing", "").status, 401);
  EXPECT_EQ(Call("DELETE", "/v1/applications/" + id, kOps).status, 405);
}

TEST_F(AdminApiTest, RefusesMalformedJsonAndUnknownFieldsNamingTheField) {
  auto r = Call("POST", "/v1/applications", kOps, R"({"type": "individual",)");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Parse<proto::ErrorBody>(r.body).code(), "bad_json");
  EXPECT_EQ(Call("POST", "/v1/applications", kOps, "").status, 400);
  EXPECT_EQ(Call("POST", "/v1/applications", kOps, R"({"mcc": 5411.5})").status, 400);

  r = Call("POST", "/v1/applications", kOps, R"({"type": "individual", "colour": "red"})");
  EXPECT_EQ(r.status, 400);
  auto e = Parse<proto::ErrorBody>(r.body);
  EXPECT_EQ(e.code(), "unknown_field");
  EXPECT_EQ(e.field(), "colour");
  r = Call("POST", "/v1/applications", kOps, R"({"address": {"planet": "Mars"}})");
  e = Parse<proto::ErrorBody>(r.body);
  EXPECT_EQ(e.code(), "unknown_field");
  EXPECT_EQ(e.field(), "address.planet");
  r = Call("POST", "/v1/merchants/MA0000000000001/agreements", kOps,
           R"({"fees": [{"currency": 156}, {"rates": {"visa": 1}, "bogus": 1}]})");
  e = Parse<proto::ErrorBody>(r.body);
  EXPECT_EQ(e.code(), "unknown_field");
  EXPECT_EQ(e.field(), "fees[1].bogus");
}

TEST_F(AdminApiTest, NamesEveryInvalidFieldOfAnApplication) {
  auto r = Call("POST", "/v1/applications", kOps, "{}");
  ASSERT_EQ(r.status, 400);
  auto e = Parse<proto::ErrorBody>(r.body);
  EXPECT_EQ(e.code(), "invalid_application");
  EXPECT_THAT(Fields(e),
              IsSupersetOf({"type", "legal_name", "id_document.number",
                            "settlement_account.account_number", "mcc", "address.country"}));
  // Check digits, enumerations and the individual's account name.
  std::string bad(kIndividual);
  bad.replace(bad.find("11010519491231002X"), 18, "110105194912310021");
  bad.replace(bad.find(R"("scheme": "card")"), 16, R"("scheme": "cheque")");
  bad.replace(bad.find("5411"), 4, "0000");
  r = Call("POST", "/v1/applications", kOps, bad);
  ASSERT_EQ(r.status, 400);
  e = Parse<proto::ErrorBody>(r.body);
  EXPECT_THAT(Fields(e), ElementsAre("settlement_account.scheme", "id_document.number", "mcc"));
  for (const auto& f : e.errors()) {
    EXPECT_FALSE(f.code().empty());
    EXPECT_FALSE(f.message().empty());
    // Personal data never comes back in an error.
    EXPECT_EQ(f.message().find("110105194912310021"), std::string::npos);
  }
}

TEST_F(AdminApiTest, WalksEveryAllowedTransitionAndRefusesTheOthers) {
  // submitted → in_review → more_info_requested → resubmitted → in_review → approved
  const std::string a = SubmitSample();
  auto view = Parse<proto::ApplicationView>(Call("GET", "/v1/applications/" + a, kAnn).body);
  EXPECT_EQ(view.application().state(), "submitted");
  EXPECT_EQ(view.application().version(), 1U);
  EXPECT_EQ(view.application().merchant_id().size(), 15U);
  EXPECT_EQ(Move(kAnn, a, "approved", 1).status, 409);  // no decision without review
  EXPECT_EQ(Move(kAnn, a, "in_review", 1).status, 200);
  auto r = Move(kAnn, a, "more_info_requested", 2);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Parse<proto::ErrorBody>(r.body).field(), "reason");
  EXPECT_EQ(Move(kAnn, a, "more_info_requested", 2, "licence photo unreadable").status, 200);
  // Resubmitting is the merchant's step (an operator for it), with amended fields validated.
  EXPECT_EQ(Move(kAnn, a, "resubmitted", 3).status, 403);
  r = Move(kOps, a, "resubmitted", 3, "", R"(, "fields": {"type": "individual"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Parse<proto::ErrorBody>(r.body).code(), "invalid_application");
  std::string amended(kIndividual);
  amended.replace(amended.find("1 Xidan St"), 10, "2 Xidan St");
  r = Move(kOps, a, "resubmitted", 3, "new photo", R"(, "fields": )" + amended);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Parse<proto::ApplicationView>(r.body).application().fields().address().line1(),
            "2 Xidan St");
  EXPECT_EQ(Move(kBob, a, "in_review", 4).status, 200);
  r = Move(kBob, a, "approved", 5, "ok");
  ASSERT_EQ(r.status, 200);
  view = Parse<proto::ApplicationView>(r.body);
  EXPECT_EQ(view.application().state(), "approved");
  EXPECT_EQ(view.application().version(), 6U);
  ASSERT_EQ(view.application().steps_size(), 6);
  EXPECT_EQ(view.application().steps(5).actor(), "bob");
  EXPECT_EQ(view.application().steps(2).reason(), "licence photo unreadable");
  // Approval writes the merchant record the pipeline reads.
  auto m = registry_->Get<proto::MerchantConfig>("merchant", view.application().merchant_id());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mcc(), "5411");
  // approved is final.
  r = Move(kAnn, a, "in_review", 6);
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(Parse<proto::ErrorBody>(r.body).code(), "transition_refused");
  EXPECT_EQ(Move(kOps, a, "withdrawn", 6, "changed mind").status, 409);

  // submitted → in_review → rejected (reason required)
  const std::string b = SubmitSample();
  EXPECT_EQ(Move(kAnn, b, "in_review", 1).status, 200);
  EXPECT_EQ(Move(kAnn, b, "rejected", 2).status, 400);
  EXPECT_EQ(Move(kAnn, b, "rejected", 2, "sanctions list").status, 200);
  // submitted → withdrawn (an operator for the merchant, reason required)
  const std::string c = SubmitSample();
  EXPECT_EQ(Move(kOps, c, "withdrawn", 1).status, 400);
  EXPECT_EQ(Move(kOps, c, "withdrawn", 1, "merchant withdrew").status, 200);
  // An unknown state and an unknown application.
  EXPECT_EQ(Move(kAnn, a, "pending", 6).status, 400);
  EXPECT_EQ(Move(kAnn, "APP-999999", "in_review", 1).status, 404);

  // The list by state, with business days waiting.
  clock_.Advance(std::chrono::days(7));  // the next Monday: 5 business days later
  const std::string d = SubmitSample();
  (void)d;
  r = Call("GET", "/v1/applications?state=rejected", kAud);
  auto list = Parse<proto::ApplicationList>(r.body);
  ASSERT_EQ(list.applications_size(), 1);
  EXPECT_EQ(list.applications(0).application().id(), b);
  EXPECT_EQ(list.applications(0).business_days_waiting(), 0);
  r = Call("GET", "/v1/applications", kAud);
  EXPECT_EQ(Parse<proto::ApplicationList>(r.body).applications_size(), 4);
  EXPECT_EQ(Call("GET", "/v1/applications?state=nope", kAud).status, 400);
}

TEST_F(AdminApiTest, BusinessDaysWaitingRunWhileTheAcquirerOwesTheMove) {
  const std::string a = SubmitSample();
  clock_.Advance(std::chrono::days(8));  // Tuesday of the next week: 6 business days
  auto view = Parse<proto::ApplicationView>(Call("GET", "/v1/applications/" + a, kAnn).body);
  EXPECT_EQ(view.business_days_waiting(), 6);
  EXPECT_TRUE(view.overdue());  // the target is 5
}

TEST_F(AdminApiTest, TheReviewQueueCountsWaitingAndOverdueApplications) {
  EXPECT_EQ(api_->Queue().waiting, 0U);
  const std::string a = SubmitSample();
  clock_.Advance(std::chrono::days(8));  // 6 business days: past the target of 5
  AdminApi::ReviewQueue q = api_->Queue();
  EXPECT_EQ(q.waiting, 1U);
  EXPECT_EQ(q.overdue, 1U);
  EXPECT_EQ(q.oldest_business_days, 6);
  Approve(a);  // decided: no longer waiting
  q = api_->Queue();
  EXPECT_EQ(q.waiting, 0U);
  EXPECT_EQ(q.overdue, 0U);
}

TEST_F(AdminApiTest, TwoReviewersOnOneVersionCannotBothSucceed) {
  const std::string a = SubmitSample();
  // Both read version 1; Ann moves first, Bob's step is stale.
  EXPECT_EQ(Move(kAnn, a, "in_review", 1).status, 200);
  auto r = Move(kBob, a, "in_review", 1);
  EXPECT_EQ(r.status, 409);
  auto e = Parse<proto::ErrorBody>(r.body);
  EXPECT_EQ(e.code(), "stale_version");
  EXPECT_EQ(e.field(), "version");
  // And at the same moment on two threads: one decision wins, the other is 409.
  std::latch start(2);
  int approve = 0;
  int reject = 0;
  std::thread t1([&] {
    start.arrive_and_wait();
    approve = Move(kAnn, a, "approved", 2, "ok").status;
  });
  std::thread t2([&] {
    start.arrive_and_wait();
    reject = Move(kBob, a, "rejected", 2, "no").status;
  });
  t1.join();
  t2.join();
  EXPECT_THAT((std::vector{approve, reject}), ::testing::UnorderedElementsAre(200, 409));
  auto view = Parse<proto::ApplicationView>(Call("GET", "/v1/applications/" + a, kAnn).body);
  EXPECT_EQ(view.application().version(), 3U);
}

TEST_F(AdminApiTest, ProvisionsTerminalsOnlyForApprovedMerchantsWithAnAgreementInForce) {
  const std::string a = SubmitSample();
  const std::string mid =
      Parse<proto::ApplicationView>(Call("GET", "/v1/applications/" + a, kOps).body)
          .application()
          .merchant_id();
  const std::string terminal = R"({"mid": ")" + mid +
                               R"(", "serial": "SN-1", "model": "A920",
                                  "key_scheme": "dukpt-tdes", "bdk_id": "bdk-demo"})";
  // Not approved yet: no agreement, no terminal.
  auto r = Call("POST", "/v1/merchants/" + mid + "/agreements", kOps, kAgreementBody);
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(Parse<proto::ErrorBody>(r.body).code(), "merchant_not_approved");
  r = Call("POST", "/v1/terminals", kOps, terminal);
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(Parse<proto::ErrorBody>(r.body).code(), "merchant_not_approved");
  EXPECT_EQ(Call("POST", "/v1/terminals", kOps,
                 R"({"mid": "NOSUCHMERCHANT1", "serial": "x", "model": "y",
                     "key_scheme": "master-session", "tmk_id": "tmk"})")
                .status,
            404);
  // Approved, but no agreement in force.
  Approve(a);
  r = Call("POST", "/v1/terminals", kOps, terminal);
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(Parse<proto::ErrorBody>(r.body).code(), "no_agreement");
  // An agreement that validates, then a terminal.
  r = Call("POST", "/v1/merchants/" + mid + "/agreements", kOps,
           R"({"effective_from": "20260301", "fees": [{"currency": 156, "rates": {"visa": -1}}]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(Fields(Parse<proto::ErrorBody>(r.body)), Contains("signed_by"));
  r = Call("POST", "/v1/merchants/" + mid + "/agreements", kOps, kAgreementBody);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Parse<proto::Agreement>(r.body).version(), 1U);
  r = Call("GET", "/v1/merchants/" + mid + "/agreements", kAud);
  EXPECT_EQ(Parse<proto::AgreementList>(r.body).in_force_version(), 1U);
  r = Call("POST", "/v1/terminals", kOps, terminal);
  ASSERT_EQ(r.status, 201) << r.body;
  auto t = Parse<proto::TerminalView>(r.body);
  EXPECT_EQ(t.tid(), "T0000001");
  EXPECT_EQ(t.status(), "provisioned");
  EXPECT_EQ(t.initial_ksn(), "FFFF0000000000200000");  // device 1 under key set FFFF000000
  // The record the pipeline loads at start.
  auto stored = registry_->Get<proto::TerminalProfile>("terminal", "T0000001");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->mid(), mid);
  EXPECT_EQ(stored->bdk_id(), "bdk-demo");
  // The same device twice is refused; the next one gets the next TID and device id.
  EXPECT_EQ(Call("POST", "/v1/terminals", kOps, terminal).status, 409);
  std::string second = terminal;
  second.replace(second.find("SN-1"), 4, "SN-2");
  t = Parse<proto::TerminalView>(Call("POST", "/v1/terminals", kOps, second).body);
  EXPECT_EQ(t.tid(), "T0000002");
  EXPECT_EQ(t.initial_ksn(), "FFFF0000000000400000");
  // Missing fields are all named.
  r = Call("POST", "/v1/terminals", kOps, R"({"key_scheme": "dukpt-aes"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(Fields(Parse<proto::ErrorBody>(r.body)),
              ElementsAre("mid", "serial", "model", "bdk_id"));
}

TEST_F(AdminApiTest, SuspendsReinstatesAndRetiresTerminals) {
  const std::string a = SubmitSample();
  const std::string mid = Approve(a).merchant_id();
  ASSERT_EQ(Call("POST", "/v1/merchants/" + mid + "/agreements", kOps, kAgreementBody).status, 201);
  ASSERT_EQ(Call("POST", "/v1/terminals", kOps,
                 R"({"mid": ")" + mid +
                     R"(", "tid": "SHOP0001", "serial": "SN-9", "model": "A920",
                        "key_scheme": "master-session", "tmk_id": "tmk-demo"})")
                .status,
            201);
  auto status = [&](std::string_view to, std::string_view reason) {
    return Call(
        "POST", "/v1/terminals/SHOP0001/status", kOps,
        R"({"status": ")" + std::string(to) + R"(", "reason": ")" + std::string(reason) + "\"}");
  };
  EXPECT_EQ(status("suspended", "").status, 400);
  EXPECT_EQ(status("active", "not suspended").status, 409);
  auto r = status("suspended", "chargebacks");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Parse<proto::TerminalView>(r.body).status(), "suspended");
  EXPECT_EQ(status("suspended", "again").status, 409);
  r = status("active", "cleared");
  ASSERT_EQ(r.status, 200);
  // It never signed on: back to provisioned, not active.
  EXPECT_EQ(Parse<proto::TerminalView>(r.body).status(), "provisioned");
  EXPECT_EQ(status("retired", "device lost").status, 200);
  EXPECT_EQ(status("active", "found it").status, 409);
  EXPECT_EQ(Parse<proto::TerminalView>(Call("GET", "/v1/terminals/SHOP0001", kAud).body).status(),
            "retired");
  EXPECT_EQ(Call("GET", "/v1/terminals/NOPE0001", kAud).status, 404);
}

TEST_F(AdminApiTest, AuditShowsEveryChangeWithActorBeforeAndAfter) {
  const std::string a = SubmitSample();
  ASSERT_EQ(Move(kAnn, a, "in_review", 1).status, 200);
  auto r = Call("GET", "/v1/audit?kind=application&id=" + a, kAud);
  ASSERT_EQ(r.status, 200) << r.body;
  auto list = Parse<proto::AuditList>(r.body);
  ASSERT_EQ(list.entries_size(), 2);
  const auto& first = list.entries(0);
  EXPECT_EQ(first.actor(), "ops");
  EXPECT_EQ(first.reason(), "submitted");
  EXPECT_TRUE(first.before().has_null_value());
  EXPECT_EQ(first.after().struct_value().fields().at("state").string_value(), "submitted");
  const auto& second = list.entries(1);
  EXPECT_EQ(second.actor(), "ann");
  EXPECT_EQ(second.reason(), "in_review");
  EXPECT_EQ(second.before().struct_value().fields().at("state").string_value(), "submitted");
  EXPECT_EQ(second.after().struct_value().fields().at("state").string_value(), "in_review");
  EXPECT_LT(first.seq(), second.seq());
  // Everything, or a kind.
  EXPECT_EQ(Parse<proto::AuditList>(Call("GET", "/v1/audit", kAud).body).entries_size(), 2);
  EXPECT_EQ(
      Parse<proto::AuditList>(Call("GET", "/v1/audit?kind=terminal", kAud).body).entries_size(), 0);
  EXPECT_EQ(Call("GET", "/v1/audit?id=" + a, kAud).status, 400);
}

TEST_F(AdminApiTest, ServesOverHttpsOnLoopback) {
  const std::string cert = (dir_ / "admin.crt").string();
  const std::string key = (dir_ / "admin.key").string();
  ASSERT_TRUE(crypto::WriteSelfSignedCertificate(cert, key, "switchyard", 2));
  proto::AdminConfig tls_config = config_;
  tls_config.set_certificate(cert);
  tls_config.set_private_key(key);
  boost::asio::io_context io;
  AdminHttp http(io.get_executor(), MakeAdminTlsContext(tls_config), *api_);
  ASSERT_FALSE(http.Start("127.0.0.1", 0));
  std::thread server([&] { io.run(); });
  const std::string url = "https://127.0.0.1:" + std::to_string(http.port());

  auto health = AdminClient({.url = url, .ca_file = cert}).Request("GET", "/v1/health");
  EXPECT_EQ(health.error, "");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(Parse<proto::Health>(health.body).status(), "ok");
  auto anonymous = AdminClient({.url = url, .ca_file = cert}).Request("GET", "/v1/applications");
  EXPECT_EQ(anonymous.status, 401);
  AdminClient ops({.url = url, .token = std::string(kOps), .ca_file = cert});
  auto submitted = ops.Request("POST", "/v1/applications", kIndividual);
  EXPECT_EQ(submitted.status, 201) << submitted.error << submitted.body;
  auto unknown = ops.Request("POST", "/v1/applications", R"({"colour": "red"})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(Parse<proto::ErrorBody>(unknown.body).field(), "colour");
  // A client that does not trust the certificate gets no answer.
  auto untrusted = AdminClient({.url = url}).Request("GET", "/v1/health");
  EXPECT_EQ(untrusted.status, 0);
  EXPECT_NE(untrusted.error, "");

  http.Stop();
  server.join();
  EXPECT_GE(http.stats().requests.load(), 4U);
}

}  // namespace
}  // namespace sy::server::admin
