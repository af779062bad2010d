#pragma once

// Settlement: turns one business date of the journal into what each merchant is paid, and
// reconciles the terminal batches closed that day and each issuer route (issue 8). A run reads the
// store only (it works on a read-only secondary instance beside a running switch) and produces a
// SettlementRun, which output.h renders into files; nothing in the journal is changed.
//
//   SettlementInputs in{.store = store.get(), .business_date = "20261127",
//                       .agreements = &book, .holidays = &calendar};
//   in.carried_in = ReadCarriedForward(out_dir, "20261127").value();   // output.h
//   auto run = Settle(in);                      // Result<SettlementRun>
//   if (run) WriteRun(*run, out_dir);           // output.h: CSV, JSON, fixed-layout file, SHA-256
//
// What counts (per merchant and currency): purchases (0200, processing code 00xxxx), completions
// (0220/0221) and refunds (0200, 20xxxx), answered 00 and still ANSWERED, BATCHED or SETTLED —
// so reversed and voided transactions, declines and pre-authorizations (0100) never do; stand-in
// approvals do. Each counted transaction pays a fee from the merchant's agreement in force on the
// business date (onboarding::Fee with the card's brand); a refund returns the fee on its amount
// only when the agreement version says so (AgreementBook::refund_returns_fee). net = gross −
// refunds − fees; a negative net, plus any negative net carried in, is carried forward.

#include <boost/assert/source_location.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/journal.pb.h"
#include "routing/bin_table.h"
#include "switch/onboarding/agreement.h"
#include "switch/onboarding/calendar.h"

namespace sy::storage {
class Store;
}

namespace sy::server::settlement {

// Errors of settlement, registered as the error category "sy.settlement".
enum class Error : int {
  kBadInput = 1,     // a malformed date, a missing store or agreement book
  kStore,            // the journal or batch store could not be read
  kCorruption,       // a stored record does not parse or contradicts its index
  kIo,               // an output file could not be written, synced or renamed
  kBadAgreements,    // the agreements file is malformed or an agreement does not validate
  kBadHolidays,      // the holidays file is malformed
  kBadLedger,        // a previous run's carried-forward file does not verify
  kOverflow,         // a total beyond int64 minor units
  kInjectedFailure,  // a test's injected failure (WriteOptions::before_rename)
  kBusy              // another run holds the output directory's run lock (run.h)
};
inline constexpr Error kFirstError = Error::kBadInput;
inline constexpr Error kLastError = Error::kBusy;

const boost::system::error_category& SettlementCategory() noexcept;
inline boost::system::error_code make_error_code(Error e) noexcept {
  return {static_cast<int>(e), SettlementCategory()};
}

// An error and a sentence naming the input at fault ("agreements.yaml: merchants[2].versions[0]
// .fees[978].rates.visa: ..."). Never carries card data.
struct Problem {
  boost::system::error_code code;
  std::string message;
  [[nodiscard]] std::string Describe() const { return code.message() + ": " + message; }
};
[[noreturn]] void throw_exception_from_error(const Problem& p, const boost::source_location& loc);

template <class T>
using Result = boost::system::result<T, Problem>;

[[nodiscard]] Problem MakeProblem(Error e, std::string message);

// The agreements the run may use, by merchant id. The onboarding Agreement has no refund flag,
// so the flag lives here, per merchant and agreement version.
struct AgreementBook {
  std::map<std::string, std::vector<onboarding::Agreement>, std::less<>> versions;
  // (mid, version) present: a refund under that version returns the fee on its amount.
  // Default: absent (refunds return no fee).
  std::set<std::pair<std::string, std::uint32_t>, std::less<>> refund_returns_fee;
  // Optional route → brand map for records whose brand nothing else tells (see MakeBrandResolver).
  std::map<std::string, std::string, std::less<>> route_brands;
};

// The card brand of a journal record, as fee schedules name it ("visa").
using BrandResolver = std::function<std::string(const proto::TransactionRecord&)>;

// The brand from, in order: `route_brands` (the record's route), the BIN table when every entry
// for the record's route has the same brand, the BIN table's entry for the masked PAN's first six
// digits (the journal keeps no clear PAN; a more specific 8-digit BIN cannot be told apart), and
// otherwise "any". A fee schedule without a rate for the brand falls back to its "any" rate.
// `bins` may be null; it must outlive the resolver.
[[nodiscard]] BrandResolver MakeBrandResolver(
    const routing::BinTable* bins, std::map<std::string, std::string, std::less<>> route_brands);

// (mid, currency): the key of one settlement row.
using MerchantCurrency = std::pair<std::string, std::uint32_t>;

struct SettlementInputs {
  const storage::Store* store = nullptr;  // Settle reads the journal and batches from it
  std::string business_date;              // YYYYMMDD
  const AgreementBook* agreements = nullptr;
  const onboarding::HolidayCalendar* holidays = nullptr;  // Default (null): weekends only
  BrandResolver brand_of;  // Default (empty): every card is brand "any"
  // Negative nets carried forward by the previous run (each <= 0), by merchant and currency.
  std::map<MerchantCurrency, std::int64_t> carried_in;
};

// One merchant's settlement in one currency.
struct Row {
  std::string mid;
  std::uint32_t currency = 0;
  std::string settlement_date;  // YYYYMMDD
  std::uint32_t agreement_version = 0;
  int cycle_days = 0;
  std::uint32_t purchase_count = 0;
  std::int64_t purchase_minor = 0;
  std::uint32_t completion_count = 0;
  std::int64_t completion_minor = 0;
  std::uint32_t refund_count = 0;
  std::int64_t refund_minor = 0;
  std::uint32_t stand_in_count = 0;        // of the counted transactions, approved in stand-in
  std::int64_t gross_minor = 0;            // purchases + completions
  std::int64_t fees_minor = 0;             // net of fees returned on refunds
  std::int64_t net_minor = 0;              // gross − refunds − fees
  std::int64_t carried_in_minor = 0;       // <= 0: the previous run's carried-forward amount
  std::int64_t payable_minor = 0;          // max(0, net + carried_in): paid on settlement_date
  std::int64_t carried_forward_minor = 0;  // min(0, net + carried_in): into the next run

