// Decode and encode of a typical 0200 (20 fields, EMV field 55 included) in iso87a and iso87b,
// and of the jPOS corpus's all-fields message (2-64 + 90). Counts heap allocations per operation
// (the `allocs` counter) by replacing the global operator new.
//
//   build/release/bench/iso8583_bench

#include <benchmark/benchmark.h>

#include <atomic>
#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <new>
#include <string>

#include "iso8583/codec.h"
#include "iso8583/json.h"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) {
    return p;
  }
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using sy::iso8583::Message;

// A chip purchase as a terminal sends it: 20 fields with a 51-byte field 55.
Message TypicalPurchase() {
  Message m;
  m.SetMti("0200");
  const std::pair<int, std::string_view> fields[] = {{2, "4761739001010010"},
                                                     {3, "000000"},
                                                     {4, "000000001000"},
                                                     {7, "1127093001"},
                                                     {11, "000123"},
                                                     {12, "093001"},
                                                     {13, "1127"},
                                                     {14, "2812"},
                                                     {22, "051"},
                                                     {23, "001"},
                                                     {25, "00"},
                                                     {37, "633109000123"},
                                                     {41, "TERM0001"},
                                                     {42, "MERCHANT0000001"},
                                                     {49, "978"},
                                                     {62, "FFFF9876543210E00001"}};
  for (const auto& [n, v] : fields) {
    m.Set(n, v);
  }
  std::string bin;
  (void)sy::iso8583::FromHex("D58E3C3A0B1F2A9C", bin);
  m.Set(52, bin);
  (void)sy::iso8583::FromHex(
      "9F02060000000010009F2608A1B2C3D4E5F607189F2701809F100706010A03A000009F3704A1B2C3D4"
      "5F2A0209789A03261127",
      bin);
  m.Set(55, bin);
  m.Set(35, "4761739001010010=28122011143804400000");
  (void)sy::iso8583::FromHex("0102030405060708", bin);
  m.Set(64, bin);
  return m;
}

std::string AllFieldsHex(const char* file) {
  std::ifstream in(std::string(SY_SOURCE_DIR) + "/tests/data/jpos/" + file);
  for (std::string line; std::getline(in, line);) {
    auto doc = boost::json::parse(line).as_object();
    if (doc.at("case").as_string().starts_with("worst case: all fields 2-64 + 90, typical")) {
      return std::string(doc.at("hex").as_string());
    }
  }
  std::abort();
}

void Decode(benchmark::State& state, const char* dialect_name, const std::string& wire) {
  auto dialect = sy::iso8583::LoadDialect(dialect_name).value();
  Message msg;
  if (!sy::iso8583::Unpack(*dialect, wire, msg)) {
    state.SkipWithError("sample does not decode");
    return;
  }
  const long before = g_allocations.load();
  for (auto _ : state) {
    auto r = sy::iso8583::Unpack(*dialect, wire, msg);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(msg);
  }
  state.counters["allocs"] = benchmark::Counter(static_cast<double>(g_allocations.load() - before),
                                                benchmark::Counter::kAvgIterations);
  state.counters["fields"] = msg.field_count();
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}

void Encode(benchmark::State& state, const char* dialect_name, const Message& msg) {
  auto dialect = sy::iso8583::LoadDialect(dialect_name).value();
  std::string out;
  out.reserve(4096);
  const long before = g_allocations.load();
  for (auto _ : state) {
    out.clear();
    auto r = sy::iso8583::Pack(*dialect, msg, out);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["allocs"] = benchmark::Counter(static_cast<double>(g_allocations.load() - before),
                                                benchmark::Counter::kAvgIterations);
  state.counters["fields"] = msg.field_count();
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}

std::string Packed(const char* dialect_name, const Message& msg) {
  std::string out;
  if (!sy::iso8583::Pack(*sy::iso8583::LoadDialect(dialect_name).value(), msg, out)) {
    std::abort();
  }
  return out;
}

Message Unpacked(const char* dialect_name, const std::string& wire) {
  Message m;
  if (!sy::iso8583::Unpack(*sy::iso8583::LoadDialect(dialect_name).value(), wire, m)) {
    std::abort();
  }
  return m;  // a copy owns its values
}

std::string FromHexOrDie(const std::string& hex) {
  std::string out;
  if (!sy::iso8583::FromHex(hex, out)) {
    std::abort();
  }
  return out;
}

void BM_Decode0200_87B(benchmark::State& s) {
  static const std::string wire = Packed("iso87b", TypicalPurchase());
  Decode(s, "iso87b", wire);
}
void BM_Decode0200_87A(benchmark::State& s) {
  static const std::string wire = Packed("iso87a", TypicalPurchase());
  Decode(s, "iso87a", wire);
}
void BM_Encode0200_87B(benchmark::State& s) {
  static const Message msg = TypicalPurchase();
  Encode(s, "iso87b", msg);
}
void BM_Encode0200_87A(benchmark::State& s) {
  static const Message msg = TypicalPurchase();
  Encode(s, "iso87a", msg);
}
void BM_DecodeAllFields_87B(benchmark::State& s) {
  static const std::string wire = FromHexOrDie(AllFieldsHex("87b.jsonl"));
  Decode(s, "iso87b", wire);
}
void BM_DecodeAllFields_87A(benchmark::State& s) {
  static const std::string wire = FromHexOrDie(AllFieldsHex("87a.jsonl"));
  Decode(s, "iso87a", wire);
}
void BM_EncodeAllFields_87B(benchmark::State& s) {
  static const Message msg = Unpacked("iso87b", FromHexOrDie(AllFieldsHex("87b.jsonl")));
  Encode(s, "iso87b", msg);
}
void BM_EncodeAllFields_87A(benchmark::State& s) {
  static const Message msg = Unpacked("iso87a", FromHexOrDie(AllFieldsHex("87a.jsonl")));
  Encode(s, "iso87a", msg);
}

BENCHMARK(BM_Decode0200_87B);
BENCHMARK(BM_Decode0200_87A);
BENCHMARK(BM_Encode0200_87B);
BENCHMARK(BM_Encode0200_87A);
BENCHMARK(BM_DecodeAllFields_87B);
BENCHMARK(BM_DecodeAllFields_87A);
BENCHMARK(BM_EncodeAllFields_87B);
BENCHMARK(BM_EncodeAllFields_87A);

}  // namespace

BENCHMARK_MAIN();
