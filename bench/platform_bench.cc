// What the machine charges for the switch's hand-offs (Release builds only). The switch's CPU per
// authorization depends on the platform as much as on its code: every hand-off between its io
// thread and its journal writer, and every answer from another process, wakes a sleeping thread.
// On the project's 2-vCPU microVM such a wake-up costs several times what a system call does, and
// waking a thread that sleeps on the other vCPU costs several times what waking one on the same
// vCPU does (docs/performance.md, "Fifth round").
//  - BM_SystemCall: one getppid system call (syscall(2), not cached by libc).
//  - BM_WakeRoundTrip/same_cpu:0: two threads take turns through a mutex and a condition variable
//    (as the io thread and the journal writer do); each turn wakes the other thread, which sleeps
//    in the meantime. The scheduler places the threads.
//  - BM_WakeRoundTrip/same_cpu:1: the same with both threads pinned to one CPU.
// Counters: cpu_us is the process's CPU time (both threads) per round trip, two wake-ups;
// the reported time is wall-clock time per round trip.

#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

namespace {

double ProcessCpuSeconds() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

void BM_SystemCall(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(syscall(SYS_getppid));
  }
}
BENCHMARK(BM_SystemCall);

// Pins the calling thread to `cpu`; false when the machine does not let it.
bool PinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

// The first CPU this process may run on.
int FirstAllowedCpu() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) {
    return 0;
  }
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) {
      return cpu;
    }
  }
  return 0;
}

void BM_WakeRoundTrip(benchmark::State& state) {
  const bool same_cpu = state.range(0) != 0;
  const int cpu = FirstAllowedCpu();
  cpu_set_t before;
  CPU_ZERO(&before);
  pthread_getaffinity_np(pthread_self(), sizeof(before), &before);
  if (same_cpu && !PinTo(cpu)) {
    state.SkipWithError("cannot pin the benchmark thread");
    return;
  }
  std::mutex mu;
  std::condition_variable cv;
  bool ball_here = false;  // true: the partner holds the turn
  bool stop = false;
  bool partner_pinned = true;
  std::thread partner([&] {
    if (same_cpu && !PinTo(cpu)) {
      partner_pinned = false;  // read after join
    }
    std::unique_lock lock(mu);
    while (true) {
      cv.wait(lock, [&] { return ball_here || stop; });
      if (stop) {
        return;
      }
      ball_here = false;
      cv.notify_one();
    }
  });
  const double cpu_start = ProcessCpuSeconds();
  for (auto _ : state) {
    std::unique_lock lock(mu);
    ball_here = true;
    cv.notify_one();
    cv.wait(lock, [&] { return !ball_here; });
  }
  const double cpu_seconds = ProcessCpuSeconds() - cpu_start;
  {
    std::lock_guard lock(mu);
    stop = true;
  }
  cv.notify_one();
  partner.join();
  pthread_setaffinity_np(pthread_self(), sizeof(before), &before);
  if (!partner_pinned) {
    state.SkipWithError("cannot pin the partner thread");
    return;
  }
  state.counters["cpu_us"] =
      benchmark::Counter(cpu_seconds * 1e6 / static_cast<double>(state.iterations()));
}
BENCHMARK(BM_WakeRoundTrip)->ArgName("same_cpu")->Arg(0)->Arg(1)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
