#pragma once

// An agreement record of the registry (as the admin API takes and stores it,
// proto/onboarding.proto) as the onboarding model that fees and settlement cycles are computed
// from. Shared by the admin API, which validates what it stores, and settlement, which reads what
// was stored.

#include <chrono>
#include <vector>

#include "proto/onboarding.pb.h"
#include "switch/onboarding/agreement.h"
#include "switch/onboarding/error.h"

namespace sy::server::onboarding {

// Fills `out` from `p`; one error per field at fault (dates, currencies, then ValidateAgreement's
// rules), empty when the agreement is usable. `now` stands in for a missing signed_at.
[[nodiscard]] std::vector<FieldError> AgreementFromProto(const proto::Agreement& p, Agreement& out,
                                                         std::chrono::system_clock::time_point now);

}  // namespace sy::server::onboarding
