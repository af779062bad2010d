#include "switch/settlement/settlement.h"

#include <algorithm>
#include <stdexcept>
#include <tuple>
#include <unordered_map>

#include "storage/journal.h"
#include "storage/store.h"

namespace sy::server::settlement {
namespace {

class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "sy.settlement"; }

  std::string message(int ev) const override {
    switch (static_cast<Error>(ev)) {
      case Error::kBadInput:
        return "settlement input is missing or malformed";
      case Error::kStore:
        return "the store could not be read";
      case Error::kCorruption:
        return "a stored record does not parse or contradicts its index";
      case Error::kIo:
        return "an output file could not be written";
      case Error::kBadAgreements:
        return "the agreements are malformed or do not validate";
      case Error::kBadHolidays:
        return "the holidays file is malformed";
      case Error::kBadLedger:
        return "a previous run's carried-forward file does not verify";
      case Error::kOverflow:
        return "a total does not fit in 64-bit minor units";
      case Error::kInjectedFailure:
        return "injected failure";
      case Error::kBusy:
        return "another settlement run is in progress";
    }
    return "unknown sy.settlement error " + std::to_string(ev);
  }
};

const char* BatchStatusName(proto::BatchRecord::Status s) {
  switch (s) {
    case proto::BatchRecord::BATCH_CLOSED:
      return "closed";
    case proto::BatchRecord::BATCH_UPLOADING:
      return "uploading";
    case proto::BatchRecord::BATCH_RECONCILED:
      return "reconciled";
    case proto::BatchRecord::BATCH_OPEN:
      return "open";
    default:
      return "unspecified";
  }
}

bool IsDate(std::string_view d) {
  return d.size() == 8 && d.find_first_not_of("0123456789") == std::string_view::npos &&
         onboarding::ParseDate(d).has_value();
}

// One row while it is being summed, with the agreement terms resolved once per row.
struct Acc {
  Row row;
  const onboarding::Agreement* agreement = nullptr;
  const onboarding::FeeSchedule* schedule = nullptr;
  bool refund_returns_fee = false;
  std::string why_held;  // not empty: every record of the row is held, none settled
};

struct PairHash {
  std::size_t operator()(const MerchantCurrency& k) const noexcept {
    return std::hash<std::string>()(k.first) * 31 + k.second;
  }
};

}  // namespace

const boost::system::error_category& SettlementCategory() noexcept {
  static const Category category;
  return category;
}

void throw_exception_from_error(const Problem& p, const boost::source_location&) {
  throw std::runtime_error(p.Describe());
}

Problem MakeProblem(Error e, std::string message) {
  return Problem{make_error_code(e), std::move(message)};
}

Kind Classify(const proto::TransactionRecord& r) {
  if (r.response_code() != "00") {
    return Kind::kNone;
  }
  // REVERSED and VOIDED (and the pre-authorization's COMPLETED) are never counted.
  if (r.state() != proto::TXN_ANSWERED && r.state() != proto::TXN_BATCHED &&
      r.state() != proto::TXN_SETTLED) {
    return Kind::kNone;
  }
  const std::string_view type = std::string_view(r.processing_code()).substr(0, 2);
  if (r.mti() == "0200" && type == "00") {
    return Kind::kPurchase;
  }
  if (r.mti() == "0220" || r.mti() == "0221") {
    return Kind::kCompletion;
  }
  if (r.mti() == "0200" && type == "20") {
    return Kind::kRefund;
  }
  return Kind::kNone;
}

BrandResolver MakeBrandResolver(const routing::BinTable* bins,
                                std::map<std::string, std::string, std::less<>> route_brands) {
  // Routes all of whose BIN entries share one brand.
  std::map<std::string, std::string, std::less<>> unique;
  std::set<std::string, std::less<>> mixed;
  if (bins != nullptr) {
    for (const auto& e : bins->entries()) {
      auto [it, inserted] = unique.emplace(e.route, e.brand);
      if (!inserted && it->second != e.brand) {
        mixed.insert(e.route);
      }
    }
    for (const auto& r : mixed) {
      unique.erase(r);
    }
  }
  return [bins, explicit_brands = std::move(route_brands),
          unique = std::move(unique)](const proto::TransactionRecord& r) -> std::string {
    if (auto it = explicit_brands.find(r.route()); it != explicit_brands.end()) {
      return it->second;
    }
    if (auto it = unique.find(r.route()); it != unique.end()) {
      return it->second;
    }
    const std::string& masked = r.pan().masked();
    if (bins != nullptr && masked.size() >= 6 && masked.find_first_not_of("0123456789", 0) >= 6) {
      std::string probe = masked.substr(0, 6) + "000000";
      if (const routing::BinEntry* e = bins->Lookup(probe); e != nullptr) {
        return e->brand;
      }
    }
    return "any";
  };
}

