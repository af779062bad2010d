#include "switch/onboarding/calendar.h"

#include <cstdio>

namespace sy::server::onboarding {

using std::chrono::sys_days;

std::optional<sys_days> ParseDate(std::string_view text) {
  if (text.size() != 8) {
    return std::nullopt;
  }
  int v[8];
  for (std::size_t i = 0; i < 8; ++i) {
    if (text[i] < '0' || text[i] > '9') {
      return std::nullopt;
    }
    v[i] = text[i] - '0';
  }
  const int y = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
  const unsigned m = static_cast<unsigned>(v[4] * 10 + v[5]);
  const unsigned d = static_cast<unsigned>(v[6] * 10 + v[7]);
  const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{m},
                                        std::chrono::day{d}};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  return sys_days(ymd);
}

std::string FormatDate(sys_days date) {
  const std::chrono::year_month_day ymd{date};
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04d%02u%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

HolidayCalendar::HolidayCalendar(const std::vector<sys_days>& holidays,
                                 const std::vector<sys_days>& working_days)
    : holidays_(holidays.begin(), holidays.end()),
      working_days_(working_days.begin(), working_days.end()) {}

bool HolidayCalendar::IsBusinessDay(sys_days date) const {
  if (holidays_.contains(date)) {
    return false;
  }
  const std::chrono::weekday wd{date};
  const bool weekend = wd == std::chrono::Saturday || wd == std::chrono::Sunday;
  return !weekend || working_days_.contains(date);
}

sys_days HolidayCalendar::NextBusinessDay(sys_days date) const {
  // Terminates: a calendar lists finitely many holidays, and every week past the last one has
  // five business days.
  do {
    date += std::chrono::days(1);
  } while (!IsBusinessDay(date));
  return date;
}

int HolidayCalendar::BusinessDaysAfter(sys_days from, sys_days to) const {
  int n = 0;
  for (sys_days d = from + std::chrono::days(1); d <= to; d += std::chrono::days(1)) {
    n += IsBusinessDay(d) ? 1 : 0;
  }
  return n;
}

}  // namespace sy::server::onboarding
