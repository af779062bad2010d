#pragma once

// An agreement record of the registry (as the admin API takes and stores it,
// proto/onboarding.proto) as the onboarding model that fees and settlement cycles are computed
// from. Shared by the admin API, which validates what it stores, and settlement, which reads what
// was stored.

#include <chrono>
#include <string_view>
#include <vector>

#include "proto/config.pb.h"
#include "proto/onboarding.pb.h"
#include "switch/onboarding/agreement.h"
#include "switch/onboarding/error.h"

namespace sy::server::onboarding {

// Fills `out` from `p`; one error per field at fault (dates, currencies, then ValidateAgreement's
// rules), empty when the agreement is usable. `now` stands in for a missing signed_at.
[[nodiscard]] std::vector<FieldError> AgreementFromProto(const proto::Agreement& p, Agreement& out,
                                                         std::chrono::system_clock::time_point now);

// Records every agreement version's term (version, effective from, until) in the merchant record
// the pipeline reads, and marks the merchant as one that needs an agreement to transact.
void SetAgreementTerms(proto::MerchantConfig& merchant,
                       const std::vector<proto::Agreement>& agreements);

// Whether `merchant` may transact on `business_date` (YYYYMMDD): not restricted, or the agreement
// in force that day (AgreementInForce's rule: the latest version effective by then, unless that
// version has ended) exists.
[[nodiscard]] bool MayTransact(const proto::MerchantConfig& merchant,
                               std::string_view business_date);

}  // namespace sy::server::onboarding