namespace {

// Calls visit(record) for every journal record of the business date, in id order, reusing one
// record object. Reads the 'D' index, then the records by 6-byte key prefix (see below).
Result<bool> ForEachRecordOfDay(const storage::Store& store, std::string_view business_date,
                                const std::function<void(const proto::TransactionRecord&)>& visit) {
  if (!IsDate(business_date)) {
    return MakeProblem(Error::kBadInput, "business date '" + std::string(business_date) +
                                             "' is not a date as YYYYMMDD");
  }
  // The journal's 'D' index (storage/journal.h): 'D' business_date 0 id(8) -> "".
  std::string prefix = "D";
  prefix += business_date;
  prefix += '\0';
  std::vector<std::string> ids;
  bool bad_key = false;
  auto ec =
      store.Scan(storage::Cf::kJournalIndex, prefix, [&](std::string_view k, std::string_view) {
        if (k.size() != prefix.size() + 8) {
          bad_key = true;
          return false;
        }
        ids.emplace_back(k.substr(prefix.size()));
        return true;
      });
  if (ec) {
    return MakeProblem(Error::kStore,
                       "journal index of " + std::string(business_date) + ": " + ec.message());
  }
  if (bad_key) {
    return MakeProblem(Error::kCorruption, "journal date index key of the wrong length");
  }
  std::sort(ids.begin(), ids.end());
  // Records are keyed by their big-endian id (storage/journal.cc), so a day's records sit in a
  // few runs of the journal family: read them by 6-byte prefix (65,536 ids each) in key order
  // rather than one point look-up each, parsing only the ids the index named.
  proto::TransactionRecord rec;
  bool corrupt = false;
  std::size_t next = 0;
  while (next < ids.size() && !corrupt) {
    const std::string block = ids[next].substr(0, 6);
    ec = store.Scan(storage::Cf::kJournal, block, [&](std::string_view k, std::string_view v) {
      while (next < ids.size() && ids[next] < k) {
        ++next;  // indexed but absent: pruned between the two reads; nothing to settle
      }
      if (next >= ids.size() || ids[next].compare(0, 6, block) != 0) {
        return false;
      }
      if (ids[next] != k) {
        return true;
      }
      ++next;
      rec.Clear();
      if (!rec.ParseFromArray(v.data(), static_cast<int>(v.size())) ||
          rec.business_date() != business_date) {
        corrupt = true;
        return false;
      }
      visit(rec);
      return true;
    });
    if (ec) {
      return MakeProblem(Error::kStore, "journal: " + ec.message());
    }
    while (next < ids.size() && ids[next].compare(0, 6, block) == 0) {
      ++next;
    }
  }
  if (corrupt) {
    return MakeProblem(Error::kCorruption,
                       "a journal record of " + std::string(business_date) +
                           " does not parse or has another business date than its index");
  }
  return true;
}

Result<std::vector<proto::BatchRecord>> BatchesClosedOn(const storage::Store& store,
                                                        std::string_view business_date) {
  auto batches = storage::ScanProtos<proto::BatchRecord>(store, storage::Cf::kBatch, "B");
  if (!batches) {
    return MakeProblem(batches.error() == storage::make_error_code(storage::Error::kCorruption)
                           ? Error::kCorruption
                           : Error::kStore,
                       "batches: " + batches.error().message());
  }
  std::vector<proto::BatchRecord> out;
  for (auto& b : *batches) {
    if (b.business_date() == business_date) {
      out.push_back(std::move(b));
    }
  }
  return out;
}

// The open batches (batch 0) of a date, summed record by record.
class OpenBatches {
 public:
  explicit OpenBatches(std::string_view date) : date_(date) {}
  void Add(const proto::TransactionRecord& r) {
    if (r.batch_number() != 0 || r.business_date() != date_ || r.tid().empty()) {
      return;
    }
    auto& b = open_[{r.tid(), r.currency()}];
    if (b.tid.empty()) {
      b.tid = r.tid();
      b.currency = r.currency();
      b.status = "closed at cutover";
    }
    switch (Classify(r)) {
      case Kind::kPurchase:
      case Kind::kCompletion:
        b.switch_debit_count++;
        b.switch_debit_minor += r.amount_minor();
        break;
      case Kind::kRefund:
        b.switch_credit_count++;
        b.switch_credit_minor += r.amount_minor();
        break;
      case Kind::kNone:
        break;
    }
  }
  std::vector<BatchReconciliation> Take() {
    std::vector<BatchReconciliation> out;
    out.reserve(open_.size());
    for (auto& [k, b] : open_) {
      out.push_back(std::move(b));
    }
    open_.clear();
    return out;
  }

