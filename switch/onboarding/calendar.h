#pragma once

// Business days for onboarding: review waiting times and settlement dates. Saturdays and Sundays
// are not business days, nor is any listed holiday; a listed working day turns a weekend day
// back into a business day (the make-up Saturdays of the PRC's public holiday arrangements).
//
//   HolidayCalendar cal({ParseDate("20261001").value(), ParseDate("20261002").value()});
//   cal.IsBusinessDay(ParseDate("20261001").value());          // false: a holiday
//   cal.BusinessDaysAfter(*ParseDate("20260930"), *ParseDate("20261005"));  // 1 (Monday 5th)

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sy::server::onboarding {

// "YYYYMMDD" → the date, or nullopt when malformed or impossible (20260230).
[[nodiscard]] std::optional<std::chrono::sys_days> ParseDate(std::string_view yyyymmdd);
// The date as "YYYYMMDD".
[[nodiscard]] std::string FormatDate(std::chrono::sys_days date);

// A holiday calendar. Immutable after construction, so safe to share between threads.
class HolidayCalendar {
 public:
  HolidayCalendar() = default;
  // `holidays`: days that are not business days. `working_days`: weekend days that are.
  explicit HolidayCalendar(const std::vector<std::chrono::sys_days>& holidays,
                           const std::vector<std::chrono::sys_days>& working_days = {});

  [[nodiscard]] bool IsBusinessDay(std::chrono::sys_days date) const;
  // The first business day strictly after `date`.
  [[nodiscard]] std::chrono::sys_days NextBusinessDay(std::chrono::sys_days date) const;
  // The number of business days d with from < d <= to; 0 when to <= from.
  [[nodiscard]] int BusinessDaysAfter(std::chrono::sys_days from, std::chrono::sys_days to) const;

 private:
  std::set<std::chrono::sys_days> holidays_;
  std::set<std::chrono::sys_days> working_days_;
};

}  // namespace sy::server::onboarding
