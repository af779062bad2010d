#include "switch/admin/admin_settlement.h"

#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>

#include "proto/onboarding.pb.h"
#include "switch/log.h"
#include "switch/onboarding/calendar.h"

namespace sy::server::admin {
namespace {

namespace pb = google::protobuf;
namespace st = settlement;

HttpResponse Json(int status, const pb::Message& m) {
  pb::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.always_print_primitive_fields = true;
  std::string out;
  if (!pb::util::MessageToJsonString(m, &out, o).ok()) {
    return {500, R"({"code":"internal","field":"","message":"response not printable"})"};
  }
  return {status, std::move(out)};
}

HttpResponse Fail(int status, std::string_view code, std::string_view field,
                  std::string_view message) {
  proto::ErrorBody e;
  e.set_code(std::string(code));
  e.set_field(std::string(field));
  e.set_message(std::string(message));
  return Json(status, e);
}

bool IsDate(std::string_view d) {
  return d.size() == 8 && d.find_first_not_of("0123456789") == std::string_view::npos &&
         onboarding::ParseDate(d).has_value();
}

std::int64_t SystemMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

SettlementApi::SettlementApi(SettlementApiOptions options) : options_(std::move(options)) {
  if (!options_.now_micros) {
    options_.now_micros = SystemMicros;
  }
}

SettlementApi::~SettlementApi() {
  WaitIdle();
  std::lock_guard lock(mu_);
  if (worker_.joinable()) {
    worker_.join();
  }
}

void SettlementApi::WaitIdle() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return !running_.has_value(); });
}

HttpResponse SettlementApi::Handle(std::string_view method,
                                   const std::vector<std::string>& segments,
                                   const std::map<std::string, std::string>& query,
                                   std::string_view caller, Role role, std::string_view body) {
  const std::size_t n = segments.size();
  if (n == 2) {
    if (method == "POST") {
      if (role != Role::kOperator) {
        return Fail(403, "forbidden", "",
                    "token '" + std::string(caller) + "' has role " + std::string(RoleName(role)) +
                        "; this request needs operator");
      }
      return Start(caller, body);
    }
    if (method == "GET") {
      const auto it = query.find("business_date");
      if (it != query.end() && !IsDate(it->second)) {
        return Fail(400, "invalid_request", "business_date",
                    "business_date: '" + it->second + "' is not a date as YYYYMMDD");
      }
      return List(it != query.end() ? it->second : std::string(), false);
    }
  } else if (n == 3) {
    if (method == "GET") {
      if (!IsDate(segments[2])) {
        return Fail(400, "invalid_request", "business_date",
                    "business_date: '" + segments[2] + "' is not a date as YYYYMMDD");
      }
      return List(segments[2], true);
    }
  } else {
    return Fail(404, "not_found", "", "no endpoint under /v1/settlement-runs with that path");
  }
  return Fail(405, "method_not_allowed", "",
              std::string(method) + " is not allowed on this settlement-runs path");
}

