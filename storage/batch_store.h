#pragma once

// Terminal batches and settlement records, for batch close and settlement. Each write is durable
// (through the Store's group-commit writer) before the call returns.
//
//   BatchStore batches(store);
//   batches.PutBatch(batch);                                  // open, closed, reconciled ...
//   auto b = batches.GetBatch("TERM0001", 7);
//   batches.PutSettlement(record);                            // one per merchant and date
//   auto day = batches.ListSettlements("20261127");

#include <string>
#include <vector>

#include "proto/journal.pb.h"
#include "storage/store.h"

namespace sy::storage {

class BatchStore {
 public:
  explicit BatchStore(Store& store) : store_(store) {}

  [[nodiscard]] boost::system::error_code PutBatch(const proto::BatchRecord& batch);
  // The write of PutBatch as a mutation, to join other writes atomically (a batch close moves
  // the terminal's transactions into the batch in the same write). kInvalidArgument for a
  // record without a usable TID.
  [[nodiscard]] static Result<Mutation> Prepare(const proto::BatchRecord& batch);
  [[nodiscard]] Result<proto::BatchRecord> GetBatch(std::string_view tid,
                                                    std::uint32_t batch_number) const;
  // A terminal's batches in batch-number order.
  [[nodiscard]] Result<std::vector<proto::BatchRecord>> ListBatches(std::string_view tid) const;

  [[nodiscard]] boost::system::error_code PutSettlement(const proto::SettlementRecord& record);
  // Every merchant's record of one business date, in merchant order.
  [[nodiscard]] Result<std::vector<proto::SettlementRecord>> ListSettlements(
      std::string_view business_date) const;

 private:
  Store& store_;
};

}  // namespace sy::storage
