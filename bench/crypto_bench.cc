// Micro-benchmarks of the crypto module's transaction-path operations (Release builds only):
//  - one full PIN translation: DUKPT working-key derivation + decipher + re-encipher under a ZPK,
//    for TDES DUKPT (format 0 in) and AES DUKPT (format 4 in), both through the per-terminal host
//    cache with the KSN advancing as a real terminal's does, and from scratch;
//  - one MAC verification over 200 bytes: ANSI X9.19 retail MAC and AES-CMAC.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "crypto/dukpt_aes.h"
#include "crypto/dukpt_tdes.h"
#include "crypto/hex.h"
#include "crypto/mac.h"
#include "crypto/pin_block.h"
#include "crypto/pin_translate.h"

namespace {

using namespace sy::crypto;

SecretBytes KeyOf(const char* hex) { return SecretFromHex(hex).value(); }

constexpr const char* kPan = "4012345678909";

// KSNs of one terminal for `n` consecutive valid counters, and the PIN block each would send.
struct TdesWorkload {
  SecretBytes bdk = KeyOf("0123456789ABCDEFFEDCBA9876543210");
  SecretBytes zpk = KeyOf("89ABCDEF0123456776543210FEDCBA98");
  std::vector<std::vector<std::uint8_t>> ksns;
  std::vector<PinBlock> blocks;
  explicit TdesWorkload(int n) {
    auto initial = FromHex("FFFF9876543210E00000").value();
    auto terminal = TdesDukptTerminal::Load(DeriveTdesIpek(bdk, initial).value(), initial).value();
    const SecretBytes pin = SecretBytes::FromString("1234").value();
    for (int i = 0; i < n; ++i) {
      if (!terminal.Advance()) {
        break;
      }
      ksns.emplace_back(terminal.ksn().begin(), terminal.ksn().end());
      const SecretBytes key =
          ApplyTdesVariant(terminal.transaction_key(), TdesDukptVariant::kPin).value();
      blocks.push_back(
          EncipherPinBlock(PinBlockFormat::kIso0, key, pin, kPan, SystemRandom()).value());
    }
  }
};

struct AesWorkload {
  SecretBytes bdk = KeyOf("FEDCBA9876543210F1F1F1F1F1F1F1F1");
  SecretBytes zpk = KeyOf("89ABCDEF0123456776543210FEDCBA98");
  std::vector<std::vector<std::uint8_t>> ksns;
  std::vector<PinBlock> blocks;
  explicit AesWorkload(int n) {
    auto id = FromHex("1234567890123456").value();
    auto terminal = AesDukptTerminal::Load(DeriveAesInitialKey(bdk, id).value(), id).value();
    const SecretBytes pin = SecretBytes::FromString("1234").value();
    for (int i = 0; i < n; ++i) {
      if (!terminal.Advance()) {
        break;
      }
      ksns.emplace_back(terminal.ksn().begin(), terminal.ksn().end());
      const SecretBytes key = DeriveAesWorkingKeyFromDerivationKey(
                                  terminal.derivation_key(), terminal.ksn(),
                                  AesDukptKeyUsage::kPinEncryption, AesDukptKeyType::kAes128)
                                  .value();
      blocks.push_back(
          EncipherPinBlock(PinBlockFormat::kIso4, key, pin, kPan, SystemRandom()).value());
    }
  }
};

constexpr int kTransactions = 4096;

void BM_TranslatePinTdesDukptCached(benchmark::State& state) {
  static const TdesWorkload w(kTransactions);
  TdesDukptHostCache cache;
  std::size_t i = 0;
  for (auto _ : state) {
    auto out = TranslatePinFromTdesDukpt(cache, w.bdk, w.ksns[i], PinBlockFormat::kIso0,
                                         w.blocks[i].view(), kPan, w.zpk);
    if (!out) {
      state.SkipWithError("translation failed");
      break;
    }
    benchmark::DoNotOptimize(out->bytes);
    i = (i + 1) % w.ksns.size();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TranslatePinTdesDukptCached);

void BM_TranslatePinTdesDukptFromScratch(benchmark::State& state) {
  static const TdesWorkload w(kTransactions);
  std::size_t i = 0;
  for (auto _ : state) {
    TdesDukptHostCache cache;  // a cold cache: IPEK and every path step derived again
    auto out = TranslatePinFromTdesDukpt(cache, w.bdk, w.ksns[i], PinBlockFormat::kIso0,
                                         w.blocks[i].view(), kPan, w.zpk);
    if (!out) {
      state.SkipWithError("translation failed");
      break;
    }
    benchmark::DoNotOptimize(out->bytes);
    i = (i + 1) % w.ksns.size();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TranslatePinTdesDukptFromScratch);

void BM_TranslatePinAesDukptCached(benchmark::State& state) {
  static const AesWorkload w(kTransactions);
  AesDukptHostCache cache;
  std::size_t i = 0;
  for (auto _ : state) {
    auto out = TranslatePinFromAesDukpt(cache, w.bdk, w.ksns[i], PinBlockFormat::kIso4,
                                        w.blocks[i].view(), kPan, w.zpk);
    if (!out) {
      state.SkipWithError("translation failed");
      break;
    }
    benchmark::DoNotOptimize(out->bytes);
    i = (i + 1) % w.ksns.size();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TranslatePinAesDukptCached);

void BM_TranslatePinAesDukptFromScratch(benchmark::State& state) {
  static const AesWorkload w(kTransactions);
  std::size_t i = 0;
  for (auto _ : state) {
    AesDukptHostCache cache;
    auto out = TranslatePinFromAesDukpt(cache, w.bdk, w.ksns[i], PinBlockFormat::kIso4,
                                        w.blocks[i].view(), kPan, w.zpk);
    if (!out) {
      state.SkipWithError("translation failed");
      break;
    }
    benchmark::DoNotOptimize(out->bytes);
    i = (i + 1) % w.ksns.size();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TranslatePinAesDukptFromScratch);

std::vector<std::uint8_t> Message200() {
  std::vector<std::uint8_t> m(200);
  for (std::size_t i = 0; i < m.size(); ++i) {
    m[i] = static_cast<std::uint8_t>(i * 31 + 7);
  }
  return m;
}

void BM_VerifyRetailMac200(benchmark::State& state) {
  const SecretBytes key = KeyOf("0123456789ABCDEFFEDCBA9876543210");
  const auto msg = Message200();
  const Mac8 mac = RetailMac(key, msg, MacPadding::kMethod1).value();
  for (auto _ : state) {
    auto ok = VerifyRetailMac(key, msg, mac);
    if (!ok) {
      state.SkipWithError("verify failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(msg.size()));
}
BENCHMARK(BM_VerifyRetailMac200);

void BM_VerifyAesCmac200(benchmark::State& state) {
  const SecretBytes key = KeyOf("2B7E151628AED2A6ABF7158809CF4F3C");
  const auto msg = Message200();
  const Mac16 mac = AesCmac(key, msg).value();
  for (auto _ : state) {
    auto ok = VerifyAesCmac(key, msg, std::span(mac).first(8));
    if (!ok) {
      state.SkipWithError("verify failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(msg.size()));
}
BENCHMARK(BM_VerifyAesCmac200);

}  // namespace

BENCHMARK_MAIN();
