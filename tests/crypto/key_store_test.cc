#include "crypto/key_store.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <fstream>
#include <optional>

#include "crypto/dukpt_aes.h"
#include "crypto/dukpt_tdes.h"
#include "crypto/master_session.h"
#include "crypto/pin_translate.h"
#include "tests/crypto/test_util.h"

namespace sy::crypto {
namespace {

using testing::Bytes;
using testing::Hex;
using testing::Key;

// Runs one awaitable to completion on a private io_context (the software store never suspends,
// but this drives it exactly as the switch's coroutines would).
template <class T>
T RunSync(boost::asio::awaitable<T> op) {
  boost::asio::io_context ctx;
  std::optional<T> out;
  boost::asio::co_spawn(ctx, std::move(op), [&](std::exception_ptr e, T value) {
    if (e) {
      std::rethrow_exception(e);
    }
    out.emplace(std::move(value));
  });
  ctx.run();
  return std::move(*out);
}

constexpr const char* kMaster = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F";
constexpr const char* kBdk = "0123456789ABCDEFFEDCBA9876543210";  // X9.24-1:2009 A.4 test BDK
constexpr const char* kZpk = "89ABCDEF0123456776543210FEDCBA98";
constexpr const char* kZak = "0123456789ABCDEFFEDCBA9876543210";

SoftwareKeyStore MakeStore() {
  SoftwareKeyStore store(Key(kMaster));
  EXPECT_TRUE(store.AddKey("bdk-1", KeyKind::kBdk, KeyAlgorithm::kTdes, Key(kBdk)));
  EXPECT_TRUE(store.AddKey("zpk-visa", KeyKind::kZpk, KeyAlgorithm::kTdes, Key(kZpk)));
  EXPECT_TRUE(store.AddKey("zak-visa", KeyKind::kZak, KeyAlgorithm::kTdes, Key(kZak)));
  EXPECT_TRUE(store.AddKey("zak-aes", KeyKind::kZak, KeyAlgorithm::kAes,
                           Key("2B7E151628AED2A6ABF7158809CF4F3C")));
  EXPECT_TRUE(store.AddKey("tmk-1", KeyKind::kTmk, KeyAlgorithm::kTdes, Key(kZpk)));
  EXPECT_TRUE(store.AddKey("aes-bdk", KeyKind::kBdk, KeyAlgorithm::kAes,
                           Key("FEDCBA9876543210F1F1F1F1F1F1F1F1")));
  return store;
}

TEST(KeyStoreTest, SerializedFileHoldsNoClearKeyAndLoadsBack) {
  const std::string text = MakeStore().Serialize();
  for (const char* clear : {kBdk, kZpk, "2B7E151628AED2A6ABF7158809CF4F3C"}) {
    EXPECT_EQ(text.find(clear), std::string::npos) << "clear key on disk";
  }
  auto loaded = SoftwareKeyStore::Load(Key(kMaster), text);
  ASSERT_TRUE(loaded) << loaded.error().Describe();
  // The X9.24 test key's published KCV 08D7B4.
  EXPECT_EQ(Hex(RunSync(loaded->CheckValue("bdk-1")).value()), "08D7B4");
}

TEST(KeyStoreTest, TranslatesTheX924DukptPinBlockThroughTheAwaitableInterface) {
  SoftwareKeyStore store = MakeStore();
  KeyService& service = store;
  // ANSI X9.24-1:2009 A.4.2 counter 1: 1B9C1845EB993A7A is PIN 1234 / PAN 4012345678909.
  auto out = RunSync(service.TranslateDukptPin("bdk-1", Bytes("FFFF9876543210E00001"),
                                               PinBlockFormat::kIso0, Bytes("1B9C1845EB993A7A"),
                                               "4012345678909", "zpk-visa"));
  ASSERT_TRUE(out) << out.error().message();
  auto pin = DecipherPinBlock(PinBlockFormat::kIso0, Key(kZpk), out->view(), "4012345678909");
  EXPECT_EQ(pin.value().as_chars(), "1234");
}

TEST(KeyStoreTest, MacsWithTheZakAndVerifies) {
  SoftwareKeyStore store = MakeStore();
  const auto msg = testing::Ascii("Now is the time for all ");
  // ISO/IEC 9797-1:2011 B.4 retail MAC of this message under this key.
  auto mac = RunSync(store.GenerateMac("zak-visa", msg));
  EXPECT_EQ(Hex(mac.value()), "A1C72E74EA3FA9B6");
  EXPECT_TRUE(RunSync(store.VerifyMac("zak-visa", msg, Bytes("A1C72E74EA3FA9B6"))));
  auto bad = RunSync(store.VerifyMac("zak-visa", msg, Bytes("A1C72E74EA3FA9B7")));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), Error::kMacMismatch);
  // AES ZAK: AES-CMAC leftmost 8 bytes (RFC 4493 example 1, empty message).
  EXPECT_EQ(Hex(RunSync(store.GenerateMac("zak-aes", {})).value()), "BB1D6929E9593728");
}

