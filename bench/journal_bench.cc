// Durable journal appends (Release builds only): appends per second and append latency with 1, 8
// and 64 producer threads, each calling Journal::AppendSync in a loop (so at most one append per
// producer is in flight, as with one transaction per session), next to what the disk under the
// store can do:
//  - BM_RawFdatasync: write 256 bytes + fdatasync on a file in the store's directory, appending
//    (as a log does: the file grows) and overwriting (the size never changes);
//  - BM_RocksDbPutSync: one RocksDB Put with sync=true at a time, a journal-sized value, no group
//    commit: the one-sync-per-record baseline without the journal around it;
//  - BM_JournalAppend/producers:1 is the journal's one-sync-per-record figure (a group of one).
//
// Each benchmark runs for SY_BENCH_SECONDS (default 3) on a fresh store in SY_BENCH_DIR (default
// the system temporary directory; put it on the file system the switch's store will use).
// Counters: per_s (durable appends or syncs per second), p50_us/p99_us/max_us (latency of one
// call), group (appends per sync), write_us (mean DB::Write time of a group, sync included),
// cpu_us (process CPU time per append, every thread) and x_one_sync (per_s over producers:1's
// per_s from the same run).

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "crypto/pan_protector.h"
#include "crypto/secret_bytes.h"
#include "storage/journal.h"
#include "storage/store.h"

namespace {

using Clock = std::chrono::steady_clock;
using sy::storage::Journal;
using sy::storage::Store;

double RunSeconds() {
  const char* v = std::getenv("SY_BENCH_SECONDS");
  return v != nullptr ? std::max(0.1, std::atof(v)) : 3.0;
}

std::filesystem::path BaseDir() {
  const char* v = std::getenv("SY_BENCH_DIR");
  return v != nullptr ? std::filesystem::path(v) : std::filesystem::temp_directory_path();
}

// A fresh directory for one benchmark, removed afterwards.
class ScratchDir {
 public:
  ScratchDir() {
    std::random_device rd;
    path_ = BaseDir() / ("sy-journal-bench-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Latencies in nanoseconds, one vector per thread, merged at the end.
struct Latencies {
  std::vector<std::vector<std::uint32_t>> per_thread;
  explicit Latencies(int threads) : per_thread(static_cast<std::size_t>(threads)) {
    for (auto& v : per_thread) {
      v.reserve(1 << 12);
    }
  }
  void Report(benchmark::State& state) const {
    std::vector<std::uint32_t> all;
    for (const auto& v : per_thread) {
      all.insert(all.end(), v.begin(), v.end());
    }
    if (all.empty()) {
      return;
    }
    auto pct = [&all](double p) {
      auto nth = all.begin() + static_cast<std::ptrdiff_t>(p * static_cast<double>(all.size() - 1));
      std::nth_element(all.begin(), nth, all.end());
      return static_cast<double>(*nth) / 1000.0;
    };
    state.counters["p50_us"] = pct(0.50);
    state.counters["p99_us"] = pct(0.99);
    state.counters["max_us"] = pct(1.0);
  }
};

// CPU time of the whole process (every thread, RocksDB's included), in microseconds.
double ProcessCpuMicros() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

std::uint32_t NanosSince(Clock::time_point t) {
  return static_cast<std::uint32_t>(std::min<std::int64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t).count(), UINT32_MAX));
}

// Runs `body(thread, latencies)` in `threads` threads until the time box closes; returns the
// elapsed wall time (from the start signal to the last thread's end) and the number of calls.
template <class Body>
std::pair<double, std::uint64_t> TimeBoxed(int threads, Latencies& lat, Body body) {
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> calls{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      while (!go.load(std::memory_order_acquire)) {
        std::this_thread::yield();
      }
      auto& mine = lat.per_thread[static_cast<std::size_t>(t)];
      std::uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const auto start = Clock::now();
        body(t, n);
        mine.push_back(NanosSince(start));
        ++n;
      }
      calls.fetch_add(n);
    });
  }
  const auto start = Clock::now();
  go.store(true, std::memory_order_release);
  std::this_thread::sleep_for(std::chrono::duration<double>(RunSeconds()));
  stop.store(true);
  for (auto& w : workers) {
    w.join();
  }
  return {std::chrono::duration<double>(Clock::now() - start).count(), calls.load()};
}

// --- the disk ---------------------------------------------------------------------------------