  [[nodiscard]] std::uint32_t transaction_count() const {
    return purchase_count + completion_count + refund_count;
  }
};

// One terminal batch, switch totals against terminal totals.
struct BatchReconciliation {
  std::string tid;
  std::uint32_t batch_number = 0;  // 0: the open batch, closed at cutover by this run
  std::uint32_t currency = 0;
  std::string status;  // "closed", "uploading", "reconciled", "closed at cutover"
  std::uint32_t switch_debit_count = 0;
  std::int64_t switch_debit_minor = 0;
  std::uint32_t switch_credit_count = 0;
  std::int64_t switch_credit_minor = 0;
  bool has_terminal_totals = false;  // false for batches closed at cutover
  std::uint32_t terminal_debit_count = 0;
  std::int64_t terminal_debit_minor = 0;
  std::uint32_t terminal_credit_count = 0;
  std::int64_t terminal_credit_minor = 0;
  std::vector<std::uint64_t> switch_only_txn_ids;  // items the terminal's upload lacked

  [[nodiscard]] bool balanced() const {
    return !has_terminal_totals || (switch_debit_count == terminal_debit_count &&
                                    switch_debit_minor == terminal_debit_minor &&
                                    switch_credit_count == terminal_credit_count &&
                                    switch_credit_minor == terminal_credit_minor);
  }
};

// One issuer route and currency: the approved amounts the switch settles against what the
// issuer acknowledged. Switch side: the counted transactions (Classify) on the route. Issuer
// side: the transactions the issuer knows as approved — answered 00 online by the issuer itself,
// or told by an advice it acknowledged (a stand-in approval's 0220/0120, a completion's 0220) —
// and not reversed by a 0420 it acknowledged. Debits are purchases and completions, credits
// refunds; pre-authorizations are in neither (they are never settled) but their advices and
// reversals are owed all the same.
struct RouteReconciliation {
  std::string route;
  std::uint32_t currency = 0;
  std::uint32_t switch_debit_count = 0;
  std::int64_t switch_debit_minor = 0;
  std::uint32_t switch_credit_count = 0;
  std::int64_t switch_credit_minor = 0;
  std::uint32_t issuer_debit_count = 0;
  std::int64_t issuer_debit_minor = 0;
  std::uint32_t issuer_credit_count = 0;
  std::int64_t issuer_credit_minor = 0;
  std::uint32_t stand_in_count = 0;  // of the switch's counted transactions
  std::uint32_t advices_owed = 0;    // 0220/0120 the issuer must be told
  std::uint32_t advices_acknowledged = 0;
  std::uint32_t reversals_owed = 0;  // 0420
  std::uint32_t reversals_acknowledged = 0;
  std::uint32_t unmatched = 0;  // items listed in SettlementRun::unmatched

