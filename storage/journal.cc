#include "storage/journal.h"

#include <algorithm>
#include <map>
#include <set>

#include "crypto/secret_bytes.h"

namespace sy::storage {
namespace {

std::string Join(std::initializer_list<std::string_view> parts) {
  std::string out;
  bool first = true;
  for (auto p : parts) {
    if (!first) {
      out += '\0';
    }
    out += p;
    first = false;
  }
  return out;
}

std::string Batch4(std::uint32_t b) {
  std::string s(4, '\0');
  for (int i = 3; i >= 0; --i, b >>= 8) {
    s[static_cast<std::size_t>(i)] = static_cast<char>(b & 0xFF);
  }
  return s;
}

// Every index key of a record, with the value each holds.
std::vector<std::pair<std::string, std::string>> IndexKeys(const proto::TransactionRecord& r) {
  std::vector<std::pair<std::string, std::string>> keys;
  const std::string id = EncodeU64(r.id());
  if (!r.tid().empty() && !r.stan().empty()) {
    keys.emplace_back("S" + Join({r.tid(), r.stan(), r.transmission_time()}), id);
  }
  if (!r.rrn().empty()) {
    keys.emplace_back("R" + Join({r.rrn(), r.business_date()}), id);
  }
  if (!r.mid().empty()) {
    keys.emplace_back("M" + Join({r.mid(), r.business_date(), id}), "");
  }
  if (!r.tid().empty()) {
    keys.emplace_back("B" + Join({r.tid(), Batch4(r.batch_number()), id}), "");
  }
  keys.emplace_back("D" + Join({r.business_date(), id}), "");
  return keys;
}

std::string MaskPan(std::string_view pan) {
  std::string out(pan.size(), '*');
  if (pan.size() >= 13) {
    std::copy_n(pan.begin(), 6, out.begin());
  }
  if (pan.size() >= 8) {
    std::copy(pan.end() - 4, pan.end(), out.end() - 4);
  }
  return out;
}

}  // namespace

Journal::Journal(Store& store, const crypto::PanProtector* pans) : store_(store), pans_(pans) {
  auto last = store_.LastKey(Cf::kJournal);
  if (last && last->size() == 8) {
    next_id_ = DecodeU64(*last) + 1;
  }
}

Result<std::vector<Mutation>> Journal::Prepare(proto::TransactionRecord& rec, std::string_view pan,
                                               const proto::TransactionRecord* known_previous,
                                               bool is_new) {
  std::vector<Mutation> write;
  std::optional<proto::TransactionRecord> stored;
  const proto::TransactionRecord* previous = known_previous;
  if (rec.id() == 0) {
    rec.set_id(next_id_.fetch_add(1));
  } else if (previous == nullptr && !is_new) {
    if (auto prev = Get(rec.id()); prev) {
      stored = std::move(*prev);
      previous = &*stored;
    } else if (prev.error() != make_error_code(Error::kNotFound)) {
      return prev.error();
    }
  }
  if (!pan.empty()) {
    if (pans_ == nullptr) {
      return make_error_code(Error::kPanProtection);
    }
    auto sealed = pans_->Seal(pan);
    if (!sealed) {
      return make_error_code(Error::kPanProtection);
    }
    auto* p = rec.mutable_pan();
    p->set_ciphertext(std::move(sealed->ciphertext));
    p->set_nonce(std::move(sealed->nonce));
    p->set_lookup_hash(std::move(sealed->lookup_hash));
    p->set_masked(MaskPan(pan));
    p->set_key_id(pans_->key_id());
  }
  if (pan.empty() && !rec.has_pan() && previous != nullptr && previous->has_pan()) {
    *rec.mutable_pan() = previous->pan();  // an update without the PAN keeps the sealed one
  }
  const std::string id = EncodeU64(rec.id());
  auto keys = IndexKeys(rec);
  std::map<std::string, std::string> before;
  if (previous != nullptr) {
    for (auto& [k, v] : IndexKeys(*previous)) {
      before.emplace(std::move(k), std::move(v));
    }
    std::set<std::string> now;
    for (const auto& k : keys) {
      now.insert(k.first);
    }
    for (const auto& [k, v] : before) {
      if (now.count(k) == 0) {
        write.push_back({Cf::kJournalIndex, k, {}, true});
      }
    }
  }
  write.push_back({Cf::kJournal, id, rec.SerializeAsString()});
  for (auto& [k, v] : keys) {
    if (auto it = before.find(k); it != before.end() && it->second == v) {
      continue;  // already there
    }
    write.push_back({Cf::kJournalIndex, std::move(k), std::move(v)});
  }
  // The in-flight mark: set while "forwarded", cleared after (when there may be one to clear).
  const bool in_flight = rec.state() == proto::TXN_FORWARDED;
  const bool was_in_flight =
      previous != nullptr ? previous->state() == proto::TXN_FORWARDED : !is_new;
  if (in_flight || was_in_flight) {
    write.push_back({Cf::kInFlight, id, {}, !in_flight});
  }
  return write;
}

boost::system::error_code Journal::AppendSync(proto::TransactionRecord& rec, std::string_view pan) {
  auto write = Prepare(rec, pan);
  if (!write) {
    return write.error();
  }
  return store_.Write(std::move(*write));
}

Result<proto::TransactionRecord> Journal::GetByIdKey(std::string_view id_key) const {
  auto bytes = store_.Get(Cf::kJournal, id_key);
  if (!bytes) {
    return bytes.error();
  }
  proto::TransactionRecord rec;
  if (!rec.ParseFromString(*bytes)) {
    return make_error_code(Error::kCorruption);
  }
  return rec;
}

Result<proto::TransactionRecord> Journal::Get(std::uint64_t id) const {
  return GetByIdKey(EncodeU64(id));
}

Result<proto::TransactionRecord> Journal::FindByStan(std::string_view tid, std::string_view stan,
                                                     std::string_view transmission_time) const {
  auto id = store_.Get(Cf::kJournalIndex, "S" + Join({tid, stan, transmission_time}));
  if (!id) {
    return id.error();
  }
  return GetByIdKey(*id);
}

Result<std::vector<proto::TransactionRecord>> Journal::ListByStan(std::string_view tid,
                                                                  std::string_view stan) const {
  std::vector<std::string> ids;
  auto ec = store_.Scan(Cf::kJournalIndex, "S" + Join({tid, stan}) + '\0',
                        [&](std::string_view, std::string_view v) {
                          ids.emplace_back(v);
                          return true;
                        });
  if (ec) {
    return ec;
  }
  return GetAll(ids);
}

Result<proto::TransactionRecord> Journal::FindByRrn(std::string_view rrn) const {
  std::string id;
  auto ec = store_.Scan(Cf::kJournalIndex, "R" + std::string(rrn) + '\0',
                        [&](std::string_view, std::string_view v) {
                          id = v;  // keys sort by date: the last one seen is the latest
                          return true;
                        });
  if (ec) {
    return ec;
  }
  if (id.empty()) {
    return make_error_code(Error::kNotFound);
  }
  return GetByIdKey(id);
}

Result<std::vector<proto::TransactionRecord>> Journal::ListByIndexPrefix(
    const std::string& prefix) const {
  std::vector<std::string> ids;
  auto ec = store_.Scan(Cf::kJournalIndex, prefix, [&](std::string_view k, std::string_view) {
    ids.emplace_back(k.substr(k.size() - 8));
    return true;
  });
  if (ec) {
    return ec;
  }
  return GetAll(ids);
}

Result<std::vector<proto::TransactionRecord>> Journal::ListByMerchantDate(
    std::string_view mid, std::string_view business_date) const {
  return ListByIndexPrefix("M" + Join({mid, business_date}) + '\0');
}

Result<std::vector<proto::TransactionRecord>> Journal::ListByTerminalBatch(
    std::string_view tid, std::uint32_t batch) const {
  return ListByIndexPrefix("B" + Join({tid, Batch4(batch)}) + '\0');
}

Result<std::vector<proto::TransactionRecord>> Journal::InFlight() const {
  std::vector<std::string> ids;
  auto ec = store_.Scan(Cf::kInFlight, "", [&](std::string_view k, std::string_view) {
    ids.emplace_back(k);
    return true;
  });
  if (ec) {
    return ec;
  }
  return GetAll(ids);
}

Result<std::vector<proto::TransactionRecord>> Journal::GetAll(
    const std::vector<std::string>& id_keys) const {
  std::vector<proto::TransactionRecord> out;
  out.reserve(id_keys.size());
  for (const auto& id : id_keys) {
    auto rec = GetByIdKey(id);
    if (!rec) {
      // An index entry or in-flight mark without its record.
      return rec.error() == make_error_code(Error::kNotFound) ? make_error_code(Error::kCorruption)
                                                              : rec.error();
    }
    out.push_back(std::move(*rec));
  }
  return out;
}

Result<std::string> Journal::RevealPan(const proto::TransactionRecord& rec) const {
  if (rec.pan().ciphertext().empty()) {
    return make_error_code(Error::kNotFound);
  }
  if (pans_ == nullptr || rec.pan().key_id() != pans_->key_id()) {
    return make_error_code(Error::kPanProtection);
  }
  auto pan = pans_->Open(rec.pan().ciphertext(), rec.pan().nonce());
  if (!pan) {
    return make_error_code(Error::kPanProtection);
  }
  return std::move(*pan);
}

boost::system::error_code Journal::RecordDelivery(const proto::SafEntry& entry,
                                                  std::string_view response_code,
                                                  std::int64_t at_micros, std::string_view sent_mti,
                                                  std::string_view sent_stan,
                                                  std::string_view sent_time) {
  auto rec = Get(entry.txn_id());
  if (!rec) {
    return rec.error();
  }
  proto::SafDelivery d;
  d.set_txn_id(entry.txn_id());
  d.set_message_type(entry.message_type());
  d.set_destination(entry.destination());
  d.set_attempts(entry.attempts());
  d.set_response_code(std::string(response_code));
  d.set_acknowledged_micros(at_micros);
  d.set_queued_micros(entry.created_micros());
  d.set_sent_mti(std::string(sent_mti));
  d.set_sent_stan(std::string(sent_stan));
  d.set_sent_transmission_time(std::string(sent_time));
  return store_.Write(
      {{Cf::kJournalIndex,
        "K" + Join({rec->business_date(), EncodeU64(entry.txn_id())}) + entry.message_type(),
        d.SerializeAsString()}});
}

Result<proto::SafDelivery> Journal::GetDelivery(const proto::TransactionRecord& rec,
                                                std::string_view message_type) const {
  auto bytes =
      store_.Get(Cf::kJournalIndex, "K" + Join({rec.business_date(), EncodeU64(rec.id())}) +
                                        std::string(message_type));
  if (!bytes) {
    return bytes.error();
  }
  proto::SafDelivery d;
  if (!d.ParseFromString(*bytes)) {
    return make_error_code(Error::kCorruption);
  }
  return d;
}

Result<std::vector<proto::SafDelivery>> Journal::ListDeliveries(const Store& store,
                                                                std::string_view business_date) {
  return ScanProtos<proto::SafDelivery>(store, Cf::kJournalIndex,
                                        "K" + std::string(business_date) + '\0');
}

Result<std::size_t> Journal::Prune(std::string_view cutoff_date) {
  std::vector<std::string> ids;
  auto ec = store_.Scan(Cf::kJournalIndex, "D", [&](std::string_view k, std::string_view) {
    const std::string_view date = k.substr(1, k.find('\0') - 1);
    if (date >= cutoff_date) {
      return false;
    }
    ids.emplace_back(k.substr(k.size() - 8));
    return true;
  });
  if (ec) {
    return ec;
  }
  std::size_t pruned = 0;
  std::vector<Mutation> write;
  for (const auto& id : ids) {
    auto rec = GetByIdKey(id);
    if (!rec) {
      continue;  // already gone
    }
    if (rec->state() == proto::TXN_FORWARDED) {
      continue;  // in flight: recovery still needs it
    }
    for (auto& [k, v] : IndexKeys(*rec)) {
      write.push_back({Cf::kJournalIndex, std::move(k), {}, true});
    }
    write.push_back({Cf::kJournal, id, {}, true});
    ++pruned;
    if (write.size() > 4096) {
      if (auto wec = store_.Write(std::move(write)); wec) {
        return wec;
      }
      write.clear();
    }
  }
  if (!write.empty()) {
    if (auto wec = store_.Write(std::move(write)); wec) {
      return wec;
    }
  }
  // Acknowledgements of the pruned dates ('K' sorts by date): a record still in flight has none.
  if (auto dec = store_.DeleteRange(Cf::kJournalIndex, "K", "K" + std::string(cutoff_date)); dec) {
    return dec;
  }
  return pruned;
}

Result<std::size_t> Journal::Verify(std::string* problem) const {
  std::size_t checked = 0;
  boost::system::error_code fault;
  auto note = [&](std::string what) {
    if (problem != nullptr) {
      *problem = std::move(what);
    }
    fault = make_error_code(Error::kCorruption);
  };
  auto ec = store_.Scan(Cf::kJournal, "", [&](std::string_view k, std::string_view v) {
    proto::TransactionRecord rec;
    if (k.size() != 8 || !rec.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
      note("journal record " + std::to_string(k.size() == 8 ? DecodeU64(k) : 0) +
           " does not parse");
      return false;
    }
    if (rec.id() != DecodeU64(k)) {
      note("journal record under id " + std::to_string(DecodeU64(k)) + " carries id " +
           std::to_string(rec.id()));
      return false;
    }
    for (const auto& [ik, iv] : IndexKeys(rec)) {
      auto got = store_.Get(Cf::kJournalIndex, ik);
      if (!got || *got != iv) {
        note("journal record " + std::to_string(rec.id()) + " is missing an index entry ('" +
             ik.substr(0, 1) + "')");
        return false;
      }
    }
    ++checked;
    return true;
  });
  if (ec) {
    return ec;
  }
  if (fault) {
    return fault;
  }
  ec = store_.Scan(Cf::kInFlight, "", [&](std::string_view k, std::string_view) {
    auto rec = GetByIdKey(k);
    if (!rec || rec->state() != proto::TXN_FORWARDED) {
      note("in-flight mark " + std::to_string(k.size() == 8 ? DecodeU64(k) : 0) +
           " has no forwarded record");
      return false;
    }
    return true;
  });
  if (ec) {
    return ec;
  }
  if (fault) {
    return fault;
  }
  return checked;
}

}  // namespace sy::storage
