#include "switch/business_day.h"

#include <cstdio>

namespace sy::server {

bool ParseCutover(std::string_view text, std::chrono::minutes& out) {
  if (text.size() != 5 || text[2] != ':') {
    return false;
  }
  for (std::size_t i : {0U, 1U, 3U, 4U}) {
    if (text[i] < '0' || text[i] > '9') {
      return false;
    }
  }
  const int h = (text[0] - '0') * 10 + (text[1] - '0');
  const int m = (text[3] - '0') * 10 + (text[4] - '0');
  if (h > 23 || m > 59) {
    return false;
  }
  out = std::chrono::minutes(h * 60 + m);
  return true;
}

std::string BusinessDate(std::chrono::system_clock::time_point t, std::chrono::minutes cutover) {
  using namespace std::chrono;
  const auto shifted = cutover < hours(12) ? t - cutover : t + (hours(24) - cutover);
  const year_month_day ymd{floor<days>(shifted)};
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04d%02u%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

std::string DaysBefore(std::string_view business_date, int days) {
  using namespace std::chrono;
  const int y = std::stoi(std::string(business_date.substr(0, 4)));
  const unsigned m = static_cast<unsigned>(std::stoi(std::string(business_date.substr(4, 2))));
  const unsigned d = static_cast<unsigned>(std::stoi(std::string(business_date.substr(6, 2))));
  const year_month_day earlier{sys_days(year{y} / month{m} / day{d}) - std::chrono::days(days)};
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04d%02u%02u", static_cast<int>(earlier.year()),
                static_cast<unsigned>(earlier.month()), static_cast<unsigned>(earlier.day()));
  return buf;
}

std::string TransmissionTime(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{floor<seconds>(t - day)};
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%02u%02u%02ld%02ld%02ld", static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<long>(hms.hours().count()),
                static_cast<long>(hms.minutes().count()), static_cast<long>(hms.seconds().count()));
  return buf;
}

std::string MakeRrn(std::string_view business_date, std::uint64_t sequence) {
  using namespace std::chrono;
  const int y = std::stoi(std::string(business_date.substr(0, 4)));
  const unsigned m = static_cast<unsigned>(std::stoi(std::string(business_date.substr(4, 2))));
  const unsigned d = static_cast<unsigned>(std::stoi(std::string(business_date.substr(6, 2))));
  const sys_days date = year{y} / month{m} / day{d};
  const sys_days jan1 = year{y} / January / 1;
  const auto doy = (date - jan1).count() + 1;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%d%03d%08llu", y % 10, static_cast<int>(doy),
                static_cast<unsigned long long>(sequence % 100000000ULL));
  return buf;
}

}  // namespace sy::server