  [[nodiscard]] bool balanced() const {
    return unmatched == 0 && switch_debit_count == issuer_debit_count &&
           switch_debit_minor == issuer_debit_minor && switch_credit_count == issuer_credit_count &&
           switch_credit_minor == issuer_credit_minor;
  }
};

// A transaction whose issuer side does not (yet) match the switch's.
struct UnmatchedItem {
  std::string route;
  std::uint32_t currency = 0;
  std::uint64_t txn_id = 0;
  std::string tid;
  std::string mid;
  std::string mti;
  std::string processing_code;
  std::string stan;  // the terminal's
  std::string rrn;
  std::string masked_pan;
  std::int64_t amount_minor = 0;
  std::string message;  // the message owed to the issuer ("0420", "0220", "0120"), if any
  std::string reason;
};

// What the issuers were told, for the issuer reconciliation: the store-and-forward entries still
// queued (of any date; only those of the run's records count) and the acknowledgements recorded
// for the business date's transactions (storage::Journal::RecordDelivery).
struct IssuerEvidence {
  std::vector<proto::SafEntry> pending;
  std::vector<proto::SafDelivery> delivered;
};

// Something the run did not settle, for review.
struct Exception {
  std::string kind;  // "terminal_only" (an uploaded item the switch never saw) or "held"
  std::string tid;
  std::uint32_t batch_number = 0;
  std::string mid;
  std::uint64_t txn_id = 0;  // held: the journal record
  std::string mti;
  std::string stan;
  std::string processing_code;
  std::int64_t amount_minor = 0;
  std::uint32_t currency = 0;
  std::string rrn;
  std::string masked_pan;
  std::string reason;  // held: why (no agreement, no fee schedule, no rate for the brand)
};

struct SettlementRun {
  std::string business_date;
  std::vector<Row> rows;                     // ordered by mid, then currency
  std::vector<BatchReconciliation> batches;  // ordered by tid, batch number, currency
  std::vector<Exception> exceptions;         // ordered by kind, tid, batch, stan, txn id
  std::vector<RouteReconciliation> routes;   // ordered by route, currency
  std::vector<UnmatchedItem> unmatched;      // ordered by route, currency, txn id, message
  std::uint64_t records_read = 0;            // journal records of the business date
  std::uint64_t records_settled = 0;         // counted in the rows
};

// Settles one business date from the store (journal index 'D', batches in Cf::kBatch, the SAF
// queue and the journal's delivery records for the issuer reconciliation). Errors: kBadInput,
// kStore, kCorruption, kOverflow. Pure apart from the reads: the same store contents and inputs
// give the same run.
[[nodiscard]] Result<SettlementRun> Settle(const SettlementInputs& inputs);

// The SAF entries queued now, then the acknowledgements recorded for the business date — in
// that order, so that an entry acknowledged between the two reads is seen at least once
// (RecordDelivery is written before the entry leaves the queue).
[[nodiscard]] Result<IssuerEvidence> LoadIssuerEvidence(const storage::Store& store,
                                                        std::string_view business_date);

// The journal records of a business date (in id order), the batches closed on it and what the
// issuers were told.
struct Day {
  std::vector<proto::TransactionRecord> records;
  std::vector<proto::BatchRecord> batches;
  IssuerEvidence evidence;
};
[[nodiscard]] Result<Day> LoadDay(const storage::Store& store, std::string_view business_date);

// Settle's computation over records already read (inputs.store is not used). Records of other
// business dates are ignored.
[[nodiscard]] Result<SettlementRun> SettleRecords(const SettlementInputs& inputs,
                                                  std::span<const proto::TransactionRecord> records,
                                                  std::span<const proto::BatchRecord> batches,
                                                  const IssuerEvidence& evidence = {});

// A counted transaction: a purchase, completion or refund answered 00, not reversed or voided.
enum class Kind { kNone, kPurchase, kCompletion, kRefund };
[[nodiscard]] Kind Classify(const proto::TransactionRecord& r);

// The open batches (batch number 0) of `cutover_business_date`'s records, closed at the cutover:
// one entry per terminal and currency with the switch's totals and no terminal totals. The journal
// is not changed (the run is read-only); the report says "closed at cutover".
[[nodiscard]] std::vector<BatchReconciliation> CloseOpenBatchesAt(
    std::string_view cutover_business_date, std::span<const proto::TransactionRecord> records);

}  // namespace sy::server::settlement

template <>
struct boost::system::is_error_code_enum<sy::server::settlement::Error> : std::true_type {};
