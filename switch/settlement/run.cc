#include "switch/settlement/run.h"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "storage/registry.h"
#include "switch/onboarding/agreement_proto.h"
#include "switch/settlement/agreement_file.h"

namespace sy::server::settlement {
namespace {

namespace pb = google::protobuf;

constexpr std::string_view kLedger = "runs.jsonl";
constexpr std::string_view kLockFile = ".settle.lock";

std::string Errno(std::string_view what, const std::string& path) {
  return std::string(what) + " " + path + ": " + std::strerror(errno);
}

std::int64_t SystemMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool Slurp(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return !in.bad();
}

// The record's control totals, per currency, from the run's rows.
void FillTotals(const SettlementRun& run, proto::SettlementRunRecord& rec) {
  std::map<std::uint32_t, proto::SettlementTotals> by_currency;
  for (const Row& r : run.rows) {
    proto::SettlementTotals& t = by_currency[r.currency];
    t.set_currency(r.currency);
    t.set_rows(t.rows() + 1);
    t.set_transaction_count(t.transaction_count() + r.transaction_count());
    t.set_gross_minor(t.gross_minor() + r.gross_minor);
    t.set_refund_minor(t.refund_minor() + r.refund_minor);
    t.set_fees_minor(t.fees_minor() + r.fees_minor);
    t.set_net_minor(t.net_minor() + r.net_minor);
    t.set_payable_minor(t.payable_minor() + r.payable_minor);
    t.set_carried_forward_minor(t.carried_forward_minor() + r.carried_forward_minor);
  }
  for (auto& [currency, t] : by_currency) {
    *rec.add_totals() = std::move(t);
  }
}

bool SameFiles(const proto::SettlementRunRecord& a, const proto::SettlementRunRecord& b) {
  if (a.files_size() != b.files_size()) {
    return false;
  }
  std::map<std::string, std::string> digests;
  for (const auto& f : a.files()) {
    digests[f.name()] = f.sha256();
  }
  for (const auto& f : b.files()) {
    auto it = digests.find(f.name());
    if (it == digests.end() || it->second != f.sha256()) {
      return false;
    }
  }
  return true;
}

}  // namespace

// ---- the run lock -----------------------------------------------------------------------------

Result<RunLock> RunLock::Acquire(const std::string& out_dir, bool wait) {
  if (out_dir.empty()) {
    return MakeProblem(Error::kBadInput, "no output directory");
  }
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) {
    return MakeProblem(Error::kIo, "cannot make the directory " + out_dir + ": " + ec.message());
  }
  const std::string path = out_dir + "/" + std::string(kLockFile);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return MakeProblem(Error::kIo, Errno("open", path));
  }
  for (;;) {
    if (::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) == 0) {
      return RunLock(fd, out_dir);
    }
    if (errno == EINTR) {
      continue;
    }
    const bool busy = errno == EWOULDBLOCK;
    auto p = busy ? MakeProblem(Error::kBusy, "another settlement run holds " + path)
                  : MakeProblem(Error::kIo, Errno("flock", path));
    ::close(fd);
    return p;
  }
}

RunLock::RunLock(RunLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), out_dir_(std::move(other.out_dir_)) {}

RunLock& RunLock::operator=(RunLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = std::exchange(other.fd_, -1);
    out_dir_ = std::move(other.out_dir_);
  }
  return *this;
}

RunLock::~RunLock() {
  if (fd_ >= 0) {
    ::close(fd_);  // releases the flock
  }
}

// ---- inputs -----------------------------------------------------------------------------------

