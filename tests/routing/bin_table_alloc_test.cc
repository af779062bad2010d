// Lookup must not allocate: this file replaces the global operator new of the test binary with
// one that counts, and checks the count does not move across many lookups.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "routing/bin_router.h"
#include "routing/bin_table.h"

namespace {
std::atomic<long> g_allocations{0};

void* CountedAlloc(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) {
    return p;
  }
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) { return CountedAlloc(n); }
void* operator new[](std::size_t n) { return CountedAlloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace sy::routing {
namespace {

TEST(BinTableAllocationTest, LookupAndSnapshotAllocateNothing) {
  BinRouter router(BinTable::Build({BinEntry{"400000", "499999", "visa", false, "visa-net"},
                                    BinEntry{"41234500", "41234599", "visa", true, "on-us"},
                                    BinEntry{"51000000000", "51999999999", "mc", false, "mc-net"}},
                                   {"visa-net", "on-us", "mc-net"})
                       .value());
  const std::vector<std::string> pans = {"4123455000000001",    "4000000000000002",
                                         "5100000000000000003", "6011000000000004",
                                         "41234X5000000001",    "412345"};
  const long before = g_allocations.load();
  long hits = 0;
  for (int round = 0; round < 2000; ++round) {
    const auto table = router.Snapshot();
    for (const std::string& pan : pans) {
      hits += table->Lookup(pan) != nullptr;
    }
  }
  EXPECT_EQ(g_allocations.load(), before);
  EXPECT_EQ(hits, 3 * 2000);
  // The counter does count: building a table allocates.
  (void)router.Replace(BinTable());
  EXPECT_GT(g_allocations.load(), before);
}

}  // namespace
}  // namespace sy::routing
