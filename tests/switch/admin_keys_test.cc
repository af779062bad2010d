// Terminal maintenance through the admin API against a real key store, registry, journal and
// pipeline in one process: key material for the key-injection facility (TR-31 blocks under a
// transport key, XOR components under dual control), key rotation and what the running switch
// does with it, last seen and software versions, transaction look-up and BIN routes.

#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <filesystem>
#include <random>

#include "crypto/digest.h"
#include "crypto/dukpt_aes.h"
#include "crypto/dukpt_tdes.h"
#include "crypto/hex.h"
#include "crypto/kcv.h"
#include "crypto/mac.h"
#include "crypto/master_session.h"
#include "crypto/tr31.h"
#include "iso8583/codec.h"
#include "iso8583/mac_slot.h"
#include "proto/onboarding.pb.h"
#include "routing/bin_router.h"
#include "storage/journal.h"
#include "storage/registry.h"
#include "switch/admin/admin_api.h"
#include "switch/config.h"
#include "switch/pipeline.h"

namespace sy::server::admin {
namespace {

namespace asio = boost::asio;
namespace pb = google::protobuf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kOps = "ops-operator-token";
constexpr std::string_view kVic = "vic-operator-token";
constexpr std::string_view kAnn = "ann-reviewer-token";
constexpr std::string_view kAud = "aud-auditor-token";

// TEST keys.
constexpr std::string_view kBdk = "0123456789ABCDEFFEDCBA9876543210";     // X9.24-1 A.4
constexpr std::string_view kAesBdk = "FEDCBA9876543210F1F1F1F1F1F1F1F1";  // X9.24-3 supplement
constexpr std::string_view kTmk = "89ABCDEF0123456776543210FEDCBA98";
constexpr std::string_view kKekAes = "00112233445566778899AABBCCDDEEFF";
constexpr std::string_view kKekTdes = "0F1E2D3C4B5A69788796A5B4C3D2E1F0";

constexpr std::string_view kTdesKsn = "FFFF0000000000200000";  // device 1 under FFFF000000
constexpr std::string_view kAesKsn = "123456780000000100000000";

crypto::SecretBytes Key(std::string_view hex) { return crypto::SecretFromHex(hex).value(); }

std::string Digest(std::string_view token) {
  return crypto::ToHex(
      crypto::Sha256(std::span(reinterpret_cast<const std::uint8_t*>(token.data()), token.size())));
}

template <class M>
M Parse(const std::string& json) {
  M m;
  const auto status = pb::util::JsonStringToMessage(json, &m);
  EXPECT_TRUE(status.ok()) << status.message() << "\n" << json;
  return m;
}

std::string ErrorCode(const HttpResponse& r) { return Parse<proto::ErrorBody>(r.body).code(); }

class NoIssuer final : public IssuerGateway {
 public:
  asio::awaitable<Outcome> Send(std::string, iso8583::Message) override {
    co_return Outcome{std::nullopt, Failure::kDown};
  }
};

class AdminKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / ("sy-admin-keys-" + std::to_string(rd()));
    store_ = storage::Store::Open({.path = (dir_ / "store").string()}).value();
    registry_ = std::make_unique<storage::Registry>(*store_);
    pans_ = std::make_unique<crypto::PanProtector>(
        crypto::PanProtector::Create("data-test", crypto::SecretBytes(32)).value());
    journal_ = std::make_unique<storage::Journal>(*store_, pans_.get());
    saf_ = std::make_unique<storage::SafQueue>(*store_);
    keys_ = std::make_unique<crypto::SoftwareKeyStore>(crypto::SecretBytes(32));
    using crypto::KeyAlgorithm;
    using crypto::KeyKind;
    ASSERT_TRUE(keys_->AddKey("bdk-1", KeyKind::kBdk, KeyAlgorithm::kTdes, Key(kBdk)));
    ASSERT_TRUE(keys_->AddKey("bdk-aes", KeyKind::kBdk, KeyAlgorithm::kAes, Key(kAesBdk)));
    ASSERT_TRUE(keys_->AddKey("tmk-1", KeyKind::kTmk, KeyAlgorithm::kTdes, Key(kTmk)));
    ASSERT_TRUE(keys_->AddKey("kek-aes", KeyKind::kKek, KeyAlgorithm::kAes, Key(kKekAes)));
    ASSERT_TRUE(keys_->AddKey("kek-tdes", KeyKind::kKek, KeyAlgorithm::kTdes, Key(kKekTdes)));
    ASSERT_TRUE(keys_->AddKey("zpk-issuer-a", KeyKind::kZpk, KeyAlgorithm::kTdes, Key(kTmk)));

    std::vector<std::string> problems;
    config_ = LoadConfig("", problems).value();
    bins_ = std::make_unique<routing::BinRouter>(BuildBinTable(config_).value());
    const auto add_token = [&](const char* name, std::string_view token, const char* role) {
      auto* t = admin_.add_tokens();
      t->set_name(name);
      t->set_token_sha256(Digest(token));
      t->set_role(role);
    };
    add_token("ops", kOps, "operator");
    add_token("vic", kVic, "operator");
    add_token("ann", kAnn, "reviewer");
    add_token("aud", kAud, "auditor");
    admin_.set_terminal_software_minimum("2.4.0");
    admin_.set_key_transport_key_id("kek-aes");
    ASSERT_EQ(ResolveAdminConfig(admin_, dir_.string()), "");

    proto::MerchantConfig m;
    m.set_mid("MERCHANT0000001");
    m.set_name("Test shop");
    ASSERT_FALSE(registry_->Put("merchant", m.mid(), m, {.actor = "test"}));
    PutTerminal("TDES0001", "dukpt-tdes", "bdk-1", std::string(kTdesKsn), "");
    PutTerminal("AES00001", "dukpt-aes", "bdk-aes", std::string(kAesKsn), "");
    PutTerminal("MAST0001", "master-session", "", "", "tmk-1");
    StartPipeline();
    StartApi();
  }

