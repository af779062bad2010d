#pragma once

// Merchant onboarding, step 2: the review of an application. A state machine in which every step
// records who, why and when (from an injected clock), guarded by a version number so that two
// reviewers acting on one application cannot both succeed: the second holds a stale version
// and is refused.
//
//   ManualClock clock(...);
//   auto app = Submit("APP-1", fields, "merchant:42", clock).value();          // version 1
//   Transition(app, ApplicationState::kInReview, {.expected_version = 1, .actor = "rev:ann"},
//              clock);                                                         // version 2
//   BusinessDaysWaiting(app, clock.Now(), holidays);  // business days on the acquirer's side
//
// Allowed steps (anything else is refused with kTransitionRefused, naming from and to):
//   submitted           → in_review            reviewer picks the application up
//   resubmitted         → in_review            reviewer picks the new material up
//   in_review           → more_info_requested  reviewer asks for material (reason required)
//   in_review           → approved             reviewer approves
//   in_review           → rejected             reviewer rejects (reason required)
//   more_info_requested → resubmitted          merchant answers (Resubmit may amend the fields)
//   any non-final state → withdrawn            merchant withdraws (reason required)
// approved, rejected and withdrawn are final. A reviewer cannot approve or reject without first
// taking the application into review, so every decision has a review step before it.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "switch/business_day.h"
#include "switch/onboarding/calendar.h"
#include "switch/onboarding/error.h"
#include "switch/onboarding/validation.h"

namespace sy::server::onboarding {

enum class ApplicationState {
  kSubmitted = 1,
  kInReview,
  kMoreInfoRequested,
  kResubmitted,
  kApproved,
  kRejected,
  kWithdrawn,
};
inline constexpr ApplicationState kFirstState = ApplicationState::kSubmitted;
inline constexpr ApplicationState kLastState = ApplicationState::kWithdrawn;

// "submitted", "in_review", "more_info_requested", "resubmitted", "approved", "rejected",
// "withdrawn".
[[nodiscard]] std::string_view StateName(ApplicationState s) noexcept;
// approved, rejected, withdrawn.
[[nodiscard]] bool IsFinal(ApplicationState s) noexcept;
// The states in which the acquirer owes the next move (the review clock runs): submitted,
// in_review, resubmitted. In more_info_requested the merchant owes it and the clock stops.
[[nodiscard]] bool AcquirerOwesMove(ApplicationState s) noexcept;
// Whether the table in this header's banner allows from → to.
[[nodiscard]] bool TransitionAllowed(ApplicationState from, ApplicationState to) noexcept;
// Whether the step into `to` must give a reason: more_info_requested, rejected, withdrawn.
[[nodiscard]] bool ReasonRequired(ApplicationState to) noexcept;

// One recorded step. The first step of every application is its submission, recorded with
// from == to == kSubmitted.
struct ReviewStep {
  ApplicationState from = ApplicationState::kSubmitted;
  ApplicationState to = ApplicationState::kSubmitted;
  std::string actor;   // "reviewer:ann", "merchant:42"
  std::string reason;  // may be empty unless ReasonRequired(to)
  std::chrono::system_clock::time_point at;
  std::uint64_t version = 0;  // the application's version after the step
};

struct Application {
  std::string id;
  MerchantApplication fields;
  ApplicationState state = ApplicationState::kSubmitted;
  std::uint64_t version = 0;      // 1 after submission, one more per step
  std::vector<ReviewStep> steps;  // oldest first; never rewritten
};

// Why a step was refused. For kInvalidApplication, `fields` holds every field problem.
struct TransitionError {
  Error code = Error::kTransitionRefused;
  ApplicationState from = ApplicationState::kSubmitted;
  ApplicationState to = ApplicationState::kSubmitted;
  std::string message;  // "application APP-1: in_review -> resubmitted is not allowed"
  std::vector<FieldError> fields;

  [[nodiscard]] const std::string& Describe() const noexcept { return message; }
  [[nodiscard]] boost::system::error_code error_code() const noexcept {
    return make_error_code(code);
  }
};

// Lets result<T, TransitionError>::value() throw (for tests and tools).
[[noreturn]] void throw_exception_from_error(const TransitionError& e,
                                             const boost::source_location& loc);

template <class T>
using TransitionResult = boost::system::result<T, TransitionError>;

// A request for one step. `expected_version` is the version the caller read: the step is
// refused with kStaleVersion unless it is still the application's version.
struct StepRequest {
  std::uint64_t expected_version = 0;
  std::string actor;   // required
  std::string reason;  // required when ReasonRequired(to)
};

// A new application in state submitted, version 1, after validating its fields (kInvalidApplication
// with every field problem otherwise). `actor` is required.
[[nodiscard]] TransitionResult<Application> Submit(std::string id, MerchantApplication fields,
                                                   std::string_view actor, const Clock& clock);

// Moves `app` to `to` and records the step at clock.Now(). On any error `app` is unchanged.
// Checks, in order: version (kStaleVersion), transition table (kTransitionRefused), actor
// (kMissing), reason (kReasonRequired). Not thread-safe: callers holding one Application in
// memory serialize access; the store compares versions when it writes.
[[nodiscard]] TransitionResult<void> Transition(Application& app, ApplicationState to,
                                                const StepRequest& request, const Clock& clock);

// more_info_requested → resubmitted with amended fields, validated first (kInvalidApplication
// with every field problem, app unchanged).
[[nodiscard]] TransitionResult<void> Resubmit(Application& app, MerchantApplication amended,
                                              const StepRequest& request, const Clock& clock);

// How long the application has waited on the acquirer, in business days: for every period the
// application spent in a state where AcquirerOwesMove, the business days d with
// start date < d <= end date, where a period of a final or current state ends at the final step
// or at `now`. Dates are the UTC date shifted by `utc_offset` (Default: 0; +08:00 for the PRC).
// So an application submitted on a Friday has waited 1 business day on Monday, and one decided
// the day it was submitted has waited 0.
[[nodiscard]] int BusinessDaysWaiting(const Application& app,
                                      std::chrono::system_clock::time_point now,
                                      const HolidayCalendar& holidays,
                                      std::chrono::minutes utc_offset = std::chrono::minutes(0));

// The review target merchants are promised.
struct ReviewTarget {
  int business_days = 5;               // merchants are promised 3 to 7 business days. Default: 5
  std::chrono::minutes utc_offset{0};  // see BusinessDaysWaiting. Default: 0
};

// True when the application is not final and has waited more business days than the target.
[[nodiscard]] bool Overdue(const Application& app, std::chrono::system_clock::time_point now,
                           const HolidayCalendar& holidays, const ReviewTarget& target);

}  // namespace sy::server::onboarding
