// Settlement of one business date of 1,000,000 journal records (issue 8: under 10 s). The records
// are written once into a temporary store (not measured); each iteration runs Settle, which reads
// them through the journal's date index and sums them per merchant and currency.

#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "storage/journal.h"
#include "storage/store.h"
#include "switch/settlement/settlement.h"

namespace {

namespace st = sy::server::settlement;
using namespace std::chrono;

constexpr int kRecords = 1'000'000;
constexpr int kMerchants = 2'000;
constexpr char kDate[] = "20261127";

struct Data {
  std::string dir;
  std::unique_ptr<sy::storage::Store> store;
  st::AgreementBook book;
};

Data* g_data = nullptr;  // made by the first benchmark that needs it; removed by main

Data& Shared() {
  static Data* data = [] {
    auto* d = new Data;
    d->dir = (std::filesystem::temp_directory_path() / "sy-settle-bench-XXXXXX").string();
    if (::mkdtemp(d->dir.data()) == nullptr) {
      std::abort();
    }
    d->store = sy::storage::Store::Open({.path = d->dir + "/store", .sync = false}).value();
    sy::storage::Journal journal(*d->store, nullptr);
    std::mt19937_64 rng(1);
    std::vector<sy::storage::Mutation> write;
    for (int i = 0; i < kRecords; ++i) {
      sy::proto::TransactionRecord r;
      const int m = static_cast<int>(rng() % kMerchants);
      char mid[16];
      std::snprintf(mid, sizeof mid, "MERCHANT%07d", m);
      r.set_mid(mid);
      r.set_tid("T" + std::to_string(m * 4 + static_cast<int>(rng() % 4)));
      const int kind = static_cast<int>(rng() % 10);
      r.set_mti(kind == 8 ? "0220" : kind == 9 ? "0100" : "0200");
      r.set_processing_code(kind == 7 ? "200000" : kind == 9 ? "300000" : "000000");
      r.set_stan(std::to_string(i % 1000000));
      r.set_rrn(std::to_string(100000000000 + i));
      r.set_amount_minor(static_cast<std::int64_t>(rng() % 1'000'000));
      r.set_currency(rng() % 5 ? 978 : 156);
      r.set_response_code(rng() % 10 ? "00" : "05");
      r.set_state(rng() % 20 ? sy::proto::TXN_ANSWERED : sy::proto::TXN_REVERSED);
      r.set_business_date(kDate);
      r.set_route(rng() % 2 ? "issuer-a" : "issuer-b");
      r.mutable_pan()->set_masked("476173******0010");
      auto m1 = journal.Prepare(r, "", nullptr, true);
      if (!m1) {
        std::abort();
      }
      for (auto& mu : *m1) {
        write.push_back(std::move(mu));
      }
      if (write.size() >= 20000 || i + 1 == kRecords) {
        if (d->store->Write(std::move(write))) {
          std::abort();
        }
        write.clear();
      }
    }
    for (int m = 0; m < kMerchants; ++m) {
      char mid[16];
      std::snprintf(mid, sizeof mid, "MERCHANT%07d", m);
      sy::server::onboarding::Agreement a;
      a.merchant_id = mid;
      a.effective_from = sys_days(year{2026} / 1 / 1);
      a.settlement_cycle_days = 1 + m % 2;
      for (std::uint16_t c : {std::uint16_t{978}, std::uint16_t{156}}) {
        sy::server::onboarding::FeeSchedule s;
        s.currency = c;
        s.rates["any"] = 1250;
        s.rates["visa"] = 1000;
        s.min_fee_minor = 1;
        s.max_fee_minor = 5000;
        a.fees.push_back(s);
      }
      d->book.versions[mid] = {a};
    }
    g_data = d;
    return d;
  }();
  return *data;
}

void BM_Settle1M(benchmark::State& state) {
  Data& d = Shared();
  st::SettlementInputs in;
  in.store = d.store.get();
  in.business_date = kDate;
  in.agreements = &d.book;
  in.brand_of = st::MakeBrandResolver(nullptr, {{"issuer-a", "visa"}});
  for (auto _ : state) {
    auto run = st::Settle(in);
    if (!run || run->records_read != static_cast<std::uint64_t>(kRecords)) {
      state.SkipWithError("settlement failed");
      break;
    }
    benchmark::DoNotOptimize(run->rows.data());
    state.counters["rows"] = static_cast<double>(run->rows.size());
    state.counters["settled"] = static_cast<double>(run->records_settled);
  }
  state.SetItemsProcessed(state.iterations() * kRecords);
}
BENCHMARK(BM_Settle1M)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (g_data != nullptr) {
    g_data->store.reset();
    std::filesystem::remove_all(g_data->dir);
  }
  return 0;
}