void BM_RawFdatasync(benchmark::State& state) {
  const bool overwrite = state.range(0) == 1;
  ScratchDir dir;
  const std::string file = (dir.path() / "probe").string();
  const int fd = open(file.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    state.SkipWithError("cannot create the probe file");
    return;
  }
  char block[256];
  std::fill(std::begin(block), std::end(block), 'x');
  bool failed = false;
  for (auto _ : state) {
    Latencies lat(1);
    auto [seconds, n] = TimeBoxed(1, lat, [&](int, std::uint64_t) {
      const ssize_t w =
          overwrite ? pwrite(fd, block, sizeof block, 0) : write(fd, block, sizeof block);
      failed |= w != static_cast<ssize_t>(sizeof block) || fdatasync(fd) != 0;
    });
    state.SetIterationTime(seconds);
    state.counters["per_s"] = static_cast<double>(n) / seconds;
    lat.Report(state);
  }
  close(fd);
  if (failed) {
    state.SkipWithError("write or fdatasync failed");
  }
}
BENCHMARK(BM_RawFdatasync)
    ->ArgName("overwrite")
    ->Arg(0)
    ->Arg(1)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// --- RocksDB without the journal ----------------------------------------------------------------

void BM_RocksDbPutSync(benchmark::State& state) {
  ScratchDir dir;
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(options, dir.path().string(), &raw).ok()) {
    state.SkipWithError("cannot open RocksDB");
    return;
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  const std::string value(300, 'v');  // about a serialized record with a sealed PAN
  bool failed = false;
  for (auto _ : state) {
    Latencies lat(1);
    auto [seconds, n] = TimeBoxed(1, lat, [&](int, std::uint64_t i) {
      failed |= !db->Put(wo, sy::storage::EncodeU64(i), value).ok();
    });
    state.SetIterationTime(seconds);
    state.counters["per_s"] = static_cast<double>(n) / seconds;
    lat.Report(state);
  }
  if (failed) {
    state.SkipWithError("Put failed");
  }
}
BENCHMARK(BM_RocksDbPutSync)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

// --- the journal --------------------------------------------------------------------------------

sy::crypto::PanProtector MakePans() {
  auto key = sy::crypto::SecretBytes(32);
  for (std::size_t i = 0; i < key.size(); ++i) {
    key.data()[i] = static_cast<std::uint8_t>(i * 7 + 1);
  }
  return sy::crypto::PanProtector::Create("bench", key).value();
}

// A purchase as the switch journals its outcome: every index filled, PAN sealed by Prepare.
sy::proto::TransactionRecord Purchase(int producer, std::uint64_t seq) {
  char tid[16];
  char stan[16];
  char rrn[16];
  std::snprintf(tid, sizeof tid, "P%03d%04u", producer, static_cast<unsigned>(seq / 1000000));
  std::snprintf(stan, sizeof stan, "%06u", static_cast<unsigned>(seq % 1000000));
  std::snprintf(rrn, sizeof rrn, "%03d%09u", producer, static_cast<unsigned>(seq % 1000000000));
  sy::proto::TransactionRecord r;
  r.set_tid(tid);
  r.set_mid("MERCHANT0000001");
  r.set_mti("0200");
  r.set_processing_code("000000");
  r.set_stan(stan);
  r.set_rrn(rrn);
  r.set_transmission_time("1127093001");
  r.set_amount_minor(1000);
  r.set_currency(978);
  r.set_business_date("20261127");
  r.set_state(sy::proto::TXN_ANSWERED);
  r.set_response_code("00");
  return r;
}

double g_one_producer_per_s = 0;  // BM_JournalAppend/producers:1 of this run
constexpr std::string_view kPan = "4761739001010010";

void WriterCounters(benchmark::State& state, const Store& store, double per_s) {
  const sy::storage::WriterStats ws = store.writer_stats();
  if (ws.groups > 0) {
    state.counters["group"] = static_cast<double>(ws.writes) / static_cast<double>(ws.groups);
    state.counters["write_us"] =
        static_cast<double>(ws.sync_micros) / static_cast<double>(ws.groups);
  }
  if (g_one_producer_per_s > 0) {
    state.counters["x_one_sync"] = per_s / g_one_producer_per_s;
  }
}

