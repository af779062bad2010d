#include "crypto/dukpt_tdes.h"

#include <gtest/gtest.h>

#include "crypto/cipher.h"
#include "tests/crypto/test_util.h"

namespace sy::crypto {
namespace {

using testing::Bytes;
using testing::Hex;
using testing::Key;
using testing::KeyHex;

// ANSI X9.24-1:2009 A.4 test data: BDK and initial KSN.
constexpr const char* kBdk = "0123456789ABCDEFFEDCBA9876543210";
constexpr const char* kInitialKsn = "FFFF9876543210E00000";

std::vector<std::uint8_t> KsnWithCounter(std::uint32_t counter) {
  auto ksn = Bytes(kInitialKsn);
  ksn[7] = static_cast<std::uint8_t>((ksn[7] & 0xE0) | ((counter >> 16) & 0x1F));
  ksn[8] = static_cast<std::uint8_t>(counter >> 8);
  ksn[9] = static_cast<std::uint8_t>(counter);
  return ksn;
}

// ANSI X9.24-1:2009 A.4: IPEK 6AC292FAA1315B4D858AB3A3D7D5933A.
TEST(DukptTdesTest, DerivesIpekFromX924AppendixAExample) {
  auto ipek = DeriveTdesIpek(Key(kBdk), Bytes(kInitialKsn));
  EXPECT_EQ(KeyHex(ipek.value()), "6AC292FAA1315B4D858AB3A3D7D5933A");
  // The counter bits of a later KSN do not change the IPEK.
  EXPECT_EQ(KeyHex(DeriveTdesIpek(Key(kBdk), KsnWithCounter(0x15)).value()),
            "6AC292FAA1315B4D858AB3A3D7D5933A");
}

struct TdesVector {
  std::uint32_t counter;
  const char* transaction_key;
  const char* pin_block;  // PIN 1234 / PAN 4012345678909 (041274EDCBA9876F) under the PIN variant
};

// ANSI X9.24-1:2009 A.4.2 (initial sequence) and A.4.3 (rollover sequence), as transcribed in
// openemv/dukpt test/dukpt_tdes_test.c: transaction keys and enciphered PIN blocks.
constexpr TdesVector kVectors[] = {
    {0x000001, "042666B49184CFA368DE9628D0397BC9", "1B9C1845EB993A7A"},
    {0x000002, "C46551CEF9FD24B0AA9AD834130D3BC7", "10A01C8D02C69107"},
    {0x000003, "0DF3D9422ACA56E547676D07AD6BADFA", "18DC07B94797B466"},
    {0x000004, "279C0F6AEED0BE652B2C733E1383AE91", "0BC79509D5645DF7"},
    {0x000005, "5F8DC6D2C845C125508DDC048093B83F", "5BC0AF22AD87B327"},
    {0x000008, "27F66D5244FF62E1AA6F6120EDEB4280", "50E55547A5027551"},
    {0x000010, "59598DCBD9BD94C094165CE453585F57", "D5D9638559EF53D6"},
    {0x000015, "E161D1956A61F6D2F37AFD7F9CC3699A", "72105C22EBC791E6"},
    {0x0FF800, "F9CDFEBF4F5B1D9EB3EC12454527E176", "33365F5CC6F23C35"},
    {0x0FF801, "5BEE92627E97825C911BF619DF72CA3B", "3A86BF003F835C9D"},
    {0x0FFC00, "F9430DF975082491C77BE4EF4FDB91EE", "DEFC6F09F8927B71"},
    {0x100000, "AA4D58DB653EC74A48C75F2F047DD2B5", "73EC88AD0AC5830E"},
};

TEST(DukptTdesTest, DerivesX924AppendixATransactionKeysAndPinBlocks) {
  const SecretBytes ipek = DeriveTdesIpek(Key(kBdk), Bytes(kInitialKsn)).value();
  const auto clear = Bytes("041274EDCBA9876F");
  for (const auto& v : kVectors) {
    const auto ksn = KsnWithCounter(v.counter);
    auto key = DeriveTdesTransactionKey(ipek, ksn);
    ASSERT_TRUE(key) << v.counter;
    EXPECT_EQ(KeyHex(*key), v.transaction_key) << "counter " << v.counter;
    auto pin_key = ApplyTdesVariant(*key, TdesDukptVariant::kPin).value();
    std::vector<std::uint8_t> out(8);
    ASSERT_TRUE(EncryptEcb(KeyAlgorithm::kTdes, pin_key, clear, out));
    EXPECT_EQ(Hex(out), v.pin_block) << "counter " << v.counter;
  }
}

// The MAC and data variants: X9.24-1:2009 A.4.1 Table A-1 XORs FF into bytes 6/14 (MAC request),
// 4/12 (MAC response), 5/13 (data request), 3/11 (data response); the data keys are then made
// one-way by enciphering each half under the variant key. Checked against the published
// transaction key for counter 1 (the variant constants applied by hand) and, for data keys,
// against an outside decryption below.
TEST(DukptTdesTest, VariantsApplyTableA1ToThePublishedTransactionKey) {
  const SecretBytes key = Key("042666B49184CFA368DE9628D0397BC9");
  EXPECT_EQ(KeyHex(ApplyTdesVariant(key, TdesDukptVariant::kPin).value()),
            "042666B49184CF5C68DE9628D0397B36");
  EXPECT_EQ(KeyHex(ApplyTdesVariant(key, TdesDukptVariant::kMacRequest).value()),
            "042666B4918430A368DE9628D03984C9");
  EXPECT_EQ(KeyHex(ApplyTdesVariant(key, TdesDukptVariant::kMacResponse).value()),
            "042666B46E84CFA368DE96282F397BC9");
  const SecretBytes data_variant = Key("042666B4917BCFA368DE9628D0C67BC9");
  std::vector<std::uint8_t> expect(16);
  ASSERT_TRUE(EncryptEcb(KeyAlgorithm::kTdes, data_variant, data_variant.view().first(8),
                         std::span(expect).first(8)));
  ASSERT_TRUE(EncryptEcb(KeyAlgorithm::kTdes, data_variant, data_variant.view().last(8),
                         std::span(expect).last(8)));
  EXPECT_EQ(KeyHex(ApplyTdesVariant(key, TdesDukptVariant::kDataRequest).value()), Hex(expect));
}

// SoftwareVerde/java-dukpt DukptTests (an independent implementation):
//  - testToDataKey: data variant + one-way step for KSN FFFF9876543210E00008 is
//    C39B2778B058AC376FB18DC906F75CBA, which checks the data-request variant and its one-way step;
//  - testTransactionCounterMsb: PIN variant for KSN FFFF9876543210F00000;
//  - testGetIpek: IPEK for KSN 629949012C0000000003.
TEST(DukptTdesTest, MatchesIndependentJavaDukptVectors) {
  EXPECT_EQ(KeyHex(DeriveTdesWorkingKey(Key(kBdk), Bytes("FFFF9876543210E00008"),
                                        TdesDukptVariant::kDataRequest)
                       .value()),
            "C39B2778B058AC376FB18DC906F75CBA");
  EXPECT_EQ(
      KeyHex(DeriveTdesWorkingKey(Key(kBdk), Bytes("FFFF9876543210F00000"), TdesDukptVariant::kPin)
                 .value()),
      "AA4D58DB653EC7B548C75F2F047DD24A");
  EXPECT_EQ(KeyHex(DeriveTdesIpek(Key(kBdk), Bytes("629949012C0000000003")).value()),
            "D2943CCF80F42E88E23C12D1162FD547");
}

TEST(DukptTdesTest, RejectsCounterZero) {
  auto r = DeriveTdesWorkingKey(Key(kBdk), Bytes(kInitialKsn), TdesDukptVariant::kPin);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kKsnCounterZero);
}

TEST(DukptTdesTest, RejectsCountersWithMoreThanTenOneBits) {
  auto r = DeriveTdesWorkingKey(Key(kBdk), KsnWithCounter(0x0007FF), TdesDukptVariant::kPin);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kKsnCounterExhausted);
  EXPECT_TRUE(ValidateTdesKsn(KsnWithCounter(0x1FF800)));  // the last valid counter
  EXPECT_FALSE(ValidateTdesKsn(KsnWithCounter(0x1FFC00)));
}