  void TearDown() override {
    api_.reset();
    pipeline_.reset();
    journal_.reset();
    saf_.reset();
    registry_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void PutTerminal(const std::string& tid, const std::string& scheme, const std::string& bdk,
                   const std::string& ksn, const std::string& tmk) {
    proto::TerminalProfile t;
    t.set_tid(tid);
    t.set_mid("MERCHANT0000001");
    t.set_key_scheme(scheme);
    t.set_bdk_id(bdk);
    t.set_initial_ksn(ksn);
    t.set_tmk_id(tmk);
    t.set_serial("SN-" + tid);
    t.set_model("A920");
    t.set_status("provisioned");
    ASSERT_FALSE(registry_->Put("terminal", tid, t, {.actor = "test", .reason = "provisioned"}));
  }

  void StartPipeline() {
    pipeline_ = std::make_unique<Pipeline>(
        io_.get_executor(),
        Pipeline::Deps{&config_, keys_.get(), journal_.get(), saf_.get(), store_.get(), bins_.get(),
                       &issuer_, &clock_, registry_.get()},
        "iso87b", 2);
  }

  void StartApi() {
    api_ = std::make_unique<AdminApi>(
        admin_, *registry_, clock_,
        AdminOptions{.live_status =
                         [this](const std::string& tid) { return pipeline_->TerminalStatus(tid); },
                     .terminal_changed =
                         [this](const proto::TerminalProfile& t) { pipeline_->UpsertTerminal(t); },
                     .was_activated =
                         [this](const std::string& tid) { return pipeline_->WasActivated(tid); },
                     .keys = keys_.get(),
                     .save_keys =
                         [this] {
                           saved_keys_ = keys_->Serialize();
                           return save_error_;
                         },
                     .seen =
                         [this](const std::string& tid) {
                           auto s = pipeline_->LastSeen(tid);
                           return TerminalSeen{s.last_seen_micros, s.software_version};
                         },
                     .journal = journal_.get(),
                     .bins = [this] { return bins_->Snapshot()->entries(); }});
  }

  HttpResponse Call(std::string_view method, std::string_view target, std::string_view token,
                    std::string_view body = {}) {
    Headers h;
    if (!token.empty()) {
      h["authorization"] = "Bearer " + std::string(token);
    }
    return api_->Handle(method, target, h, body);
  }

  proto::TerminalView Terminal(const std::string& tid) {
    auto r = Call("GET", "/v1/terminals/" + tid, kAud);
    EXPECT_EQ(r.status, 200) << r.body;
    return Parse<proto::TerminalView>(r.body);
  }

  // A TDES DUKPT terminal's sign-on at `counter`, MACed with keys derived from `ipek` as the
  // terminal derives them (ANSI X9.24-1 terminal side), with field 48 when `version` is set.
  std::string SignOn(const std::string& tid, const crypto::SecretBytes& ipek,
                     const std::string& initial_ksn, std::uint32_t counter,
                     std::string_view version = {}) {
    auto terminal = crypto::TdesDukptTerminal::Load(ipek, crypto::FromHex(initial_ksn).value());
    EXPECT_TRUE(terminal.has_value());
    while (terminal && terminal->counter() < counter) {
      EXPECT_TRUE(terminal->Advance().has_value());
    }
    iso8583::Message m;
    m.SetMti("0800");
    m.Set(7, "1127090000");
    char stan[8];
    std::snprintf(stan, sizeof(stan), "%06u", ++stan_);
    m.Set(11, stan);
    m.Set(41, tid);
    m.Set(70, "001");
    if (!version.empty()) {
      m.Set(48, version);
    }
    const std::string ksn_hex = crypto::ToHex(terminal->ksn());
    m.Set(62, ksn_hex);
    const auto key =
        crypto::ApplyTdesVariant(terminal->transaction_key(), crypto::TdesDukptVariant::kMacRequest)
            .value();
    std::string out;
    auto fn = [&](std::span<const std::uint8_t> data, std::array<std::uint8_t, 8>& mac) {
      auto r = crypto::RetailMac(key, data, crypto::MacPadding::kMethod1);
      if (r) {
        mac = *r;
      }
      return r.has_value();
    };
    EXPECT_TRUE(iso8583::PackWithMac(*dialect_, m, fn, out).has_value());
    return out;
  }

  // Field 39 of the pipeline's answer to `wire`.
  std::string Send(const std::string& wire) {
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
    if (!out.message) {
      return "no answer";
    }
    answers_.push_back(*out.message);
    iso8583::Message m;
    EXPECT_TRUE(iso8583::Unpack(*dialect_, answers_.back(), m).has_value());
    return std::string(m.Get(39));
  }

  void RunShards() {
    io_.restart();
    io_.run();
  }

  // Everything submitted to the store before is durable when this returns (the writer keeps
  // submission order).
  void Barrier() {
    std::vector<storage::Mutation> w;
    w.push_back({storage::Cf::kMeta, "test/barrier", "1"});
    ASSERT_FALSE(store_->Write(std::move(w)));
  }

  // The reasons of a record's audit entries.
  std::vector<std::string> Reasons(const std::string& kind, const std::string& id) {
    auto r = Call("GET", "/v1/audit?kind=" + kind + "&id=" + id, kAud);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<std::string> out;
    const auto list = Parse<proto::AuditList>(r.body);
    for (const auto& e : list.entries()) {
      out.push_back(e.reason());
    }
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<storage::Registry> registry_;
  std::unique_ptr<crypto::PanProtector> pans_;
  std::unique_ptr<storage::Journal> journal_;
  std::unique_ptr<storage::SafQueue> saf_;
  std::unique_ptr<crypto::SoftwareKeyStore> keys_;
  std::unique_ptr<routing::BinRouter> bins_;
  proto::SwitchConfig config_;
  proto::AdminConfig admin_;
  // Monday 2 March 2026, 02:00 UTC.
  ManualClock clock_{std::chrono::sys_days(std::chrono::year(2026) / 3 / 2) +
                     std::chrono::hours(2)};
  NoIssuer issuer_;
  asio::io_context io_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<AdminApi> api_;
  std::string saved_keys_;
  std::string save_error_;
  std::uint32_t stan_ = 0;
  std::shared_ptr<const iso8583::Dialect> dialect_ = iso8583::LoadDialect("iso87b").value();
  std::deque<std::string> answers_;
};

// ---- the key store's operations ---------------------------------------------------------------

TEST(KeyStoreExportTest, TdesIpekUnwrapsUnderTheKekAndDerivesTheKeysTheSwitchChecks) {
  crypto::SoftwareKeyStore store(crypto::SecretBytes(32));
  ASSERT_TRUE(store.AddKey("bdk", crypto::KeyKind::kBdk, crypto::KeyAlgorithm::kTdes, Key(kBdk)));
  ASSERT_TRUE(
      store.AddKey("kek", crypto::KeyKind::kKek, crypto::KeyAlgorithm::kTdes, Key(kKekTdes)));
  const auto ksn = crypto::FromHex(kTdesKsn).value();
  crypto::TerminalKey key{crypto::TerminalKey::Scheme::kTdesDukpt, "bdk", ksn};
  auto exported = store.ExportTerminalKey(key, "kek");
  ASSERT_TRUE(exported) << exported.error().message();
  // Version B under a TDES KEK; B1 (initial DUKPT key), TDES, key derivation, exportable.
  ASSERT_GE(exported->block.size(), 16u);
  EXPECT_EQ(exported->block[0], 'B');
  auto unwrapped = crypto::UnwrapKeyBlock(Key(kKekTdes), exported->block,
                                          {.usage = "B1", .algorithm = 'T', .modes = "X"});
  ASSERT_TRUE(unwrapped) << unwrapped.error().message();
  EXPECT_EQ(unwrapped->header.exportability, 'E');
  // The IPEK of X9.24-1:2009 A.6, and its check value as the export states it.
  const auto ipek = crypto::DeriveTdesIpek(Key(kBdk), ksn).value();
  EXPECT_TRUE(unwrapped->key == ipek);
  EXPECT_EQ(crypto::TdesKcv(unwrapped->key).value(), exported->key_kcv);
  EXPECT_EQ(exported->kek_kcv, crypto::TdesKcv(Key(kKekTdes)).value());
  // A terminal loaded with it MACs what the switch verifies under the BDK.
  auto terminal = crypto::TdesDukptTerminal::Load(unwrapped->key, ksn).value();
  std::vector<std::uint8_t> data = {'0', '8', '0', '0', 1, 2, 3};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(terminal.Advance());
    const auto mac_key =
        crypto::ApplyTdesVariant(terminal.transaction_key(), crypto::TdesDukptVariant::kMacRequest)
            .value();
    const auto mac = crypto::RetailMac(mac_key, data, crypto::MacPadding::kMethod1).value();
    const std::vector<std::uint8_t> current(terminal.ksn().begin(), terminal.ksn().end());
    asio::io_context io;
    crypto::Result<void> verified = crypto::Error::kMacMismatch;
    asio::co_spawn(io,
                   store.VerifyDukptMac("bdk", current, crypto::KeyService::MacDirection::kRequest,
                                        data, std::vector<std::uint8_t>(mac.begin(), mac.end())),
                   [&](std::exception_ptr, crypto::Result<void> r) { verified = r; });
    io.run();
    EXPECT_TRUE(verified) << "counter " << terminal.counter();
  }
}

TEST(KeyStoreExportTest, AesInitialKeyTravelsInAVersionDBlockAndDerivesTheSwitchsWorkingKeys) {
  crypto::SoftwareKeyStore store(crypto::SecretBytes(32));
  ASSERT_TRUE(store.AddKey("bdk", crypto::KeyKind::kBdk, crypto::KeyAlgorithm::kAes, Key(kAesBdk)));
  ASSERT_TRUE(store.AddKey("kek", crypto::KeyKind::kKek, crypto::KeyAlgorithm::kAes, Key(kKekAes)));
  ASSERT_TRUE(
      store.AddKey("kek-tdes", crypto::KeyKind::kKek, crypto::KeyAlgorithm::kTdes, Key(kKekTdes)));
  const auto ksn = crypto::FromHex(kAesKsn).value();
  crypto::TerminalKey key{crypto::TerminalKey::Scheme::kAesDukpt, "bdk", ksn};
  // An AES key never travels under a TDES KEK.
  auto weak = store.ExportTerminalKey(key, "kek-tdes");
  ASSERT_FALSE(weak);
  EXPECT_EQ(weak.error(), make_error_code(crypto::Error::kKeyTypeNotAllowed));
  auto exported = store.ExportTerminalKey(key, "kek");
  ASSERT_TRUE(exported) << exported.error().message();
  EXPECT_EQ(exported->block[0], 'D');
  auto unwrapped = crypto::UnwrapKeyBlock(Key(kKekAes), exported->block,
                                          {.usage = "B1", .algorithm = 'A', .modes = "X"});
  ASSERT_TRUE(unwrapped) << unwrapped.error().message();
  const auto expected = crypto::DeriveAesInitialKey(Key(kAesBdk), std::span(ksn.data(), 8)).value();
  EXPECT_TRUE(unwrapped->key == expected);
  EXPECT_EQ(crypto::AesKcv(unwrapped->key).value(), exported->key_kcv);
  // The terminal side from the initial key and the switch's MAC check agree (X9.24-3 6.6).
  auto terminal = crypto::AesDukptTerminal::Load(unwrapped->key, std::span(ksn.data(), 8)).value();
  ASSERT_TRUE(terminal.Advance());
  const std::vector<std::uint8_t> current(terminal.ksn().begin(), terminal.ksn().end());
  const auto mac_key =
      crypto::DeriveAesWorkingKeyFromDerivationKey(terminal.derivation_key(), current,
                                                   crypto::AesDukptKeyUsage::kMacGeneration,
                                                   crypto::AesDukptKeyType::kAes128)
          .value();
  std::vector<std::uint8_t> data = {1, 2, 3, 4, 5};
  const auto cmac = crypto::AesCmac(mac_key, data).value();
  std::vector<std::uint8_t> mac(cmac.begin(), cmac.begin() + 8);
  asio::io_context io;
  crypto::Result<void> verified = crypto::Error::kMacMismatch;
  asio::co_spawn(
      io,
      store.VerifyDukptMac("bdk", current, crypto::KeyService::MacDirection::kRequest, data, mac),
      [&](std::exception_ptr, crypto::Result<void> r) { verified = r; });
  io.run();
  EXPECT_TRUE(verified);
}

TEST(KeyStoreExportTest, TmkTravelsAsAK0DecryptKeyThatUnwrapsTheSessionKeys) {
  crypto::SoftwareKeyStore store(crypto::SecretBytes(32));
  ASSERT_TRUE(store.AddKey("tmk", crypto::KeyKind::kTmk, crypto::KeyAlgorithm::kTdes, Key(kTmk)));
  ASSERT_TRUE(store.AddKey("kek", crypto::KeyKind::kKek, crypto::KeyAlgorithm::kAes, Key(kKekAes)));
  ASSERT_TRUE(store.AddKey("zpk", crypto::KeyKind::kZpk, crypto::KeyAlgorithm::kTdes, Key(kTmk)));
  crypto::TerminalKey key{crypto::TerminalKey::Scheme::kMasterSession, "tmk", {}};
  auto exported = store.ExportTerminalKey(key, "kek");
  ASSERT_TRUE(exported);
  auto unwrapped = crypto::UnwrapKeyBlock(Key(kKekAes), exported->block,
                                          {.usage = "K0", .algorithm = 'T', .modes = "D"});
  ASSERT_TRUE(unwrapped) << unwrapped.error().message();
  EXPECT_TRUE(unwrapped->key == Key(kTmk));
  // Not a KEK, not a TMK, no such key: refused by kind.
  EXPECT_EQ(store.ExportTerminalKey(key, "zpk").error(),
            make_error_code(crypto::Error::kBadKeyUsage));
  EXPECT_EQ(store.ExportTerminalKey({crypto::TerminalKey::Scheme::kMasterSession, "zpk", {}}, "kek")
                .error(),
            make_error_code(crypto::Error::kBadKeyUsage));
  EXPECT_EQ(store.ExportTerminalKey(key, "nope").error(),
            make_error_code(crypto::Error::kUnknownKeyId));
}

TEST(KeyStoreExportTest, ComponentsXorToTheKeyAndAreHandedOutOnceEachToDifferentCustodians) {
  crypto::SoftwareKeyStore store(crypto::SecretBytes(32));
  ASSERT_TRUE(store.AddKey("bdk", crypto::KeyKind::kBdk, crypto::KeyAlgorithm::kTdes, Key(kBdk)));
  const auto ksn = crypto::FromHex(kTdesKsn).value();
  const crypto::TerminalKey key{crypto::TerminalKey::Scheme::kTdesDukpt, "bdk", ksn};
  EXPECT_FALSE(store.SplitTerminalKey("X", key, 1));
  EXPECT_FALSE(store.SplitTerminalKey("X", key, 4));
  auto set = store.SplitTerminalKey("KX-1", key, 3);
  ASSERT_TRUE(set);
  EXPECT_FALSE(store.SplitTerminalKey("KX-1", key, 3)) << "an export id is used once";
  ASSERT_EQ(set->component_kcvs.size(), 3u);
  const auto ipek = crypto::DeriveTdesIpek(Key(kBdk), ksn).value();
  EXPECT_EQ(set->key_kcv, crypto::TdesKcv(ipek).value());

  using crypto::ComponentRefusal;
  auto first = store.TakeComponent("KX-1", 2, "ann");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->kcv, set->component_kcvs[1]);
  EXPECT_EQ(crypto::TdesKcv(first->key).value(), first->kcv);
  EXPECT_EQ(store.TakeComponent("KX-1", 2, "bob").error(), ComponentRefusal::kAlreadyTaken);
  EXPECT_EQ(store.TakeComponent("KX-1", 1, "ann").error(), ComponentRefusal::kSameCustodian);
  EXPECT_EQ(store.TakeComponent("KX-1", 4, "bob").error(), ComponentRefusal::kBadIndex);
  auto second = store.TakeComponent("KX-1", 1, "bob");
  ASSERT_TRUE(second);
  auto third = store.TakeComponent("KX-1", 3, "cat");
  ASSERT_TRUE(third);
  crypto::SecretBytes combined = first->key.Clone();
  for (std::size_t i = 0; i < combined.size(); ++i) {
    combined.data()[i] ^= second->key.data()[i] ^ third->key.data()[i];
  }
  EXPECT_TRUE(combined == ipek);
  EXPECT_FALSE(first->key == ipek);
  // Every component taken: the export is gone.
  EXPECT_EQ(store.TakeComponent("KX-1", 1, "dan").error(), ComponentRefusal::kUnknownExport);
}