 private:
  std::string date_;
  std::map<std::pair<std::string, std::uint32_t>, BatchReconciliation> open_;
};

// Per issuer route and currency, the switch's counted transactions against what the issuer was
// told and acknowledged (RouteReconciliation), fed one record at a time.
class IssuerReconciler {
 public:
  IssuerReconciler(std::string_view date, const IssuerEvidence& evidence) : date_(date) {
    for (const auto& e : evidence.pending) {
      pending_[e.txn_id()].push_back(&e);
    }
    for (const auto& d : evidence.delivered) {
      delivered_.emplace(std::pair(d.txn_id(), d.message_type()), &d);
    }
  }

  void Add(const proto::TransactionRecord& r) {
    if (r.business_date() != date_) {
      return;
    }
    const std::string_view type = std::string_view(r.processing_code()).substr(0, 2);
    const bool preauth = r.mti() == "0100";
    const bool completion = r.mti() == "0220" || r.mti() == "0221";
    const bool financial = r.mti() == "0200" && (type == "00" || type == "20");
    if (!preauth && !completion && !financial) {
      return;  // voids are told to the issuer as their original's reversal; others never go
    }
    const Kind kind = Classify(r);
    if (r.route().empty()) {
      if (kind != Kind::kNone) {
        CountSwitch(Route(r), r, kind);
        Unmatched(r, "", "approved without an issuer route: the issuer never saw it");
      }
      return;  // a decline by the switch itself: nothing went out
    }
    // Nothing to reconcile for a transaction the issuer declined (or never answered) and that owes
    // it nothing.
    const bool approved = r.response_code() == "00";
    if (!approved && !pending_.contains(r.id()) && r.state() != proto::TXN_FORWARDED &&
        !AnyDelivered(r.id())) {
      return;
    }
    RouteReconciliation& rr = Route(r);
    if (r.state() == proto::TXN_FORWARDED) {
      Unmatched(r, "", "forwarded to the issuer, no outcome recorded yet (in flight)");
    }
    // What the issuer is owed: inferred from the record, and whatever was queued for it.
    std::set<std::string> owed;
    std::string advice;
    if (approved && completion) {
      advice = "0220";
    } else if (approved && r.stand_in()) {
      advice = preauth ? "0120" : "0220";
    }
    if (!advice.empty()) {
      owed.insert(advice);
    }
    if (approved && (r.state() == proto::TXN_REVERSED || r.state() == proto::TXN_VOIDED)) {
      owed.insert("0420");
    }
    static const std::vector<const proto::SafEntry*> kNothing;
    const auto queued_it = pending_.find(r.id());
    const auto& queued = queued_it != pending_.end() ? queued_it->second : kNothing;
    for (const proto::SafEntry* e : queued) {
      owed.insert(e->message_type());
    }
    for (auto it = delivered_.lower_bound({r.id(), std::string()});
         it != delivered_.end() && it->first.first == r.id(); ++it) {
      owed.insert(it->first.second);
    }
    bool advice_ok = false;
    bool reversal_acked = false;
    for (const std::string& m : owed) {
      const bool reversal = m == "0420";
      (reversal ? rr.reversals_owed : rr.advices_owed)++;
      if (auto d = delivered_.find({r.id(), m}); d != delivered_.end()) {
        (reversal ? rr.reversals_acknowledged : rr.advices_acknowledged)++;
        const std::string& rc = d->second->response_code();
        if (reversal) {
          reversal_acked = true;
        } else if (rc.empty() || rc == "00") {
          advice_ok = advice_ok || m == advice;
        } else {
          Unmatched(r, m, "advice answered " + rc + " by the issuer");
        }
        continue;
      }
      std::string why;
      if (reversal) {
        why = approved ? "reversal queued, not yet acknowledged: the issuer still holds the "
                         "approval"
                       : "reversal queued after no usable answer (" +
                             (r.response_code().empty() ? std::string("none") : r.response_code()) +
                             "), not yet acknowledged: the issuer may hold an approval";
      } else {
        why = std::string(completion ? "completion" : "stand-in approval") +
              " advice queued, not yet acknowledged: the issuer has not been told";
      }
      const bool in_queue =
          std::any_of(queued.begin(), queued.end(),
                      [&](const proto::SafEntry* e) { return e->message_type() == m; });
      Unmatched(r, m,
                in_queue ? why : m + " owed to the issuer but neither queued nor acknowledged");
    }
    if (kind != Kind::kNone) {
      CountSwitch(rr, r, kind);
    }
    // The issuer knows the approval from its own online answer or an acknowledged advice, and
    // forgets it with an acknowledged reversal.
    const bool known = approved && (advice.empty() ? !r.stand_in() : advice_ok);
    if (known && !reversal_acked && !preauth) {
      const bool credit = financial && type == "20";
      if (credit) {
        rr.issuer_credit_count++;
        rr.issuer_credit_minor += r.amount_minor();
      } else {
        rr.issuer_debit_count++;
        rr.issuer_debit_minor += r.amount_minor();
      }
    }
  }

