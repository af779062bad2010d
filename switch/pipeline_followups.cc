// The pipeline's follow-up messages: voids (0200 02xxxx), completions (0220), batch close (0500)
// and batch upload (0320). Each reads the record or batch it acts on under its KeyedLock, checks
// it, and writes the change, its own journal record and what is owed to the issuer in one atomic
// durable write before the terminal hears 00 (INTERFACE.md §1 "Other rules", §2).

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "iso8583/mac_slot.h"
#include "iso8583/mask.h"
#include "switch/log.h"
#include "switch/pipeline.h"
#include "switch/pipeline_internal.h"

namespace sy::server {
namespace {

using namespace pipeline_detail;  // NOLINT(google-build-using-namespace): the pipeline's helpers

bool HasCard(const iso8583::Message& m) { return m.Has(2) || m.Has(35); }

bool NumericFields(const iso8583::Message& m, std::initializer_list<int> fields) {
  return std::all_of(fields.begin(), fields.end(), [&](int n) { return Digits(m.Get(n)); });
}

std::int64_t ToMinor(std::string_view digits) { return std::stoll(std::string(digits)); }

struct Totals {
  std::uint32_t debit_count = 0;
  std::int64_t debit_amount = 0;
  std::uint32_t credit_count = 0;
  std::int64_t credit_amount = 0;
  bool other_currency = false;  // an item in another currency than the batch's
  bool operator==(const Totals& o) const {
    return debit_count == o.debit_count && debit_amount == o.debit_amount &&
           credit_count == o.credit_count && credit_amount == o.credit_amount;
  }
};

Totals SwitchTotals(const std::vector<proto::TransactionRecord>& items, std::uint32_t currency) {
  Totals t;
  for (const auto& r : items) {
    if (!IsBatchDebit(r) && !IsBatchCredit(r)) {
      continue;
    }
    if (r.currency() != currency) {
      t.other_currency = true;
      continue;
    }
    if (IsBatchDebit(r)) {
      t.debit_count++;
      t.debit_amount += r.amount_minor();
    } else {
      t.credit_count++;
      t.credit_amount += r.amount_minor();
    }
  }
  return t;
}

void SetTotals(proto::BatchRecord& b, const Totals& sw, const Totals& term) {
  b.set_switch_debit_count(sw.debit_count);
  b.set_switch_debit_amount(sw.debit_amount);
  b.set_switch_credit_count(sw.credit_count);
  b.set_switch_credit_amount(sw.credit_amount);
  b.set_terminal_debit_count(term.debit_count);
  b.set_terminal_debit_amount(term.debit_amount);
  b.set_terminal_credit_count(term.credit_count);
  b.set_terminal_credit_amount(term.credit_amount);
}

Totals TerminalTotals(const proto::BatchRecord& b) {
  Totals t;
  t.debit_count = b.terminal_debit_count();
  t.debit_amount = b.terminal_debit_amount();
  t.credit_count = b.terminal_credit_count();
  t.credit_amount = b.terminal_credit_amount();
  return t;
}

}  // namespace

proto::TransactionRecord Pipeline::FollowUpRecord(const Context& ctx,
                                                  const proto::TransactionRecord& original,
                                                  std::int64_t now, std::string_view what) {
  proto::TransactionRecord rec = NewRecord(ctx);
  rec.set_original_id(original.id());
  rec.set_route(original.route());
  rec.set_approval_code(original.approval_code());
  rec.set_response_code("00");
  AddEvent(rec, proto::TXN_ANSWERED, now, "00",
           std::string(what) + " of transaction " + std::to_string(original.id()));
  return rec;
}

asio::awaitable<Response> Pipeline::Void(Context& ctx) {
  Terminal& t = *ctx.terminal;
  const iso8583::Message& m = ctx.msg;
  static constexpr int kFields1[] = {3, 4, 7, 11, 37, 41, 42, 49};
  for (int n : kFields1) {
    if (!m.Has(n)) {
      SY_LOG(kWarning) << "pipeline: void from " << t.profile->tid() << ": field " << n
                       << " missing";
      co_return co_await Answer(ctx, "30");
    }
  }
  if (!HasCard(m) || !NumericFields(m, {4, 49}) || m.Get(49).size() != 3) {
    co_return co_await Answer(ctx, "30");
  }
  const std::string key = DuplicateKey(m);
  if (auto done = co_await Admit(ctx, key); done) {
    co_return std::move(*done);
  }
  const std::string pan = CardPan(m);
  auto locked = co_await LockByRrn(m.Get(37));
  if (!locked.record) {
    const bool missing = locked.record.error() == make_error_code(storage::Error::kNotFound);
    co_return co_await Decline(ctx, key, missing ? "25" : "96", pan);
  }
  proto::TransactionRecord original = std::move(*locked.record);
  // The original: this terminal's, approved, still in the open batch, neither reversed nor
  // voided; the same card and amount.
  const char* why = nullptr;
  if (original.tid() != t.profile->tid()) {
    why = "another terminal's transaction";
  } else if (!IsBatchDebit(original) && !IsBatchCredit(original)) {
    why = "not an approved purchase, completion or refund, or already reversed or voided";
  } else if (original.state() != proto::TXN_ANSWERED || original.batch_number() != 0) {
    why = "its batch is closed";
  } else if (!SameCard(original, pan)) {
    why = "another card (or its card cannot be read)";
  }
  if (why != nullptr) {
    SY_LOG(kWarning) << "pipeline: void from " << t.profile->tid() << " of RRN " << m.Get(37)
                     << " refused (25): " << why;
    co_return co_await Decline(ctx, key, "25", pan);
  }
  if (original.amount_minor() != ToMinor(m.Get(4))) {
    co_return co_await Decline(ctx, key, "13", pan);
  }
  // Voiding a refund gives its purchase the amount back.
  std::optional<proto::TransactionRecord> purchase;
  KeyedLock::Guard purchase_batch_guard;
  KeyedLock::Guard purchase_guard;
  if (IsBatchCredit(original) && original.original_id() != 0) {
    // The purchase may be another terminal's: its batch lock too (never ours twice: the lock is
    // not re-entrant), then its record lock.
    if (auto p = deps_.journal->Get(original.original_id()); p && p->tid() != original.tid()) {
      purchase_batch_guard = co_await locks_.Acquire("batch/" + p->tid());
    }
    purchase_guard = co_await locks_.Acquire("txn/" + std::to_string(original.original_id()));
    if (auto p = deps_.journal->Get(original.original_id()); p) {
      purchase = std::move(*p);
      purchase->set_refunded_minor(
          std::max<std::int64_t>(0, purchase->refunded_minor() - original.amount_minor()));
    }
  }

  const std::int64_t now = Micros(deps_.clock->Now());
  proto::TransactionRecord rec = FollowUpRecord(ctx, original, now, "void");
  AddEvent(original, proto::TXN_VOIDED, now, "",
           "voided by transaction " + std::to_string(rec.id()));
  Write write;
  write.records.push_back({&rec, pan, nullptr, /*is_new=*/true});
  write.records.push_back({&original, std::string_view()});
  if (purchase) {
    write.records.push_back({&*purchase, std::string_view()});
  }
  if (!original.route().empty()) {
    // The issuer hears the void as a reversal of the original (0420, 39 = 17).
    proto::SafEntry e;
    e.set_destination(original.route());
    e.set_message_type("0420");
    e.set_reason_code("17");
    e.set_txn_id(original.id());
    e.set_created_micros(now);
    write.saf = std::move(e);
  }
  if (auto ec = co_await Commit(std::move(write)); ec) {
    SY_LOG(kWarning) << "pipeline: void of transaction " << original.id()
                     << " not stored: " << ec.message();
    co_return co_await AnswerWith(ctx, key, "96", "", "");
  }
  stats_.reversals_queued++;
  SY_LOG(kInfo)
          .With("tid", t.profile->tid())
          .With("stan", m.Get(11))
          .With("rrn", rec.rrn())
          .With("original_rrn", original.rrn())
          .With("mti", m.mti())
          .With("rc", "00")
      << "pipeline: " << t.profile->tid() << " stan " << m.Get(11) << " void of " << original.rrn()
      << " " << iso8583::MaskPan(pan) << " -> 00";
  co_return co_await AnswerWith(ctx, key, "00", rec.rrn(), original.approval_code());
}

asio::awaitable<Response> Pipeline::Completion(Context& ctx) {
  Terminal& t = *ctx.terminal;
  const iso8583::Message& m = ctx.msg;
  static constexpr int kFields2[] = {3, 4, 7, 11, 37, 38, 41, 42, 49};
  for (int n : kFields2) {
    if (!m.Has(n)) {
      SY_LOG(kWarning) << "pipeline: completion from " << t.profile->tid() << ": field " << n
                       << " missing";
      co_return co_await Answer(ctx, "30");
    }
  }
  if (!HasCard(m) || !NumericFields(m, {4, 49}) || m.Get(49).size() != 3 || m.Has(52)) {
    co_return co_await Answer(ctx, "30");  // a completion carries no PIN
  }
  // A repeat (0221) shares the 0220's key, so it is answered again rather than refused as 94.
  const std::string key = "02|" + std::string(m.Get(11)) + "|" + std::string(m.Get(7)) + "|0220";
  if (auto done = co_await Admit(ctx, key); done) {
    co_return std::move(*done);
  }
  const std::string pan = CardPan(m);
  auto locked = co_await LockByRrn(m.Get(37));
  if (!locked.record) {
    const bool missing = locked.record.error() == make_error_code(storage::Error::kNotFound);
    co_return co_await Decline(ctx, key, missing ? "25" : "96", pan);
  }
  proto::TransactionRecord preauth = std::move(*locked.record);
  const std::int64_t amount = ToMinor(m.Get(4));
  const auto tolerance = static_cast<std::int64_t>(deps_.config->completion_tolerance_percent());
  const std::string expires =
      DaysBefore(ctx.business_date, static_cast<int>(deps_.config->preauth_validity_days()));
  const char* why = nullptr;
  std::string rc = "25";
  if (preauth.mti() != "0100" || preauth.response_code() != "00") {
    why = "not an approved pre-authorization";
  } else if (preauth.state() == proto::TXN_COMPLETED) {
    why = "already completed";
  } else if (preauth.state() != proto::TXN_ANSWERED) {
    why = "reversed or voided";
  } else if (preauth.approval_code() != m.Get(38)) {
    why = "another approval code";
  } else if (preauth.mid() != t.profile->mid()) {
    why = "another merchant's";
  } else if (preauth.business_date() < expires) {
    why = "expired";
  } else if (!SameCard(preauth, pan)) {
    why = "another card (or its card cannot be read)";
  } else if (amount <= 0 || amount * 100 > preauth.amount_minor() * (100 + tolerance)) {
    why = "amount beyond the pre-authorization's tolerance";
    rc = "13";
  } else if (static_cast<std::int64_t>(preauth.currency()) != ToMinor(m.Get(49))) {
    why = "another currency";
    rc = "13";
  }
  if (why != nullptr) {
    SY_LOG(kWarning) << "pipeline: completion from " << t.profile->tid() << " of RRN " << m.Get(37)
                     << " refused (" << rc << "): " << why;
    co_return co_await Decline(ctx, key, rc, pan);
  }

  const std::int64_t now = Micros(deps_.clock->Now());
  proto::TransactionRecord rec = FollowUpRecord(ctx, preauth, now, "completion");
  AddEvent(preauth, proto::TXN_COMPLETED, now, "",
           "completed by transaction " + std::to_string(rec.id()));
  Write write;
  write.records.push_back({&rec, pan, nullptr, /*is_new=*/true});
  write.records.push_back({&preauth, std::string_view()});
  if (!preauth.route().empty()) {
    // The issuer hears the final amount as a 0220 advice naming the pre-authorization (90).
    proto::SafEntry e;
    e.set_destination(preauth.route());
    e.set_message_type("0220");
    e.set_txn_id(rec.id());
    e.set_created_micros(now);
    write.saf = std::move(e);
  }
  if (auto ec = co_await Commit(std::move(write)); ec) {
    SY_LOG(kWarning) << "pipeline: completion of transaction " << preauth.id()
                     << " not stored: " << ec.message();
    co_return co_await AnswerWith(ctx, key, "96", "", "");
  }
  SY_LOG(kInfo)
          .With("tid", t.profile->tid())
          .With("stan", m.Get(11))
          .With("rrn", rec.rrn())
          .With("original_rrn", preauth.rrn())
          .With("mti", m.mti())
          .With("rc", "00")
      << "pipeline: " << t.profile->tid() << " stan " << m.Get(11) << " completion of "
      << preauth.rrn() << " " << iso8583::MaskPan(pan) << " amount " << amount << " -> 00";
  co_return co_await AnswerWith(ctx, key, "00", rec.rrn(), preauth.approval_code());
}

asio::awaitable<Response> Pipeline::BatchClose(Context& ctx) {
  Terminal& t = *ctx.terminal;
  const iso8583::Message& m = ctx.msg;
  static constexpr int kFields3[] = {3, 7, 11, 41, 49, 60, 74, 76, 86, 88};
  for (int n : kFields3) {
    if (!m.Has(n)) {
      SY_LOG(kWarning) << "pipeline: batch close from " << t.profile->tid() << ": field " << n
                       << " missing";
      co_return co_await Answer(ctx, "30");
    }
  }
  const std::string_view number_text = m.Get(60);
  if (!NumericFields(m, {49, 60, 74, 76, 86, 88}) || number_text.size() > 6 ||
      m.Get(49).size() != 3) {
    SY_LOG(kWarning) << "pipeline: batch close from " << t.profile->tid()
                     << ": 49, 60 (batch number, up to 6 digits) or the totals are not numeric";
    co_return co_await Answer(ctx, "30");
  }
  const std::string_view pc = m.Get(3);
  if (pc != "920000" && pc != "960000") {
    co_return co_await Answer(ctx, "12");
  }
  const auto number = static_cast<std::uint32_t>(std::stoul(std::string(number_text)));
  if (number == 0) {
    co_return co_await Answer(ctx, "30");
  }
  const std::string key = DuplicateKey(m);
  if (auto done = co_await Admit(ctx, key, /*mac_required=*/false); done) {
    co_return std::move(*done);
  }
  KeyedLock::Guard guard = co_await locks_.Acquire("batch/" + t.profile->tid());
  const auto currency = static_cast<std::uint32_t>(ToMinor(m.Get(49)));
  Totals terminal;
  terminal.credit_count =
      static_cast<std::uint32_t>(std::min<std::int64_t>(ToMinor(m.Get(74)), UINT32_MAX));
  terminal.debit_count =
      static_cast<std::uint32_t>(std::min<std::int64_t>(ToMinor(m.Get(76)), UINT32_MAX));
  terminal.credit_amount = ToMinor(m.Get(86));
  terminal.debit_amount = ToMinor(m.Get(88));

  auto existing = batches_.GetBatch(t.profile->tid(), number);
  if (existing && (existing->status() == proto::BatchRecord::BATCH_CLOSED ||
                   existing->status() == proto::BatchRecord::BATCH_RECONCILED)) {
    // A close the terminal did not hear the answer to: the same totals get 00 again.
    const bool again = TerminalTotals(*existing) == terminal;
    SY_LOG(kWarning) << "pipeline: batch " << number << " of " << t.profile->tid()
                     << " is already closed" << (again ? "" : " (with other totals: 12)");
    co_return co_await AnswerWith(ctx, key, again ? "00" : "12", "", "");
  }
  if (pc == "960000" && (!existing || existing->status() != proto::BatchRecord::BATCH_UPLOADING)) {
    SY_LOG(kWarning) << "pipeline: batch close after upload from " << t.profile->tid()
                     << ": no upload of batch " << number << " in progress (12)";
    co_return co_await AnswerWith(ctx, key, "12", "", "");
  }
  auto items = deps_.journal->ListByTerminalBatch(t.profile->tid(), 0);
  if (!items) {
    co_return co_await AnswerWith(ctx, key, "96", "", "");
  }
  const Totals ours = SwitchTotals(*items, currency);
  const std::int64_t now = Micros(deps_.clock->Now());
  proto::BatchRecord batch = existing ? std::move(*existing) : proto::BatchRecord();
  batch.set_tid(t.profile->tid());
  batch.set_batch_number(number);
  batch.set_business_date(ctx.business_date);
  batch.set_currency(currency);
  if (batch.opened_micros() == 0) {
    batch.set_opened_micros(now);
  }
  if (pc == "920000") {
    SetTotals(batch, ours, terminal);
    batch.set_close_stan(std::string(m.Get(11)));
  }
  const bool agree = ours == terminal && !ours.other_currency;
  if (pc == "920000" && !agree) {
    // 95: the terminal uploads its batch (0320s), then closes again with 960000.
    batch.set_status(proto::BatchRecord::BATCH_UPLOADING);
    auto mutation = storage::BatchStore::Prepare(batch);
    if (!mutation) {
      co_return co_await AnswerWith(ctx, key, "96", "", "");
    }
    Write write;
    write.also.push_back(std::move(*mutation));
    if (auto ec = co_await Commit(std::move(write)); ec) {
      co_return co_await AnswerWith(ctx, key, "96", "", "");
    }
    SY_LOG(kWarning) << "pipeline: batch " << number << " of " << t.profile->tid()
                     << ": totals disagree (switch " << ours.debit_count << "/" << ours.debit_amount
                     << " debits, " << ours.credit_count << "/" << ours.credit_amount
                     << " credits; terminal " << terminal.debit_count << "/"
                     << terminal.debit_amount << ", " << terminal.credit_count << "/"
                     << terminal.credit_amount << "): upload requested (95)";
    co_return co_await AnswerWith(ctx, key, "95", "", "");
  }
  // Close: every open item moves into the batch; counted items become BATCHED. After an upload,
  // the switch's items the terminal did not upload are reported.
  std::vector<proto::TransactionRecord> moved = std::move(*items);
  Write write;
  for (auto& r : moved) {
    if (r.state() == proto::TXN_FORWARDED) {
      continue;  // still in flight: its outcome belongs to the next batch (its write would race)
    }
    const bool counted = (IsBatchDebit(r) || IsBatchCredit(r)) && r.currency() == currency;
    r.set_batch_number(number);
    if (counted) {
      AddEvent(r, proto::TXN_BATCHED, now, r.response_code(), "batch " + std::to_string(number));
      if (pc == "960000" &&
          std::find(batch.uploaded_txn_ids().begin(), batch.uploaded_txn_ids().end(), r.id()) ==
              batch.uploaded_txn_ids().end()) {
        batch.add_exception_txn_ids(r.id());
      }
    }
    write.records.push_back({&r, std::string_view()});
  }
  batch.set_status(pc == "920000" ? proto::BatchRecord::BATCH_CLOSED
                                  : proto::BatchRecord::BATCH_RECONCILED);
  batch.set_closed_micros(now);
  auto mutation = storage::BatchStore::Prepare(batch);
  if (!mutation) {
    co_return co_await AnswerWith(ctx, key, "96", "", "");
  }
  write.also.push_back(std::move(*mutation));
  if (auto ec = co_await Commit(std::move(write)); ec) {
    SY_LOG(kWarning) << "pipeline: batch " << number << " of " << t.profile->tid()
                     << " not closed: " << ec.message();
    co_return co_await AnswerWith(ctx, key, "96", "", "");
  }
  SY_LOG(kInfo) << "pipeline: batch " << number << " of " << t.profile->tid() << " closed ("
                << moved.size() << " records"
                << (pc == "960000"
                        ? ", after upload: " + std::to_string(batch.exception_txn_ids_size()) +
                              " only the switch had, " +
                              std::to_string(batch.terminal_only_size()) + " only the terminal had"
                        : std::string())
                << ")";
  co_return co_await AnswerWith(ctx, key, "00", "", "");
}

asio::awaitable<Response> Pipeline::BatchUpload(Context& ctx) {
  Terminal& t = *ctx.terminal;
  const iso8583::Message& m = ctx.msg;
  static constexpr int kFields4[] = {3, 4, 7, 11, 37, 41, 49, 60};
  for (int n : kFields4) {
    if (!m.Has(n)) {
      SY_LOG(kWarning) << "pipeline: batch upload from " << t.profile->tid() << ": field " << n
                       << " missing";
      co_return co_await Answer(ctx, "30");
    }
  }
  const std::string_view original = m.Get(60);  // the item's MTI (4) and STAN (6)
  if (!HasCard(m) || !NumericFields(m, {4, 49, 60}) || original.size() != 10) {
    co_return co_await Answer(ctx, "30");
  }
  const std::string key = DuplicateKey(m);
  if (auto done = co_await Admit(ctx, key); done) {
    co_return std::move(*done);
  }
  KeyedLock::Guard guard = co_await locks_.Acquire("batch/" + t.profile->tid());
  auto all = batches_.ListBatches(t.profile->tid());
  if (!all) {
    co_return co_await AnswerWith(ctx, key, "96", "", "");
  }
  auto uploading = std::find_if(all->rbegin(), all->rend(), [](const proto::BatchRecord& b) {
    return b.status() == proto::BatchRecord::BATCH_UPLOADING;
  });
  if (uploading == all->rend()) {
    SY_LOG(kWarning) << "pipeline: batch upload from " << t.profile->tid()
                     << " without a batch close answered 95 (12)";
    co_return co_await AnswerWith(ctx, key, "12", "", "");
  }
  proto::BatchRecord batch = std::move(*uploading);
  batch.set_upload_count(batch.upload_count() + 1);
  const std::string pan = CardPan(m);
  const std::int64_t amount = ToMinor(m.Get(4));
  // The switch's record of the item: this terminal's, in the open batch, counted, same RRN,
  // amount and transaction type.
  bool matched = false;
  if (auto rec = deps_.journal->FindByRrn(m.Get(37)); rec) {
    if (rec->tid() == t.profile->tid() && rec->batch_number() == 0 &&
        (IsBatchDebit(*rec) || IsBatchCredit(*rec)) && rec->amount_minor() == amount &&
        TxnType(*rec) == TxnType(m)) {
      matched = true;
      if (std::find(batch.uploaded_txn_ids().begin(), batch.uploaded_txn_ids().end(), rec->id()) ==
          batch.uploaded_txn_ids().end()) {
        batch.add_uploaded_txn_ids(rec->id());
      }
    }
  }
  if (!matched) {
    // Only the terminal has it: kept for review (masked PAN only), never settled as it is.
    const bool seen = std::any_of(
        batch.terminal_only().begin(), batch.terminal_only().end(), [&](const auto& item) {
          return item.rrn() == m.Get(37) && item.mti() == original.substr(0, 4) &&
                 item.stan() == original.substr(4);
        });
    if (!seen) {
      proto::UploadedItem* item = batch.add_terminal_only();
      item->set_mti(std::string(original.substr(0, 4)));
      item->set_stan(std::string(original.substr(4)));
      item->set_processing_code(std::string(m.Get(3)));
      item->set_amount_minor(amount);
      item->set_currency(static_cast<std::uint32_t>(ToMinor(m.Get(49))));
      item->set_rrn(std::string(m.Get(37)));
      item->set_approval_code(std::string(m.Get(38)));
      item->set_masked_pan(iso8583::MaskPan(pan));
      item->set_received_micros(Micros(deps_.clock->Now()));
      batch.set_terminal_only_items(static_cast<std::uint32_t>(batch.terminal_only_size()));
    }
  }
  auto mutation = storage::BatchStore::Prepare(batch);
  if (!mutation) {
    co_return co_await AnswerWith(ctx, key, "96", "", "");
  }
  Write write;
  write.also.push_back(std::move(*mutation));
  if (auto ec = co_await Commit(std::move(write)); ec) {
    co_return co_await AnswerWith(ctx, key, "96", "", "");
  }
  co_return co_await AnswerWith(ctx, key, "00", "", "");
}

}  // namespace sy::server
