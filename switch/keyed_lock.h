#pragma once

// An asynchronous lock per key, for coroutines on any strand: read-check-write sequences on one
// journal record (a refund against its purchase, a void, a completion, a reversal) or on one
// terminal batch are serialized, whichever terminal, connection or thread they arrive on.
// Waiting suspends the coroutine; it never blocks a thread. Acquire from a coroutine whose
// executor is a strand (or a one-thread io_context): the wake-up is posted there, so it cannot
// overtake the waiter's own suspension.
//
//   KeyedLock locks;
//   auto guard = co_await locks.Acquire("txn/42");   // released when `guard` goes away
//
// Holders should not wait long: a refund holds its purchase's lock across the issuer round trip,
// which is bounded by the route's timeout.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sy::server {

class KeyedLock {
 public:
  class Guard {
   public:
    Guard() = default;
    Guard(KeyedLock* owner, std::string key) : owner_(owner), key_(std::move(key)) {}
    Guard(Guard&& other) noexcept
        : owner_(std::exchange(other.owner_, nullptr)), key_(std::move(other.key_)) {}
    Guard& operator=(Guard&& other) noexcept {
      if (this != &other) {
        Release();
        owner_ = std::exchange(other.owner_, nullptr);
        key_ = std::move(other.key_);
      }
      return *this;
    }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() { Release(); }
    void Release() {
      if (owner_ != nullptr) {
        std::exchange(owner_, nullptr)->Release(key_);
      }
    }

   private:
    KeyedLock* owner_ = nullptr;
    std::string key_;
  };

  boost::asio::awaitable<Guard> Acquire(std::string key) {
    auto executor = co_await boost::asio::this_coro::executor;
    for (;;) {
      std::shared_ptr<boost::asio::steady_timer> wait;
      {
        std::lock_guard lock(mu_);
        auto [it, inserted] = held_.try_emplace(key);
        if (inserted) {
          break;
        }
        wait = std::make_shared<boost::asio::steady_timer>(
            executor, boost::asio::steady_timer::time_point::max());
        // The waiter's timer is cancelled on its own executor (timers are not thread-safe).
        it->second.push_back(
            [wait, executor] { boost::asio::post(executor, [wait] { wait->cancel(); }); });
      }
      (void)co_await wait->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
    co_return Guard(this, std::move(key));
  }

  // Keys held now (for tests and diagnostics).
  [[nodiscard]] std::size_t held() const {
    std::lock_guard lock(mu_);
    return held_.size();
  }

 private:
  void Release(const std::string& key) {
    std::vector<std::function<void()>> wake;
    {
      std::lock_guard lock(mu_);
      auto it = held_.find(key);
      if (it == held_.end()) {
        return;
      }
      wake = std::move(it->second);
      held_.erase(it);
    }
    for (auto& w : wake) {
      w();  // every waiter tries again; one wins, the others wait anew
    }
  }

  mutable std::mutex mu_;
  std::map<std::string, std::vector<std::function<void()>>> held_;  // key -> its waiters
};

}  // namespace sy::server