TEST(KeyStoreTest, MacsDukptMessagesWithTheDirectionsKey) {
  SoftwareKeyStore store = MakeStore();
  const auto ksn = Bytes("FFFF9876543210E00001");
  const auto msg = Bytes("0200723C068000C09200164761739001010010");
  using Dir = KeyService::MacDirection;
  // TDES: the retail MAC under the MAC-request (and -response) variant of the transaction key.
  const auto request_key = DeriveTdesWorkingKey(Key(kBdk), ksn, TdesDukptVariant::kMacRequest);
  const auto expected = RetailMac(request_key.value(), msg, MacPadding::kMethod1).value();
  auto mac = RunSync(store.GenerateDukptMac("bdk-1", ksn, Dir::kRequest, msg));
  ASSERT_TRUE(mac.has_value());
  EXPECT_EQ(*mac, expected);
  auto response = RunSync(store.GenerateDukptMac("bdk-1", ksn, Dir::kResponse, msg)).value();
  EXPECT_NE(response, *mac);
  const std::vector<std::uint8_t> mac_bytes(mac->begin(), mac->end());
  EXPECT_TRUE(RunSync(store.VerifyDukptMac("bdk-1", ksn, Dir::kRequest, msg, mac_bytes)));
  auto tampered = msg;
  tampered.back() ^= 1;
  EXPECT_EQ(RunSync(store.VerifyDukptMac("bdk-1", ksn, Dir::kRequest, tampered, mac_bytes)).error(),
            make_error_code(Error::kMacMismatch));
  EXPECT_EQ(RunSync(store.VerifyDukptMac("bdk-1", ksn, Dir::kResponse, msg, mac_bytes)).error(),
            make_error_code(Error::kMacMismatch));

  // AES: CMAC, leftmost 8 bytes, under the MAC-generation working key for requests.
  const auto aes_ksn = Bytes("123456789012345600000001");
  const auto aes_key =
      DeriveAesWorkingKey(Key("FEDCBA9876543210F1F1F1F1F1F1F1F1"), aes_ksn,
                          AesDukptKeyUsage::kMacGeneration, AesDukptKeyType::kAes128);
  const auto full = AesCmac(aes_key.value(), msg).value();
  auto aes_mac = RunSync(store.GenerateDukptMac("aes-bdk", aes_ksn, Dir::kRequest, msg)).value();
  EXPECT_TRUE(std::equal(aes_mac.begin(), aes_mac.end(), full.begin()));

  // A ZPK is not a BDK.
  EXPECT_EQ(RunSync(store.GenerateDukptMac("zpk-visa", ksn, Dir::kRequest, msg)).error(),
            make_error_code(Error::kBadKeyUsage));
}

TEST(KeyStoreTest, KeysAreBoundToTheirUsage) {
  SoftwareKeyStore store = MakeStore();
  auto zpk_mac = RunSync(store.GenerateMac("zpk-visa", Bytes("00")));
  ASSERT_FALSE(zpk_mac);
  EXPECT_EQ(zpk_mac.error(), Error::kBadKeyUsage);  // a ZPK never MACs
  auto zak_pin =
      RunSync(store.TranslateDukptPin("bdk-1", Bytes("FFFF9876543210E00001"), PinBlockFormat::kIso0,
                                      Bytes("1B9C1845EB993A7A"), "4012345678909", "zak-visa"));
  ASSERT_FALSE(zak_pin);
  EXPECT_EQ(zak_pin.error(), Error::kBadKeyUsage);
  auto unknown = RunSync(store.CheckValue("nope"));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error(), Error::kUnknownKeyId);
}

TEST(KeyStoreTest, WrongMasterKeyFailsLoadNamingTheFirstKey) {
  const std::string text = MakeStore().Serialize();
  auto loaded = SoftwareKeyStore::Load(
      Key("FF0102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"), text);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, Error::kKeyBlockMacMismatch);
  EXPECT_EQ(loaded.error().key_id, "aes-bdk");  // the file is sorted by id
}

TEST(KeyStoreTest, WrongKcvFailsLoadNamingTheKey) {
  std::string text = MakeStore().Serialize();
  const std::string needle = "zpk-visa ZPK ";
  const auto at = text.find(needle);
  ASSERT_NE(at, std::string::npos);
  text.replace(at + needle.size(), 6, "000000");
  auto loaded = SoftwareKeyStore::Load(Key(kMaster), text);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, Error::kKcvMismatch);
  EXPECT_EQ(loaded.error().key_id, "zpk-visa");
  EXPECT_NE(loaded.error().Describe().find("zpk-visa"), std::string::npos);
  EXPECT_EQ(loaded.error().Describe().find(kZpk), std::string::npos);
}