  void Take(SettlementRun& run) {
    run.routes.reserve(routes_.size());
    for (auto& [key, rr] : routes_) {
      run.routes.push_back(std::move(rr));
    }
    std::sort(unmatched_.begin(), unmatched_.end(),
              [](const UnmatchedItem& x, const UnmatchedItem& y) {
                return std::tie(x.route, x.currency, x.txn_id, x.message, x.reason) <
                       std::tie(y.route, y.currency, y.txn_id, y.message, y.reason);
              });
    run.unmatched = std::move(unmatched_);
  }

 private:
  bool AnyDelivered(std::uint64_t id) const {
    auto it = delivered_.lower_bound({id, std::string()});
    return it != delivered_.end() && it->first.first == id;
  }

  RouteReconciliation& Route(const proto::TransactionRecord& r) {
    auto [it, inserted] = routes_.try_emplace({r.route(), r.currency()});
    if (inserted) {
      it->second.route = r.route();
      it->second.currency = r.currency();
    }
    return it->second;
  }

  static void CountSwitch(RouteReconciliation& rr, const proto::TransactionRecord& r, Kind kind) {
    if (kind == Kind::kRefund) {
      rr.switch_credit_count++;
      rr.switch_credit_minor += r.amount_minor();
    } else {
      rr.switch_debit_count++;
      rr.switch_debit_minor += r.amount_minor();
    }
    if (r.stand_in()) {
      rr.stand_in_count++;
    }
  }

  void Unmatched(const proto::TransactionRecord& r, std::string message, std::string reason) {
    Route(r).unmatched++;
    UnmatchedItem u;
    u.route = r.route();
    u.currency = r.currency();
    u.txn_id = r.id();
    u.tid = r.tid();
    u.mid = r.mid();
    u.mti = r.mti();
    u.processing_code = r.processing_code();
    u.stan = r.stan();
    u.rrn = r.rrn();
    u.masked_pan = r.pan().masked();
    u.amount_minor = r.amount_minor();
    u.message = std::move(message);
    u.reason = std::move(reason);
    unmatched_.push_back(std::move(u));
  }

  std::string date_;
  std::unordered_map<std::uint64_t, std::vector<const proto::SafEntry*>> pending_;
  std::map<std::pair<std::uint64_t, std::string>, const proto::SafDelivery*> delivered_;
  std::map<std::pair<std::string, std::uint32_t>, RouteReconciliation> routes_;
  std::vector<UnmatchedItem> unmatched_;
};

}  // namespace

Result<IssuerEvidence> LoadIssuerEvidence(const storage::Store& store,
                                          std::string_view business_date) {
  IssuerEvidence out;
  auto pending = storage::ScanProtos<proto::SafEntry>(store, storage::Cf::kSaf, "");
  if (!pending) {
    return MakeProblem(pending.error() == storage::make_error_code(storage::Error::kCorruption)
                           ? Error::kCorruption
                           : Error::kStore,
                       "store-and-forward queue: " + pending.error().message());
  }
  out.pending = std::move(*pending);
  auto delivered = storage::Journal::ListDeliveries(store, business_date);
  if (!delivered) {
    return MakeProblem(delivered.error() == storage::make_error_code(storage::Error::kCorruption)
                           ? Error::kCorruption
                           : Error::kStore,
                       "issuer acknowledgements of " + std::string(business_date) + ": " +
                           delivered.error().message());
  }
  out.delivered = std::move(*delivered);
  return out;
}