TEST(KeyStoreExportTest, GeneratedKeysAreUsableAtOnceAndSerializedWithTheOthers) {
  const auto master = Key("000102030405060708090A0B0C0D0E0F");
  crypto::SoftwareKeyStore store(master.Clone());
  ASSERT_TRUE(store.AddKey("tmk", crypto::KeyKind::kTmk, crypto::KeyAlgorithm::kTdes, Key(kTmk)));
  auto kcv = store.GenerateKey("tmk-new", crypto::KeyKind::kTmk, crypto::KeyAlgorithm::kTdes, 16);
  ASSERT_TRUE(kcv);
  EXPECT_FALSE(store.GenerateKey("tmk", crypto::KeyKind::kTmk, crypto::KeyAlgorithm::kTdes, 16));
  EXPECT_FALSE(store.GenerateKey("bad id", crypto::KeyKind::kTmk, crypto::KeyAlgorithm::kTdes, 16));
  auto info = store.Describe("tmk-new");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->kind, crypto::KeyKind::kTmk);
  EXPECT_EQ(info->length, 16u);
  EXPECT_EQ(info->kcv, *kcv);
  // Session keys issue under it, and the file written now loads with it.
  asio::io_context io;
  bool issued = false;
  asio::co_spawn(io, store.IssueSessionKeys("tmk-new"),
                 [&](std::exception_ptr, auto r) { issued = r.has_value(); });
  io.run();
  EXPECT_TRUE(issued);
  auto reloaded = crypto::SoftwareKeyStore::Load(master, store.Serialize());
  ASSERT_TRUE(reloaded) << reloaded.error().Describe();
  EXPECT_EQ(reloaded->Describe("tmk-new")->kcv, *kcv);
  EXPECT_THAT(store.Serialize(), HasSubstr("tmk-new TMK " + crypto::ToHex(*kcv)));
}