TEST(KeyStoreTest, AKeyFiledUnderTheWrongKindIsRefused) {
  std::string text = MakeStore().Serialize();
  // Relabel the ZAK's line as a ZPK: its TR-31 header still says M3, so the load refuses it.
  const auto at = text.find("zak-visa ZAK ");
  ASSERT_NE(at, std::string::npos);
  text.replace(at + 9, 3, "ZPK");
  auto loaded = SoftwareKeyStore::Load(Key(kMaster), text);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, Error::kKeyBlockAttributeMismatch);
  EXPECT_EQ(loaded.error().key_id, "zak-visa");
}

TEST(KeyStoreTest, MalformedLinesAreReportedWithTheirLineNumber) {
  auto loaded = SoftwareKeyStore::Load(Key(kMaster), "# header\n\nzpk-1 ZPK 08D7B4\n");
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, Error::kBadKeyFile);
  EXPECT_EQ(loaded.error().line, 3u);
  EXPECT_EQ(loaded.error().key_id, "zpk-1");
}

TEST(KeyStoreTest, MasterKeyComesFromTheEnvironmentOrAFile) {
  const std::string path = ::testing::TempDir() + "/sy_master_key_test";
  {
    std::ofstream f(path);
    f << "  " << kMaster << "\n";
  }
  ::unsetenv("SY_TEST_MASTER_KEY");
  auto from_file = SoftwareKeyStore::LoadMasterKey("SY_TEST_MASTER_KEY", path);
  ASSERT_TRUE(from_file);
  EXPECT_TRUE(*from_file == Key(kMaster));
  ::setenv("SY_TEST_MASTER_KEY", "000102030405060708090A0B0C0D0E0F", 1);
  auto from_env = SoftwareKeyStore::LoadMasterKey("SY_TEST_MASTER_KEY", path);
  ASSERT_TRUE(from_env);
  EXPECT_EQ(from_env->size(), 16u);
  ::setenv("SY_TEST_MASTER_KEY", "0011", 1);
  auto short_key = SoftwareKeyStore::LoadMasterKey("SY_TEST_MASTER_KEY", path);
  ASSERT_FALSE(short_key);
  EXPECT_EQ(short_key.error(), Error::kBadKeyLength);
  ::unsetenv("SY_TEST_MASTER_KEY");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace sy::crypto

namespace sy::crypto {
namespace {

// A master/session terminal of each TMK algorithm: the switch issues working keys under the TMK,
// the terminal unwraps them with its TMK, and each side's MACs and PIN blocks work on the other.
void SessionRoundTrip(KeyAlgorithm algorithm, const char* tmk_hex) {
  SoftwareKeyStore store(Key(kMaster));
  ASSERT_TRUE(store.AddKey("tmk", KeyKind::kTmk, algorithm, Key(tmk_hex)));
  ASSERT_TRUE(store.AddKey("zpk", KeyKind::kZpk, KeyAlgorithm::kTdes, Key(kZpk)));
  EXPECT_FALSE(store.HasSessionKeys("T1"));
  auto blocks = RunSync(store.IssueSessionKeys("tmk"));
  ASSERT_TRUE(blocks) << blocks.error().message();
  EXPECT_EQ(blocks->pin[0], algorithm == KeyAlgorithm::kTdes ? 'B' : 'D');
  ASSERT_TRUE(RunSync(store.InstallSessionKeys("tmk", "T1", *blocks)));
  EXPECT_TRUE(store.HasSessionKeys("T1"));

  // The terminal's side.
  auto pin_key = UnwrapSessionKey(Key(tmk_hex), algorithm, SessionKeyRole::kPin, blocks->pin);
  auto mac_key = UnwrapSessionKey(Key(tmk_hex), algorithm, SessionKeyRole::kMac, blocks->mac);
  ASSERT_TRUE(pin_key);
  ASSERT_TRUE(mac_key);
  const std::vector<std::uint8_t> data = Bytes("02007238000102030405060708090A0B0C0D0E0F");
  Mac8 mac{};
  if (algorithm == KeyAlgorithm::kTdes) {
    mac = RetailMac(*mac_key, data, MacPadding::kMethod1).value();
  } else {
    auto full = AesCmac(*mac_key, data).value();
    std::copy_n(full.begin(), 8, mac.begin());
  }
  const std::vector<std::uint8_t> mac_bytes(mac.begin(), mac.end());
  auto slot = RunSync(store.VerifySessionMac("T1", data, mac_bytes));
  ASSERT_TRUE(slot);
  EXPECT_EQ(*slot, KeyService::SessionSlot::kCurrent);
  auto generated = RunSync(store.GenerateSessionMac("T1", KeyService::SessionSlot::kCurrent, data));
  ASSERT_TRUE(generated);
  EXPECT_EQ(*generated, mac);
  auto tampered = data;
  tampered[0] ^= 1;
  EXPECT_EQ(RunSync(store.VerifySessionMac("T1", tampered, mac_bytes)).error(),
            make_error_code(Error::kMacMismatch));

  const PinBlockFormat format =
      algorithm == KeyAlgorithm::kTdes ? PinBlockFormat::kIso0 : PinBlockFormat::kIso4;
  const std::string pan = "4761739001010010";
  auto block = EncipherPinBlock(format, *pin_key, SecretBytes::FromString("1234").value(), pan,
                                SystemRandom())
                   .value();
  auto translated = RunSync(store.TranslateSessionPin(
      "T1", format,
      std::vector<std::uint8_t>(block.bytes.begin(), block.bytes.begin() + block.size), pan,
      "zpk"));
  ASSERT_TRUE(translated) << translated.error().message();
  auto pin = DecipherPinBlock(PinBlockFormat::kIso0, Key(kZpk),
                              std::span(translated->bytes.data(), translated->size), pan);
  ASSERT_TRUE(pin);
  EXPECT_EQ(pin->as_chars(), "1234");

  // A key change: the old MAC key still verifies, as the previous one, until the next change.
  ASSERT_TRUE(RunSync(
      store.InstallSessionKeys("tmk", "T1", RunSync(store.IssueSessionKeys("tmk")).value())));
  auto old = RunSync(store.VerifySessionMac("T1", data, mac_bytes));
  ASSERT_TRUE(old);
  EXPECT_EQ(*old, KeyService::SessionSlot::kPrevious);
  ASSERT_TRUE(RunSync(
      store.InstallSessionKeys("tmk", "T1", RunSync(store.IssueSessionKeys("tmk")).value())));
  EXPECT_FALSE(RunSync(store.VerifySessionMac("T1", data, mac_bytes)));
  // A MAC key offered as the PIN key is refused; unknown terminals have no keys.
  EXPECT_FALSE(RunSync(store.InstallSessionKeys("tmk", "T2", {blocks->mac, blocks->mac})));
  EXPECT_EQ(
      RunSync(store.GenerateSessionMac("T9", KeyService::SessionSlot::kCurrent, data)).error(),
      make_error_code(Error::kUnknownKeyId));
}

TEST(KeyStoreSessionTest, TdesTerminalMasterKey) {
  SessionRoundTrip(KeyAlgorithm::kTdes, "0123456789ABCDEFFEDCBA9876543210");
}

TEST(KeyStoreSessionTest, AesTerminalMasterKey) {
  SessionRoundTrip(KeyAlgorithm::kAes,
                   "88E1AB2A2E3DD38C1FA039A536500CC8A87AB9D62DC92C01058FA79F44657DE6");
}

}  // namespace
}  // namespace sy::crypto

namespace sy::crypto {
namespace {

// The store's per-terminal DUKPT caches give what derivation from scratch gives, whatever the
// order of terminals and counters (going back to an older counter included).
TEST(KeyStoreTest, CachedDukptDerivationsEqualDerivationsFromScratch) {
  SoftwareKeyStore store = MakeStore();
  const std::vector<std::uint8_t> data = Bytes("0200723800010203040506");
  const char* initial[] = {"FFFF9876543210E00000", "FFFF9876B00000200000"};
  std::uint32_t counters[] = {1, 2, 3, 8, 9, 300, 4, 1025, 2048, 5, 6, 70000, 7};
  for (std::uint32_t c : counters) {
    for (const char* start : initial) {
      std::vector<std::uint8_t> ksn = Bytes(start);
      ksn[7] |= static_cast<std::uint8_t>((c >> 16) & 0x1F);
      ksn[8] = static_cast<std::uint8_t>(c >> 8);
      ksn[9] = static_cast<std::uint8_t>(c);
      if (!ValidateTdesKsn(ksn)) {
        continue;  // more than 10 one-bits: never used by a terminal
      }
      for (auto direction :
           {KeyService::MacDirection::kRequest, KeyService::MacDirection::kResponse}) {
        auto cached = RunSync(store.GenerateDukptMac("bdk-1", ksn, direction, data));
        ASSERT_TRUE(cached);
        auto key = DeriveTdesWorkingKey(Key(kBdk), ksn,
                                        direction == KeyService::MacDirection::kRequest
                                            ? TdesDukptVariant::kMacRequest
                                            : TdesDukptVariant::kMacResponse)
                       .value();
        EXPECT_EQ(*cached, RetailMac(key, data, MacPadding::kMethod1).value()) << start << " " << c;
      }
    }
  }
}

}  // namespace
}  // namespace sy::crypto