Result<Day> LoadDay(const storage::Store& store, std::string_view business_date) {
  Day day;
  // The evidence first: a transaction reversed after its record was read then shows a reversal
  // owed, never a reversal acknowledged for a record read as approved and standing.
  auto evidence = LoadIssuerEvidence(store, business_date);
  if (!evidence) {
    return evidence.error();
  }
  day.evidence = std::move(*evidence);
  auto r = ForEachRecordOfDay(store, business_date, [&](const proto::TransactionRecord& rec) {
    day.records.push_back(rec);
  });
  if (!r) {
    return r.error();
  }
  auto batches = BatchesClosedOn(store, business_date);
  if (!batches) {
    return batches.error();
  }
  day.batches = std::move(*batches);
  return day;
}

std::vector<BatchReconciliation> CloseOpenBatchesAt(
    std::string_view cutover_business_date, std::span<const proto::TransactionRecord> records) {
  OpenBatches open(cutover_business_date);
  for (const auto& r : records) {
    open.Add(r);
  }
  return open.Take();
}

namespace {

// One run's sums, fed one record at a time (Settle streams a day of the journal through it
// without holding the records).
class Settler {
 public:
  Settler(const SettlementInputs& in, const IssuerEvidence& evidence)
      : in_(in), open_batches_(in.business_date), issuers_(in.business_date, evidence) {}

  Result<bool> Start() {
    if (!IsDate(in_.business_date)) {
      return MakeProblem(Error::kBadInput,
                         "business date '" + in_.business_date + "' is not a date as YYYYMMDD");
    }
    if (in_.agreements == nullptr) {
      return MakeProblem(Error::kBadInput, "no agreement book");
    }
    date_ = *onboarding::ParseDate(in_.business_date);
    static const onboarding::HolidayCalendar kWeekendsOnly;
    holidays_ = in_.holidays != nullptr ? in_.holidays : &kWeekendsOnly;
    run_.business_date = in_.business_date;
    return true;
  }

  void Add(const proto::TransactionRecord& r) {
    if (r.business_date() != in_.business_date) {
      return;
    }
    run_.records_read++;
    open_batches_.Add(r);
    issuers_.Add(r);
    const Kind kind = Classify(r);
    if (kind == Kind::kNone) {
      return;
    }
    Acc& a = Open(r.mid(), r.currency());
    if (!a.why_held.empty()) {
      Hold(r, a.why_held);
      return;
    }
    if (r.amount_minor() < 0) {
      Hold(r, "negative amount");
      return;
    }
    std::int64_t fee = 0;
    if (kind != Kind::kRefund || a.refund_returns_fee) {
      const std::string brand = in_.brand_of ? in_.brand_of(r) : std::string("any");
      auto f = onboarding::Fee(r.amount_minor(), brand, *a.schedule);
      if (!f && f.error().code == onboarding::Error::kUnknownBrand &&
          a.schedule->rates.contains(std::string_view("any"))) {
        f = onboarding::Fee(r.amount_minor(), "any", *a.schedule);
      }
      if (!f) {
        Hold(r, "fee: " + f.error().Describe());
        return;
      }
      fee = kind == Kind::kRefund ? -*f : *f;
    }
    Row& row = a.row;
    switch (kind) {
      case Kind::kPurchase:
        row.purchase_count++;
        overflow_ |= !AddTo(row.purchase_minor, r.amount_minor());
        overflow_ |= !AddTo(row.gross_minor, r.amount_minor());
        break;
      case Kind::kCompletion:
        row.completion_count++;
        overflow_ |= !AddTo(row.completion_minor, r.amount_minor());
        overflow_ |= !AddTo(row.gross_minor, r.amount_minor());
        break;
      case Kind::kRefund:
        row.refund_count++;
        overflow_ |= !AddTo(row.refund_minor, r.amount_minor());
        break;
      case Kind::kNone:
        break;
    }
    overflow_ |= !AddTo(row.fees_minor, fee);
    if (r.stand_in()) {
      row.stand_in_count++;
    }
    run_.records_settled++;
  }