Result<void> MergeRegistryAgreements(const storage::Store& store, AgreementBook& book) {
  auto records = storage::Registry::ScanKind(store, "agreement");
  if (!records) {
    return MakeProblem(Error::kBadInput,
                       "cannot read the registry's agreements: " + records.error().message());
  }
  std::map<std::string, std::vector<onboarding::Agreement>, std::less<>> by_mid;
  std::set<std::pair<std::string, std::uint32_t>, std::less<>> refund_fee;
  for (const auto& [id, raw] : *records) {
    proto::Agreement p;
    if (!p.ParseFromString(raw)) {
      return MakeProblem(Error::kBadAgreements, "registry agreement " + id + " does not parse");
    }
    onboarding::Agreement a;
    // Every stored agreement was validated by the admin API; one that no longer is (a rule
    // changed since) stops the run rather than settle with a guess.
    const auto errors = onboarding::AgreementFromProto(p, a, std::chrono::system_clock::now());
    if (!errors.empty()) {
      return MakeProblem(Error::kBadAgreements,
                         "registry agreement " + id + ": " + errors.front().Describe());
    }
    if (p.refund_returns_fee()) {
      refund_fee.emplace(p.merchant_id(), p.version());
    }
    by_mid[p.merchant_id()].push_back(std::move(a));
  }
  for (auto& [mid, versions] : by_mid) {
    std::sort(versions.begin(), versions.end(),
              [](const auto& x, const auto& y) { return x.version < y.version; });
    std::erase_if(book.refund_returns_fee, [&](const auto& k) { return k.first == mid; });
    book.versions[mid] = std::move(versions);
  }
  book.refund_returns_fee.insert(refund_fee.begin(), refund_fee.end());
  return {};
}

Result<RunInputs> LoadRunInputs(const std::string& agreements_path,
                                const std::string& holidays_path) {
  RunInputs in;
  std::string text;
  std::error_code exists_error;
  if (!std::filesystem::exists(agreements_path, exists_error)) {
    // No file: the registry's agreements (MergeRegistryAgreements) are all there is.
  } else if (!Slurp(agreements_path, text)) {
    return MakeProblem(Error::kBadInput, "cannot read the agreements file " + agreements_path);
  } else {
    auto book = LoadAgreementBook(text, agreements_path);
    if (!book) {
      return book.error();
    }
    in.agreements = std::move(*book);
  }
  if (!holidays_path.empty()) {
    if (!Slurp(holidays_path, text)) {
      return MakeProblem(Error::kBadInput, "cannot read the holidays file " + holidays_path);
    }
    auto h = LoadHolidays(text, holidays_path);
    if (!h) {
      return h.error();
    }
    in.holidays = std::move(*h);
  }
  return in;
}

// ---- the ledger -------------------------------------------------------------------------------

std::vector<proto::SettlementRunRecord> ReadLedger(const std::string& out_dir) {
  std::vector<proto::SettlementRunRecord> out;
  std::string text;
  if (!Slurp(out_dir + "/" + std::string(kLedger), text)) {
    return out;
  }
  pb::util::JsonParseOptions o;
  o.ignore_unknown_fields = true;  // a newer version may record more
  std::istringstream is(text);
  std::string line;
  while (std::getline(is, line)) {
    if (line.empty()) {
      continue;
    }
    proto::SettlementRunRecord rec;
    if (pb::util::JsonStringToMessage(line, &rec, o).ok() && !rec.run_id().empty()) {
      out.push_back(std::move(rec));
    }
  }
  return out;
}

Result<bool> AppendLedger(const std::string& out_dir, const proto::SettlementRunRecord& record) {
  pb::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.always_print_primitive_fields = true;
  std::string line;
  if (!pb::util::MessageToJsonString(record, &line, o).ok()) {
    return MakeProblem(Error::kIo, "the run record cannot be printed as JSON");
  }
  line += '\n';
  const std::string path = out_dir + "/" + std::string(kLedger);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    return MakeProblem(Error::kIo, Errno("open", path));
  }
  // A line torn by a crash has no newline: end it first, so this record stays a line of its own.
  struct stat st {};
  char last = '\n';
  if (::fstat(fd, &st) == 0 && st.st_size > 0 && ::pread(fd, &last, 1, st.st_size - 1) == 1 &&
      last != '\n') {
    line.insert(line.begin(), '\n');
  }
  const ssize_t n = ::write(fd, line.data(), line.size());
  const bool ok = n == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  const std::string why = ok ? std::string() : Errno("append to", path);
  ::close(fd);
  if (!ok) {
    return MakeProblem(Error::kIo, why);
  }
  return true;
}

LedgerSummary Summarize(const std::vector<proto::SettlementRunRecord>& runs) {
  LedgerSummary s;
  for (const auto& r : runs) {
    if (r.result() == "ok") {
      s.ok++;
      s.last_success_date = std::max(s.last_success_date, r.business_date());
    } else {
      s.failed++;
    }
    s.last_duration_seconds = static_cast<double>(r.duration_micros()) / 1e6;
  }
  return s;
}

// ---- the run ----------------------------------------------------------------------------------

