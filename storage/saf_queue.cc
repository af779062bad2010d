#include "storage/saf_queue.h"

#include <algorithm>
#include <future>

namespace sy::storage {
namespace {
constexpr std::string_view kSeqKey = "saf.next_seq";
}  // namespace

SafQueue::SafQueue(Store& store) : store_(store) {
  // Sequence numbers are global (not per destination) and never reused: the counter is kept in
  // the meta family with every enqueue, since the queue itself may be empty after acks.
  if (auto v = store_.Get(Cf::kMeta, kSeqKey); v && v->size() == 8) {
    next_seq_ = DecodeU64(*v);
  }
  // Belt and braces: never below an entry still queued.
  (void)store_.Scan(Cf::kSaf, "", [this](std::string_view k, std::string_view) {
    if (k.size() >= 8) {
      next_seq_ = std::max(next_seq_, DecodeU64(k.substr(k.size() - 8)) + 1);
    }
    return true;
  });
}

std::string SafQueue::Key(std::string_view destination, std::uint64_t seq) {
  std::string k(destination);
  k += '\0';
  k += EncodeU64(seq);
  return k;
}

boost::system::error_code SafQueue::PrepareEnqueue(
    proto::SafEntry& entry, std::vector<Mutation>& write,
    std::function<void(boost::system::error_code, std::uint64_t)> done) {
  if (entry.destination().empty() || entry.destination().find('\0') != std::string::npos) {
    return make_error_code(Error::kInvalidArgument);
  }
  // Sequence numbers and the stored counter must reach the writer in the same order, so that the
  // last counter written is the highest: assign and submit under one lock.
  std::lock_guard lock(enqueue_mu_);
  const std::uint64_t seq = next_seq_++;
  entry.set_seq(seq);
  write.push_back({Cf::kSaf, Key(entry.destination(), seq), entry.SerializeAsString()});
  write.push_back({Cf::kMeta, std::string(kSeqKey), EncodeU64(next_seq_)});
  store_.Submit(std::move(write),
                [done = std::move(done), seq](boost::system::error_code ec) { done(ec, seq); });
  return {};
}

Result<std::uint64_t> SafQueue::Enqueue(proto::SafEntry entry) {
  std::promise<boost::system::error_code> done;
  auto written = done.get_future();
  std::vector<Mutation> write;
  std::uint64_t seq = 0;
  if (auto ec = PrepareEnqueue(entry, write,
                               [&done, &seq](boost::system::error_code ec, std::uint64_t s) {
                                 seq = s;
                                 done.set_value(ec);
                               });
      ec) {
    return ec;
  }
  if (auto ec = written.get(); ec) {
    return ec;
  }
  return seq;
}

Result<std::optional<proto::SafEntry>> SafQueue::Head(std::string_view destination) const {
  std::optional<proto::SafEntry> head;
  bool corrupt = false;
  auto ec = store_.Scan(Cf::kSaf, std::string(destination) + '\0',
                        [&](std::string_view, std::string_view v) {
                          proto::SafEntry e;
                          if (!e.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
                            corrupt = true;
                          } else {
                            head = std::move(e);
                          }
                          return false;
                        });
  if (ec) {
    return ec;
  }
  if (corrupt) {
    return make_error_code(Error::kCorruption);
  }
  return head;
}

boost::system::error_code SafQueue::RecordAttempt(proto::SafEntry& entry,
                                                  std::int64_t next_attempt_micros) {
  entry.set_attempts(entry.attempts() + 1);
  entry.set_next_attempt_micros(next_attempt_micros);
  return store_.Write(
      {{Cf::kSaf, Key(entry.destination(), entry.seq()), entry.SerializeAsString()}});
}

boost::system::error_code SafQueue::Acknowledge(const proto::SafEntry& entry) {
  return store_.Write({{Cf::kSaf, Key(entry.destination(), entry.seq()), {}, true}});
}

Result<std::vector<proto::SafEntry>> SafQueue::List() const {
  return ScanProtos<proto::SafEntry>(store_, Cf::kSaf, "");
}

Result<std::vector<std::string>> SafQueue::Destinations() const {
  auto all = List();
  if (!all) {
    return all.error();
  }
  std::vector<std::string> out;
  for (const auto& e : *all) {
    if (out.empty() || out.back() != e.destination()) {
      out.push_back(e.destination());
    }
  }
  return out;
}

}  // namespace sy::storage