HttpResponse SettlementApi::Start(std::string_view caller, std::string_view body) {
  proto::SettlementRunRequest req;
  pb::util::JsonParseOptions o;
  o.ignore_unknown_fields = false;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Fail(400, "bad_json", "", "the request needs a JSON object body");
  }
  if (const auto status =
          pb::util::JsonStringToMessage(pb::StringPiece(body.data(), body.size()), &req, o);
      !status.ok()) {
    const std::string text(status.message());
    if (const auto at = text.find(": Cannot find field"); at != std::string::npos) {
      const std::string field = text.substr(0, at);
      return Fail(400, "unknown_field", field, field + ": unknown field");
    }
    return Fail(400, "bad_json", "", "the body is not valid JSON for this request: " + text);
  }
  if (req.business_date().empty()) {
    return Fail(400, "invalid_request", "business_date", "business_date: is required (YYYYMMDD)");
  }
  if (!IsDate(req.business_date())) {
    return Fail(400, "invalid_request", "business_date",
                "business_date: '" + req.business_date() + "' is not a date as YYYYMMDD");
  }
  std::lock_guard lock(mu_);
  if (running_) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    return Fail(409, "conflict", "",
                "settlement run " + running_->run_id() +
                    " is in progress; try again when it is "
                    "recorded");
  }
  // Between processes: `switchyard settle` may hold the directory.
  auto run_lock = st::RunLock::Acquire(options_.out_dir, /*wait=*/false);
  if (!run_lock) {
    if (run_lock.error().code == st::make_error_code(st::Error::kBusy)) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      return Fail(409, "conflict", "",
                  "another settlement run (switchyard settle?) holds " + options_.out_dir +
                      "; try again when it is recorded");
    }
    return Fail(500, "internal", "", run_lock.error().Describe());
  }
  if (worker_.joinable()) {
    worker_.join();  // the previous run, already recorded
  }
  proto::SettlementRunRecord shown;
  std::uint32_t number = 1;
  for (const auto& r : st::ReadLedger(options_.out_dir)) {
    number += r.business_date() == req.business_date() ? 1 : 0;
  }
  shown.set_run_id(req.business_date() + "-" + std::to_string(number));
  shown.set_business_date(req.business_date());
  shown.set_source("api");
  shown.set_by(std::string(caller));
  shown.set_result("running");
  shown.set_started_micros(options_.now_micros());
  running_ = shown;

  st::RunRequest run;
  run.store = options_.store;
  run.business_date = req.business_date();
  run.agreements_path = options_.agreements;
  run.holidays_path = options_.holidays;
  run.source = "api";
  run.by = std::string(caller);
  run.now_micros = options_.now_micros;
  run.write_options = options_.write_options;
  worker_ = std::thread([this, run = std::move(run), held = std::move(*run_lock)]() mutable {
    // The BIN table of the moment, kept alive for the run.
    std::shared_ptr<const routing::BinTable> bins = options_.bins ? options_.bins() : nullptr;
    run.bins = bins.get();
    st::RunOutcome outcome = st::RunSettlement(run, held);
    if (outcome.problem) {
      SY_LOG(kWarning) << "settlement: run " << outcome.record.run_id() << " by "
                       << outcome.record.by() << " failed: " << outcome.problem->Describe();
    } else {
      SY_LOG(kInfo) << "settlement: run " << outcome.record.run_id() << " by "
                    << outcome.record.by() << ": " << outcome.record.records_settled()
                    << " records settled in " << outcome.record.rows() << " rows, "
                    << outcome.record.unmatched_issuer_items() << " unmatched issuer items"
                    << (outcome.record.identical_to_previous() ? " (identical re-run)" : "");
    }
    {
      // The directory's lock first: once the run shows as recorded, the next POST can take it.
      st::RunLock release = std::move(held);
    }
    {
      std::lock_guard done(mu_);
      running_.reset();
    }
    idle_.notify_all();
  });
  proto::SettlementRunAnswer answer;
  *answer.mutable_run() = std::move(shown);
  return Json(202, answer);
}

HttpResponse SettlementApi::List(const std::string& business_date, bool of_one_date) {
  proto::SettlementRunList list;
  for (auto& r : st::ReadLedger(options_.out_dir)) {
    if (business_date.empty() || r.business_date() == business_date) {
      *list.add_runs() = std::move(r);
    }
  }
  {
    std::lock_guard lock(mu_);
    // A run recorded while the ledger was read shows once: recorded.
    if (running_ && (business_date.empty() || running_->business_date() == business_date)) {
      bool recorded = false;
      for (const auto& r : list.runs()) {
        recorded |= r.run_id() == running_->run_id();
      }
      if (!recorded) {
        *list.add_runs() = *running_;
      }
    }
  }
  if (of_one_date && list.runs().empty()) {
    return Fail(404, "not_found", "business_date",
                "no settlement run of " + business_date + " is recorded");
  }
  return Json(200, list);
}

SettlementMetrics SettlementApi::Metrics() {
  SettlementMetrics m;
  m.refused = refused_.load(std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    m.running = running_.has_value();
  }
  std::lock_guard lock(metrics_mu_);
  struct stat info {};
  const std::string path = options_.out_dir + "/runs.jsonl";
  std::int64_t stamp = 0;
  std::int64_t size = 0;
  if (::stat(path.c_str(), &info) == 0) {
    stamp = static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
    size = static_cast<std::int64_t>(info.st_size);
  }
  if (stamp != ledger_stamp_ || size != ledger_size_) {
    summary_ = st::Summarize(st::ReadLedger(options_.out_dir));
    ledger_stamp_ = stamp;
    ledger_size_ = size;
  }
  m.ledger = summary_;
  return m;
}

}  // namespace sy::server::admin