// ---- the API -----------------------------------------------------------------------------------

TEST_F(AdminKeysTest, ExportsATr31BlockUnderTheTransportKeyAndAuditsOnlyCheckValues) {
  // Operators only; a reviewer or auditor cannot.
  EXPECT_EQ(Call("POST", "/v1/terminals/TDES0001/keys/exports", kAnn, R"({"form": "tr31"})").status,
            403);
  EXPECT_EQ(Call("POST", "/v1/terminals/TDES0001/keys/exports", kAud, R"({"form": "tr31"})").status,
            403);
  EXPECT_EQ(Call("POST", "/v1/terminals/TDES0001/keys/exports", "", R"({"form": "tr31"})").status,
            401);
  // Bad requests name their field.
  auto r = Call("POST", "/v1/terminals/TDES0001/keys/exports", kOps, R"({"form": "paper"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Parse<proto::ErrorBody>(r.body).field(), "form");
  r = Call("POST", "/v1/terminals/TDES0001/keys/exports", kOps, R"({"form": "tr31", "kek": "x"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorCode(r), "unknown_field");
  r = Call("POST", "/v1/terminals/TDES0001/keys/exports", kOps,
           R"({"form": "tr31", "transport_key_id": "bdk-1"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(Parse<proto::ErrorBody>(r.body).field(), "transport_key_id");
  EXPECT_EQ(ErrorCode(r), "wrong_key_kind");
  EXPECT_EQ(Call("POST", "/v1/terminals/NOPE0001/keys/exports", kOps, R"({"form": "tr31"})").status,
            404);
  r = Call("POST", "/v1/terminals/AES00001/keys/exports", kOps,
           R"({"form": "tr31", "transport_key_id": "kek-tdes"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(ErrorCode(r), "key_too_weak");

  // Under the configured default transport key (AES: version D).
  r = Call("POST", "/v1/terminals/TDES0001/keys/exports", kOps,
           R"({"form": "tr31", "reason": "injection batch 7"})");
  ASSERT_EQ(r.status, 201) << r.body;
  auto x = Parse<proto::KeyExport>(r.body);
  EXPECT_EQ(x.id(), "KX-000001");
  EXPECT_EQ(x.key(), "tdes_ipek");
  EXPECT_EQ(x.initial_ksn(), kTdesKsn);
  EXPECT_EQ(x.transport_key_id(), "kek-aes");
  EXPECT_EQ(x.key_length(), 16u);
  auto unwrapped = crypto::UnwrapKeyBlock(Key(kKekAes), x.key_block(), {.usage = "B1"});
  ASSERT_TRUE(unwrapped);
  EXPECT_EQ(crypto::ToHex(crypto::TdesKcv(unwrapped->key).value()), x.key_kcv());
  const std::string ipek_hex = crypto::ToHex(unwrapped->key.view());

  // The registry and its audit log hold check values, never the key or the block.
  auto stored = registry_->Get<proto::KeyExport>("key_export", x.id());
  ASSERT_TRUE(stored);
  EXPECT_TRUE(stored->key_block().empty());
  EXPECT_EQ(stored->key_kcv(), x.key_kcv());
  r = Call("GET", "/v1/audit?kind=key_export", kAud);
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr(x.key_kcv()));
  EXPECT_THAT(r.body, HasSubstr("injection batch 7"));
  EXPECT_THAT(r.body, Not(HasSubstr(ipek_hex)));
  EXPECT_THAT(r.body, Not(HasSubstr(x.key_block().substr(16, 32))));
  // Listed, without the block.
  r = Call("GET", "/v1/terminals/TDES0001/keys/exports", kOps);
  ASSERT_EQ(r.status, 200);
  auto list = Parse<proto::KeyExportList>(r.body);
  ASSERT_EQ(list.exports_size(), 1);
  EXPECT_TRUE(list.exports(0).key_block().empty());

  // The exported IPEK signs the terminal on: the switch derives the same keys from its BDK.
  EXPECT_EQ(Send(SignOn("TDES0001", unwrapped->key, std::string(kTdesKsn), 1)), "00");
  EXPECT_EQ(pipeline_->TerminalStatus("TDES0001"), "active");
}

TEST_F(AdminKeysTest, ComponentsNeedTwoCustodiansAndEachIsHandedOutOnce) {
  auto r = Call("POST", "/v1/terminals/MAST0001/keys/exports", kOps,
                R"({"form": "components", "components": 4})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Parse<proto::ErrorBody>(r.body).field(), "components");
  r = Call("POST", "/v1/terminals/MAST0001/keys/exports", kOps,
           R"({"form": "components", "transport_key_id": "kek-aes"})");
  EXPECT_EQ(r.status, 400);
  r = Call("POST", "/v1/terminals/MAST0001/keys/exports", kOps, R"({"form": "components"})");
  ASSERT_EQ(r.status, 201) << r.body;
  const auto x = Parse<proto::KeyExport>(r.body);
  EXPECT_EQ(x.key(), "tmk");
  EXPECT_EQ(x.components(), 2u);
  ASSERT_EQ(x.component_kcvs_size(), 2);
  EXPECT_EQ(x.key_kcv(), crypto::ToHex(crypto::TdesKcv(Key(kTmk)).value()));
  EXPECT_TRUE(x.key_block().empty());
  const std::string base = "/v1/terminals/MAST0001/keys/exports/" + x.id() + "/components/";

  EXPECT_EQ(Call("POST", base + "1", kAud).status, 403);
  EXPECT_EQ(Call("POST", base + "9", kOps).status, 400);
  EXPECT_EQ(Call("POST", base + "1", kOps, R"({"x": 1})").status, 400);
  EXPECT_EQ(
      Call("POST", "/v1/terminals/TDES0001/keys/exports/" + x.id() + "/components/1", kOps).status,
      404);
  r = Call("POST", base + "1", kOps);
  ASSERT_EQ(r.status, 200) << r.body;
  const auto c1 = Parse<proto::KeyComponentView>(r.body);
  EXPECT_EQ(c1.kcv(), x.component_kcvs(0));
  // Once only, and never a second component for the same custodian.
  r = Call("POST", base + "1", kVic);
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(ErrorCode(r), "already_taken");
  r = Call("POST", base + "2", kOps);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(ErrorCode(r), "dual_control");
  r = Call("POST", base + "2", kVic, "{}");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto c2 = Parse<proto::KeyComponentView>(r.body);
  EXPECT_EQ(c2.kcv(), x.component_kcvs(1));
  // Together they are the TMK.
  auto a = crypto::SecretFromHex(c1.component()).value();
  const auto b = crypto::SecretFromHex(c2.component()).value();
  for (std::size_t i = 0; i < a.size(); ++i) {
    a.data()[i] ^= b.data()[i];
  }
  EXPECT_TRUE(a == Key(kTmk));
  EXPECT_EQ(Call("POST", base + "2", kAud).status, 403);
  EXPECT_EQ(ErrorCode(Call("POST", base + "2", kOps)), "already_taken");

  // The audit log says who took which component, with check values and no key.
  r = Call("GET", "/v1/audit?kind=key_export&id=" + x.id(), kAud);
  auto audit = Parse<proto::AuditList>(r.body);
  ASSERT_EQ(audit.entries_size(), 3);
  EXPECT_EQ(audit.entries(1).actor(), "ops");
  EXPECT_THAT(audit.entries(1).reason(), HasSubstr("component 1 of 2 taken"));
  EXPECT_EQ(audit.entries(2).actor(), "vic");
  // Before and after as JSON: who took what, with check values.
  const auto& after = audit.entries(2).after().struct_value().fields();
  ASSERT_TRUE(after.contains("taken"));
  EXPECT_EQ(after.at("taken").list_value().values_size(), 2);
  EXPECT_THAT(audit.entries(2).reason(), HasSubstr(c2.kcv()));
  EXPECT_THAT(r.body, Not(HasSubstr(c1.component())));
  EXPECT_THAT(r.body, Not(HasSubstr(c2.component())));
  EXPECT_THAT(r.body, Not(HasSubstr(std::string(kTmk))));
}

TEST_F(AdminKeysTest, ComponentsAreGoneAfterARestartOfTheKeyStore) {
  auto r = Call("POST", "/v1/terminals/TDES0001/keys/exports", kOps,
                R"({"form": "components", "components": 3})");
  ASSERT_EQ(r.status, 201);
  const std::string id = Parse<proto::KeyExport>(r.body).id();
  ASSERT_TRUE(keys_->DropComponents(id));  // what a restart does: they lived in memory only
  r = Call("POST", "/v1/terminals/TDES0001/keys/exports/" + id + "/components/1", kOps);
  EXPECT_EQ(r.status, 410);
  EXPECT_EQ(ErrorCode(r), "gone");
}

TEST_F(AdminKeysTest, RotatingADukptTerminalMovesItToANewDeviceAndBackToProvisioned) {
  const auto old_ipek =
      crypto::DeriveTdesIpek(Key(kBdk), crypto::FromHex(kTdesKsn).value()).value();
  ASSERT_EQ(Send(SignOn("TDES0001", old_ipek, std::string(kTdesKsn), 1, "2.3.1")), "00");
  ASSERT_EQ(Send(SignOn("TDES0001", old_ipek, std::string(kTdesKsn), 5)), "00");
  ASSERT_EQ(pipeline_->TerminalStatus("TDES0001"), "active");

  EXPECT_EQ(Call("POST", "/v1/terminals/TDES0001/keys/rotate", kOps, "{}").status, 400);
  EXPECT_EQ(Call("POST", "/v1/terminals/TDES0001/keys/rotate", kAnn, R"({"reason": "x"})").status,
            403);
  EXPECT_EQ(Call("POST", "/v1/terminals/TDES0001/keys/rotate", kOps,
                 R"({"reason": "x", "key_set_id": "XYZ"})")
                .status,
            400);
  auto r = Call("POST", "/v1/terminals/TDES0001/keys/rotate", kOps,
                R"({"reason": "annual key change"})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto view = Parse<proto::TerminalView>(r.body);
  const std::string new_ksn = view.initial_ksn();
  EXPECT_EQ(new_ksn, "FFFF0000000000400000");  // the next device id under the same key set
  EXPECT_EQ(view.status(), "provisioned");
  RunShards();
  EXPECT_EQ(pipeline_->TerminalStatus("TDES0001"), "provisioned");
  // The old key is refused even with a fresh counter (not its device any more); the new key,
  // at counter 1 (its high-water mark starts again), signs on and activates it.
  EXPECT_EQ(Send(SignOn("TDES0001", old_ipek, std::string(kTdesKsn), 6)), "63");
  EXPECT_EQ(pipeline_->TerminalStatus("TDES0001"), "provisioned");
  // The facility gets the new IPEK the usual way.
  r = Call("POST", "/v1/terminals/TDES0001/keys/exports", kOps, R"({"form": "tr31"})");
  ASSERT_EQ(r.status, 201);
  const auto x = Parse<proto::KeyExport>(r.body);
  EXPECT_EQ(x.initial_ksn(), new_ksn);
  auto new_ipek = crypto::UnwrapKeyBlock(Key(kKekAes), x.key_block(), {.usage = "B1"}).value();
  EXPECT_FALSE(new_ipek.key == old_ipek);
  EXPECT_EQ(Send(SignOn("TDES0001", new_ipek.key, new_ksn, 1)), "00");
  EXPECT_EQ(pipeline_->TerminalStatus("TDES0001"), "active");
  EXPECT_EQ(Send(SignOn("TDES0001", new_ipek.key, new_ksn, 1)), "63") << "KSN replay";
  // Audited with the reason and the KSNs.
  EXPECT_THAT(Reasons("terminal", "TDES0001"),
              ::testing::Contains("keys rotated: annual key change (initial KSN " +
                                  std::string(kTdesKsn) + " -> " + new_ksn + ")"));
  // The software version reported before the rotation is kept.
  EXPECT_EQ(Terminal("TDES0001").software_version(), "2.3.1");
}

TEST_F(AdminKeysTest, ARotationWhileTheSwitchWasDownResetsTheOldKeysStateAtStart) {
  const auto old_ipek =
      crypto::DeriveTdesIpek(Key(kBdk), crypto::FromHex(kTdesKsn).value()).value();
  ASSERT_EQ(Send(SignOn("TDES0001", old_ipek, std::string(kTdesKsn), 7)), "00");
  Barrier();
  // The registry changes with no running pipeline to tell (a crash after the write).
  auto t = registry_->Get<proto::TerminalProfile>("terminal", "TDES0001").value();
  t.set_initial_ksn("FFFF0000000000600000");
  ASSERT_FALSE(registry_->Put("terminal", "TDES0001", t, {.actor = "test"}));
  StartPipeline();
  EXPECT_EQ(pipeline_->TerminalStatus("TDES0001"), "provisioned");
  EXPECT_FALSE(pipeline_->WasActivated("TDES0001"));
  const auto ipek =
      crypto::DeriveTdesIpek(Key(kBdk), crypto::FromHex("FFFF0000000000600000").value()).value();
  EXPECT_EQ(Send(SignOn("TDES0001", ipek, "FFFF0000000000600000", 1)), "00");
  EXPECT_EQ(pipeline_->TerminalStatus("TDES0001"), "active");
  // A restart without a change keeps the activation.
  Barrier();
  StartPipeline();
  EXPECT_EQ(pipeline_->TerminalStatus("TDES0001"), "active");
}

TEST_F(AdminKeysTest, RotatingAMasterSessionTerminalGeneratesAndSavesANewTmk) {
  save_error_ = "disk full";
  auto r = Call("POST", "/v1/terminals/MAST0001/keys/rotate", kOps, R"({"reason": "compromise"})");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(Terminal("MAST0001").tmk_id(), "tmk-1") << "nothing changed";
  save_error_.clear();
  r = Call("POST", "/v1/terminals/MAST0001/keys/rotate", kOps, R"({"reason": "compromise"})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto view = Parse<proto::TerminalView>(r.body);
  EXPECT_EQ(view.tmk_id(), "tmk-MAST0001-2");  // -1 was made by the refused attempt
  EXPECT_THAT(saved_keys_, HasSubstr("tmk-MAST0001-2 TMK "));
  auto info = keys_->Describe("tmk-MAST0001-2");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->algorithm, crypto::KeyAlgorithm::kTdes);
  EXPECT_EQ(info->length, 16u);
  // The new TMK exports like any other and is not the old one.
  r = Call("POST", "/v1/terminals/MAST0001/keys/exports", kOps, R"({"form": "tr31"})");
  ASSERT_EQ(r.status, 201);
  const auto x = Parse<proto::KeyExport>(r.body);
  EXPECT_EQ(x.tmk_id(), "tmk-MAST0001-2");
  EXPECT_NE(x.key_kcv(), crypto::ToHex(crypto::TdesKcv(Key(kTmk)).value()));
  EXPECT_EQ(x.key_kcv(), crypto::ToHex(info->kcv));
  EXPECT_THAT(
      Reasons("terminal", "MAST0001"),
      ::testing::Contains(HasSubstr("keys rotated: compromise (TMK tmk-1 -> tmk-MAST0001-2")));
}

TEST_F(AdminKeysTest, ASuspendedTerminalRotatedStaysSuspendedAndIsReinstatedAsProvisioned) {
  const auto old_ipek =
      crypto::DeriveTdesIpek(Key(kBdk), crypto::FromHex(kTdesKsn).value()).value();
  ASSERT_EQ(Send(SignOn("TDES0001", old_ipek, std::string(kTdesKsn), 1)), "00");
  Barrier();  // the activation is stored
  auto status = [&](std::string_view to) {
    return Call("POST", "/v1/terminals/TDES0001/status", kOps,
                R"({"status": ")" + std::string(to) + R"(", "reason": "test"})");
  };
  ASSERT_EQ(status("suspended").status, 200);
  ASSERT_EQ(status("active").status, 200);  // reinstated: it had signed on
  EXPECT_EQ(Terminal("TDES0001").status(), "active");
  ASSERT_EQ(status("suspended").status, 200);
  auto r = Call("POST", "/v1/terminals/TDES0001/keys/rotate", kOps, R"({"reason": "lost"})");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Parse<proto::TerminalView>(r.body).status(), "suspended");
  RunShards();
  r = status("active");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Parse<proto::TerminalView>(r.body).status(), "provisioned");
  ASSERT_EQ(status("retired").status, 200);
  EXPECT_EQ(Call("POST", "/v1/terminals/TDES0001/keys/rotate", kOps, R"({"reason": "x"})").status,
            409);
  EXPECT_EQ(Call("POST", "/v1/terminals/TDES0001/keys/exports", kOps, R"({"form": "tr31"})").status,
            409);
}

TEST_F(AdminKeysTest, SignOnsReportSoftwareVersionsAndTheSwitchKeepsLastSeen) {
  const auto ipek = crypto::DeriveTdesIpek(Key(kBdk), crypto::FromHex(kTdesKsn).value()).value();
  EXPECT_FALSE(Terminal("TDES0001").has_last_seen());
  // Field 48 of a sign-on: printable (the dialect's ans), at most 32 characters, else 30.
  EXPECT_EQ(Send(SignOn("TDES0001", ipek, std::string(kTdesKsn), 1, std::string(33, '9'))), "30");
  EXPECT_EQ(Send(SignOn("TDES0001", ipek, std::string(kTdesKsn), 2, "")), "00");  // none: fine
  ASSERT_EQ(Send(SignOn("TDES0001", ipek, std::string(kTdesKsn), 3, "2.3.9")), "00");
  auto v = Terminal("TDES0001");
  EXPECT_EQ(v.software_version(), "2.3.9");
  EXPECT_TRUE(v.outdated());
  EXPECT_EQ(pb::util::TimeUtil::TimestampToMicroseconds(v.last_seen()),
            std::chrono::duration_cast<std::chrono::microseconds>(clock_.Now().time_since_epoch())
                .count());
  // Without 48 the last known version stays; a newer one replaces it.
  clock_.Advance(std::chrono::hours(1));
  ASSERT_EQ(Send(SignOn("TDES0001", ipek, std::string(kTdesKsn), 4)), "00");
  EXPECT_EQ(Terminal("TDES0001").software_version(), "2.3.9");
  ASSERT_EQ(Send(SignOn("TDES0001", ipek, std::string(kTdesKsn), 5, "2.10.0")), "00");
  EXPECT_EQ(Terminal("TDES0001").software_version(), "2.10.0");
  EXPECT_FALSE(Terminal("TDES0001").outdated());
  // Later requests move last seen in memory; the flush stores it; a restart reads it back.
  clock_.Advance(std::chrono::hours(1));
  iso8583::Message echo;
  echo.SetMti("0800");
  echo.Set(7, "1127090000");
  echo.Set(11, "000099");
  echo.Set(41, "TDES0001");
  echo.Set(70, "301");
  std::string wire;
  ASSERT_TRUE(iso8583::Pack(*dialect_, echo, wire));
  ASSERT_EQ(Send(wire), "00");
  const auto seen = pipeline_->LastSeen("TDES0001").last_seen_micros;
  EXPECT_EQ(seen,
            std::chrono::duration_cast<std::chrono::microseconds>(clock_.Now().time_since_epoch())
                .count());
  Barrier();
  StartPipeline();  // without a flush: the sign-on's time was stored, the echo's was not
  EXPECT_EQ(pipeline_->LastSeen("TDES0001").last_seen_micros, seen - 3'600'000'000LL);
  EXPECT_EQ(pipeline_->LastSeen("TDES0001").software_version, "2.10.0");
  ASSERT_EQ(Send(wire), "00");
  pipeline_->FlushSeen(true);
  StartPipeline();
  EXPECT_EQ(pipeline_->LastSeen("TDES0001").last_seen_micros, seen);
}

TEST_F(AdminKeysTest, ListsSilentAndOutdatedTerminals) {
  const auto ipek = crypto::DeriveTdesIpek(Key(kBdk), crypto::FromHex(kTdesKsn).value()).value();
  ASSERT_EQ(Send(SignOn("TDES0001", ipek, std::string(kTdesKsn), 1, "2.3.0")), "00");
  clock_.Advance(std::chrono::days(10));
  // Imported as active and never heard from.
  auto t = registry_->Get<proto::TerminalProfile>("terminal", "MAST0001").value();
  t.set_status("active");
  ASSERT_FALSE(registry_->Put("terminal", "MAST0001", t, {.actor = "test"}));
  pipeline_->UpsertTerminal(t);
  RunShards();
  auto tids = [&](std::string_view query) {
    auto r = Call("GET", "/v1/terminals" + std::string(query), kAnn);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<std::string> out;
    const auto list = Parse<proto::TerminalList>(r.body);
    for (const auto& v : list.terminals()) {
      out.push_back(v.tid());
    }
    return out;
  };
  EXPECT_THAT(tids(""), ::testing::ElementsAre("AES00001", "MAST0001", "TDES0001"));
  EXPECT_THAT(tids("?silent_days=7"), ::testing::ElementsAre("MAST0001", "TDES0001"));
  EXPECT_THAT(tids("?silent_days=11"), ::testing::ElementsAre("MAST0001"));
  EXPECT_THAT(tids("?outdated=true"), ::testing::ElementsAre("TDES0001"));
  EXPECT_THAT(tids("?status=active"), ::testing::ElementsAre("MAST0001", "TDES0001"));
  EXPECT_THAT(tids("?mid=MERCHANT0000009"), ::testing::ElementsAre());
  auto r = Call("GET", "/v1/terminals?silent_days=x", kAnn);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Parse<proto::ErrorBody>(r.body).field(), "silent_days");
  EXPECT_EQ(Call("GET", "/v1/terminals?colour=red", kAnn).status, 400);
  EXPECT_EQ(Call("GET", "/v1/terminals?outdated=maybe", kAnn).status, 400);
  // Without a configured minimum there is nothing to compare with.
  admin_.clear_terminal_software_minimum();
  StartApi();
  r = Call("GET", "/v1/terminals?outdated=true", kAnn);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Parse<proto::ErrorBody>(r.body).field(), "outdated");
}

TEST_F(AdminKeysTest, LooksUpTransactionsWithMaskedPansOnly) {
  auto add = [&](std::string stan, std::string rrn, std::string date, std::string tid,
                 proto::TxnState state) {
    proto::TransactionRecord rec;
    rec.set_tid(tid);
    rec.set_mid("MERCHANT0000001");
    rec.set_mti("0200");
    rec.set_processing_code("000000");
    rec.set_stan(std::move(stan));
    rec.set_transmission_time("0302020000");
    rec.set_rrn(std::move(rrn));
    rec.set_response_code("00");
    rec.set_approval_code("A1B2C3");
    rec.set_amount_minor(1250);
    rec.set_currency(978);
    rec.set_business_date(std::move(date));
    rec.set_state(state);
    ASSERT_FALSE(journal_->AppendSync(rec, "4761739001010010"));
  };
  add("000001", "606100000001", "20260302", "TDES0001", proto::TXN_ANSWERED);
  add("000002", "606100000002", "20260302", "TDES0001", proto::TXN_VOIDED);
  add("000003", "606100000003", "20260303", "TDES0001", proto::TXN_ANSWERED);
  add("000001", "606100000004", "20260302", "AES00001", proto::TXN_REVERSED);

  auto r = Call("GET", "/v1/transactions?tid=TDES0001&date=20260302", kOps);
  ASSERT_EQ(r.status, 200) << r.body;
  auto list = Parse<proto::TransactionList>(r.body);
  ASSERT_EQ(list.transactions_size(), 2);
  EXPECT_EQ(list.transactions(0).masked_pan(), "476173******0010");
  EXPECT_EQ(list.transactions(0).type(), "purchase");
  EXPECT_EQ(list.transactions(0).amount_minor(), 1250);
  EXPECT_EQ(list.transactions(1).state(), "voided");
  EXPECT_THAT(r.body, Not(HasSubstr("4761739001010010")));
  r = Call("GET", "/v1/transactions?rrn=606100000004", kAud);
  ASSERT_EQ(r.status, 200);
  list = Parse<proto::TransactionList>(r.body);
  ASSERT_EQ(list.transactions_size(), 1);
  EXPECT_EQ(list.transactions(0).state(), "reversed");
  EXPECT_EQ(list.transactions(0).tid(), "AES00001");
  r = Call("GET", "/v1/transactions?tid=TDES0001&stan=1", kOps);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Parse<proto::TransactionList>(r.body).transactions_size(), 1);
  r = Call("GET", "/v1/transactions?mid=MERCHANT0000001&date=20260302", kOps);
  EXPECT_EQ(Parse<proto::TransactionList>(r.body).transactions_size(), 3);
  // Refusals: the field at fault, 404 for an RRN nobody has, reviewers do not look.
  EXPECT_EQ(Call("GET", "/v1/transactions?rrn=999999999999", kOps).status, 404);
  r = Call("GET", "/v1/transactions?tid=TDES0001&date=2026-03-02", kOps);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Parse<proto::ErrorBody>(r.body).field(), "date");
  EXPECT_EQ(Call("GET", "/v1/transactions?tid=TDES0001", kOps).status, 400);
  EXPECT_EQ(Parse<proto::ErrorBody>(Call("GET", "/v1/transactions?pan=4761", kOps).body).field(),
            "pan");
  EXPECT_EQ(Call("GET", "/v1/transactions?rrn=606100000001", kAnn).status, 403);
  EXPECT_EQ(Call("GET", "/v1/transactions?tid=NOPE0001&date=20260302", kOps).status, 404);
}

