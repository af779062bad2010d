#include "storage/store.h"

#include <pthread.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

namespace sy::storage {
namespace {

const char* const kCfNames[] = {"default",  // RocksDB's default family holds kMeta
                                "journal",  "journal_index", "in_flight", "saf",
                                "registry", "audit",         "batch"};
static_assert(std::size(kCfNames) == static_cast<std::size_t>(Cf::kCount));

// Insert hints for the memtable's skip list. Most keys the switch writes arrive in order within a
// group — journal ids, in-flight marks and audit sequences overall; an index's keys per terminal,
// merchant or business date; a terminal's duplicate-window entries; a SAF destination's sequence;
// a terminal's KSN mark, which is the same key again — so RocksDB can insert each one next to the
// previous key of its group (the "prefix" here) instead of searching the skip list from the top:
// that search was the switch's largest single cost (docs/performance.md). A hint is only a
// starting point: RocksDB checks it, so a key out of order costs a normal search, never a wrong
// order. Keys with no group (retrieval reference numbers, registry records) are not in the domain.
class InsertHintPrefix final : public rocksdb::SliceTransform {
 public:
  explicit InsertHintPrefix(Cf cf) : cf_(cf) {}
  const char* Name() const override { return "switchyard.InsertHintPrefix"; }

  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), PrefixLength(key));
  }
  bool InDomain(const rocksdb::Slice& key) const override { return PrefixLength(key) != kNone; }

 private:
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);

  // The length of `key`'s group prefix, or kNone.
  std::size_t PrefixLength(const rocksdb::Slice& key) const {
    const std::string_view k(key.data(), key.size());
    switch (cf_) {
      case Cf::kJournal:
      case Cf::kInFlight:
      case Cf::kAudit:
        return 0;  // one increasing sequence
      case Cf::kJournalIndex: {
        // journal.cc: a type letter, then '\0'-separated parts; the first part is the group.
        // "R" (RRN + date) is one group: the switch's RRNs are the day's Julian date and the
        // journal id (switch/business_day.cc), so each one sorts right after the previous one.
        if (k.empty()) {
          return kNone;
        }
        if (k[0] == 'R') {
          return 1;
        }
        const std::size_t end = k.find('\0', 1);
        return end == std::string_view::npos ? k.size() : end + 1;
      }
      case Cf::kSaf: {
        const std::size_t end = k.find('\0');  // destination '\0' sequence
        return end == std::string_view::npos ? kNone : end + 1;
      }
      case Cf::kMeta: {
        if (k.starts_with("dup/")) {  // dup/<business date>/<tid>/<request key>
          const std::size_t date_end = k.find('/', 4);
          const std::size_t tid_end =
              date_end == std::string_view::npos ? date_end : k.find('/', date_end + 1);
          return tid_end == std::string_view::npos ? kNone : tid_end + 1;
        }
        if (k.starts_with("ksn-high-water/")) {
          return k.size();  // the same key, rewritten
        }
        return kNone;
      }
      default:
        return kNone;
    }
  }

  Cf cf_;
};

// Options chosen for this write pattern: small records written in synchronous groups, read back
// by point look-ups (journal, indexes) and short prefix scans (SAF heads, batches).
rocksdb::ColumnFamilyOptions FamilyOptions(const std::shared_ptr<rocksdb::Cache>& cache,
                                           bool point_lookups, Cf cf) {
  rocksdb::ColumnFamilyOptions o;
  if (cf != Cf::kRegistry && cf != Cf::kBatch) {
    o.memtable_insert_with_hint_prefix_extractor = std::make_shared<InsertHintPrefix>(cf);
  }
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = cache;  // one cache shared by every family, sized by StoreOptions
  if (point_lookups) {
    // Bloom filters spare a disk read for keys that are absent: duplicate checks and index
    // look-ups mostly ask for keys that are not there.
    t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  }
  t.cache_index_and_filter_blocks = true;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  // LZ4 is cheap enough for the hot levels; the bottom level, where old journal records rest
  // until retention removes them, gets zstd for space.
  o.compression = rocksdb::kLZ4Compression;
  o.bottommost_compression = rocksdb::kZSTD;
  o.level_compaction_dynamic_level_bytes = true;
  return o;
}

}  // namespace

std::string EncodeU64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) {
    s[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xFF);
  }
  return s;
}

