#pragma once

// The transaction journal: one record per transaction carrying its whole life, written through
// the Store's group-commit writer. The PAN is sealed here (AES-256-GCM, keyed look-up hash,
// masked form), so no caller can store it in clear; PIN blocks, CVVs and track data have no field
// in the record at all.
//
//   Journal journal(store, &pan_protector);
//   TransactionRecord rec = ...;                       // tid, stan, amount, ...
//   auto [ec, id] = co_await journal.Append(std::move(rec), pan, as_tuple(use_awaitable));
//
// Look-up keys (family journal_index, the first byte says which index):
//   'S' tid 0 stan 0 transmission_time        -> id   (duplicate detection)
//   'R' rrn 0 business_date                   -> id
//   'M' mid 0 business_date 0 id              -> ""
//   'B' tid 0 batch(4, big-endian) 0 id       -> ""   (batch 0 = the open batch)
//   'D' business_date 0 id                    -> ""   (retention)
//   'K' business_date 0 id message_type       -> SafDelivery (the issuer acknowledged it)

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "crypto/pan_protector.h"
#include "proto/journal.pb.h"
#include "storage/store.h"

namespace sy::storage {

class Journal {
 public:
  // Both must outlive the journal. Restores the id counter from the store. Without a PAN
  // protector (nullptr) the journal is read-only for card data: appends that carry a PAN and
  // RevealPan fail with kPanProtection; tools that only look records up need no data key.
  Journal(Store& store, const crypto::PanProtector* pans);

  // Prepares the durable write of `rec`: assigns an id when rec.id() is 0, seals `pan` when not
  // empty (keeping the record's existing sealed PAN otherwise), stamps nothing else. The record is
  // the whole transaction: each Append replaces the previous version and updates the indexes.
  // In-flight bookkeeping follows the state: TXN_FORWARDED marks the transaction in flight, any
  // later state clears the mark.
  //
  // A caller that knows what is stored may say so and spare a read: `previous` is the record as
  // last written (its index keys are not rewritten when unchanged), or `is_new` says the id
  // (reserved with ReserveId) has never been written.
  [[nodiscard]] Result<std::vector<Mutation>> Prepare(proto::TransactionRecord& rec,
                                                      std::string_view pan,
                                                      const proto::TransactionRecord* previous,
                                                      bool is_new = false);
  [[nodiscard]] Result<std::vector<Mutation>> Prepare(proto::TransactionRecord& rec,
                                                      std::string_view pan) {
    return Prepare(rec, pan, nullptr);
  }

  // Takes the next transaction id without writing anything: the switch derives the RRN from it
  // before the first append. Ids are never reused, reserved or not.
  [[nodiscard]] std::uint64_t ReserveId() noexcept { return next_id_.fetch_add(1); }

  // Durable append; completes with the record's id once it is synced.
  template <class CompletionToken>
  auto Append(proto::TransactionRecord rec, std::string_view pan, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken,
                                       void(boost::system::error_code, std::uint64_t)>(
        [this](auto handler, proto::TransactionRecord r, std::string_view p) {
          auto ex = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                        boost::asio::execution::outstanding_work.tracked);
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          auto write = Prepare(r, p);
          if (!write) {
            boost::asio::post(ex, [shared, ec = write.error()]() mutable { (*shared)(ec, 0); });
            return;
          }
          store_.Submit(std::move(*write), [ex, shared, id = r.id()](boost::system::error_code ec) {
            boost::asio::post(ex, [shared, ec, id]() mutable { (*shared)(ec, id); });
          });
        },
        token, std::move(rec), pan);
  }

  // Blocking form: durable when it returns without error. Sets rec.id().
  [[nodiscard]] boost::system::error_code AppendSync(proto::TransactionRecord& rec,
                                                     std::string_view pan);

  [[nodiscard]] Result<proto::TransactionRecord> Get(std::uint64_t id) const;
  [[nodiscard]] Result<proto::TransactionRecord> FindByStan(
      std::string_view tid, std::string_view stan, std::string_view transmission_time) const;
  // Every record of a terminal with this STAN, whatever its transmission time.
  [[nodiscard]] Result<std::vector<proto::TransactionRecord>> ListByStan(
      std::string_view tid, std::string_view stan) const;
  // The most recent business date's record with this RRN (RRNs are unique per business date).
  [[nodiscard]] Result<proto::TransactionRecord> FindByRrn(std::string_view rrn) const;
  [[nodiscard]] Result<std::vector<proto::TransactionRecord>> ListByMerchantDate(
      std::string_view mid, std::string_view business_date) const;
  [[nodiscard]] Result<std::vector<proto::TransactionRecord>> ListByTerminalBatch(
      std::string_view tid, std::uint32_t batch) const;
  // Transactions whose "forwarded" record has no outcome yet: after a crash, these are the ones
  // to reverse.
  [[nodiscard]] Result<std::vector<proto::TransactionRecord>> InFlight() const;

  // The clear PAN of a record, for building a message to its issuer. The caller wipes it.
  [[nodiscard]] Result<std::string> RevealPan(const proto::TransactionRecord& rec) const;

  // Records that the issuer acknowledged a reversal or advice of the SAF queue (its 0430, 0230
  // or 0130 with field 39 `response_code`), under the business date of the transaction, for the
  // settlement run's issuer reconciliation. Durable on return. Call it before
  // SafQueue::Acknowledge: a crash between the two sends the entry again and records the same
  // key again, never loses the acknowledgement. kNotFound when the transaction is not in the
  // journal (pruned).
  [[nodiscard]] boost::system::error_code RecordDelivery(const proto::SafEntry& entry,
                                                         std::string_view response_code,
                                                         std::int64_t at_micros,
                                                         std::string_view sent_mti = {},
                                                         std::string_view sent_stan = {},
                                                         std::string_view sent_time = {});
  // The acknowledgement of transaction `txn_id`'s queued `message_type` ("0220", "0420", ...),
  // recorded under the record's business date; kNotFound when there is none.
  [[nodiscard]] Result<proto::SafDelivery> GetDelivery(const proto::TransactionRecord& rec,
                                                       std::string_view message_type) const;
  // The acknowledgements recorded for the transactions of a business date, in transaction id
  // then message type order. Reads only: works on a read-only store.
  [[nodiscard]] static Result<std::vector<proto::SafDelivery>> ListDeliveries(
      const Store& store, std::string_view business_date);

  // Deletes records (and their index entries) of business dates before `cutoff_date` (YYYYMMDD)
  // that are no longer in flight. Returns how many were deleted.
  [[nodiscard]] Result<std::size_t> Prune(std::string_view cutoff_date);

  // Checks every record parses and every index entry points at a record that agrees with it.
  // Returns the number of records checked; kCorruption with *problem set on the first fault.
  [[nodiscard]] Result<std::size_t> Verify(std::string* problem) const;

 private:
  [[nodiscard]] Result<proto::TransactionRecord> GetByIdKey(std::string_view id_key) const;
  [[nodiscard]] Result<std::vector<proto::TransactionRecord>> ListByIndexPrefix(
      const std::string& prefix) const;
  [[nodiscard]] Result<std::vector<proto::TransactionRecord>> GetAll(
      const std::vector<std::string>& id_keys) const;

  Store& store_;
  const crypto::PanProtector* pans_;
  std::atomic<std::uint64_t> next_id_{1};
};

}  // namespace sy::storage