TEST(DukptTdesTest, RejectsKsnOfTheWrongLength) {
  auto r = DeriveTdesWorkingKey(Key(kBdk), Bytes("FFFF9876543210E001"), TdesDukptVariant::kPin);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kBadKsnLength);
}

TEST(DukptTdesTest, TerminalRunsOutAfterTheLastValidCounter) {
  const SecretBytes ipek = DeriveTdesIpek(Key(kBdk), Bytes(kInitialKsn)).value();
  auto terminal = TdesDukptTerminal::Load(ipek, Bytes(kInitialKsn)).value();
  // Walking all 1,048,575 counters is too slow under the sanitizers; instead check that the
  // counter sequence skips exactly the counters with more than 10 one-bits over the first 5000.
  std::uint32_t expected = 0;
  for (int i = 0; i < 5000; ++i) {
    ASSERT_TRUE(terminal.Advance());
    do {
      ++expected;
    } while (std::popcount(expected) > 10);
    ASSERT_EQ(terminal.counter(), expected);
  }
}

// Property: the terminal's future-key-register walk (originating side) and the host's from-scratch
// and cached derivations (receiving side) give the same key for every counter, including the
// rollover region where counters with 10 one-bits are skipped.
TEST(DukptTdesTest, TerminalAndHostAgreeForThousandsOfCounters) {
  const SecretBytes bdk = Key(kBdk);
  const SecretBytes ipek = DeriveTdesIpek(bdk, Bytes(kInitialKsn)).value();
  auto terminal = TdesDukptTerminal::Load(ipek, Bytes(kInitialKsn)).value();
  TdesDukptHostCache cache;
  for (int i = 0; i < 3000; ++i) {
    ASSERT_TRUE(terminal.Advance());
    const auto ksn = terminal.ksn();
    auto scratch = DeriveTdesTransactionKey(ipek, ksn);
    auto cached = cache.TransactionKey(bdk, ksn);
    ASSERT_TRUE(scratch && cached);
    ASSERT_TRUE(*scratch == terminal.transaction_key()) << "counter " << terminal.counter();
    ASSERT_TRUE(*cached == *scratch) << "counter " << terminal.counter();
  }
}

