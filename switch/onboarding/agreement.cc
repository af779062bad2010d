#include "switch/onboarding/agreement.h"

#include <limits>
#include <set>
#include <utility>

namespace sy::server::onboarding {
namespace {

FieldError Problem(Error code, std::string field, std::string message) {
  return FieldError{code, std::move(field), std::move(message)};
}

bool RateInRange(std::int64_t rate) { return rate >= 0 && rate <= kRateUnitsPerWhole; }

}  // namespace

std::vector<FieldError> ValidateAgreement(const Agreement& a) {
  std::vector<FieldError> out;
  if (a.merchant_id.empty()) {
    out.push_back(Problem(Error::kMissing, "merchant_id", "is required"));
  }
  if (a.version < 1) {
    out.push_back(Problem(Error::kOutOfRange, "version", "must be at least 1"));
  }
  if (a.effective_until && *a.effective_until <= a.effective_from) {
    out.push_back(Problem(Error::kBadDate, "effective_until", "must be after effective_from"));
  }
  if (a.fees.empty()) {
    out.push_back(Problem(Error::kMissing, "fees", "at least one currency's fee schedule"));
  }
  std::set<std::uint16_t> currencies;
  for (const FeeSchedule& s : a.fees) {
    const std::string path = "fees[" + std::to_string(s.currency) + "]";
    if (s.currency < 1 || s.currency > 999) {
      out.push_back(
          Problem(Error::kOutOfRange, path + ".currency", "must be an ISO 4217 numeric code"));
    } else if (!currencies.insert(s.currency).second) {
      out.push_back(Problem(Error::kBadFormat, path, "appears twice"));
    }
    if (s.rates.empty()) {
      out.push_back(Problem(Error::kMissing, path + ".rates", "at least one card brand's rate"));
    }
    for (const auto& [brand, rate] : s.rates) {
      if (brand.empty()) {
        out.push_back(Problem(Error::kMissing, path + ".rates", "a rate without a card brand"));
      } else if (!RateInRange(rate)) {
        out.push_back(Problem(Error::kOutOfRange, path + ".rates." + brand,
                              "must be 0 to 1,000,000 hundredths of a basis point"));
      }
    }
    if (s.fixed_fee_minor < 0) {
      out.push_back(Problem(Error::kOutOfRange, path + ".fixed_fee_minor", "must not be negative"));
    }
    if (s.min_fee_minor < 0) {
      out.push_back(Problem(Error::kOutOfRange, path + ".min_fee_minor", "must not be negative"));
    }
    if (s.max_fee_minor && *s.max_fee_minor < s.min_fee_minor) {
      out.push_back(
          Problem(Error::kOutOfRange, path + ".max_fee_minor", "must not be below min_fee_minor"));
    }
  }
  if (a.settlement_cycle_days < 0 || a.settlement_cycle_days > 30) {
    out.push_back(Problem(Error::kOutOfRange, "settlement_cycle_days", "must be 0 to 30"));
  }
  if (a.deposit.amount_minor < 0) {
    out.push_back(Problem(Error::kOutOfRange, "deposit.amount_minor", "must not be negative"));
  }
  if (a.deposit.amount_minor > 0 && (a.deposit.currency < 1 || a.deposit.currency > 999)) {
    out.push_back(Problem(Error::kOutOfRange, "deposit.currency",
                          "must be an ISO 4217 numeric code when there is a deposit"));
  }
  if (a.signed_by.empty()) {
    out.push_back(Problem(Error::kMissing, "signed_by", "is required"));
  }
  return out;
}

const Agreement* AgreementInForce(std::span<const Agreement> agreements,
                                  std::chrono::sys_days date) {
  const Agreement* latest = nullptr;
  for (const Agreement& a : agreements) {
    if (a.effective_from <= date && (latest == nullptr || a.version > latest->version)) {
      latest = &a;
    }
  }
  if (latest != nullptr && latest->effective_until && date >= *latest->effective_until) {
    return nullptr;
  }
  return latest;
}

const FeeSchedule* ScheduleFor(const Agreement& agreement, std::uint16_t currency) {
  for (const FeeSchedule& s : agreement.fees) {
    if (s.currency == currency) {
      return &s;
    }
  }
  return nullptr;
}

Result<std::int64_t> Fee(std::int64_t amount_minor, std::string_view brand,
                         const FeeSchedule& schedule) {
  if (amount_minor < 0) {
    return Problem(Error::kOutOfRange, "amount_minor", "must not be negative");
  }
  const auto it = schedule.rates.find(brand);
  if (it == schedule.rates.end()) {
    return Problem(Error::kUnknownBrand, "brand",
                   "no discount rate for card brand '" + std::string(brand) + "' in currency " +
                       std::to_string(schedule.currency));
  }
  if (!RateInRange(it->second)) {
    return Problem(Error::kOutOfRange, "rates." + it->first,
                   "must be 0 to 1,000,000 hundredths of a basis point");
  }
  if (schedule.fixed_fee_minor < 0 || schedule.min_fee_minor < 0 ||
      (schedule.max_fee_minor && *schedule.max_fee_minor < schedule.min_fee_minor)) {
    return Problem(Error::kOutOfRange, "fee_schedule",
                   "fixed and minimum fees must not be negative nor the maximum below the "
                   "minimum");
  }
  // Both factors are non-negative and below 2^63 and 2^20, so the product fits in 128 bits;
  // adding half the divisor before dividing rounds half up.
  const __int128 product = static_cast<__int128>(amount_minor) * it->second;
  __int128 fee = (product + kRateUnitsPerWhole / 2) / kRateUnitsPerWhole;
  fee += schedule.fixed_fee_minor;
  if (fee < schedule.min_fee_minor) {
    fee = schedule.min_fee_minor;
  }
  if (schedule.max_fee_minor && fee > *schedule.max_fee_minor) {
    fee = *schedule.max_fee_minor;
  }
  if (fee > std::numeric_limits<std::int64_t>::max()) {
    return Problem(Error::kOverflow, "fee", "does not fit in 64-bit minor units");
  }
  return static_cast<std::int64_t>(fee);
}

std::chrono::sys_days SettlementDate(std::chrono::sys_days business_date, int cycle_days,
                                     const HolidayCalendar& holidays) {
  std::chrono::sys_days day = business_date;
  if (cycle_days <= 0) {
    return holidays.IsBusinessDay(day) ? day : holidays.NextBusinessDay(day);
  }
  for (int i = 0; i < cycle_days; ++i) {
    day = holidays.NextBusinessDay(day);
  }
  return day;
}

}  // namespace sy::server::onboarding