RunOutcome RunSettlement(const RunRequest& req, const RunLock& lock) {
  const auto now = req.now_micros ? req.now_micros : std::function<std::int64_t()>(SystemMicros);
  const std::string& out_dir = lock.out_dir();
  RunOutcome o;
  proto::SettlementRunRecord& rec = o.record;
  rec.set_business_date(req.business_date);
  rec.set_source(req.source);
  rec.set_by(req.by);
  rec.set_started_micros(now());

  // The date's earlier runs: this run's number, and what a re-run is compared with.
  const std::vector<proto::SettlementRunRecord> ledger = ReadLedger(out_dir);
  std::uint32_t n = 1;
  const proto::SettlementRunRecord* previous_ok = nullptr;
  for (const auto& r : ledger) {
    if (r.business_date() == req.business_date) {
      ++n;
      if (r.result() == "ok") {
        previous_ok = &r;
      }
    }
  }
  rec.set_run_id(req.business_date + "-" + std::to_string(n));
  rec.set_rerun(previous_ok != nullptr);

  auto fail = [&](Problem p) {
    rec.set_result("failed");
    rec.set_error(p.Describe());
    o.problem = std::move(p);
  };
  auto finish = [&]() -> RunOutcome {
    rec.set_finished_micros(now());
    rec.set_duration_micros(rec.finished_micros() - rec.started_micros());
    if (auto a = AppendLedger(out_dir, rec); !a) {
      // The files are written but the run is not recorded: it must be run again.
      fail(a.error());
      o.run.reset();
    }
    return std::move(o);
  };

  if (req.store == nullptr) {
    fail(req.store_error.empty() ? MakeProblem(Error::kBadInput, "no store")
                                 : MakeProblem(Error::kStore, req.store_error));
    return finish();
  }
  if (!onboarding::ParseDate(req.business_date) || req.business_date.size() != 8) {
    fail(MakeProblem(Error::kBadInput,
                     "business date '" + req.business_date + "' is not a date as YYYYMMDD"));
    return finish();
  }
  auto inputs = LoadRunInputs(req.agreements_path, req.holidays_path);
  if (!inputs) {
    fail(inputs.error());
    return finish();
  }
  if (req.store != nullptr) {
    if (auto merged = MergeRegistryAgreements(*req.store, inputs->agreements); !merged) {
      fail(merged.error());
      return finish();
    }
  }
  if (inputs->agreements.versions.empty()) {
    fail(MakeProblem(Error::kBadInput, "no agreements: neither the file " + req.agreements_path +
                                           " nor the registry has any"));
    return finish();
  }
  auto carried = ReadCarriedForward(out_dir, req.business_date);
  if (!carried) {
    fail(carried.error());
    return finish();
  }
  SettlementInputs in;
  in.store = req.store;
  in.business_date = req.business_date;
  in.agreements = &inputs->agreements;
  in.holidays = &inputs->holidays;
  in.brand_of = MakeBrandResolver(req.bins, inputs->agreements.route_brands);
  in.carried_in = std::move(*carried);
  auto run = Settle(in);
  if (!run) {
    fail(run.error());
    return finish();
  }
  auto written = WriteRun(*run, out_dir, req.write_options);
  if (!written) {
    fail(written.error());
    return finish();
  }
  rec.set_result("ok");
  rec.set_records_read(run->records_read);
  rec.set_records_settled(run->records_settled);
  rec.set_rows(static_cast<std::uint32_t>(run->rows.size()));
  rec.set_exceptions(static_cast<std::uint32_t>(run->exceptions.size()));
  rec.set_batches(static_cast<std::uint32_t>(run->batches.size()));
  std::uint32_t unbalanced = 0;
  for (const auto& b : run->batches) {
    unbalanced += b.balanced() ? 0 : 1;
  }
  rec.set_unbalanced_batches(unbalanced);
  rec.set_issuer_routes(static_cast<std::uint32_t>(run->routes.size()));
  rec.set_unmatched_issuer_items(static_cast<std::uint32_t>(run->unmatched.size()));
  FillTotals(*run, rec);
  for (const auto& w : *written) {
    auto* f = rec.add_files();
    f->set_name(w.name);
    f->set_sha256(w.sha256);
    f->set_bytes(w.bytes);
  }
  rec.set_identical_to_previous(previous_ok != nullptr && SameFiles(*previous_ok, rec));
  o.run = std::move(*run);
  return finish();
}

}  // namespace sy::server::settlement
