// Micro-benchmarks of the BIN table (Release builds only): one lookup in a table of 10,000
// ranges, half 6-digit and half 8-digit (most 8-digit ranges nested in a 6-digit one), over
// 16-digit PANs of which about half match; the same through the router's per-transaction
// snapshot (one and two threads); and building and diffing such a table, which a reload pays.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "routing/bin_router.h"
#include "routing/bin_table.h"

namespace {

using namespace sy::routing;

const std::set<std::string> kRoutes = {"visa-net", "mc-net", "on-us"};

std::string Digits(std::uint64_t value, std::size_t length) {
  std::string s = std::to_string(value);
  return std::string(length - s.size(), '0') + s;
}

// `count` disjoint ranges of `length` digits in [first, last], in random order of width.
void AddRanges(std::vector<BinEntry>& out, std::mt19937_64& rng, std::size_t count,
               std::size_t length, std::uint64_t first, std::uint64_t last) {
  std::set<std::uint64_t> points;
  std::uniform_int_distribution<std::uint64_t> pick(first, last);
  while (points.size() < 2 * count) {
    points.insert(pick(rng));
  }
  std::vector<std::uint64_t> p(points.begin(), points.end());
  const char* routes[] = {"visa-net", "mc-net", "on-us"};
  for (std::size_t i = 0; i + 1 < p.size(); i += 2) {
    const std::size_t r = (i / 2) % 3;
    out.push_back(
        BinEntry{Digits(p[i], length), Digits(p[i + 1], length), "brand", r == 2, routes[r]});
  }
}

std::vector<BinEntry> Entries(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<BinEntry> entries;
  AddRanges(entries, rng, 5000, 6, 300000, 699999);
  AddRanges(entries, rng, 5000, 8, 30000000, 69999999);
  return entries;
}

const BinTable& Table() {
  static const BinTable table = BinTable::Build(Entries(1), kRoutes).value();
  return table;
}

const std::vector<std::string>& Pans() {
  static const std::vector<std::string> pans = [] {
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<std::uint64_t> pick(2000000000000000, 7999999999999999);
    std::vector<std::string> out;
    for (int i = 0; i < 4096; ++i) {
      out.push_back(std::to_string(pick(rng)));
    }
    return out;
  }();
  return pans;
}

void BM_Lookup10k(benchmark::State& state) {
  const BinTable& table = Table();
  const std::vector<std::string>& pans = Pans();
  std::size_t i = 0;
  std::int64_t hits = 0;
  for (auto _ : state) {
    const BinEntry* e = table.Lookup(pans[i++ & 4095]);
    hits += e != nullptr;
    benchmark::DoNotOptimize(e);
  }
  state.counters["hit_rate"] =
      benchmark::Counter(static_cast<double>(hits) / static_cast<double>(state.iterations()));
  state.counters["entries"] = static_cast<double>(table.size());
}
BENCHMARK(BM_Lookup10k);

BinRouter& Router() {
  static BinRouter router(BinTable::Build(Entries(1), kRoutes).value());
  return router;
}

// What a transaction pays: take the snapshot, look up, release the snapshot.
void BM_SnapshotAndLookup10k(benchmark::State& state) {
  BinRouter& router = Router();
  const std::vector<std::string>& pans = Pans();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 1024;
  for (auto _ : state) {
    const auto table = router.Snapshot();
    benchmark::DoNotOptimize(table->Lookup(pans[i++ & 4095]));
  }
}
BENCHMARK(BM_SnapshotAndLookup10k)->Threads(1)->Threads(2);

void BM_Build10k(benchmark::State& state) {
  const std::vector<BinEntry> entries = Entries(1);
  for (auto _ : state) {
    auto table = BinTable::Build(entries, kRoutes);
    benchmark::DoNotOptimize(table);
  }
}
BENCHMARK(BM_Build10k)->Unit(benchmark::kMillisecond);

void BM_Diff10kAgainstAnotherTable(benchmark::State& state) {
  const BinTable other = BinTable::Build(Entries(2), kRoutes).value();
  for (auto _ : state) {
    auto lines = Diff(Table(), other);
    benchmark::DoNotOptimize(lines);
  }
}
BENCHMARK(BM_Diff10kAgainstAnotherTable)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
