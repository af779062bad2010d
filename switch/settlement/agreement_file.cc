#include "switch/settlement/agreement_file.h"

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <sstream>

namespace sy::server::settlement {
namespace {

// Thrown inside the parser only, turned into a Problem at its boundary.
struct BadKey {
  std::string path;
  std::string what;
};

void OnlyKeys(const YAML::Node& n, const std::string& path,
              std::initializer_list<std::string_view> keys) {
  if (!n.IsMap()) {
    throw BadKey{path, "must be a mapping"};
  }
  for (const auto& kv : n) {
    const auto k = kv.first.as<std::string>();
    bool known = false;
    for (auto allowed : keys) {
      known |= k == allowed;
    }
    if (!known) {
      throw BadKey{path.empty() ? k : path + "." + k, "unknown key"};
    }
  }
}

template <class T>
T Scalar(const YAML::Node& n, const std::string& path, std::string_view what) {
  if (!n.IsScalar()) {
    throw BadKey{path, "must be " + std::string(what)};
  }
  try {
    return n.as<T>();
  } catch (const YAML::Exception&) {
    throw BadKey{path, "must be " + std::string(what)};
  }
}

std::chrono::sys_days DateAt(const YAML::Node& n, const std::string& path) {
  const auto s = Scalar<std::string>(n, path, "a date as YYYYMMDD");
  auto d = onboarding::ParseDate(s);
  if (!d) {
    throw BadKey{path, "must be a date as YYYYMMDD"};
  }
  return *d;
}

AgreementBook Parse(const YAML::Node& root) {
  AgreementBook book;
  OnlyKeys(root, "", {"merchants", "route_brands"});
  if (const auto rb = root["route_brands"]) {
    if (!rb.IsMap()) {
      throw BadKey{"route_brands", "must be a mapping of route to brand"};
    }
    for (const auto& kv : rb) {
      const auto route = kv.first.as<std::string>();
      book.route_brands[route] = Scalar<std::string>(kv.second, "route_brands." + route, "a brand");
    }
  }
  const auto merchants = root["merchants"];
  if (!merchants || !merchants.IsSequence()) {
    throw BadKey{"merchants", "must be a list"};
  }
  for (std::size_t i = 0; i < merchants.size(); ++i) {
    const std::string mp = "merchants[" + std::to_string(i) + "]";
    const auto m = merchants[i];
    OnlyKeys(m, mp, {"mid", "versions"});
    const auto mid = Scalar<std::string>(m["mid"], mp + ".mid", "a merchant id");
    if (mid.empty() || book.versions.contains(mid)) {
      throw BadKey{mp + ".mid", mid.empty() ? "must not be empty" : "appears twice"};
    }
    const auto versions = m["versions"];
    if (!versions || !versions.IsSequence() || versions.size() == 0) {
      throw BadKey{mp + ".versions", "must be a non-empty list"};
    }
    auto& list = book.versions[mid];
    for (std::size_t j = 0; j < versions.size(); ++j) {
      const std::string vp = mp + ".versions[" + std::to_string(j) + "]";
      const auto v = versions[j];
      OnlyKeys(v, vp,
               {"version", "effective_from", "effective_until", "cycle_days", "refund_returns_fee",
                "fees"});
      onboarding::Agreement a;
      a.merchant_id = mid;
      a.version = Scalar<std::uint32_t>(v["version"], vp + ".version", "a number");
      a.effective_from = DateAt(v["effective_from"], vp + ".effective_from");
      if (v["effective_until"]) {
        a.effective_until = DateAt(v["effective_until"], vp + ".effective_until");
      }
      if (v["cycle_days"]) {
        a.settlement_cycle_days = Scalar<int>(v["cycle_days"], vp + ".cycle_days", "a number");
      }
      if (v["refund_returns_fee"] &&
          Scalar<bool>(v["refund_returns_fee"], vp + ".refund_returns_fee", "true or false")) {
        book.refund_returns_fee.emplace(mid, a.version);
      }
      const auto fees = v["fees"];
      if (!fees || !fees.IsSequence()) {
        throw BadKey{vp + ".fees", "must be a list"};
      }
      for (std::size_t k = 0; k < fees.size(); ++k) {
        const std::string fp = vp + ".fees[" + std::to_string(k) + "]";
        const auto f = fees[k];
        OnlyKeys(f, fp, {"currency", "rates", "fixed_fee_minor", "min_fee_minor", "max_fee_minor"});
        onboarding::FeeSchedule s;
        s.currency = Scalar<std::uint16_t>(f["currency"], fp + ".currency", "a number");
        const auto rates = f["rates"];
        if (!rates || !rates.IsMap()) {
          throw BadKey{fp + ".rates", "must be a mapping of brand to rate"};
        }
        for (const auto& kv : rates) {
          const auto brand = kv.first.as<std::string>();
          s.rates[brand] = Scalar<std::int64_t>(kv.second, fp + ".rates." + brand,
                                                "a rate in hundredths of a basis point");
        }
        if (f["fixed_fee_minor"]) {
          s.fixed_fee_minor =
              Scalar<std::int64_t>(f["fixed_fee_minor"], fp + ".fixed_fee_minor", "a number");
        }
        if (f["min_fee_minor"]) {
          s.min_fee_minor =
              Scalar<std::int64_t>(f["min_fee_minor"], fp + ".min_fee_minor", "a number");
        }
        if (f["max_fee_minor"]) {
          s.max_fee_minor =
              Scalar<std::int64_t>(f["max_fee_minor"], fp + ".max_fee_minor", "a number");
        }
        a.fees.push_back(std::move(s));
      }
      a.signed_by = "agreements file";
      for (const auto& e : onboarding::ValidateAgreement(a)) {
        if (e.field == "signed_at") {
          continue;  // the file does not record signatures
        }
        throw BadKey{vp + "." + e.field, e.message};
      }
      for (const auto& other : list) {
        if (other.version == a.version) {
          throw BadKey{vp + ".version", "appears twice"};
        }
      }
      list.push_back(std::move(a));
    }
  }
  return book;
}

}  // namespace

Result<AgreementBook> LoadAgreementBook(std::string_view yaml, std::string_view source) {
  try {
    return Parse(YAML::Load(std::string(yaml)));
  } catch (const BadKey& e) {
    return MakeProblem(Error::kBadAgreements,
                       std::string(source) + ": " + (e.path.empty() ? "" : e.path + ": ") + e.what);
  } catch (const YAML::Exception& e) {
    return MakeProblem(Error::kBadAgreements, std::string(source) + ": " + e.what());
  }
}

Result<onboarding::HolidayCalendar> LoadHolidays(std::string_view text, std::string_view source) {
  std::vector<std::chrono::sys_days> holidays, working;
  std::istringstream is{std::string(text)};
  std::string line;
  int n = 0;
  while (std::getline(is, line)) {
    ++n;
    if (auto hash = line.find('#'); hash != std::string::npos) {
      line.erase(hash);
    }
    const auto b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos) {
      continue;
    }
    const auto e = line.find_last_not_of(" \t\r");
    std::string_view v = std::string_view(line).substr(b, e - b + 1);
    const bool work = v.starts_with('+');
    if (work) {
      v.remove_prefix(1);
    }
    auto d = onboarding::ParseDate(v);
    if (!d) {
      return MakeProblem(Error::kBadHolidays, std::string(source) + ": line " + std::to_string(n) +
                                                  ": not a date as YYYYMMDD or +YYYYMMDD");
    }
    (work ? working : holidays).push_back(*d);
  }
  return onboarding::HolidayCalendar(holidays, working);
}

}  // namespace sy::server::settlement