  Result<SettlementRun> Finish(std::span<const proto::BatchRecord> batches) {
    // A carried-in amount settles with the merchant's next row, even on a day without
    // transactions.
    for (const auto& [key, amount] : in_.carried_in) {
      if (amount > 0) {
        return MakeProblem(Error::kBadLedger,
                           "carried-in amount of merchant " + key.first + " is positive");
      }
      Open(key.first, key.second).row.carried_in_minor = amount;
    }
    run_.rows.reserve(rows_.size());
    for (auto& [key, a] : rows_) {
      Row& row = a.row;
      if (row.transaction_count() == 0 && row.carried_in_minor == 0) {
        continue;  // every record held: nothing to pay or carry
      }
      std::int64_t net = row.gross_minor;
      overflow_ |= __builtin_sub_overflow(net, row.refund_minor, &net);
      overflow_ |= __builtin_sub_overflow(net, row.fees_minor, &net);
      row.net_minor = net;
      std::int64_t due = net;
      overflow_ |= !AddTo(due, row.carried_in_minor);
      if (a.agreement == nullptr || !a.why_held.empty()) {
        // Nothing is paid without terms; a carried-in amount waits for them.
        row.payable_minor = 0;
        row.carried_forward_minor = row.carried_in_minor;
      } else {
        row.payable_minor = std::max<std::int64_t>(0, due);
        row.carried_forward_minor = std::min<std::int64_t>(0, due);
      }
      run_.rows.push_back(std::move(row));
    }
    if (overflow_) {
      return MakeProblem(Error::kOverflow, "a merchant's totals of " + in_.business_date);
    }
    std::sort(run_.rows.begin(), run_.rows.end(), [](const Row& x, const Row& y) {
      return std::tie(x.mid, x.currency) < std::tie(y.mid, y.currency);
    });
    Reconcile(batches);
    issuers_.Take(run_);
    return std::move(run_);
  }

 private:
  static bool AddTo(std::int64_t& total, std::int64_t v) {
    return !__builtin_add_overflow(total, v, &total);
  }

  // The row of (mid, currency), its agreement and schedule resolved once.
  Acc& Open(const std::string& mid, std::uint32_t currency) {
    auto [it, inserted] = rows_.try_emplace(MerchantCurrency{mid, currency});
    Acc& a = it->second;
    if (!inserted) {
      return a;
    }
    a.row.mid = mid;
    a.row.currency = currency;
    auto book = in_.agreements->versions.find(mid);
    if (book != in_.agreements->versions.end()) {
      a.agreement = onboarding::AgreementInForce(book->second, date_);
    }
    if (a.agreement == nullptr) {
      a.why_held = "no agreement in force on " + in_.business_date;
      return a;
    }
    a.row.agreement_version = a.agreement->version;
    a.row.cycle_days = a.agreement->settlement_cycle_days;
    a.row.settlement_date = onboarding::FormatDate(
        onboarding::SettlementDate(date_, a.agreement->settlement_cycle_days, *holidays_));
    a.refund_returns_fee =
        in_.agreements->refund_returns_fee.contains(std::pair(mid, a.agreement->version));
    if (currency >= 1 && currency <= 999) {
      a.schedule = onboarding::ScheduleFor(*a.agreement, static_cast<std::uint16_t>(currency));
    }
    if (a.schedule == nullptr) {
      a.why_held = "agreement version " + std::to_string(a.agreement->version) +
                   " has no fee schedule for currency " + std::to_string(currency);
    }
    return a;
  }

  void Hold(const proto::TransactionRecord& r, std::string reason) {
    Exception e;
    e.kind = "held";
    e.tid = r.tid();
    e.batch_number = r.batch_number();
    e.mid = r.mid();
    e.txn_id = r.id();
    e.mti = r.mti();
    e.stan = r.stan();
    e.processing_code = r.processing_code();
    e.amount_minor = r.amount_minor();
    e.currency = r.currency();
    e.rrn = r.rrn();
    e.masked_pan = r.pan().masked();
    e.reason = std::move(reason);
    run_.exceptions.push_back(std::move(e));
  }