std::uint64_t DecodeU64(std::string_view s) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v = (v << 8) | static_cast<unsigned char>(s[static_cast<std::size_t>(i)]);
  }
  return v;
}

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options, std::string* why) {
  std::error_code fs_error;
  std::filesystem::create_directories(options.path, fs_error);
  if (fs_error) {
    if (why != nullptr) {
      *why = "cannot create the store directory " + options.path + ": " + fs_error.message();
    }
    return make_error_code(Error::kIo);
  }
  std::unique_ptr<Store> store(new Store());
  store->options_ = options;
  rocksdb::DBOptions db;
  db.create_if_missing = true;
  db.create_missing_column_families = true;
  // The WAL is what makes a synchronous write durable; keep it, and bound it so that recovery
  // after a crash replays little.
  db.max_total_wal_size = 256 << 20;
  db.max_background_jobs = 2;  // the machine has 2 cores; the switch needs them too
  // Flushes and compactions run at the lowest CPU priority (nice 19): they yield the cores to the
  // io threads and the journal writer, and use the idle time. A flush is a burst of 0.1-0.5 s of
  // CPU; at normal priority, on 2 cores shared with the io thread, the writer, the issuer and the
  // harness, the seconds with a flush were the open loop's worst (docs/performance.md). RocksDB
  // still slows and then stops writes when memtables or level-0 files pile up, so starving the
  // background threads under a saturating load makes the load wait, never loses a write.
  (void)rocksdb::Env::Default()->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::HIGH,
                                                            rocksdb::CpuPriority::kLow);
  (void)rocksdb::Env::Default()->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::LOW,
                                                            rocksdb::CpuPriority::kLow);
  // A flush or compaction hands its table file to the kernel every 512 KiB (sync_file_range,
  // asynchronous) instead of leaving tens of MB dirty until the file's final fsync. That burst
  // sat in the disk queue in front of the journal's next WAL sync: syncs of 5-25 ms in the
  // seconds of a flush. Open loop, 8,000/s, 40 s, five interleaved pairs: p99 7.2-9.6 ms with it,
  // 6.9-15.9 ms without (docs/performance.md).
  db.bytes_per_sync = 512 << 10;
  db.keep_log_file_num = 5;
  db.paranoid_checks = true;
  auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (std::size_t i = 0; i < std::size(kCfNames); ++i) {
    const bool point = static_cast<Cf>(i) == Cf::kJournal ||
                       static_cast<Cf>(i) == Cf::kJournalIndex ||
                       static_cast<Cf>(i) == Cf::kRegistry;
    families.emplace_back(kCfNames[i], FamilyOptions(cache, point, static_cast<Cf>(i)));
  }
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (options.read_only) {
    // A secondary instance keeps its own info log in a directory of its own.
    const auto secondary =
        std::filesystem::temp_directory_path() / ("sy-store-reader-" + std::to_string(::getpid()));
    std::filesystem::create_directories(secondary, fs_error);
    db.create_if_missing = false;
    db.create_missing_column_families = false;
    db.max_open_files = -1;  // required of secondary instances
    s = rocksdb::DB::OpenAsSecondary(db, options.path, secondary.string(), families, &store->cfs_,
                                     &raw);
    if (s.ok()) {
      s = raw->TryCatchUpWithPrimary();
    }
  } else {
    s = rocksdb::DB::Open(db, options.path, families, &store->cfs_, &raw);
  }
  if (!s.ok()) {
    if (why != nullptr) {
      *why = "cannot open the store at " + options.path + ": " + s.ToString();
    }
    return make_error_code(s.IsCorruption() ? Error::kCorruption : Error::kIo);
  }
  store->db_.reset(raw);
  if (options.read_only) {
    store->closing_ = true;  // no writer: every Submit is refused with kClosed
  } else {
    store->writer_ = std::thread([s = store.get()] { s->WriterLoop(); });
  }
  return store;
}

Store::~Store() {
  Close();
  if (writer_.joinable()) {
    writer_.join();
  }
  for (auto* cf : cfs_) {
    if (db_) {
      (void)db_->DestroyColumnFamilyHandle(cf);  // only fails for a null handle
    }
  }
  cfs_.clear();
  db_.reset();
}

void Store::Close() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
}

void Store::Submit(std::vector<Mutation> write, Done done) {
  boost::system::error_code refuse;
  {
    std::lock_guard lock(mu_);
    if (closing_) {
      refuse = make_error_code(Error::kClosed);
    } else if (queue_.size() >= options_.max_pending_writes) {
      refuse = make_error_code(Error::kOverloaded);
    } else {
      queue_.push_back({std::move(write), std::move(done)});
    }
  }
  if (refuse) {
    done(refuse);
    return;
  }
  cv_.notify_one();
}

boost::system::error_code Store::Write(std::vector<Mutation> write) {
  std::promise<boost::system::error_code> p;
  auto f = p.get_future();
  Submit(std::move(write), [&p](boost::system::error_code ec) { p.set_value(ec); });
  return f.get();
}

