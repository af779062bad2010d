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
  Store& store_;
  std::mutex enqueue_mu_;
  std::uint64_t next_seq_ = 1;  // guarded by enqueue_mu_ after construction
};

}  // namespace sy::storage
