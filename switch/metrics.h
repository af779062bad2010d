#pragma once

// Lock-free counters the pipeline bumps on every request, read by the metrics endpoint at each
// scrape (switch/daemon.cc copies them into the prometheus-cpp registry). Label values come from
// fixed sets — MTIs and response codes of the contract, configured route ids — never from card or
// terminal data.
//
//   RequestCounts counts({"issuer-a", "issuer-b"});
//   counts.Add("0200", "00", "issuer-a");
//   counts.ForEach([](auto mti, auto rc, auto route, std::uint64_t n) { ... });
//   LatencyHistogram e2e;
//   e2e.Observe(std::chrono::microseconds(850));

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sy::server {

class RequestCounts {
 public:
  static constexpr std::array<std::string_view, 9> kMtis = {"0100", "0200", "0220", "0320", "0400",
                                                            "0401", "0500", "0800", "other"};
  // The contract's response codes, "none" (no answer: the connection closed), "replay" (an exact
  // retransmission answered from the duplicate window), "other".
  static constexpr std::array<std::string_view, 23> kCodes = {
      "00", "03", "05", "12", "13", "14", "25", "30", "51",   "54",     "55",   "58",
      "61", "63", "75", "91", "92", "94", "95", "96", "none", "replay", "other"};

  // `routes`: the configured route ids; requests that reached none count under "none".
  explicit RequestCounts(std::vector<std::string> routes);

  void Add(std::string_view mti, std::string_view response_code, std::string_view route) noexcept;

  // Calls f(mti, response_code, route, count) for every non-zero count.
  template <class F>
  void ForEach(F&& f) const {
    for (std::size_t m = 0; m < kMtis.size(); ++m) {
      for (std::size_t c = 0; c < kCodes.size(); ++c) {
        for (std::size_t r = 0; r < routes_.size(); ++r) {
          const std::uint64_t n = cells_[Index(m, c, r)].load(std::memory_order_relaxed);
          if (n != 0) {
            f(kMtis[m], kCodes[c], std::string_view(routes_[r]), n);
          }
        }
      }
    }
  }

 private:
  [[nodiscard]] std::size_t Index(std::size_t mti, std::size_t code, std::size_t route) const {
    return (mti * kCodes.size() + code) * routes_.size() + route;
  }
  std::vector<std::string> routes_;  // "none" first, then the configured ids
  std::unique_ptr<std::atomic<std::uint64_t>[]> cells_;
};

// A fixed-bucket latency histogram (Prometheus-style cumulative buckets are made at export).
class LatencyHistogram {
 public:
  static constexpr std::array<double, 15> kBoundsSeconds = {
      0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10};

  void Observe(std::chrono::nanoseconds elapsed) noexcept;

  struct Snapshot {
    std::array<std::uint64_t, kBoundsSeconds.size() + 1> buckets{};  // last: above every bound
    std::uint64_t sum_nanos = 0;
  };
  [[nodiscard]] Snapshot Read() const noexcept;

 private:
  std::array<std::atomic<std::uint64_t>, kBoundsSeconds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> sum_nanos_{0};
};

}  // namespace sy::server
