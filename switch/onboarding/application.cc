#include "switch/onboarding/application.h"

#include <stdexcept>
#include <utility>

namespace sy::server::onboarding {
namespace {

using S = ApplicationState;
using std::chrono::system_clock;

TransitionError Refuse(Error code, const Application& app, S to, std::string what,
                       std::vector<FieldError> fields = {}) {
  TransitionError e;
  e.code = code;
  e.from = app.state;
  e.to = to;
  e.message = "application " + app.id + ": " + std::string(StateName(app.state)) + " -> " +
              std::string(StateName(to)) + ": " + std::move(what);
  e.fields = std::move(fields);
  return e;
}

// kInvalidApplication carrying every field problem (precondition: there is at least one).
TransitionError Invalid(const Application& app, S to, std::vector<FieldError> problems) {
  std::string what = std::to_string(problems.size()) + " field(s) do not validate, first " +
                     problems.front().Describe();
  return Refuse(Error::kInvalidApplication, app, to, std::move(what), std::move(problems));
}

// Every check of a step except the transition-specific data; nullopt when the step may go on.
std::optional<TransitionError> CheckStep(const Application& app, S to, const StepRequest& r) {
  if (r.expected_version != app.version) {
    return Refuse(Error::kStaleVersion, app, to,
                  "the application is at version " + std::to_string(app.version) +
                      ", the request was made at version " + std::to_string(r.expected_version));
  }
  if (!TransitionAllowed(app.state, to)) {
    return Refuse(Error::kTransitionRefused, app, to, "this step is not allowed");
  }
  if (r.actor.empty()) {
    return Refuse(Error::kMissing, app, to, "actor is required");
  }
  if (ReasonRequired(to) && r.reason.find_first_not_of(" \t") == std::string::npos) {
    return Refuse(Error::kReasonRequired, app, to, "reason is required");
  }
  return std::nullopt;
}

void Record(Application& app, S to, const StepRequest& r, const Clock& clock) {
  ++app.version;
  app.steps.push_back(ReviewStep{.from = app.state,
                                 .to = to,
                                 .actor = r.actor,
                                 .reason = r.reason,
                                 .at = clock.Now(),
                                 .version = app.version});
  app.state = to;
}

std::chrono::sys_days LocalDate(system_clock::time_point t, std::chrono::minutes utc_offset) {
  return std::chrono::floor<std::chrono::days>(t + utc_offset);
}

}  // namespace

std::string_view StateName(ApplicationState s) noexcept {
  switch (s) {
    case S::kSubmitted:
      return "submitted";
    case S::kInReview:
      return "in_review";
    case S::kMoreInfoRequested:
      return "more_info_requested";
    case S::kResubmitted:
      return "resubmitted";
    case S::kApproved:
      return "approved";
    case S::kRejected:
      return "rejected";
    case S::kWithdrawn:
      return "withdrawn";
  }
  return "unknown";
}

bool IsFinal(ApplicationState s) noexcept {
  return s == S::kApproved || s == S::kRejected || s == S::kWithdrawn;
}

bool AcquirerOwesMove(ApplicationState s) noexcept {
  return s == S::kSubmitted || s == S::kInReview || s == S::kResubmitted;
}

bool TransitionAllowed(ApplicationState from, ApplicationState to) noexcept {
  if (to == S::kWithdrawn) {
    return from >= kFirstState && from <= kLastState && !IsFinal(from);
  }
  switch (from) {
    case S::kSubmitted:
    case S::kResubmitted:
      return to == S::kInReview;
    case S::kInReview:
      return to == S::kMoreInfoRequested || to == S::kApproved || to == S::kRejected;
    case S::kMoreInfoRequested:
      return to == S::kResubmitted;
    case S::kApproved:
    case S::kRejected:
    case S::kWithdrawn:
      return false;
  }
  return false;
}

bool ReasonRequired(ApplicationState to) noexcept {
  return to == S::kMoreInfoRequested || to == S::kRejected || to == S::kWithdrawn;
}

void throw_exception_from_error(const TransitionError& e, const boost::source_location&) {
  throw std::runtime_error(e.Describe());
}

TransitionResult<Application> Submit(std::string id, MerchantApplication fields,
                                     std::string_view actor, const Clock& clock) {
  Application app;
  app.id = std::move(id);
  const auto now = clock.Now();
  if (actor.empty()) {
    return Refuse(Error::kMissing, app, S::kSubmitted, "actor is required");
  }
  auto problems = Validate(fields, std::chrono::floor<std::chrono::days>(now));
  if (!problems.empty()) {
    return Invalid(app, S::kSubmitted, std::move(problems));
  }
  app.fields = std::move(fields);
  app.version = 1;
  app.steps.push_back(ReviewStep{.from = S::kSubmitted,
                                 .to = S::kSubmitted,
                                 .actor = std::string(actor),
                                 .reason = {},
                                 .at = now,
                                 .version = 1});
  return app;
}

TransitionResult<void> Transition(Application& app, ApplicationState to, const StepRequest& r,
                                  const Clock& clock) {
  if (auto refused = CheckStep(app, to, r)) {
    return std::move(*refused);
  }
  Record(app, to, r, clock);
  return {};
}

TransitionResult<void> Resubmit(Application& app, MerchantApplication amended, const StepRequest& r,
                                const Clock& clock) {
  if (auto refused = CheckStep(app, S::kResubmitted, r)) {
    return std::move(*refused);
  }
  auto problems = Validate(amended, std::chrono::floor<std::chrono::days>(clock.Now()));
  if (!problems.empty()) {
    return Invalid(app, S::kResubmitted, std::move(problems));
  }
  app.fields = std::move(amended);
  Record(app, S::kResubmitted, r, clock);
  return {};
}

int BusinessDaysWaiting(const Application& app, system_clock::time_point now,
                        const HolidayCalendar& holidays, std::chrono::minutes utc_offset) {
  int total = 0;
  for (std::size_t i = 0; i < app.steps.size(); ++i) {
    const ReviewStep& step = app.steps[i];
    if (!AcquirerOwesMove(step.to)) {
      continue;
    }
    const auto end = i + 1 < app.steps.size() ? app.steps[i + 1].at : now;
    total += holidays.BusinessDaysAfter(LocalDate(step.at, utc_offset), LocalDate(end, utc_offset));
  }
  return total;
}

bool Overdue(const Application& app, system_clock::time_point now, const HolidayCalendar& holidays,
             const ReviewTarget& target) {
  return !IsFinal(app.state) &&
         BusinessDaysWaiting(app, now, holidays, target.utc_offset) > target.business_days;
}

}  // namespace sy::server::onboarding
