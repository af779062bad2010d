#pragma once

// The agreements and holiday calendar a settlement run reads from files, until the registry holds
// agreement records. Layouts in docs/settlement.md.
//
//   auto book = LoadAgreementBook(text, "agreements.yaml");   // Result<AgreementBook>
//   auto holidays = LoadHolidays(text, "holidays.txt");        // Result<HolidayCalendar>
//
// agreements.yaml:
//   merchants:
//     - mid: "MERCHANT0000001"
//       versions:
//         - {version: 1, effective_from: "20260101", cycle_days: 1, refund_returns_fee: false,
//            fees: [{currency: 978, rates: {visa: 1250, any: 1500}, fixed_fee_minor: 5,
//                    min_fee_minor: 0, max_fee_minor: 500}]}
//   route_brands: {issuer-a: visa}        # optional
//
// Every agreement is checked with onboarding::ValidateAgreement; unknown keys are refused with
// their path ("merchants[0].versions[1].fees[0].rate").

#include <string_view>

#include "switch/settlement/settlement.h"

namespace sy::server::settlement {

// Parses and validates the agreements file. kBadAgreements naming `source` and the key path.
[[nodiscard]] Result<AgreementBook> LoadAgreementBook(std::string_view yaml,
                                                      std::string_view source);

// One date a line: "YYYYMMDD" a holiday, "+YYYYMMDD" a weekend day that is a working day; blank
// lines and "#" comments ignored. kBadHolidays naming `source` and the line.
[[nodiscard]] Result<onboarding::HolidayCalendar> LoadHolidays(std::string_view text,
                                                               std::string_view source);

}  // namespace sy::server::settlement
