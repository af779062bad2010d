#pragma once

// Time as the switch sees it: an injectable clock, the business date stamped at receipt against a
// configured cutover (never derived from fields 7, 12 or 13), and retrieval reference numbers.
//
// Cutover "HH:MM" (UTC) is the moment the business date advances. A cutover before noon starts
// the day late (until 02:00 the previous date still applies with cutover "02:00"); a cutover at
// or after noon starts it early (from 22:00 the next date applies with cutover "22:00").

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace sy::server {

class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual std::chrono::system_clock::time_point Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  [[nodiscard]] std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::now();
  }
};

// A clock tests set by hand. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::chrono::system_clock::time_point t)
      : now_(t.time_since_epoch().count()) {}
  [[nodiscard]] std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(std::chrono::system_clock::duration(now_.load()));
  }
  void Set(std::chrono::system_clock::time_point t) { now_ = t.time_since_epoch().count(); }
  void Advance(std::chrono::system_clock::duration d) { now_ += d.count(); }

 private:
  std::atomic<std::chrono::system_clock::rep> now_;
};

// Parses "HH:MM"; false when malformed.
[[nodiscard]] bool ParseCutover(std::string_view text, std::chrono::minutes& out);

// The business date (YYYYMMDD) of instant t under the cutover.
[[nodiscard]] std::string BusinessDate(std::chrono::system_clock::time_point t,
                                       std::chrono::minutes cutover);

// The business date `days` days before `business_date` (both YYYYMMDD).
[[nodiscard]] std::string DaysBefore(std::string_view business_date, int days);

// Field 7 (transmission date and time, MMDDhhmmss, UTC) of instant t.
[[nodiscard]] std::string TransmissionTime(std::chrono::system_clock::time_point t);

// A retrieval reference number for field 37: 12 digits, YDDD (last digit of the business date's
// year and its day of the year) then 8 digits of `sequence` (the journal id). Unique per switch
// and business date up to 10^8 transactions a day.
[[nodiscard]] std::string MakeRrn(std::string_view business_date, std::uint64_t sequence);

}  // namespace sy::server