void BM_JournalAppend(benchmark::State& state) {
  const int producers = static_cast<int>(state.range(0));
  ScratchDir dir;
  std::string why;
  auto opened = Store::Open({.path = dir.path().string()}, &why);
  if (!opened) {
    state.SkipWithError(why.c_str());
    return;
  }
  std::unique_ptr<Store> store = std::move(*opened);
  const auto pans = MakePans();
  Journal journal(*store, &pans);
  std::atomic<bool> failed{false};
  for (auto _ : state) {
    Latencies lat(producers);
    const double cpu_before = ProcessCpuMicros();
    auto [seconds, n] = TimeBoxed(producers, lat, [&](int t, std::uint64_t i) {
      auto rec = Purchase(t, i);
      if (journal.AppendSync(rec, kPan)) {
        failed = true;
      }
    });
    state.SetIterationTime(seconds);
    const double per_s = static_cast<double>(n) / seconds;
    state.counters["per_s"] = per_s;
    state.counters["cpu_us"] = (ProcessCpuMicros() - cpu_before) / static_cast<double>(n);
    lat.Report(state);
    if (producers == 1) {
      g_one_producer_per_s = per_s;
    } else {
      WriterCounters(state, *store, per_s);
    }
  }
  if (failed) {
    state.SkipWithError("an append failed");
  }
}
BENCHMARK(BM_JournalAppend)
    ->ArgName("producers")
    ->Arg(1)
    ->Arg(8)
    ->Arg(64)
    ->Arg(256)  // what it takes on a disk whose flush costs ~4 ms (see docs/performance.md)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// The switch's way: producers are coroutines on one io_context thread (a session each), awaiting
// Journal::Append; the writer thread completes a whole group with posts to that one thread, so an
// append costs no thread wake-up of its own. Prepare (sealing the PAN) runs on the io thread.
void BM_JournalAppendCoroutines(benchmark::State& state) {
  namespace asio = boost::asio;
  const int producers = static_cast<int>(state.range(0));
  ScratchDir dir;
  std::string why;
  auto opened = Store::Open({.path = dir.path().string()}, &why);
  if (!opened) {
    state.SkipWithError(why.c_str());
    return;
  }
  std::unique_ptr<Store> store = std::move(*opened);
  const auto pans = MakePans();
  Journal journal(*store, &pans);
  bool failed = false;
  for (auto _ : state) {
    asio::io_context io(1);
    Latencies lat(1);
    auto& mine = lat.per_thread[0];
    std::uint64_t n = 0;
    bool stop = false;
    for (int p = 0; p < producers; ++p) {
      asio::co_spawn(
          io,
          [&, p]() -> asio::awaitable<void> {
            for (std::uint64_t i = 0; !stop; ++i) {
              const auto start = Clock::now();
              auto [ec, id] = co_await journal.Append(Purchase(p, i), kPan,
                                                      asio::as_tuple(asio::use_awaitable));
              mine.push_back(NanosSince(start));
              ++n;
              failed |= ec || id == 0;
            }
          },
          asio::detached);
    }
    asio::steady_timer box(io, std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(RunSeconds())));
    box.async_wait([&stop](boost::system::error_code) { stop = true; });
    const double cpu_before = ProcessCpuMicros();
    const auto start = Clock::now();
    io.run();  // until every producer saw `stop` and its last append completed
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    state.SetIterationTime(seconds);
    const double per_s = static_cast<double>(n) / seconds;
    state.counters["per_s"] = per_s;
    state.counters["cpu_us"] = (ProcessCpuMicros() - cpu_before) / static_cast<double>(n);
    lat.Report(state);
    WriterCounters(state, *store, per_s);
  }
  if (failed) {
    state.SkipWithError("an append failed");
  }
}
BENCHMARK(BM_JournalAppendCoroutines)
    ->ArgName("producers")
    ->Arg(64)
    ->Arg(256)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

std::string FileSystemOf(const std::filesystem::path& p) {
  struct statfs s {};
  if (statfs(p.c_str(), &s) != 0) {
    return "unknown";
  }
  switch (static_cast<unsigned long>(s.f_type)) {
    case 0xEF53UL:
      return "ext4";
    case 0x58465342UL:
      return "xfs";
    case 0x9123683EUL:
      return "btrfs";
    case 0x01021994UL:
      return "tmpfs (not durable: the figures mean nothing)";
    case 0x794c7630UL:
      return "overlayfs";
    default: {
      char hex[32];
      std::snprintf(hex, sizeof hex, "0x%lx", static_cast<unsigned long>(s.f_type));
      return hex;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::AddCustomContext("store_dir", BaseDir().string());
  benchmark::AddCustomContext("store_fs", FileSystemOf(BaseDir()));
  benchmark::AddCustomContext("seconds_per_run", std::to_string(RunSeconds()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
