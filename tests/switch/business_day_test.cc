#include "switch/business_day.h"

#include <gtest/gtest.h>

namespace sy::server {
namespace {

using namespace std::chrono;

system_clock::time_point At(int y, unsigned m, unsigned d, int hh, int mm) {
  return sys_days(year{y} / month{m} / day{d}) + hours(hh) + minutes(mm);
}

TEST(BusinessDayTest, FollowsTheCalendarWithAMidnightCutover) {
  EXPECT_EQ(BusinessDate(At(2026, 11, 27, 0, 0), minutes(0)), "20261127");
  EXPECT_EQ(BusinessDate(At(2026, 11, 27, 23, 59), minutes(0)), "20261127");
}

TEST(BusinessDayTest, AnEveningCutoverStartsTheNextDayEarly) {
  const minutes cut = hours(22);
  EXPECT_EQ(BusinessDate(At(2026, 11, 27, 21, 59), cut), "20261127");
  EXPECT_EQ(BusinessDate(At(2026, 11, 27, 22, 0), cut), "20261128");
  EXPECT_EQ(BusinessDate(At(2026, 12, 31, 23, 0), cut), "20270101");
}

TEST(BusinessDayTest, AnEarlyMorningCutoverKeepsThePreviousDayUntilIt) {
  const minutes cut = hours(2);
  EXPECT_EQ(BusinessDate(At(2026, 11, 28, 1, 59), cut), "20261127");
  EXPECT_EQ(BusinessDate(At(2026, 11, 28, 2, 0), cut), "20261128");
}

TEST(BusinessDayTest, ParsesCutovers) {
  minutes m{};
  EXPECT_TRUE(ParseCutover("22:30", m));
  EXPECT_EQ(m, minutes(22 * 60 + 30));
  EXPECT_FALSE(ParseCutover("24:00", m));
  EXPECT_FALSE(ParseCutover("2:30", m));
  EXPECT_FALSE(ParseCutover("22:60", m));
}

TEST(BusinessDayTest, MakesTwelveDigitRrnsFromTheJulianDateAndSequence) {
  EXPECT_EQ(MakeRrn("20261127", 123), "633100000123");
  EXPECT_EQ(MakeRrn("20260101", 7), "600100000007");
  EXPECT_EQ(MakeRrn("20241231", 100000001), "436600000001");  // leap year; sequence wraps
}

TEST(BusinessDayTest, FormatsTransmissionTimeInUtc) {
  EXPECT_EQ(TransmissionTime(At(2026, 11, 27, 9, 30) + seconds(5)), "1127093005");
  EXPECT_EQ(TransmissionTime(At(2026, 1, 2, 23, 59) + seconds(59)), "0102235959");
}

TEST(BusinessDayTest, CountsDaysBackAcrossMonthsAndLeapYears) {
  EXPECT_EQ(DaysBefore("20261127", 0), "20261127");
  EXPECT_EQ(DaysBefore("20260301", 1), "20260228");
  EXPECT_EQ(DaysBefore("20240301", 1), "20240229");
  EXPECT_EQ(DaysBefore("20261127", 400), "20251023");
}

TEST(ManualClockTest, MovesOnlyWhenTold) {
  ManualClock clock(At(2026, 11, 27, 12, 0));
  EXPECT_EQ(clock.Now(), At(2026, 11, 27, 12, 0));
  clock.Advance(minutes(5));
  EXPECT_EQ(clock.Now(), At(2026, 11, 27, 12, 5));
}

}  // namespace
}  // namespace sy::server