TEST(DukptTdesTest, HostCacheEqualsFromScratchForRandomOrderAndOtherTerminals) {
  const SecretBytes bdk = Key(kBdk);
  TdesDukptHostCache cache;
  std::uint32_t x = 12345;
  for (int i = 0; i < 2000; ++i) {
    x = x * 1103515245u + 12345u;
    std::uint32_t counter = (x >> 8) & kTdesCounterMask;
    while (std::popcount(counter) > 10) {
      counter &= counter - 1;
    }
    if (counter == 0) {
      counter = 1;
    }
    auto ksn = KsnWithCounter(counter);
    if (i % 7 == 0) {
      ksn[3] ^= 0x01;  // another terminal: the cache must switch IPEK
    }
    for (auto v : {TdesDukptVariant::kPin, TdesDukptVariant::kMacRequest}) {
      auto cached = cache.WorkingKey(bdk, ksn, v);
      auto scratch = DeriveTdesWorkingKey(bdk, ksn, v);
      ASSERT_TRUE(cached && scratch);
      ASSERT_TRUE(*cached == *scratch) << "counter " << counter;
    }
  }
}

TEST(DukptTdesTest, RejectsBdkOfTheWrongLength) {
  auto r = DeriveTdesIpek(Key("0123456789ABCDEF"), Bytes(kInitialKsn));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kBadKeyLength);
}

}  // namespace
}  // namespace sy::crypto
