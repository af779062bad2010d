#pragma once

// sy::storage — everything that must survive a crash, in RocksDB: the transaction journal
// (journal.h), the store-and-forward queue (saf_queue.h) and the registry (registry.h) share one
// Store, one database with a column family per record kind, and one group-commit writer.
//
//   auto store = sy::storage::Store::Open({.path = "data/store"}).value();
//   sy::storage::Journal journal(*store, pan_protector);
//   auto [ec] = co_await journal.Append(record, pan, as_tuple(use_awaitable));  // durable
//
// Group commit: every write is a list of mutations handed to the writer thread, which gathers
// all that arrived since its last sync into one WriteBatch, writes it with sync=true, and then
// completes every waiter. One fdatasync serves many transactions, so throughput grows with the
// number of concurrent writers while each write stays durable before it is acknowledged.

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storage/error.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class WriteBatch;
}  // namespace rocksdb

namespace sy::storage {

// Column families, one per record kind.
enum class Cf : int {
  kMeta = 0,      // counters and markers (RocksDB's "default" family)
  kJournal,       // transaction id -> TransactionRecord
  kJournalIndex,  // look-up keys -> transaction id (see journal.cc for the key layouts)
  kInFlight,      // transaction id -> "" while "forwarded" has no outcome
  kSaf,           // destination + sequence -> SafEntry
  kRegistry,      // kind + id -> registry record
  kAudit,         // sequence -> AuditEntry
  kBatch,         // terminal batches and settlement records (batch_store.cc)
  kCount,
};

struct StoreOptions {
  std::string path;                          // the RocksDB directory; created if missing
  std::size_t max_pending_writes = 65536;    // group-commit queue bound. Default: 65536
  std::size_t block_cache_bytes = 64 << 20;  // Default: 64 MiB
  bool sync = true;  // fdatasync every group. Only tests of non-durable paths turn it off.
  // Open as a read-only secondary instance (RocksDB OpenAsSecondary), beside a running switch
  // that holds the primary: tools look records up without stopping it. Writes fail with
  // kClosed. Default: false
  bool read_only = false;
};

// One mutation of a write: put (value set) or delete (erase).
struct Mutation {
  Cf cf;
  std::string key;
  std::string value;
  bool erase = false;
};

// Statistics of the group-commit writer, for metrics and benchmarks.
struct WriterStats {
  std::uint64_t groups = 0;       // syncs done
  std::uint64_t writes = 0;       // writes completed
  std::uint64_t max_group = 0;    // largest group seen
  std::uint64_t sync_micros = 0;  // total time spent in DB::Write
};

class Store {
 public:
  // Opens (creating if needed) the database and starts the writer thread. Start-up failures
  // (a locked or corrupt directory) are errors with a message in *why when given.
  [[nodiscard]] static Result<std::unique_ptr<Store>> Open(const StoreOptions& options,
                                                           std::string* why = nullptr);
  ~Store();  // drains the queue, stops the writer, closes the database
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Hands a write to the group-commit writer; `done` runs on the writer thread once the write is
  // durable (or failed). kOverloaded at once when the queue is full, kClosed after Close.
  using Done = std::function<void(boost::system::error_code)>;
  void Submit(std::vector<Mutation> write, Done done);

  // Awaitable form: completes on the caller's associated executor, never blocking it.
  template <class CompletionToken>
  auto AsyncWrite(std::vector<Mutation> write, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
        [this](auto handler, std::vector<Mutation> w) {
          // A tracked executor keeps the io_context running while the write is pending.
          auto ex = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                        boost::asio::execution::outstanding_work.tracked);
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          Submit(std::move(w), [ex, shared](boost::system::error_code ec) {
            boost::asio::post(ex, [shared, ec]() mutable { (*shared)(ec); });
          });
        },
        token, std::move(write));
  }

  // Blocking form, for tools, tests and start-up.
  [[nodiscard]] boost::system::error_code Write(std::vector<Mutation> write);

  // Deletes every key in [begin, end) of a family with one range tombstone (durable on return).
  // For expiring a whole prefix at once, e.g. yesterday's duplicate window.
  [[nodiscard]] boost::system::error_code DeleteRange(Cf cf, std::string_view begin,
                                                      std::string_view end);

  // Reads one value; kNotFound when absent.
  [[nodiscard]] Result<std::string> Get(Cf cf, std::string_view key) const;
  // Calls visit(key, value) for every key starting with prefix, in key order, until it returns
  // false.
  [[nodiscard]] boost::system::error_code Scan(
      Cf cf, std::string_view prefix,
      const std::function<bool(std::string_view, std::string_view)>& visit) const;
  // The last key of a family (for restoring counters), or empty.
  [[nodiscard]] Result<std::string> LastKey(Cf cf) const;

  // Checks every block's checksum (RocksDB VerifyChecksum).
  [[nodiscard]] boost::system::error_code VerifyChecksums() const;

  [[nodiscard]] WriterStats writer_stats() const;
  // The last RocksDB status text, for logs (never carries record contents).
  [[nodiscard]] std::string last_error() const;

  // Stops taking writes; what is queued is still written. Idempotent.
  void Close();

 private:
  Store() = default;
  void WriterLoop();
  boost::system::error_code FromStatus(const void* status) const;

  struct Pending {
    std::vector<Mutation> write;
    Done done;
  };

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;
  StoreOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool closing_ = false;
  WriterStats stats_;
  mutable std::string last_error_;
  std::thread writer_;
};

// Every value under `prefix` in `cf`, parsed as Proto, in key order; kCorruption when one does
// not parse.
template <class Proto>
[[nodiscard]] Result<std::vector<Proto>> ScanProtos(const Store& store, Cf cf,
                                                    std::string_view prefix) {
  std::vector<Proto> out;
  bool corrupt = false;
  auto ec = store.Scan(cf, prefix, [&](std::string_view, std::string_view v) {
    Proto p;
    if (!p.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
      corrupt = true;
      return false;
    }
    out.push_back(std::move(p));
    return true;
  });
  if (ec) {
    return ec;
  }
  if (corrupt) {
    return make_error_code(Error::kCorruption);
  }
  return out;
}

// Big-endian fixed-width integers, so keys sort in numeric order.
std::string EncodeU64(std::uint64_t v);
std::uint64_t DecodeU64(std::string_view s);  // precondition: s.size() >= 8

}  // namespace sy::storage