TEST_F(AdminKeysTest, ShowsTheBinRoutesInForce) {
  auto r = Call("GET", "/v1/bins", kAnn);
  ASSERT_EQ(r.status, 200) << r.body;
  auto list = Parse<proto::BinList>(r.body);
  ASSERT_EQ(static_cast<std::size_t>(list.bins_size()), bins_->Snapshot()->size());
  ASSERT_GT(list.bins_size(), 0);
  EXPECT_EQ(list.bins(0).route(), bins_->Snapshot()->entries()[0].route);
  EXPECT_EQ(Call("POST", "/v1/bins", kOps, "{}").status, 405);
  EXPECT_EQ(Call("GET", "/v1/bins", "").status, 401);
}

TEST(VersionTest, ComparesDottedNumbersPartByPart) {
  EXPECT_LT(CompareVersions("2.9.1", "2.10.0"), 0);
  EXPECT_GT(CompareVersions("2.10", "2.9.9"), 0);
  EXPECT_EQ(CompareVersions("2.4", "2.4.0"), 0);
  EXPECT_EQ(CompareVersions("2.4.0-rc1", "2.4.0"), 0);
  EXPECT_LT(CompareVersions("beta", "0.1"), 0);
  EXPECT_TRUE(IsDottedVersion("2.4.0"));
  EXPECT_FALSE(IsDottedVersion("2.4."));
  EXPECT_FALSE(IsDottedVersion("v2"));
  EXPECT_FALSE(IsDottedVersion(""));
  proto::AdminConfig a;
  a.set_terminal_software_minimum("2.x");
  EXPECT_THAT(ResolveAdminConfig(a, "/tmp"), HasSubstr("admin.terminal_software_minimum"));
}

}  // namespace
}  // namespace sy::server::admin