  // The batches closed on the date, then the open ones closed at cutover.
  void Reconcile(std::span<const proto::BatchRecord> batches) {
    for (const auto& b : batches) {
      if (b.business_date() != in_.business_date) {
        continue;
      }
      BatchReconciliation rec;
      rec.tid = b.tid();
      rec.batch_number = b.batch_number();
      rec.currency = b.currency();
      rec.status = BatchStatusName(b.status());
      rec.switch_debit_count = b.switch_debit_count();
      rec.switch_debit_minor = b.switch_debit_amount();
      rec.switch_credit_count = b.switch_credit_count();
      rec.switch_credit_minor = b.switch_credit_amount();
      rec.has_terminal_totals = true;
      rec.terminal_debit_count = b.terminal_debit_count();
      rec.terminal_debit_minor = b.terminal_debit_amount();
      rec.terminal_credit_count = b.terminal_credit_count();
      rec.terminal_credit_minor = b.terminal_credit_amount();
      rec.switch_only_txn_ids.assign(b.exception_txn_ids().begin(), b.exception_txn_ids().end());
      std::sort(rec.switch_only_txn_ids.begin(), rec.switch_only_txn_ids.end());
      run_.batches.push_back(std::move(rec));
      // Items only the terminal had: listed for review, never settled.
      for (const auto& item : b.terminal_only()) {
        Exception e;
        e.kind = "terminal_only";
        e.tid = b.tid();
        e.batch_number = b.batch_number();
        e.mti = item.mti();
        e.stan = item.stan();
        e.processing_code = item.processing_code();
        e.amount_minor = item.amount_minor();
        e.currency = item.currency();
        e.rrn = item.rrn();
        e.masked_pan = item.masked_pan();
        e.reason = "uploaded by the terminal, unknown to the switch";
        run_.exceptions.push_back(std::move(e));
      }
    }
    for (auto& open : open_batches_.Take()) {
      run_.batches.push_back(std::move(open));
    }
    std::sort(run_.batches.begin(), run_.batches.end(),
              [](const BatchReconciliation& x, const BatchReconciliation& y) {
                return std::tie(x.tid, x.batch_number, x.currency) <
                       std::tie(y.tid, y.batch_number, y.currency);
              });
    std::sort(
        run_.exceptions.begin(), run_.exceptions.end(), [](const Exception& x, const Exception& y) {
          return std::tie(x.kind, x.tid, x.batch_number, x.stan, x.txn_id, x.rrn, x.amount_minor) <
                 std::tie(y.kind, y.tid, y.batch_number, y.stan, y.txn_id, y.rrn, y.amount_minor);
        });
  }

  const SettlementInputs& in_;
  std::chrono::sys_days date_{};
  const onboarding::HolidayCalendar* holidays_ = nullptr;
  SettlementRun run_;
  std::unordered_map<MerchantCurrency, Acc, PairHash> rows_;
  OpenBatches open_batches_;
  IssuerReconciler issuers_;
  bool overflow_ = false;
};

}  // namespace

Result<SettlementRun> SettleRecords(const SettlementInputs& inputs,
                                    std::span<const proto::TransactionRecord> records,
                                    std::span<const proto::BatchRecord> batches,
                                    const IssuerEvidence& evidence) {
  Settler settler(inputs, evidence);
  if (auto ok = settler.Start(); !ok) {
    return ok.error();
  }
  for (const auto& r : records) {
    settler.Add(r);
  }
  return settler.Finish(batches);
}

Result<SettlementRun> Settle(const SettlementInputs& inputs) {
  if (inputs.store == nullptr) {
    return MakeProblem(Error::kBadInput, "no store");
  }
  if (!IsDate(inputs.business_date)) {
    return MakeProblem(Error::kBadInput,
                       "business date '" + inputs.business_date + "' is not a date as YYYYMMDD");
  }
  // Before the records (see LoadDay).
  auto evidence = LoadIssuerEvidence(*inputs.store, inputs.business_date);
  if (!evidence) {
    return evidence.error();
  }
  Settler settler(inputs, *evidence);
  if (auto ok = settler.Start(); !ok) {
    return ok.error();
  }
  auto read = ForEachRecordOfDay(*inputs.store, inputs.business_date,
                                 [&](const proto::TransactionRecord& r) { settler.Add(r); });
  if (!read) {
    return read.error();
  }
  auto batches = BatchesClosedOn(*inputs.store, inputs.business_date);
  if (!batches) {
    return batches.error();
  }
  return settler.Finish(*batches);
}

}  // namespace sy::server::settlement