boost::system::error_code Store::DeleteRange(Cf cf, std::string_view begin, std::string_view end) {
  if (options_.read_only) {
    return make_error_code(Error::kClosed);
  }
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  const rocksdb::Status s = db_->DeleteRange(wo, cfs_[static_cast<std::size_t>(cf)],
                                             rocksdb::Slice(begin.data(), begin.size()),
                                             rocksdb::Slice(end.data(), end.size()));
  return FromStatus(&s);
}

void Store::WriterLoop() {
  // Named for top -H, perf and `switchyard bench`'s CPU by thread (15 characters at most).
  pthread_setname_np(pthread_self(), "sy-journal");
  std::deque<Pending> group;
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  std::size_t last_group = 0;
  std::int64_t last_micros = 0;
  // One batch for the writer's life: Clear keeps its buffer, so a busy writer does not allocate
  // (and free, and consolidate) a large buffer per group.
  rocksdb::WriteBatch batch;
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return !queue_.empty() || closing_; });
      if (queue_.empty()) {
        return;  // closing, and everything queued has been written
      }
      // Gather: when the previous group was much bigger, its writers are resubmitting right now;
      // wait a fraction of a sync for them rather than sync a handful and make the rest wait a
      // whole sync more (PostgreSQL's commit_delay). Bounded: a quarter of the last sync, 1 ms.
      if (queue_.size() * 2 < last_group) {
        const auto window =
            std::chrono::microseconds(std::min<std::int64_t>(last_micros / 4, 1000));
        cv_.wait_for(lock, window, [&] { return closing_ || queue_.size() >= last_group; });
      }
      group.swap(queue_);
      last_group = group.size();
    }
    batch.Clear();
    for (const Pending& p : group) {
      for (const Mutation& m : p.write) {
        auto* cf = cfs_[static_cast<std::size_t>(m.cf)];
        // WriteBatch only fails on out-of-memory or size overflow, which the final Write reports.
        (void)(m.erase ? batch.Delete(cf, m.key) : batch.Put(cf, m.key, m.value));
      }
    }
    const auto start = std::chrono::steady_clock::now();
    const rocksdb::Status s = db_->Write(wo, &batch);
    if (batch.GetDataSize() > (8U << 20)) {
      batch = rocksdb::WriteBatch();  // a rare huge group (a batch close) does not stay resident
    }
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - start)
                            .count();
    last_micros = micros;
    const boost::system::error_code ec = FromStatus(&s);
    {
      std::lock_guard lock(mu_);
      ++stats_.groups;
      stats_.writes += group.size();
      stats_.max_group = std::max<std::uint64_t>(stats_.max_group, group.size());
      stats_.sync_micros += static_cast<std::uint64_t>(micros);
    }
    for (Pending& p : group) {
      p.done(ec);
    }
    group.clear();
  }
}

boost::system::error_code Store::FromStatus(const void* status) const {
  const auto& s = *static_cast<const rocksdb::Status*>(status);
  if (s.ok()) {
    return {};
  }
  {
    std::lock_guard lock(mu_);
    last_error_ = s.ToString();
  }
  if (s.IsNotFound()) {
    return make_error_code(Error::kNotFound);
  }
  return make_error_code(s.IsCorruption() ? Error::kCorruption : Error::kIo);
}

Result<std::string> Store::Get(Cf cf, std::string_view key) const {
  std::string value;
  const rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cfs_[static_cast<std::size_t>(cf)], key, &value);
  if (!s.ok()) {
    return FromStatus(&s);
  }
  return value;
}

boost::system::error_code Store::Scan(
    Cf cf, std::string_view prefix,
    const std::function<bool(std::string_view, std::string_view)>& visit) const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), cfs_[static_cast<std::size_t>(cf)]));
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    const std::string_view k(it->key().data(), it->key().size());
    if (!k.starts_with(prefix)) {
      break;
    }
    if (!visit(k, std::string_view(it->value().data(), it->value().size()))) {
      break;
    }
  }
  const rocksdb::Status s = it->status();
  return FromStatus(&s);
}

Result<std::string> Store::LastKey(Cf cf) const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), cfs_[static_cast<std::size_t>(cf)]));
  it->SeekToLast();
  if (!it->status().ok()) {
    const rocksdb::Status s = it->status();
    return FromStatus(&s);
  }
  return it->Valid() ? it->key().ToString() : std::string();
}

boost::system::error_code Store::VerifyChecksums() const {
  const rocksdb::Status s = db_->VerifyChecksum();
  return FromStatus(&s);
}

WriterStats Store::writer_stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

std::string Store::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

}  // namespace sy::storage
