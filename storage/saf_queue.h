#pragma once

// The store-and-forward queue: reversals and advices owed to issuers, kept in RocksDB so that a
// restart loses none. One FIFO per destination: only the head of a destination is delivered,
// and the next entry waits until the head is acknowledged, so order per issuer holds.
//
//   SafQueue saf(store);
//   saf.Enqueue({.destination = "visa", .message_type = "0420", .txn_id = 42, ...});
//   auto head = saf.Head("visa");              // the entry to (re)send, if any
//   saf.RecordAttempt(*head, next_try_micros); // before sending: a repeat is then a 0421
//   saf.Acknowledge(*head);                    // on the 0430

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "proto/journal.pb.h"
#include "storage/store.h"

namespace sy::storage {

class SafQueue {
 public:
  explicit SafQueue(Store& store);

  // Appends an entry durably; assigns its sequence number (returned).
  [[nodiscard]] Result<std::uint64_t> Enqueue(proto::SafEntry entry);
  // Appends an entry in the same atomic, durable write as `also` (e.g. the journal records that
  // explain it: a voided transaction and its void), without blocking the caller: completes with
  // the entry's sequence number on the handler's executor once the write is synced. Either all of
  // it is durable or none.
  template <class CompletionToken>
  auto EnqueueWith(proto::SafEntry entry, std::vector<Mutation> also, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken,
                                       void(boost::system::error_code, std::uint64_t)>(
        [this](auto handler, proto::SafEntry e, std::vector<Mutation> w) {
          auto ex = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                        boost::asio::execution::outstanding_work.tracked);
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          auto ec = PrepareEnqueue(
              e, w, [ex, shared](boost::system::error_code error, std::uint64_t seq) {
                boost::asio::post(ex, [shared, error, seq]() mutable { (*shared)(error, seq); });
              });
          if (ec) {
            boost::asio::post(ex, [shared, ec]() mutable { (*shared)(ec, 0); });
          }
        },
        token, std::move(entry), std::move(also));
  }

  // The oldest unacknowledged entry of a destination, or std::nullopt when its queue is empty.
  [[nodiscard]] Result<std::optional<proto::SafEntry>> Head(std::string_view destination) const;
  // Counts an attempt and sets the next attempt time, durably, before the message goes out, so
  // that after a crash the retry is sent as a repeat (0421).
  [[nodiscard]] boost::system::error_code RecordAttempt(proto::SafEntry& entry,
                                                        std::int64_t next_attempt_micros);
  // Removes the entry: the destination acknowledged it.
  [[nodiscard]] boost::system::error_code Acknowledge(const proto::SafEntry& entry);

  // Every entry in queue order (destination, then sequence), for tools and metrics.
  [[nodiscard]] Result<std::vector<proto::SafEntry>> List() const;
  // Destinations that have at least one entry.
  [[nodiscard]] Result<std::vector<std::string>> Destinations() const;

 private:
  static std::string Key(std::string_view destination, std::uint64_t seq);
  // Assigns the sequence number and submits `entry` with `write` under the enqueue lock (so the
  // stored counter only grows); `done` runs on the writer thread. An invalid destination is
  // returned at once and nothing is submitted.
  boost::system::error_code PrepareEnqueue(
      proto::SafEntry& entry, std::vector<Mutation>& write,
      std::function<void(boost::system::error_code, std::uint64_t)> done);
  Store& store_;
  std::mutex enqueue_mu_;
  std::uint64_t next_seq_ = 1;  // guarded by enqueue_mu_ after construction
};

}  // namespace sy::storage
