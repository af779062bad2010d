// KeyedLock: holders of one key are serialized across strands and threads; other keys are not
// held up.

#include "switch/keyed_lock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <thread>
#include <vector>

namespace sy::server {
namespace {

namespace asio = boost::asio;

TEST(KeyedLockTest, SerializesHoldersOfOneKeyAcrossThreads) {
  asio::io_context io(2);
  KeyedLock locks;
  int inside = 0;  // holders of "txn/1" at this moment (only touched while holding it)
  int max_inside = 0;
  std::atomic<int> finished{0};
  constexpr int kWorkers = 16;
  for (int i = 0; i < kWorkers; ++i) {
    auto strand = asio::make_strand(io);
    asio::co_spawn(
        strand,
        [&]() -> asio::awaitable<void> {
          for (int round = 0; round < 20; ++round) {
            auto guard = co_await locks.Acquire("txn/1");
            ++inside;
            max_inside = std::max(max_inside, inside);
            asio::steady_timer pause(co_await asio::this_coro::executor,
                                     std::chrono::microseconds(50));
            co_await pause.async_wait(asio::use_awaitable);  // suspended while holding it
            --inside;
          }
          ++finished;
        },
        asio::detached);
  }
  std::thread other([&] { io.run(); });
  io.run();
  other.join();
  EXPECT_EQ(finished.load(), kWorkers);
  EXPECT_EQ(max_inside, 1);
  EXPECT_EQ(locks.held(), 0U);
}

TEST(KeyedLockTest, DoesNotHoldUpOtherKeysAndReleasesOnMove) {
  asio::io_context io;
  KeyedLock locks;
  bool second_got_other_key = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto a = co_await locks.Acquire("batch/T1");
        auto b = co_await locks.Acquire("batch/T2");  // another key: no wait
        second_got_other_key = true;
        EXPECT_EQ(locks.held(), 2U);
        KeyedLock::Guard moved = std::move(a);
        moved.Release();
        EXPECT_EQ(locks.held(), 1U);
        auto again = co_await locks.Acquire("batch/T1");  // free again
        EXPECT_EQ(locks.held(), 2U);
      },
      asio::detached);
  io.run();
  EXPECT_TRUE(second_got_other_key);
  EXPECT_EQ(locks.held(), 0U);
}

}  // namespace
}  // namespace sy::server
