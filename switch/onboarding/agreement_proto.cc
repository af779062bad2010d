#include "switch/onboarding/agreement_proto.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <set>

namespace sy::server::onboarding {

std::vector<FieldError> AgreementFromProto(const proto::Agreement& p, Agreement& out,
                                           std::chrono::system_clock::time_point now) {
  std::vector<FieldError> errors;
  out.merchant_id = p.merchant_id();
  out.version = p.version();
  if (p.effective_from().empty()) {
    errors.push_back({Error::kMissing, "effective_from", "is required (YYYYMMDD)"});
  } else if (auto d = ParseDate(p.effective_from()); d) {
    out.effective_from = *d;
  } else {
    errors.push_back({Error::kBadDate, "effective_from", "is not a date (YYYYMMDD)"});
  }
  if (!p.effective_until().empty()) {
    if (auto d = ParseDate(p.effective_until()); d) {
      out.effective_until = *d;
    } else {
      errors.push_back({Error::kBadDate, "effective_until", "is not a date (YYYYMMDD)"});
    }
  }
  for (int i = 0; i < p.fees_size(); ++i) {
    const auto& f = p.fees(i);
    FeeSchedule s;
    if (f.currency() > 999) {
      errors.push_back({Error::kOutOfRange, "fees[" + std::to_string(i) + "].currency",
                        "must be an ISO 4217 numeric code (1..999)"});
    }
    s.currency = static_cast<std::uint16_t>(std::min<std::uint32_t>(f.currency(), 0xFFFF));
    for (const auto& [brand, rate] : f.rates()) {
      s.rates.emplace(brand, rate);
    }
    s.fixed_fee_minor = f.fixed_fee_minor();
    s.min_fee_minor = f.min_fee_minor();
    if (f.has_max_fee_minor()) {
      s.max_fee_minor = f.max_fee_minor();
    }
    out.fees.push_back(std::move(s));
  }
  out.settlement_cycle_days =
      p.has_settlement_cycle_days()
          ? static_cast<int>(std::min<std::uint32_t>(p.settlement_cycle_days(), 1000))
          : 1;
  if (p.deposit().currency() > 999) {
    errors.push_back(
        {Error::kOutOfRange, "deposit.currency", "must be an ISO 4217 numeric code (1..999)"});
  }
  out.deposit = {.amount_minor = p.deposit().amount_minor(),
                 .currency = static_cast<std::uint16_t>(
                     std::min<std::uint32_t>(p.deposit().currency(), 0xFFFF))};
  out.signed_by = p.signed_by();
  out.signed_at =
      p.has_signed_at()
          ? std::chrono::system_clock::time_point(
                std::chrono::duration_cast<std::chrono::system_clock::duration>(
                    std::chrono::microseconds(
                        google::protobuf::util::TimeUtil::TimestampToMicroseconds(p.signed_at()))))
          : now;
  std::set<std::string> named;
  for (const auto& e : errors) {
    named.insert(e.field);
  }
  for (auto& e : ValidateAgreement(out)) {
    if (named.count(e.field) == 0) {
      errors.push_back(std::move(e));
    }
  }
  return errors;
}

void SetAgreementTerms(proto::MerchantConfig& merchant,
                       const std::vector<proto::Agreement>& agreements) {
  merchant.set_agreement_required(true);
  merchant.clear_agreement_terms();
  for (const auto& a : agreements) {
    auto* t = merchant.add_agreement_terms();
    t->set_version(a.version());
    t->set_effective_from(a.effective_from());
    t->set_effective_until(a.effective_until());
  }
}

bool MayTransact(const proto::MerchantConfig& merchant, std::string_view business_date) {
  if (!merchant.agreement_required() && merchant.agreement_terms_size() == 0) {
    return true;
  }
  // YYYYMMDD strings order as the dates do.
  const proto::AgreementTerm* latest = nullptr;
  for (const auto& t : merchant.agreement_terms()) {
    if (t.effective_from() <= business_date &&
        (latest == nullptr || t.version() > latest->version())) {
      latest = &t;
    }
  }
  return latest != nullptr &&
         (latest->effective_until().empty() || business_date < latest->effective_until());
}

}  // namespace sy::server::onboarding
