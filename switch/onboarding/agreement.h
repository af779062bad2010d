#pragma once

// Merchant onboarding, step 3: the agreement a merchant signs. Versioned: each version has an
// effective date and, from that date, supersedes every lower version. It carries a fee schedule
// per currency (merchant discount rate by card brand, fixed fee, minimum and maximum), the
// settlement cycle T+n on the acquirer's holiday calendar, and the deposit.
//
//   const Agreement* a = AgreementInForce(agreements, business_date);   // nullptr: none
//   const FeeSchedule* s = ScheduleFor(*a, 156);                         // CNY
//   auto fee = Fee(10000, "visa", *s);                                   // minor units
//   auto pay_on = SettlementDate(business_date, a->settlement_cycle_days, holidays);
//
// Money is int64 minor units of an ISO 4217 currency (numeric code); rates are in hundredths of
// a basis point: 1 bp = 0.01% = 100 units, so the fee is amount × rate / 1,000,000 (0.125% =
// 12.5 bp = 1250 units). Never floating point.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "switch/onboarding/calendar.h"
#include "switch/onboarding/error.h"

namespace sy::server::onboarding {

// 100% in hundredths of a basis point: the largest rate a schedule may hold.
inline constexpr std::int64_t kRateUnitsPerWhole = 1'000'000;

struct FeeSchedule {
  std::uint16_t currency = 0;  // ISO 4217 numeric (156 CNY, 978 EUR); 1..999
  // Card brand as the BIN table names it ("visa", "mastercard", "unionpay") → merchant discount
  // rate in hundredths of a basis point, 0..1,000,000.
  std::map<std::string, std::int64_t, std::less<>> rates;
  std::int64_t fixed_fee_minor = 0;           // added to every transaction's fee; >= 0
  std::int64_t min_fee_minor = 0;             // >= 0
  std::optional<std::int64_t> max_fee_minor;  // >= min; none: no cap. Default: none
};

struct Deposit {
  std::int64_t amount_minor = 0;  // >= 0
  std::uint16_t currency = 0;     // ISO 4217 numeric; required when amount_minor > 0
};

struct Agreement {
  std::string merchant_id;
  std::uint32_t version = 1;  // >= 1; unique per merchant
  std::chrono::sys_days effective_from{};
  // First day no longer in force (exclusive). Default: none (in force until superseded).
  std::optional<std::chrono::sys_days> effective_until;
  std::vector<FeeSchedule> fees;  // one per currency
  int settlement_cycle_days = 1;  // T+n, 0..30. Default: 1
  Deposit deposit;
  std::string signed_by;
  std::chrono::system_clock::time_point signed_at;
};

// Every problem with one agreement, fields named by path ("fees[156].max_fee_minor").
[[nodiscard]] std::vector<FieldError> ValidateAgreement(const Agreement& agreement);

// The agreement in force on `date`: of the agreements whose effective_from is on or before the
// date, the highest version, unless it has ended (date >= effective_until): a later version
// supersedes the earlier ones entirely, so an ended latest version leaves none in force.
// nullptr when none is. The pointer points into `agreements`.
[[nodiscard]] const Agreement* AgreementInForce(std::span<const Agreement> agreements,
                                                std::chrono::sys_days date);

// The agreement's fee schedule for a currency, or nullptr.
[[nodiscard]] const FeeSchedule* ScheduleFor(const Agreement& agreement, std::uint16_t currency);

// The merchant's fee for one transaction of `amount_minor` (>= 0) on a card of `brand`:
// half-up rounding of amount × rate / 1,000,000, plus the fixed fee, then clamped to
// [min, max]. Errors: kOutOfRange (negative amount, a rate outside 0..1,000,000, min > max),
// kUnknownBrand (no rate for the brand), kOverflow (a result beyond int64). Exact for every
// int64 amount: the product is computed in 128 bits.
[[nodiscard]] Result<std::int64_t> Fee(std::int64_t amount_minor, std::string_view brand,
                                       const FeeSchedule& schedule);

// The day a merchant is paid for `business_date` under cycle T+`cycle_days` (>= 0): T+n is the
// n-th business day after the business date; T+0 is the business date itself when it is a
// business day, else the next one. So Friday's transactions under T+1 are paid on Monday, and
// Saturday's under T+1 also on Monday.
[[nodiscard]] std::chrono::sys_days SettlementDate(std::chrono::sys_days business_date,
                                                   int cycle_days, const HolidayCalendar& holidays);

}  // namespace sy::server::onboarding
