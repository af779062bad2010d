#include "switch/pipeline.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <iostream>
#include <iterator>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <sstream>

#include "crypto/digest.h"
#include "crypto/hex.h"
#include "iso8583/codec.h"
#include "iso8583/json.h"
#include "iso8583/mac_slot.h"
#include "iso8583/mask.h"
#include "switch/log.h"
#include "switch/onboarding/agreement_proto.h"
#include "switch/pipeline_internal.h"

namespace sy::server {
namespace pipeline_detail {

Status ParseStatus(std::string_view s) {
  if (s == "active") {
    return Status::kActive;
  }
  if (s == "suspended") {
    return Status::kSuspended;
  }
  return s == "retired" ? Status::kRetired : Status::kProvisioned;
}

const char* StatusName(Status s) {
  switch (s) {
    case Status::kActive:
      return "active";
    case Status::kSuspended:
      return "suspended";
    case Status::kRetired:
      return "retired";
    case Status::kProvisioned:
      break;
  }
  return "provisioned";
}

bool Digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

std::int64_t Micros(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

void AddEvent(proto::TransactionRecord& rec, proto::TxnState state, std::int64_t at,
              std::string_view rc, std::string_view note) {
  auto* e = rec.add_events();
  e->set_state(state);
  e->set_at_micros(at);
  e->set_response_code(std::string(rc));
  e->set_note(std::string(note));
  rec.set_state(state);
}

std::string CardPan(const iso8583::Message& m) {
  if (m.Has(2)) {
    return std::string(m.Get(2));
  }
  const std::string_view track = m.Get(35);
  return std::string(track.substr(0, track.find('=')));
}

bool IsBatchDebit(const proto::TransactionRecord& r) {
  const bool purchase = r.mti() == "0200" && TxnType(r) == "00";
  const bool completion = r.mti() == "0220" || r.mti() == "0221";
  return (purchase || completion) && r.response_code() == "00" &&
         (r.state() == proto::TXN_ANSWERED || r.state() == proto::TXN_BATCHED);
}

bool IsBatchCredit(const proto::TransactionRecord& r) {
  return r.mti() == "0200" && TxnType(r) == "20" && r.response_code() == "00" &&
         (r.state() == proto::TXN_ANSWERED || r.state() == proto::TXN_BATCHED);
}

}  // namespace pipeline_detail

namespace {

using namespace pipeline_detail;  // NOLINT(google-build-using-namespace): this file's helpers
constexpr std::size_t kDuplicateWindow = 512;  // remembered requests per terminal

// Whether `ksn` (hex, as field 62 carries it) is of the device whose initial KSN is `initial`
// (hex): equal but for the transaction counter — the rightmost 21 bits of a TDES KSN (ANSI
// X9.24-1:2009), 32 of an AES one (X9.24-3-2017). An empty `initial` accepts any.
bool SameDevice(std::string_view ksn, std::string_view initial) {
  if (initial.empty()) {
    return true;
  }
  if (ksn.size() != initial.size() || (ksn.size() != 20 && ksn.size() != 24)) {
    return false;
  }
  auto nibble = [](char c) {
    return c >= '0' && c <= '9'                     ? c - '0'
           : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10
                                                    : -1;
  };
  // TDES: 14 whole hex digits, then the top 3 bits of the 15th; AES: the 16 digits of the
  // initial key ID.
  const std::size_t whole = ksn.size() == 20 ? 14 : 16;
  for (std::size_t i = 0; i < whole; ++i) {
    if (nibble(ksn[i]) < 0 || nibble(ksn[i]) != nibble(initial[i])) {
      return false;
    }
  }
  return ksn.size() == 24 || ((nibble(ksn[14]) ^ nibble(initial[14])) & 0xE) == 0;
}

// A software version as a sign-on's field 48 may carry it: printable ASCII, 1 to 32 characters.
bool SoftwareVersionValid(std::string_view v) {
  return !v.empty() && v.size() <= 32 &&
         std::all_of(v.begin(), v.end(), [](char c) { return c >= 0x20 && c <= 0x7E; });
}

// The 21-bit (TDES, ANSI X9.24-1) or 32-bit (AES, X9.24-3) transaction counter of a KSN.
std::uint64_t KsnCounter(const std::vector<std::uint8_t>& ksn) {
  if (ksn.size() == 10) {
    return (static_cast<std::uint64_t>(ksn[7] & 0x1F) << 16) | (ksn[8] << 8) | ksn[9];
  }
  std::uint64_t c = 0;
  for (std::size_t i = ksn.size() - 4; i < ksn.size(); ++i) {
    c = (c << 8) | ksn[i];
  }
  return c;
}

}  // namespace

std::string pipeline_detail::ResponseMti(std::string_view mti) {
  std::string out(mti);
  if (out.size() == 4 && out[2] >= '0' && out[2] <= '8') {
    out[2] = static_cast<char>(out[2] + 1);
    out[3] = '0';
  }
  return out;
}

bool LuhnValid(std::string_view pan) noexcept {
  if (pan.size() < 12 || !Digits(pan)) {
    return false;
  }
  int sum = 0;
  bool twice = false;
  for (auto it = pan.rbegin(); it != pan.rend(); ++it) {
    int d = *it - '0';
    if (twice) {
      d *= 2;
      if (d > 9) {
        d -= 9;
      }
    }
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

Pipeline::Pipeline(asio::any_io_executor executor, Deps deps, std::string terminal_dialect,
                   std::size_t shards)
    : executor_(std::move(executor)), deps_(deps), batches_(*deps.store), stats_([&] {
        std::vector<std::string> ids;
        for (const auto& r : deps.config->routes()) {
          ids.push_back(r.id());
        }
        return ids;
      }()) {
  terminal_dialect_ = iso8583::LoadDialect(terminal_dialect).value();
  one_thread_ = shards == kOneThread;
  for (std::size_t i = 0; i < std::max<std::size_t>(shards, 1); ++i) {
    shards_.push_back(asio::make_strand(executor_));
  }
  // Terminals and merchants: the registry's records when there is a registry (the daemon imports
  // the configuration's into it at start; onboarding adds its own), else the configuration's.
  if (deps_.registry != nullptr) {
    if (auto ids = deps_.registry->List("terminal"); ids) {
      for (const auto& id : *ids) {
        if (auto t = deps_.registry->Get<proto::TerminalProfile>("terminal", id); t) {
          profiles_.push_back(std::make_unique<proto::TerminalProfile>(std::move(*t)));
        }
      }
    }
    if (auto ids = deps_.registry->List("merchant"); ids) {
      for (const auto& id : *ids) {
        if (auto m = deps_.registry->Get<proto::MerchantConfig>("merchant", id); m) {
          merchant_records_.push_back(std::make_unique<proto::MerchantConfig>(std::move(*m)));
        }
      }
    }
  } else {
    for (const auto& t : deps_.config->terminals()) {
      profiles_.push_back(std::make_unique<proto::TerminalProfile>(t));
    }
    for (const auto& m : deps_.config->merchants()) {
      merchant_records_.push_back(std::make_unique<proto::MerchantConfig>(m));
    }
  }
  for (const auto& owned : profiles_) {
    const proto::TerminalProfile& t = *owned;
    auto term = std::make_shared<Terminal>();
    term->profile = &t;
    term->status = ParseStatus(t.status());
    term->shard = std::hash<std::string>{}(t.tid()) % shards_.size();
    terminals_.emplace(t.tid(), std::move(term));
  }
  // Keys rotated while the switch was down: a terminal whose stored key identity is not its
  // profile's starts afresh (no KSN mark, session keys or activation of the old keys); one with
  // none stored (a store from before identities were kept) keeps its state.
  std::map<std::string, std::string, std::less<>> identities;
  (void)deps_.store->Scan(storage::Cf::kMeta, "terminal-keys/",
                          [&](std::string_view key, std::string_view value) {
                            identities.emplace(key.substr(14), value);
                            return true;
                          });
  std::set<std::string, std::less<>> rekeyed;
  std::vector<storage::Mutation> first_identities;
  for (const auto& [tid, t] : terminals_) {
    const auto stored = identities.find(tid);
    if (stored == identities.end()) {
      first_identities.push_back(
          {storage::Cf::kMeta, "terminal-keys/" + tid, KeyIdentity(*t->profile)});
    } else if (stored->second != KeyIdentity(*t->profile)) {
      SY_LOG(kInfo) << "pipeline: terminal " << tid << ": keys rotated while stopped; it signs on "
                    << "again with the new ones";
      ResetKeys(*t, /*wait=*/true);  // before anything reads the store's old state
      rekeyed.insert(tid);
    }
  }
  if (!first_identities.empty()) {
    deps_.store->Submit(std::move(first_identities), [](boost::system::error_code ec) {
      if (ec) {
        SY_LOG(kWarning) << "pipeline: key identities not stored: " << ec.message();
      }
    });
  }
  // Last seen and software versions, as last stored.
  (void)deps_.store->Scan(storage::Cf::kMeta, "terminal-seen/",
                          [&](std::string_view key, std::string_view value) {
                            auto it = terminals_.find(key.substr(14));
                            if (it == terminals_.end()) {
                              return true;
                            }
                            const std::size_t space = value.find(' ');
                            const std::string micros(value.substr(0, space));
                            if (Digits(micros) && micros.size() <= 18) {
                              it->second->last_seen_micros = std::stoll(micros);
                              it->second->last_seen_stored = it->second->last_seen_micros.load();
                            }
                            if (space != std::string_view::npos) {
                              it->second->software_version = std::string(value.substr(space + 1));
                            }
                            return true;
                          });
  // Activations survive restarts: a terminal that signed on stays active (the configuration's
  // "suspended" and "retired" win over a stored activation).
  (void)deps_.store->Scan(
      storage::Cf::kMeta, "terminal-status/", [&](std::string_view key, std::string_view value) {
        auto it = terminals_.find(key.substr(16));
        if (it != terminals_.end() && value == "active" && !rekeyed.contains(key.substr(16)) &&
            it->second->status == Status::kProvisioned) {
          it->second->status = Status::kActive;
        }
        return true;
      });
  for (const auto& m : merchant_records_) {
    merchants_.emplace(m->mid(), m.get());
  }
  for (const auto& r : deps_.config->routes()) {
    routes_.emplace(r.id(), &r);
  }
  (void)ParseCutover(deps_.config->business_day().cutover(), cutover_);  // validated at load
}

void Pipeline::Activate(Terminal& t) {
  t.status = Status::kActive;
  // Not awaited: like the KSN mark, it reaches the store before the answer's own records.
  deps_.store->Submit({{storage::Cf::kMeta, "terminal-status/" + t.profile->tid(), "active"}},
                      [tid = t.profile->tid()](boost::system::error_code ec) {
                        if (ec) {
                          SY_LOG(kWarning)
                              << "pipeline: status of " << tid << " not stored: " << ec.message();
                        }
                      });
}

std::string Pipeline::KeyIdentity(const proto::TerminalProfile& p) {
  std::string ksn = p.initial_ksn();
  for (char& c : ksn) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return p.key_scheme() + "/" + p.bdk_id() + "/" + ksn + "/" + p.tmk_id();
}

void Pipeline::ResetKeys(Terminal& t, bool wait) {
  const std::string& tid = t.profile->tid();
  t.ksn_loaded = true;  // the stored mark counted the old device's KSNs: not read, deleted
  t.have_ksn = false;
  t.ksn_high = 0;
  t.session_loaded = true;  // stored session keys were under the old TMK: dropped, deleted
  deps_.keys->DropSessionKeys(tid);
  if (t.status == Status::kActive) {
    t.status = Status::kProvisioned;  // until a sign-on proves the new key
  }
  // In submission order behind any activation or mark of the old keys already submitted.
  std::vector<storage::Mutation> write;
  write.push_back({storage::Cf::kMeta, "ksn-high-water/" + tid, "", true});
  write.push_back({storage::Cf::kMeta, "terminal-status/" + tid, "", true});
  write.push_back({storage::Cf::kMeta, "session-keys/" + tid, "", true});
  write.push_back({storage::Cf::kMeta, "terminal-keys/" + tid, KeyIdentity(*t.profile)});
  auto done = [tid](boost::system::error_code ec) {
    if (ec) {
      SY_LOG(kWarning) << "pipeline: the reset of " << tid
                       << "'s keys not stored: " << ec.message();
    }
  };
  if (wait) {
    done(deps_.store->Write(std::move(write)));
  } else {
    deps_.store->Submit(std::move(write), std::move(done));
  }
}

void Pipeline::NoteSignOn(Terminal& t, std::string_view software_version) {
  const std::int64_t seen = t.last_seen_micros.load(std::memory_order_relaxed);
  std::string value = std::to_string(seen);
  {
    std::lock_guard lock(t.version_mu);
    if (!software_version.empty()) {
      t.software_version = std::string(software_version);  // else the last known one stays
    }
    if (!t.software_version.empty()) {
      value += " " + t.software_version;
    }
  }
  t.last_seen_stored = seen;
  deps_.store->Submit({{storage::Cf::kMeta, "terminal-seen/" + t.profile->tid(), std::move(value)}},
                      [tid = t.profile->tid()](boost::system::error_code ec) {
                        if (ec) {
                          SY_LOG(kWarning) << "pipeline: last seen of " << tid
                                           << " not stored: " << ec.message();
                        }
                      });
}

Pipeline::Seen Pipeline::LastSeen(const std::string& tid) const {
  auto t = FindTerminal(tid);
  if (!t) {
    return {};
  }
  Seen out;
  out.last_seen_micros = t->last_seen_micros.load(std::memory_order_relaxed);
  std::lock_guard lock(t->version_mu);
  out.software_version = t->software_version;
  return out;
}

void Pipeline::FlushSeen(bool wait) {
  std::vector<storage::Mutation> write;
  auto flushed =
      std::make_shared<std::vector<std::pair<std::shared_ptr<Terminal>, std::int64_t>>>();
  {
    std::shared_lock lock(directory_mu_);
    for (const auto& [tid, t] : terminals_) {
      const std::int64_t seen = t->last_seen_micros.load(std::memory_order_relaxed);
      if (seen <= t->last_seen_stored.load(std::memory_order_relaxed)) {
        continue;
      }
      std::string value = std::to_string(seen);
      {
        std::lock_guard version(t->version_mu);
        if (!t->software_version.empty()) {
          value += " " + t->software_version;
        }
      }
      write.push_back({storage::Cf::kMeta, "terminal-seen/" + tid, std::move(value)});
      flushed->emplace_back(t, seen);
    }
  }
  if (write.empty()) {
    return;
  }
  auto done = [flushed](boost::system::error_code ec) {
    if (ec) {
      SY_LOG(kWarning) << "pipeline: last-seen times not stored: " << ec.message();
      return;
    }
    for (auto& [t, seen] : *flushed) {
      std::int64_t stored = t->last_seen_stored.load();
      while (stored < seen && !t->last_seen_stored.compare_exchange_weak(stored, seen)) {
      }
    }
  };
  if (wait) {
    done(deps_.store->Write(std::move(write)));
  } else {
    deps_.store->Submit(std::move(write), std::move(done));
  }
}

std::string Pipeline::TerminalStatus(const std::string& tid) const {
  auto t = FindTerminal(tid);
  return t ? StatusName(t->status.load()) : std::string();
}

std::map<std::string, std::uint64_t> Pipeline::TerminalCounts() const {
  std::map<std::string, std::uint64_t> counts{
      {"active", 0}, {"provisioned", 0}, {"suspended", 0}, {"retired", 0}};
  std::shared_lock lock(directory_mu_);
  for (const auto& [tid, t] : terminals_) {
    ++counts[StatusName(t->status.load())];
  }
  return counts;
}

bool Pipeline::WasActivated(const std::string& tid) const {
  auto stored = deps_.store->Get(storage::Cf::kMeta, "terminal-status/" + tid);
  return stored && *stored == "active";
}

std::shared_ptr<Pipeline::Terminal> Pipeline::FindTerminal(std::string_view tid) const {
  std::shared_lock lock(directory_mu_);
  auto it = terminals_.find(tid);
  return it == terminals_.end() ? nullptr : it->second;
}

const proto::MerchantConfig* Pipeline::FindMerchant(std::string_view mid) const {
  std::shared_lock lock(directory_mu_);
  auto it = merchants_.find(mid);
  return it == merchants_.end() ? nullptr : it->second;
}

void Pipeline::UpsertMerchant(const proto::MerchantConfig& merchant) {
  std::unique_lock lock(directory_mu_);
  // Records are never freed: a transaction in flight may still read the version it found.
  merchant_records_.push_back(std::make_unique<proto::MerchantConfig>(merchant));
  merchants_[merchant.mid()] = merchant_records_.back().get();
}

void Pipeline::UpsertTerminal(const proto::TerminalProfile& profile) {
  std::unique_lock lock(directory_mu_);
  profiles_.push_back(std::make_unique<proto::TerminalProfile>(profile));
  const proto::TerminalProfile* next = profiles_.back().get();
  auto it = terminals_.find(profile.tid());
  if (it == terminals_.end()) {
    auto term = std::make_shared<Terminal>();
    term->profile = next;
    term->status = ParseStatus(profile.status());
    term->shard = std::hash<std::string>{}(profile.tid()) % shards_.size();
    terminals_.emplace(profile.tid(), std::move(term));
    // Its key identity, so that a rotation while the switch is down is recognised at start.
    deps_.store->Submit(
        {{storage::Cf::kMeta, "terminal-keys/" + profile.tid(), KeyIdentity(*next)}},
        [](boost::system::error_code) {});
    return;
  }
  // A known terminal changes on its shard, between its requests. "provisioned" does not undo an
  // activation the terminal earned at sign-on; suspended, retired and active apply as they are.
  std::shared_ptr<Terminal> t = it->second;
  asio::post(shards_[t->shard], [this, t, next] {
    const bool rekeyed = KeyIdentity(*t->profile) != KeyIdentity(*next);
    t->profile = next;
    const Status status = ParseStatus(next->status());
    if (rekeyed) {
      SY_LOG(kInfo) << "pipeline: terminal " << next->tid() << ": keys rotated; "
                    << StatusName(status) << " until it signs on with the new ones";
      ResetKeys(*t);
      t->status = status;
    } else if (status != Status::kProvisioned || t->status != Status::kActive) {
      t->status = status;
    }
  });
}

asio::awaitable<Response> Pipeline::Handle(Request request) {
  const auto started = std::chrono::steady_clock::now();
  stats_.requests++;
  stats_.in_flight++;
  struct Leave {
    std::atomic<std::int64_t>& n;
    ~Leave() { n--; }
  } leave{stats_.in_flight};  // also when the request ends in an exception
  auto ctx = std::make_shared<Context>();
  ctx->request = std::move(request);
  Response response = co_await Dispatch(ctx);
  if (ctx->ksn_mark) {
    SubmitKsnMark(ctx->terminal->profile->tid(), std::move(*ctx->ksn_mark));
  }
  stats_.by_type.Add(ctx->msg.mti(), ctx->response_code.empty() ? "none" : ctx->response_code,
                     ctx->route);
  stats_.end_to_end.Observe(std::chrono::steady_clock::now() - started);
  co_return response;
}

asio::awaitable<Response> Pipeline::Dispatch(std::shared_ptr<Context> ctx) {
  if (auto r = iso8583::Unpack(DialectOf(*ctx), ctx->request.message, ctx->msg); !r) {
    stats_.format_errors++;
    SY_LOG(kWarning) << "pipeline: format error: " << r.error().Describe();
    // Unpack keeps what it decoded before the fault: enough to answer 30, or nothing to answer.
    if (ctx->msg.mti().size() == 4 && ctx->msg.Has(11) && ctx->msg.Has(41)) {
      co_return co_await Answer(*ctx, "30");
    }
    co_return Response{std::nullopt, true};
  }
  ctx->terminal = FindTerminal(ctx->msg.Get(41));
  if (!ctx->terminal) {
    co_return co_await Answer(*ctx, "58");
  }
  if (one_thread_) {
    co_return co_await Process(ctx);
  }
  co_return co_await asio::co_spawn(shards_[ctx->terminal->shard], Process(ctx),
                                    asio::use_awaitable);
}

asio::awaitable<Response> Pipeline::Process(std::shared_ptr<Context> ctx) {
  const auto now = deps_.clock->Now();
  ctx->business_date = BusinessDate(now, cutover_);
  // Last seen: memory only (sign-ons and FlushSeen store it), never a write per request.
  ctx->terminal->last_seen_micros.store(Micros(now), std::memory_order_relaxed);
  const std::string_view mti = ctx->msg.mti();
  if (mti == "0800") {
    co_return co_await NetworkManagement(*ctx);
  }
  if ((mti == "0100" || mti == "0200") && ctx->msg.Get(3).substr(0, 2) == "00") {
    co_return co_await Authorization(*ctx);
  }
  if (mti == "0200" && ctx->msg.Get(3).substr(0, 2) == "20") {
    co_return co_await Authorization(*ctx);  // a refund: same pipeline, checked against 37
  }
  if (mti == "0200" && ctx->msg.Get(3).substr(0, 2) == "02") {
    co_return co_await Void(*ctx);
  }
  if (mti == "0220" || mti == "0221") {
    co_return co_await Completion(*ctx);
  }
  if (mti == "0400" || mti == "0401") {
    co_return co_await Reversal(*ctx);
  }
  if (mti == "0500") {
    co_return co_await BatchClose(*ctx);
  }
  if (mti == "0320") {
    co_return co_await BatchUpload(*ctx);
  }
  // Anything else (another processing code, an MTI of the issuer side): 12, MACed when the
  // request's MAC verifies.
  if (iso8583::Message& m = ctx->msg; m.Has(64) || m.Has(128)) {
    if (auto rc = co_await VerifyMac(*ctx); rc) {
      co_return co_await Answer(*ctx, *rc);
    }
  }
  co_return co_await Answer(*ctx, "12");
}

proto::TransactionRecord Pipeline::NewRecord(const Context& ctx, std::uint64_t id) {
  const iso8583::Message& m = ctx.msg;
  const Terminal& t = *ctx.terminal;
  proto::TransactionRecord rec;
  rec.set_id(id != 0 ? id : deps_.journal->ReserveId());
  rec.set_tid(t.profile->tid());
  rec.set_mid(t.profile->mid());
  rec.set_mti(std::string(m.mti()));
  rec.set_processing_code(std::string(m.Get(3)));
  rec.set_stan(std::string(m.Get(11)));
  rec.set_transmission_time(std::string(m.Get(7)));
  rec.set_rrn(MakeRrn(ctx.business_date, rec.id()));
  if (Digits(m.Get(4)) && m.Get(4).size() <= 18) {
    rec.set_amount_minor(std::stoll(std::string(m.Get(4))));
  }
  if (Digits(m.Get(49)) && m.Get(49).size() == 3) {
    rec.set_currency(static_cast<std::uint32_t>(std::stoul(std::string(m.Get(49)))));
  }
  rec.set_business_date(ctx.business_date);
  rec.set_received_micros(Micros(deps_.clock->Now()));
  return rec;
}

asio::awaitable<Pipeline::Locked> Pipeline::LockByRrn(std::string_view rrn) {
  Locked out;
  auto found = deps_.journal->FindByRrn(rrn);
  if (!found) {
    out.record = found.error();
    co_return out;
  }
  // Locks in order — the record's terminal batch, then the record — and reads it again: the
  // version found may have changed meanwhile. The batch lock keeps a batch close of that
  // terminal from moving the record while it changes (BatchClose takes only the batch lock).
  out.batch_guard = co_await locks_.Acquire("batch/" + found->tid());
  out.guard = co_await locks_.Acquire("txn/" + std::to_string(found->id()));
  out.record = deps_.journal->Get(found->id());
  co_return out;
}

bool Pipeline::SameCard(const proto::TransactionRecord& rec, std::string_view pan) const {
  auto stored = deps_.journal->RevealPan(rec);
  if (!stored) {
    return false;
  }
  const bool same = *stored == pan;
  crypto::WipeString(*stored);
  return same;
}

asio::awaitable<boost::system::error_code> Pipeline::Commit(Write write, Context* ctx) {
  std::vector<storage::Mutation> all = std::move(write.also);
  if (ctx != nullptr && ctx->ksn_mark) {
    all.push_back(std::move(*ctx->ksn_mark));
    ctx->ksn_mark.reset();
  }
  for (auto& r : write.records) {
    auto w = deps_.journal->Prepare(*r.rec, r.pan, r.previous, r.is_new);
    if (!w) {
      co_return w.error();
    }
    std::move(w->begin(), w->end(), std::back_inserter(all));
  }
  // The wait includes the group commit's sync and the hop back to this thread: it is what a
  // request spends on durability, twice per authorization.
  const auto start = std::chrono::steady_clock::now();
  boost::system::error_code result;
  if (write.saf) {
    auto [ec, seq] = co_await deps_.saf->EnqueueWith(std::move(*write.saf), std::move(all), kTuple);
    result = ec;
  } else {
    auto [ec] = co_await deps_.store->AsyncWrite(std::move(all), kTuple);
    result = ec;
  }
  stats_.journal.Observe(std::chrono::steady_clock::now() - start);
  co_return result;
}

asio::awaitable<Response> Pipeline::AnswerWith(Context& ctx, const std::string& key,
                                               std::string_view response_code, std::string_view rrn,
                                               std::string_view approval) {
  const iso8583::Message& m = ctx.msg;
  iso8583::Message reply;
  reply.SetMti(ResponseMti(m.mti()));
  static constexpr int kFields1[] = {3, 4, 7, 11, 12, 13, 41, 42, 49, 60};
  for (int n : kFields1) {
    if (m.Has(n)) {
      reply.Set(n, m.Get(n));
    }
  }
  if (!rrn.empty()) {
    reply.Set(37, rrn);
  }
  if (response_code == "00" && !approval.empty()) {
    reply.Set(38, approval);
  }
  reply.Set(39, response_code);
  ctx.response_code = std::string(response_code);
  if (response_code == "00") {
    stats_.approved++;
  } else {
    stats_.declined++;
  }
  std::optional<std::string> packed = co_await Pack(ctx, reply);
  Response response;
  response.message = std::move(packed);
  co_return Remember(*ctx.terminal, key, std::move(response));
}

const iso8583::Dialect& Pipeline::DialectOf(const Context& ctx) const {
  return ctx.request.dialect ? *ctx.request.dialect : *terminal_dialect_;
}

bool Pipeline::MasterSession(const Terminal& t) {
  return t.profile->key_scheme() == "master-session";
}

asio::awaitable<void> Pipeline::LoadSessionKeys(Terminal& t) {
  if (t.session_loaded) {
    co_return;
  }
  t.session_loaded = true;
  // "<PIN block> <MAC block> [<previous PIN block> <previous MAC block>]": TR-31 blocks under
  // the terminal's TMK, the only form in which its working keys are stored.
  auto stored = deps_.store->Get(storage::Cf::kMeta, "session-keys/" + t.profile->tid());
  if (!stored) {
    co_return;
  }
  std::istringstream in(*stored);
  std::vector<std::string> blocks{std::istream_iterator<std::string>(in), {}};
  std::vector<crypto::KeyService::SessionKeyBlocks> sets;
  if (blocks.size() == 4) {
    sets.push_back({blocks[2], blocks[3]});  // the previous keys first: installing the current
  }                                          // ones then keeps the previous MAC key
  if (blocks.size() == 2 || blocks.size() == 4) {
    sets.push_back({blocks[0], blocks[1]});
  }
  for (auto& set : sets) {
    if (auto ok = co_await deps_.keys->InstallSessionKeys(t.profile->tmk_id(), t.profile->tid(),
                                                          std::move(set));
        !ok) {
      SY_LOG(kWarning) << "pipeline: terminal " << t.profile->tid()
                       << ": stored session keys do not load (" << ok.error().message() << ")";
    }
  }
}

asio::awaitable<std::optional<std::string>> Pipeline::VerifyMac(Context& ctx) {
  const iso8583::Message& m = ctx.msg;
  const auto& profile = *ctx.terminal->profile;
  const int mac_field = iso8583::MacField(m);
  const bool session = MasterSession(*ctx.terminal);
  const std::size_t ksn_hex = profile.key_scheme() == "dukpt-aes" ? 24 : 20;
  if (!m.Has(mac_field) || (!session && m.Get(62).size() != ksn_hex)) {
    co_return std::string("30");  // a MACed message without its MAC or (DUKPT) KSN
  }
  if (!session) {
    auto ksn = crypto::FromHex(m.Get(62));
    if (!ksn) {
      co_return std::string("30");
    }
    ctx.ksn.assign(ksn->begin(), ksn->end());
    // The KSN must be this terminal's device's: else another device under the same BDK, or this
    // terminal's key from before a rotation, could act as it.
    if (!SameDevice(m.Get(62), profile.initial_ksn())) {
      stats_.mac_failures++;
      SY_LOG(kWarning) << "pipeline: terminal " << profile.tid()
                       << ": the KSN is not of its device (initial KSN)";
      co_return std::string("63");
    }
  }
  auto input = iso8583::MacInput(DialectOf(ctx), m, ctx.request.message);
  if (!input) {
    co_return std::string("30");
  }
  const std::string_view mac = m.Get(mac_field);
  std::vector<std::uint8_t> data(input->begin(), input->end());
  std::vector<std::uint8_t> mac_bytes(mac.begin(), mac.end());
  crypto::Result<void> ok;
  if (session) {
    co_await LoadSessionKeys(*ctx.terminal);
    auto slot =
        co_await deps_.keys->VerifySessionMac(profile.tid(), std::move(data), std::move(mac_bytes));
    if (slot && *slot == crypto::KeyService::SessionSlot::kPrevious && m.mti() != "0800") {
      ok = crypto::Error::kMacMismatch;  // a replaced key only signs on again, nothing more
    } else if (slot) {
      ctx.session_slot = *slot;
    } else {
      ok = slot.error();
    }
  } else {
    ok = co_await deps_.keys->VerifyDukptMac(profile.bdk_id(), ctx.ksn,
                                             crypto::KeyService::MacDirection::kRequest,
                                             std::move(data), std::move(mac_bytes));
  }
  if (!ok) {
    stats_.mac_failures++;
    SY_LOG(kWarning).With("tid", profile.tid()).With("stan", m.Get(11)).With("mti", m.mti())
        << "pipeline: terminal " << profile.tid() << ": MAC check failed (" << ok.error().message()
        << ")";
    co_return std::string("63");
  }
  ctx.mac_response = true;
  co_return std::nullopt;
}

asio::awaitable<std::optional<std::string>> Pipeline::Pack(Context& ctx, iso8583::Message& reply) {
  std::string out;
  if (!ctx.mac_response) {
    if (auto r = iso8583::Pack(DialectOf(ctx), reply, out); !r) {
      SY_LOG(kWarning) << "pipeline: response not packed: " << r.error().Describe();
      co_return std::nullopt;
    }
    co_return out;
  }
  // MACed answer: pack with a zero MAC, MAC the bytes before it under the response key, repack.
  const int field = iso8583::MacField(reply);
  static constexpr char kZeros[8] = {};
  reply.Set(field, std::string_view(kZeros, 8));
  if (auto r = iso8583::Pack(DialectOf(ctx), reply, out); !r) {
    SY_LOG(kWarning) << "pipeline: response not packed: " << r.error().Describe();
    co_return std::nullopt;
  }
  auto input = iso8583::MacInput(DialectOf(ctx), reply, out);
  if (!input) {
    co_return std::nullopt;
  }
  std::vector<std::uint8_t> data(input->begin(), input->end());
  crypto::Result<crypto::Mac8> mac = crypto::Error::kUnknownKeyId;
  if (MasterSession(*ctx.terminal)) {
    mac = co_await deps_.keys->GenerateSessionMac(ctx.terminal->profile->tid(), ctx.session_slot,
                                                  std::move(data));
  } else {
    mac = co_await deps_.keys->GenerateDukptMac(ctx.terminal->profile->bdk_id(), ctx.ksn,
                                                crypto::KeyService::MacDirection::kResponse,
                                                std::move(data));
  }
  if (!mac) {
    co_return std::nullopt;
  }
  reply.Set(field, std::string_view(reinterpret_cast<const char*>(mac->data()), mac->size()));
  out.clear();
  if (!iso8583::Pack(DialectOf(ctx), reply, out)) {
    co_return std::nullopt;
  }
  co_return out;
}

asio::awaitable<Response> Pipeline::Answer(Context& ctx, std::string_view response_code) {
  const iso8583::Message& req = ctx.msg;
  iso8583::Message reply;
  reply.SetMti(ResponseMti(req.mti()));
  static constexpr int kFields2[] = {3, 4, 7, 11, 12, 13, 24, 41, 42, 49, 70};
  for (int n : kFields2) {
    if (req.Has(n)) {
      reply.Set(n, req.Get(n));
    }
  }
  reply.Set(39, response_code);
  ctx.response_code = std::string(response_code);
  if (response_code == "00") {
    stats_.approved++;
  } else {
    stats_.declined++;
  }
  if (response_code == "63" || response_code == "30") {
    ctx.mac_response = false;  // INTERFACE.md: a 63, or a 30 before the MAC check, is not MACed
  }
  // (Separate statements: GCC 12 mishandles co_await inside a braced initializer.)
  std::optional<std::string> packed = co_await Pack(ctx, reply);
  Response response;
  response.message = std::move(packed);
  co_return response;
}

asio::awaitable<Response> Pipeline::NetworkManagement(Context& ctx) {
  Terminal& t = *ctx.terminal;
  const std::string_view code = ctx.msg.Get(70);
  if (code == "301" || code == "002") {
    co_return co_await Answer(ctx, "00");
  }
  if (code != "001" && code != "101") {
    co_return co_await Answer(ctx, "12");
  }
  // A sign-on may carry the terminal's software version in 48; anything else there is a format
  // error (docs/terminal-messages.md).
  if (code == "001" && ctx.msg.Has(48) && !SoftwareVersionValid(ctx.msg.Get(48))) {
    SY_LOG(kWarning) << "pipeline: terminal " << t.profile->tid()
                     << ": field 48 of a sign-on is not a software version (printable, 1 to 32)";
    co_return co_await Answer(ctx, "30");
  }
  if (t.status == Status::kSuspended || t.status == Status::kRetired) {
    co_return co_await Answer(ctx, "58");
  }
  if (MasterSession(t)) {
    co_return co_await SessionKeyExchange(ctx);
  }
  if (code == "101") {
    co_return co_await Answer(ctx, "12");  // DUKPT terminals derive their keys: no key change
  }
  if (auto rc = co_await VerifyMac(ctx); rc) {
    co_return co_await Answer(ctx, *rc);
  }
  if (!AcceptKsn(t, KsnCounter(ctx.ksn))) {
    co_return co_await Answer(ctx, "63");
  }
  if (t.status != Status::kActive) {
    SY_LOG(kInfo) << "pipeline: terminal " << t.profile->tid() << " active after its first sign-on";
    Activate(t);
  }
  NoteSignOn(t, ctx.msg.Get(48));
  co_return co_await Answer(ctx, "00");
}

asio::awaitable<Response> Pipeline::SessionKeyExchange(Context& ctx) {
  // Master/session sign-on (001) and key change (101): new PIN and MAC keys under the TMK in
  // 48. The request is MACed under the terminal's current (or previous) MAC key; only a terminal
  // that has never received keys may sign on without a MAC — the keys it gets are useless
  // without its TMK, and it becomes active at its first request MACed under them.
  Terminal& t = *ctx.terminal;
  const iso8583::Message& m = ctx.msg;
  co_await LoadSessionKeys(t);
  const bool has_keys = deps_.keys->HasSessionKeys(t.profile->tid());
  if (m.Has(iso8583::MacField(m)) || has_keys) {
    if (auto rc = co_await VerifyMac(ctx); rc) {
      co_return co_await Answer(ctx, *rc);
    }
  } else if (m.Get(70) == "101") {
    co_return co_await Answer(ctx, "63");  // a key change is always MACed
  }
  auto issued = co_await deps_.keys->IssueSessionKeys(t.profile->tmk_id());
  if (!issued) {
    SY_LOG(kWarning) << "pipeline: terminal " << t.profile->tid() << ": session keys not issued ("
                     << issued.error().message() << ")";
    co_return co_await Answer(ctx, "96");
  }
  // Durable before the terminal can hear them: the new keys, and the ones they replace (the
  // terminal keeps using those if the 0810 is lost).
  std::string value = issued->pin + " " + issued->mac;
  if (auto old = deps_.store->Get(storage::Cf::kMeta, "session-keys/" + t.profile->tid()); old) {
    std::istringstream in(*old);
    std::string pin;
    std::string mac;
    if (in >> pin >> mac) {
      value += " " + pin + " " + mac;
    }
  }
  std::vector<storage::Mutation> write;
  write.push_back({storage::Cf::kMeta, "session-keys/" + t.profile->tid(), value});
  auto [ec] = co_await deps_.store->AsyncWrite(std::move(write), kTuple);
  if (ec) {
    co_return co_await Answer(ctx, "96");
  }
  iso8583::Message reply;
  reply.SetMti(ResponseMti(m.mti()));
  static constexpr int kFields3[] = {7, 11, 41, 42, 70};
  for (int n : kFields3) {
    if (m.Has(n)) {
      reply.Set(n, m.Get(n));
    }
  }
  reply.Set(39, "00");
  reply.Set(48, issued->pin + issued->mac);
  ctx.response_code = "00";
  stats_.approved++;
  // MACed under the key that MACed the request, before the new keys replace it.
  std::optional<std::string> packed = co_await Pack(ctx, reply);
  if (auto ok = co_await deps_.keys->InstallSessionKeys(t.profile->tmk_id(), t.profile->tid(),
                                                        std::move(*issued));
      !ok) {
    co_return co_await Answer(ctx, "96");
  }
  SY_LOG(kInfo) << "pipeline: terminal " << t.profile->tid() << " got new session keys ("
                << m.Get(70) << ")";
  if (m.Get(70) == "001") {
    NoteSignOn(t, m.Get(48));
  }
  Response response;
  response.message = std::move(packed);
  co_return response;
}

std::string Pipeline::DuplicateKey(const iso8583::Message& m) {
  // MTI class + STAN + transmission time: the duplicate-detection key of INTERFACE.md.
  return std::string(m.mti().substr(0, 2)) + "|" + std::string(m.Get(11)) + "|" +
         std::string(m.Get(7));
}

asio::awaitable<std::optional<Response>> Pipeline::Admit(Context& ctx, const std::string& key,
                                                         bool mac_required) {
  Terminal& t = *ctx.terminal;
  const iso8583::Message& m = ctx.msg;
  // A request the contract does not MAC (0500) is checked when it carries a MAC all the same.
  const bool maced = mac_required || m.Has(iso8583::MacField(m));
  // Terminal and merchant, then the MAC. A 58 or 03 to a known terminal is still MACed when the
  // request's MAC verifies (every answer to a MACed request is, but a 63 or an early 30).
  std::optional<std::string> refusal;
  // A master/session terminal that holds delivered keys becomes active at its first request
  // MACed under them.
  bool activates = false;
  if (MasterSession(t) && t.status == Status::kProvisioned) {
    co_await LoadSessionKeys(t);
    activates = deps_.keys->HasSessionKeys(t.profile->tid());
  }
  if ((t.status != Status::kActive && !activates) ||
      (!ctx.request.peer_names.empty() &&
       std::find(ctx.request.peer_names.begin(), ctx.request.peer_names.end(), t.profile->tid()) ==
           ctx.request.peer_names.end())) {
    refusal = "58";
  } else if (m.Has(42) && (FindMerchant(m.Get(42)) == nullptr || m.Get(42) != t.profile->mid())) {
    refusal = "03";
  }
  std::optional<std::string> mac_rc;
  if (maced) {
    mac_rc = co_await VerifyMac(ctx);
  }
  if (refusal || mac_rc) {
    co_return co_await Answer(ctx, refusal ? *refusal : *mac_rc);
  }
  if (activates && maced) {
    SY_LOG(kInfo) << "pipeline: terminal " << t.profile->tid()
                  << " active: its first request MACed under its session key";
    Activate(t);
  }
  // Duplicates: an exact retransmission gets the original answer again; another request reusing
  // the key gets 94.
  LoadWindow(t, ctx.business_date);
  const auto digest = crypto::Sha256(
      {reinterpret_cast<const std::uint8_t*>(ctx.request.frame.data()), ctx.request.frame.size()});
  if (auto seen = t.seen.find(key);
      seen != t.seen.end() && seen->second.business_date == ctx.business_date) {
    stats_.duplicates++;
    if (seen->second.digest != digest) {
      co_return co_await Answer(ctx, "94");
    }
    if (!seen->second.response) {
      auto done = seen->second.Done(shards_[t.shard]);
      (void)co_await done->async_wait(kTuple);  // the original is still in flight
    }
    auto again = t.seen.find(key);
    if (again == t.seen.end() || !again->second.response) {
      co_return Response{};  // the original got no answer either
    }
    ctx.response_code = "replay";
    co_return Response{again->second.response};
  }
  // KSN replay.
  if (maced && !MasterSession(t) && !AcceptKsn(t, KsnCounter(ctx.ksn), &ctx)) {
    co_return co_await Answer(ctx, "63");
  }
  auto [entry, inserted] = t.seen.try_emplace(key);
  if (!inserted && entry->second.done) {
    entry->second.done->cancel();  // another business date's entry: whoever waits on it stops
  }
  entry->second = Terminal::Seen{digest, std::nullopt, nullptr, ctx.business_date};
  if (inserted) {
    t.seen_order.push_back(key);
  }
  while (t.seen_order.size() > kDuplicateWindow) {
    t.seen.erase(t.seen_order.front());
    t.seen_order.pop_front();
  }
  co_return std::nullopt;
}

bool Pipeline::AcceptKsn(Terminal& t, std::uint64_t counter, Context* ctx) {
  std::string mark = "ksn-high-water/" + t.profile->tid();
  if (!t.ksn_loaded) {
    if (auto stored = deps_.store->Get(storage::Cf::kMeta, mark); stored && stored->size() == 8) {
      t.have_ksn = true;
      t.ksn_high = storage::DecodeU64(*stored);
    }
    t.ksn_loaded = true;
  }
  if (t.have_ksn && counter <= t.ksn_high) {
    return false;
  }
  t.have_ksn = true;
  t.ksn_high = counter;
  storage::Mutation write{storage::Cf::kMeta, std::move(mark), storage::EncodeU64(counter)};
  if (ctx != nullptr) {
    // Joins the transaction's "forwarded" write (see Commit), or is submitted after the answer
    // (Handle) when the request writes nothing durable before it.
    ctx->ksn_mark = std::move(write);
    return true;
  }
  SubmitKsnMark(t.profile->tid(), std::move(write));
  return true;
}

void Pipeline::SubmitKsnMark(const std::string& tid, storage::Mutation mark) {
  // Not awaited: the writer keeps submission order, and a failure only weakens replay protection
  // after a crash.
  deps_.store->Submit({std::move(mark)}, [tid](boost::system::error_code ec) {
    if (ec) {
      SY_LOG(kWarning) << "pipeline: KSN mark of " << tid << " not stored: " << ec.message();
    }
  });
}

Response Pipeline::Remember(Terminal& t, const std::string& key, Response r) {
  return Remember(t, key, std::move(r), /*persisted=*/false);
}

std::optional<storage::Mutation> Pipeline::WindowEntry(Terminal& t, const std::string& key,
                                                       const std::string& packed) {
  auto s = t.seen.find(key);
  if (s == t.seen.end()) {
    return std::nullopt;
  }
  // Kept for the business day so that a retransmission after a restart gets this answer too (the
  // digest of the request, never the request: it holds card data).
  std::string value(reinterpret_cast<const char*>(s->second.digest.data()),
                    s->second.digest.size());
  value += packed;
  return storage::Mutation{storage::Cf::kMeta,
                           WindowKey(s->second.business_date, t.profile->tid(), key),
                           std::move(value)};
}

Response Pipeline::Remember(Terminal& t, const std::string& key, Response r, bool persisted) {
  if (auto s = t.seen.find(key); s != t.seen.end()) {
    s->second.response = r.message;
    if (s->second.done) {
      s->second.done->cancel();
    }
    if (r.message && !persisted) {
      // Not awaited: if it is lost in a crash, the retransmission gets 63 (its KSN is spent)
      // instead of this answer.
      if (auto entry = WindowEntry(t, key, *r.message)) {
        deps_.store->Submit({std::move(*entry)}, [](boost::system::error_code) {});
      }
    }
  }
  return r;
}

std::string Pipeline::WindowKey(const std::string& business_date, const std::string& tid,
                                const std::string& key) {
  return "dup/" + business_date + "/" + tid + "/" + key;
}

void Pipeline::LoadWindow(Terminal& t, const std::string& business_date) {
  if (t.window_loaded_for == business_date) {
    return;
  }
  t.window_loaded_for = business_date;
  const std::string prefix = WindowKey(business_date, t.profile->tid(), "");
  (void)deps_.store->Scan(storage::Cf::kMeta, prefix, [&](std::string_view k, std::string_view v) {
    if (v.size() < 32) {
      return true;
    }
    std::string key(k.substr(prefix.size()));
    if (t.seen.contains(key)) {
      return true;
    }
    Terminal::Seen entry;
    std::copy_n(v.begin(), 32, entry.digest.begin());
    entry.response = std::string(v.substr(32));
    entry.business_date = business_date;
    t.seen.emplace(key, std::move(entry));
    t.seen_order.push_back(std::move(key));
    return true;
  });
  while (t.seen_order.size() > kDuplicateWindow) {
    t.seen.erase(t.seen_order.front());
    t.seen_order.pop_front();
  }
}

asio::awaitable<Response> Pipeline::Reversal(Context& ctx) {
  Terminal& t = *ctx.terminal;
  const iso8583::Message& m = ctx.msg;
  // The reversal carries the original's 11 and 7, and its 3, 4, 41, 49 (INTERFACE.md §1).
  static constexpr int kFields4[] = {3, 4, 7, 11, 41, 49};
  for (int n : kFields4) {
    if (!m.Has(n)) {
      co_return co_await Answer(ctx, "30");
    }
  }
  // 0400 and its repeats 0401 share one key, so a 0401 is answered again, not refused as 94.
  const std::string key =
      "04|" + std::string(m.Get(11)) + "|" + std::string(m.Get(7)) + "|" + std::string(m.mti());
  if (auto done = co_await Admit(ctx, key); done) {
    co_return std::move(*done);
  }
  // A reversal racing its own original waits for the original's answer, then reverses it.
  const std::string original_key = "02|" + std::string(m.Get(11)) + "|" + std::string(m.Get(7));
  for (const std::string& k : {original_key, "01" + original_key.substr(2)}) {
    if (auto o = t.seen.find(k); o != t.seen.end() && !o->second.response) {
      auto done = o->second.Done(shards_[t.shard]);
      (void)co_await done->async_wait(kTuple);
    }
  }
  auto original = deps_.journal->FindByStan(t.profile->tid(), m.Get(11), m.Get(7));
  if (!original) {
    if (original.error() != make_error_code(storage::Error::kNotFound)) {
      Response r = co_await Answer(ctx, "96");
      co_return Remember(t, key, std::move(r));
    }
    // Never received: nothing went to an issuer (the durable "forwarded" record would say so).
    Response r = co_await Answer(ctx, "00");
    co_return Remember(t, key, std::move(r));
  }
  // Read again under the record's lock: a void or a refund may be changing it.
  // The batch, then the record (the lock order of LockByRrn).
  KeyedLock::Guard batch_guard = co_await locks_.Acquire("batch/" + t.profile->tid());
  KeyedLock::Guard guard = co_await locks_.Acquire("txn/" + std::to_string(original->id()));
  auto fresh = deps_.journal->Get(original->id());
  if (!fresh) {
    Response r = co_await Answer(ctx, "96");
    co_return Remember(t, key, std::move(r));
  }
  proto::TransactionRecord rec = std::move(*fresh);
  if (!Digits(m.Get(4)) || rec.amount_minor() != std::stoll(std::string(m.Get(4)))) {
    Response r = co_await Answer(ctx, "13");  // full reversals only
    co_return Remember(t, key, std::move(r));
  }
  if (rec.state() == proto::TXN_ANSWERED && rec.response_code() == "00") {
    // Reverse it to the issuer through the SAF queue (0420, 39 = 17), in the same durable write
    // that marks it reversed, before answering.
    proto::SafEntry e;
    e.set_destination(rec.route());
    e.set_message_type("0420");
    e.set_reason_code("17");
    e.set_txn_id(rec.id());
    e.set_created_micros(Micros(deps_.clock->Now()));
    AddEvent(rec, proto::TXN_REVERSED, Micros(deps_.clock->Now()), "",
             "terminal reversal " + std::string(m.mti()));
    Write write;
    write.records.push_back({&rec, std::string_view()});
    write.saf = std::move(e);
    if (auto ec = co_await Commit(std::move(write)); ec) {
      SY_LOG(kWarning) << "pipeline: reversal of transaction " << rec.id()
                       << " not stored: " << ec.message();
      Response r = co_await Answer(ctx, "96");
      co_return Remember(t, key, std::move(r));
    }
    stats_.reversals_queued++;
  }
  // Already reversed, or declined (nothing to undo at the issuer): answered 00 all the same.
  Response r = co_await Answer(ctx, "00");
  co_return Remember(t, key, std::move(r));
}

asio::awaitable<Response> Pipeline::Decline(Context& ctx, const std::string& key,
                                            std::string_view response_code, std::string_view pan) {
  // Every admitted transaction is journaled, those the switch declines itself included, durably
  // before the answer like any outcome.
  Terminal& t = *ctx.terminal;
  proto::TransactionRecord rec = NewRecord(ctx);
  rec.set_response_code(std::string(response_code));
  AddEvent(rec, proto::TXN_ANSWERED, rec.received_micros(), response_code,
           "declined by the switch");
  SY_LOG(kInfo)
          .With("tid", rec.tid())
          .With("stan", rec.stan())
          .With("rrn", rec.rrn())
          .With("mti", rec.mti())
          .With("rc", response_code)
      << "pipeline: " << t.profile->tid() << " stan " << rec.stan() << " " << iso8583::MaskPan(pan)
      << " amount " << rec.amount_minor() << " -> " << response_code << " (declined by the switch)";
  // A PAN that is not 8 to 19 digits cannot be sealed; the record then has none.
  const bool sealable = pan.size() >= 8 && pan.size() <= 19 && Digits(pan);
  auto [ec, id] = co_await deps_.journal->Append(rec, sealable ? pan : std::string_view(), kTuple);
  if (ec) {
    SY_LOG(kWarning) << "pipeline: journal write of a decline failed: " << ec.message();
  }
  Response r = co_await Answer(ctx, response_code);
  co_return Remember(t, key, std::move(r));
}

asio::awaitable<Response> Pipeline::Authorization(Context& ctx) {
  Terminal& t = *ctx.terminal;
  const iso8583::Message& m = ctx.msg;
  const auto now = deps_.clock->Now();
  // 1. Fields the contract requires of a purchase or pre-authorization.
  static constexpr int kFields5[] = {3, 4, 7, 11, 41, 42, 49, 22};
  for (int n : kFields5) {
    if (!m.Has(n)) {
      co_return co_await Answer(ctx, "30");
    }
  }
  // Manual entry carries the PAN (2) with its expiry (14); otherwise track 2 (35) carries both.
  // The currency (49, text in the 1987 dialects) must be an ISO 4217 numeric code.
  if ((!m.Has(2) && !m.Has(35)) || (m.Has(2) && !m.Has(14) && !m.Has(35)) ||
      m.Get(49).size() != 3 || !Digits(m.Get(49))) {
    co_return co_await Answer(ctx, "30");
  }
  const std::string key = DuplicateKey(m);
  if (auto done = co_await Admit(ctx, key); done) {
    co_return std::move(*done);
  }
  const proto::MerchantConfig* merchant = FindMerchant(m.Get(42));
  auto finish = [&](Response r) { return Remember(t, key, std::move(r)); };

  // 6. Card checks.
  std::string pan(m.Has(2) ? m.Get(2) : m.Get(35).substr(0, m.Get(35).find('=')));
  // A merchant onboarded through the admin API transacts only under an agreement in force.
  if (merchant != nullptr && !onboarding::MayTransact(*merchant, ctx.business_date)) {
    co_return co_await Decline(ctx, key, "03", pan);
  }
  std::string expiry(m.Has(14) ? m.Get(14) : std::string_view());
  if (expiry.empty() && m.Has(35)) {
    const auto sep = m.Get(35).find('=');
    if (sep != std::string_view::npos) {
      expiry = std::string(m.Get(35).substr(sep + 1, 4));
    }
  }
  if (!LuhnValid(pan)) {
    co_return co_await Decline(ctx, key, "14", pan);
  }
  const std::string current_yymm = ctx.business_date.substr(2, 4);
  if (expiry.size() != 4 || !Digits(expiry) || expiry < current_yymm) {
    co_return co_await Decline(ctx, key, "54", pan);
  }
  const std::string_view amount = m.Get(4);
  if (!Digits(amount) || amount.find_first_not_of('0') == std::string_view::npos) {
    co_return co_await Decline(ctx, key, "13", pan);
  }
  // 7. Route.
  auto table = deps_.bins->Snapshot();
  const routing::BinEntry* bin = table->Lookup(pan);
  auto route_it = bin != nullptr ? routes_.find(bin->route) : routes_.end();
  if (route_it == routes_.end()) {
    co_return co_await Decline(ctx, key, "92", pan);
  }
  const proto::RouteConfig& route = *route_it->second;

  // 7b. A refund names its purchase by RRN (37): an approved purchase of the same card at the
  // same merchant, with refunds totalling at most its amount.
  const bool refund = m.Get(3).substr(0, 2) == "20";
  std::optional<proto::TransactionRecord> original;
  KeyedLock::Guard original_guard;  // held until the refund's outcome is written
  if (refund) {
    // Read under the purchase's lock: another refund (from any terminal of the merchant) or a
    // void may be changing it.
    auto locked = co_await LockByRrn(m.Has(37) ? m.Get(37) : std::string_view());
    original_guard = std::move(locked.guard);
    auto& found = locked.record;
    if (!found || !IsBatchDebit(*found) || found->mid() != t.profile->mid() ||
        !SameCard(*found, pan)) {
      co_return co_await Decline(ctx, key, "25", pan);
    }
    if (found->refunded_minor() + std::stoll(std::string(amount)) > found->amount_minor()) {
      co_return co_await Decline(ctx, key, "13", pan);
    }
    original = std::move(*found);
  }

  // 8. The issuer's request, with the PIN re-encrypted under the route's ZPK.
  iso8583::Message out;
  out.SetMti(m.mti());
  out.Set(2, pan);
  static constexpr int kFields6[] = {3, 4, 12, 13, 14, 22, 23, 25, 35, 41, 42, 49, 55};
  for (int n : kFields6) {
    if (m.Has(n)) {
      out.Set(n, m.Get(n));
    }
  }
  if (m.Has(52)) {
    // Format 0 in 8 bytes under a TDES key; format 4 in 16 bytes under an AES key (the listener's
    // dialect must give field 52 16 bytes).
    const std::string_view block = m.Get(52);
    const crypto::PinBlockFormat format =
        block.size() == 16 ? crypto::PinBlockFormat::kIso4 : crypto::PinBlockFormat::kIso0;
    std::vector<std::uint8_t> block_bytes(block.begin(), block.end());
    crypto::Result<crypto::PinBlock> translated = crypto::Error::kUnknownKeyId;
    if (MasterSession(t)) {
      translated = co_await deps_.keys->TranslateSessionPin(
          t.profile->tid(), format, std::move(block_bytes), pan, route.zpk_id());
    } else {
      translated = co_await deps_.keys->TranslateDukptPin(
          t.profile->bdk_id(), ctx.ksn, format, std::move(block_bytes), pan, route.zpk_id());
    }
    if (!translated) {
      SY_LOG(kWarning) << "pipeline: terminal " << t.profile->tid() << ": PIN translation failed ("
                       << translated.error().message() << ")";
      const bool key_problem = translated.error() == make_error_code(crypto::Error::kBadKeyUsage) ||
                               translated.error() == make_error_code(crypto::Error::kUnknownKeyId);
      { co_return co_await Decline(ctx, key, key_problem ? "96" : "55", pan); }
    }
    out.Set(52, std::string_view(reinterpret_cast<const char*>(translated->bytes.data()),
                                 translated->size));
  }
  const std::uint64_t id = deps_.journal->ReserveId();
  const std::string rrn = MakeRrn(ctx.business_date, id);
  // STANs towards issuers: 000001-499999 here, 500000-899999 for SAF advices (daemon.cc),
  // 900000-999999 for the links' own network management (routing/issuer_link.cc).
  char stan[16];
  std::snprintf(stan, sizeof(stan), "%06u", next_stan_.fetch_add(1) % 499999 + 1);
  const std::string issuer_time = TransmissionTime(now);
  out.Set(7, issuer_time);
  out.Set(11, stan);
  out.Set(37, rrn);
  const auto& acq = deps_.config->acquirer();
  if (!acq.acquiring_institution().empty()) {
    out.Set(32, acq.acquiring_institution());
  }
  if (!acq.forwarding_institution().empty()) {
    out.Set(33, acq.forwarding_institution());
  }
  const proto::MerchantConfig& merchant_cfg = *merchant;
  if (!merchant_cfg.mcc().empty()) {
    out.Set(18, merchant_cfg.mcc());
  }
  if (!merchant_cfg.name().empty()) {
    std::string name = merchant_cfg.name().substr(0, 40);
    name.resize(40, ' ');
    out.Set(43, name);
  }

  // 9. Journal "forwarded", durable before the request leaves.
  proto::TransactionRecord rec = NewRecord(ctx, id);
  rec.set_received_micros(Micros(now));
  rec.set_route(route.id());
  rec.set_issuer_stan(stan);
  rec.set_issuer_transmission_time(issuer_time);
  if (original) {
    rec.set_original_id(original->id());
  }
  AddEvent(rec, proto::TXN_FORWARDED, Micros(now), "", "");
  proto::TransactionRecord forwarded;  // as written: the outcome's write rewrites only changes
  {
    Write write;
    write.records.push_back({&rec, pan, nullptr, /*is_new=*/true});
    auto ec = co_await Commit(std::move(write), &ctx);  // with the KSN mark
    forwarded = rec;
    if (ec) {
      SY_LOG(kWarning) << "pipeline: journal write failed: " << ec.message();
      {
        Response r = co_await Answer(ctx, "96");
        co_return finish(std::move(r));
      }
    }
  }

  // 10. The issuer.
  ctx.route = route.id();
  const auto sent = std::chrono::steady_clock::now();
  auto outcome = co_await deps_.issuers->Send(route.id(), std::move(out));
  stats_.issuer.Observe(std::chrono::steady_clock::now() - sent);
  std::string rc;
  std::string approval;
  std::optional<std::string> issuer_icc;
  std::string note;
  bool reverse = false;
  bool stand_in = false;
  if (outcome.response) {
    rc = std::string(outcome.response->Get(39));
    approval = std::string(outcome.response->Get(38));
    if (outcome.response->Has(55)) {
      issuer_icc = std::string(outcome.response->Get(55));
    }
    if (rc.size() != 2) {
      rc = "96";  // an issuer answer without a usable response code
      reverse = true;
    }
  } else {
    const bool can_stand_in = outcome.failure != IssuerGateway::Failure::kTimeout &&
                              route.stand_in().enabled() && !m.Has(52) &&
                              rec.amount_minor() <= route.stand_in().max_amount_minor();
    if (can_stand_in) {
      rc = "00";
      stand_in = true;
      approval = "S" + rrn.substr(rrn.size() - 5);
      note = "stand-in approval";
    } else {
      rc = "91";
      note = outcome.failure == IssuerGateway::Failure::kTimeout ? "issuer timeout"
                                                                 : "issuer unavailable";
    }
    if (outcome.failure == IssuerGateway::Failure::kTimeout) {
      stats_.issuer_timeouts++;
      reverse = true;
    }
  }

  // 11. The answer, packed (and MACed) first so that the duplicate window's entry for it joins
  // the outcome's write: the journal and the answer a retransmission gets become durable
  // together, in one group-commit entry.
  rec.set_response_code(rc);
  rec.set_approval_code(approval);
  rec.set_stand_in(stand_in);
  AddEvent(rec, proto::TXN_ANSWERED, Micros(deps_.clock->Now()), rc, note);
  iso8583::Message reply;
  reply.SetMti(ResponseMti(m.mti()));
  static constexpr int kFields7[] = {3, 4, 7, 11, 12, 13, 41, 42, 49};
  for (int n : kFields7) {
    if (m.Has(n)) {
      reply.Set(n, m.Get(n));
    }
  }
  reply.Set(37, rrn);
  if (rc == "00" && !approval.empty()) {
    reply.Set(38, approval);
  }
  reply.Set(39, rc);
  if (issuer_icc) {
    reply.Set(55, *issuer_icc);
  }
  std::optional<std::string> packed = co_await Pack(ctx, reply);

  // 12. The outcome, durable before the terminal hears it, in one write with what is owed to the
  // issuer (a reversal, a stand-in advice), for an approved refund its purchase's new refund
  // total, and the duplicate window's entry. If that write fails the terminal gets 96 and the
  // "forwarded" record stays in flight: recovery reverses it to the issuer at the next start.
  bool persisted = false;
  {
    Write write;
    write.records.push_back({&rec, std::string_view(), &forwarded});
    if (original && rc == "00") {
      original->set_refunded_minor(original->refunded_minor() + rec.amount_minor());
      write.records.push_back({&*original, std::string_view()});
    }
    if (reverse || stand_in) {
      proto::SafEntry e;
      e.set_destination(route.id());
      e.set_txn_id(id);
      e.set_created_micros(Micros(deps_.clock->Now()));
      if (reverse) {
        e.set_message_type("0420");
        e.set_reason_code("68");
      } else {
        e.set_message_type(m.mti() == "0100" ? "0120" : "0220");
      }
      write.saf = std::move(e);
    }
    if (packed) {
      if (auto entry = WindowEntry(t, key, *packed)) {
        write.also.push_back(std::move(*entry));
      }
    }
    if (auto ec = co_await Commit(std::move(write)); ec) {
      SY_LOG(kWarning) << "pipeline: journal outcome write failed: " << ec.message();
      rc = "96";
      stand_in = false;
      reply.Set(39, rc);
      reply.Unset(38);
      reply.Unset(55);
      packed = co_await Pack(ctx, reply);  // the window entry was not written either
    } else {
      persisted = packed.has_value();
      if (reverse) {
        stats_.reversals_queued++;
      }
    }
  }

  // 13. The answer.
  ctx.response_code = rc;
  if (stand_in) {
    stats_.stand_in++;
  }
  if (rc == "00") {
    stats_.approved++;
  } else {
    stats_.declined++;
  }
  SY_LOG(kInfo)
          .With("tid", t.profile->tid())
          .With("stan", m.Get(11))
          .With("rrn", rrn)
          .With("mti", m.mti())
          .With("rc", rc)
          .With("route", route.id())
      << "pipeline: " << t.profile->tid() << " stan " << m.Get(11) << " " << iso8583::MaskPan(pan)
      << " amount " << amount << " -> " << rc << (stand_in ? " (stand-in)" : "");
  Response response;
  response.message = std::move(packed);
  co_return Remember(t, key, std::move(response), persisted);
}

}  // namespace sy::server
