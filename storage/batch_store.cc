#include "storage/batch_store.h"

namespace sy::storage {
namespace {

// Keys in the kBatch family: 'B' tid 0 batch(4) for batches, 'S' date 0 mid for settlement.
std::string BatchKey(std::string_view tid, std::uint32_t n) {
  std::string k = "B";
  k += tid;
  k += '\0';
  for (int shift = 24; shift >= 0; shift -= 8) {
    k += static_cast<char>((n >> shift) & 0xFF);
  }
  return k;
}

std::string SettlementKey(std::string_view date, std::string_view mid) {
  std::string k = "S";
  k += date;
  k += '\0';
  k += mid;
  return k;
}

}  // namespace

Result<Mutation> BatchStore::Prepare(const proto::BatchRecord& batch) {
  if (batch.tid().empty() || batch.tid().find('\0') != std::string::npos) {
    return make_error_code(Error::kInvalidArgument);
  }
  return Mutation{Cf::kBatch, BatchKey(batch.tid(), batch.batch_number()),
                  batch.SerializeAsString()};
}

boost::system::error_code BatchStore::PutBatch(const proto::BatchRecord& batch) {
  auto m = Prepare(batch);
  if (!m) {
    return m.error();
  }
  return store_.Write({std::move(*m)});
}

Result<proto::BatchRecord> BatchStore::GetBatch(std::string_view tid,
                                                std::uint32_t batch_number) const {
  auto raw = store_.Get(Cf::kBatch, BatchKey(tid, batch_number));
  if (!raw) {
    return raw.error();
  }
  proto::BatchRecord b;
  if (!b.ParseFromString(*raw)) {
    return make_error_code(Error::kCorruption);
  }
  return b;
}

Result<std::vector<proto::BatchRecord>> BatchStore::ListBatches(std::string_view tid) const {
  return ScanProtos<proto::BatchRecord>(store_, Cf::kBatch, "B" + std::string(tid) + '\0');
}

boost::system::error_code BatchStore::PutSettlement(const proto::SettlementRecord& record) {
  if (record.mid().empty() || record.business_date().size() != 8) {
    return make_error_code(Error::kInvalidArgument);
  }
  return store_.Write({{Cf::kBatch, SettlementKey(record.business_date(), record.mid()),
                        record.SerializeAsString()}});
}

Result<std::vector<proto::SettlementRecord>> BatchStore::ListSettlements(
    std::string_view business_date) const {
  return ScanProtos<proto::SettlementRecord>(store_, Cf::kBatch,
                                             "S" + std::string(business_date) + '\0');
}

}  // namespace sy::storage
