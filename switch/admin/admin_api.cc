#include "switch/admin/admin_api.h"

#include <google/protobuf/empty.pb.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <optional>
#include <set>
#include <stdexcept>

#include "crypto/digest.h"
#include "crypto/hex.h"
#include "proto/onboarding.pb.h"
#include "switch/admin/admin_settlement.h"
#include "switch/onboarding/agreement.h"
#include "switch/onboarding/agreement_proto.h"
#include "switch/onboarding/validation.h"

namespace sy::server::admin {
namespace {

namespace pb = google::protobuf;
using onboarding::ApplicationState;
using onboarding::FieldError;

constexpr std::string_view kApplication = "application";
constexpr std::string_view kAgreement = "agreement";
constexpr std::string_view kMerchant = "merchant";
constexpr std::string_view kTerminal = "terminal";

// ---- responses --------------------------------------------------------------------------------

HttpResponse Json(int status, const pb::Message& m) {
  pb::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.always_print_primitive_fields = true;
  std::string out;
  if (!pb::util::MessageToJsonString(m, &out, o).ok()) {
    return {500, R"({"code":"internal","field":"","message":"response not printable"})"};
  }
  return {status, std::move(out)};
}

std::string_view ErrorCodeName(onboarding::Error e) {
  using onboarding::Error;
  switch (e) {
    case Error::kMissing:
      return "missing";
    case Error::kBadFormat:
      return "bad_format";
    case Error::kBadCheckDigit:
      return "bad_check_digit";
    case Error::kBadDate:
      return "bad_date";
    case Error::kUnknownCode:
      return "unknown_code";
    case Error::kUnsupported:
      return "unsupported";
    case Error::kNameMismatch:
      return "name_mismatch";
    case Error::kOutOfRange:
      return "out_of_range";
    case Error::kTransitionRefused:
      return "transition_refused";
    case Error::kStaleVersion:
      return "stale_version";
    case Error::kReasonRequired:
      return "reason_required";
    case Error::kInvalidApplication:
      return "invalid_application";
    case Error::kUnknownBrand:
      return "unknown_brand";
    case Error::kNoAgreement:
      return "no_agreement";
    case Error::kOverflow:
      return "overflow";
  }
  return "invalid";
}

HttpResponse Fail(int status, std::string_view code, std::string_view field,
                  std::string_view message, const std::vector<FieldError>& errors = {}) {
  proto::ErrorBody e;
  e.set_code(std::string(code));
  e.set_field(std::string(field));
  e.set_message(std::string(message));
  for (const FieldError& f : errors) {
    auto* p = e.add_errors();
    p->set_code(std::string(ErrorCodeName(f.code)));
    p->set_field(f.field);
    p->set_message(f.message);
  }
  if (errors.size() == 1 && field.empty()) {
    e.set_field(errors[0].field);
  }
  return Json(status, e);
}

HttpResponse FieldErrors(std::string_view code, std::string_view what,
                         const std::vector<FieldError>& errors) {
  std::string message = std::string(what) + ": " + std::to_string(errors.size()) +
                        (errors.size() == 1 ? " problem" : " problems");
  return Fail(400, code, "", message, errors);
}

HttpResponse StoreFailure(std::string_view what, boost::system::error_code ec) {
  return Fail(500, "internal", "", "registry: " + std::string(what) + ": " + ec.message());
}

// Parses a JSON body into `out`; the refusal otherwise: 400 "unknown_field" naming the key, or
// "bad_json".
template <class M>
std::optional<HttpResponse> ParseBody(std::string_view body, M& out) {
  pb::util::JsonParseOptions o;
  o.ignore_unknown_fields = false;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Fail(400, "bad_json", "", "the request needs a JSON object body");
  }
  const auto status =
      pb::util::JsonStringToMessage(pb::StringPiece(body.data(), body.size()), &out, o);
  if (status.ok()) {
    return std::nullopt;
  }
  const std::string text(status.message());
  // protobuf 3.21 says "<path>: Cannot find field." for a key the message does not have.
  if (const auto at = text.find(": Cannot find field"); at != std::string::npos) {
    std::string field = text.substr(0, at);
    // A nested key comes as "(address) planet": its parent's path in parentheses.
    if (const auto close = field.find(") ");
        !field.empty() && field[0] == '(' && close != std::string::npos) {
      field = field.substr(1, close - 1) + "." + field.substr(close + 2);
    }
    return Fail(400, "unknown_field", field, field + ": unknown field");
  }
  std::string field;
  if (const auto colon = text.find(": ");
      colon != std::string::npos && text.find(' ') > colon && text.find('"') > colon) {
    field = text.substr(0, colon);
  }
  return Fail(400, "bad_json", field, "the body is not valid JSON for this request: " + text);
}

// ---- targets ----------------------------------------------------------------------------------

std::string PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') {
          return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
          return c - 'a' + 10;
        }
        if (c >= 'A' && c <= 'F') {
          return c - 'A' + 10;
        }
        return -1;
      };
      const int hi = hex(s[i + 1]);
      const int lo = hex(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += plus_is_space && s[i] == '+' ? ' ' : s[i];
  }
  return out;
}

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t slash = path.find('/', start);
    const std::size_t end = slash == std::string_view::npos ? path.size() : slash;
    if (end > start) {
      out.push_back(PercentDecode(path.substr(start, end - start), false));
    }
    if (slash == std::string_view::npos) {
      break;
    }
    start = slash + 1;
  }
  return out;
}

std::map<std::string, std::string> ParseQuery(std::string_view q) {
  std::map<std::string, std::string> out;
  std::size_t start = 0;
  while (start < q.size()) {
    std::size_t amp = q.find('&', start);
    if (amp == std::string_view::npos) {
      amp = q.size();
    }
    const std::string_view pair = q.substr(start, amp - start);
    const std::size_t eq = pair.find('=');
    if (!pair.empty()) {
      out[PercentDecode(pair.substr(0, eq), true)] =
          eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1), true);
    }
    start = amp + 1;
  }
  return out;
}

// ---- conversions ------------------------------------------------------------------------------

std::int64_t Micros(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

std::chrono::system_clock::time_point FromMicros(std::int64_t micros) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::microseconds(micros)));
}

std::optional<ApplicationState> ParseState(std::string_view name) {
  for (int v = static_cast<int>(onboarding::kFirstState);
       v <= static_cast<int>(onboarding::kLastState); ++v) {
    const auto s = static_cast<ApplicationState>(v);
    if (onboarding::StateName(s) == name) {
      return s;
    }
  }
  return std::nullopt;
}

std::string StateList() {
  std::string out;
  for (int v = static_cast<int>(onboarding::kFirstState);
       v <= static_cast<int>(onboarding::kLastState); ++v) {
    out += (out.empty() ? "" : ", ") +
           std::string(onboarding::StateName(static_cast<ApplicationState>(v)));
  }
  return out;
}

// The request's enumerations as validation.h has them; their problems (unknown names) are field
// errors like the validator's.
std::vector<FieldError> FromProto(const proto::ApplicationFields& p,
                                  onboarding::MerchantApplication& out) {
  using onboarding::Error;
  std::vector<FieldError> errors;
  if (p.type() == "individual") {
    out.type = onboarding::MerchantType::kIndividual;
  } else if (p.type() == "company") {
    out.type = onboarding::MerchantType::kCompany;
  } else if (p.type().empty()) {
    errors.push_back({Error::kMissing, "type", "is required: individual or company"});
  } else {
    errors.push_back({Error::kBadFormat, "type", "must be individual or company"});
  }
  out.legal_name = p.legal_name();
  const std::string& doc = p.id_document().type();
  if (doc.empty() || doc == "prc_resident_id") {
    out.id_document.type = onboarding::IdDocumentType::kPrcResidentId;
  } else if (doc == "passport") {
    out.id_document.type = onboarding::IdDocumentType::kPassport;
  } else if (doc == "other") {
    out.id_document.type = onboarding::IdDocumentType::kOther;
  } else {
    errors.push_back(
        {Error::kBadFormat, "id_document.type", "must be prc_resident_id, passport or other"});
  }
  out.id_document.number = p.id_document().number();
  out.business_licence = p.business_licence();
  const auto& acct = p.settlement_account();
  out.settlement_account.bank = acct.bank();
  out.settlement_account.account_name = acct.account_name();
  out.settlement_account.account_number = acct.account_number();
  if (acct.scheme().empty() || acct.scheme() == "card") {
    out.settlement_account.scheme = onboarding::AccountNumberScheme::kCard;
  } else if (acct.scheme() == "iban") {
    out.settlement_account.scheme = onboarding::AccountNumberScheme::kIban;
  } else if (acct.scheme() == "domestic") {
    out.settlement_account.scheme = onboarding::AccountNumberScheme::kDomestic;
  } else {
    errors.push_back(
        {Error::kBadFormat, "settlement_account.scheme", "must be card, iban or domestic"});
  }
  out.mcc = p.mcc();
  out.address = {.country = p.address().country(),
                 .region = p.address().region(),
                 .city = p.address().city(),
                 .line1 = p.address().line1(),
                 .line2 = p.address().line2(),
                 .postal_code = p.address().postal_code()};
  out.contact = {
      .name = p.contact().name(), .phone = p.contact().phone(), .email = p.contact().email()};
  return errors;
}

// Every problem of a submitted or amended application: its enumerations', then the validator's
// (a field the enumerations already named is not named twice).
std::vector<FieldError> CheckFields(const proto::ApplicationFields& p,
                                    onboarding::MerchantApplication& out,
                                    std::chrono::sys_days today) {
  std::vector<FieldError> errors = FromProto(p, out);
  std::set<std::string> named;
  for (const auto& e : errors) {
    named.insert(e.field);
  }
  for (auto& e : onboarding::Validate(out, today)) {
    if (named.count(e.field) == 0) {
      errors.push_back(std::move(e));
    }
  }
  return errors;
}

void SetSteps(const onboarding::Application& a, proto::MerchantApplication& r) {
  r.set_id(a.id);
  r.set_state(std::string(onboarding::StateName(a.state)));
  r.set_version(a.version);
  r.clear_steps();
  for (const auto& s : a.steps) {
    auto* p = r.add_steps();
    p->set_from(std::string(onboarding::StateName(s.from)));
    p->set_to(std::string(onboarding::StateName(s.to)));
    p->set_actor(s.actor);
    p->set_reason(s.reason);
    *p->mutable_at() = pb::util::TimeUtil::MicrosecondsToTimestamp(Micros(s.at));
    p->set_version(s.version);
  }
}

onboarding::Application ToModel(const proto::MerchantApplication& r) {
  onboarding::Application a;
  a.id = r.id();
  (void)FromProto(r.fields(), a.fields);  // stored fields passed validation when they were put
  a.state = ParseState(r.state()).value_or(ApplicationState::kSubmitted);
  a.version = r.version();
  for (const auto& p : r.steps()) {
    onboarding::ReviewStep s;
    s.from = ParseState(p.from()).value_or(ApplicationState::kSubmitted);
    s.to = ParseState(p.to()).value_or(ApplicationState::kSubmitted);
    s.actor = p.actor();
    s.reason = p.reason();
    s.at = FromMicros(pb::util::TimeUtil::TimestampToMicroseconds(p.at()));
    s.version = p.version();
    a.steps.push_back(std::move(s));
  }
  return a;
}

proto::TerminalView View(const proto::TerminalProfile& t, const AdminOptions& options,
                         std::string_view software_minimum = {}) {
  proto::TerminalView v;
  v.set_tid(t.tid());
  v.set_mid(t.mid());
  v.set_key_scheme(t.key_scheme());
  v.set_bdk_id(t.bdk_id());
  v.set_initial_ksn(t.initial_ksn());
  v.set_tmk_id(t.tmk_id());
  v.set_status(t.status().empty() ? "provisioned" : t.status());
  v.set_serial(t.serial());
  v.set_model(t.model());
  if (options.live_status) {
    v.set_live_status(options.live_status(t.tid()));
  }
  if (options.seen) {
    const TerminalSeen seen = options.seen(t.tid());
    if (seen.last_seen_micros > 0) {
      *v.mutable_last_seen() = pb::util::TimeUtil::MicrosecondsToTimestamp(seen.last_seen_micros);
    }
    v.set_software_version(seen.software_version);
  }
  v.set_outdated(!software_minimum.empty() && !v.software_version().empty() &&
                 CompareVersions(v.software_version(), software_minimum) < 0);
  return v;
}

bool IsHex(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
}

std::string Upper(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return s;
}

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const auto n = (static_cast<std::uint8_t>(in[i]) << 16) |
                   (static_cast<std::uint8_t>(in[i + 1]) << 8) |
                   static_cast<std::uint8_t>(in[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i + 1 == in.size()) {
    const auto n = static_cast<std::uint8_t>(in[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const auto n =
        (static_cast<std::uint8_t>(in[i]) << 16) | (static_cast<std::uint8_t>(in[i + 1]) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

// A registry record as JSON for the audit log: decoded by kind when the kind is one the admin
// API knows, else {"serialized_base64": "..."}; null when absent.
pb::Value RecordJson(std::string_view kind, const std::string& bytes) {
  pb::Value v;
  if (bytes.empty()) {
    v.set_null_value(pb::NULL_VALUE);
    return v;
  }
  std::unique_ptr<pb::Message> m;
  if (kind == kApplication) {
    m = std::make_unique<proto::MerchantApplication>();
  } else if (kind == kAgreement) {
    m = std::make_unique<proto::Agreement>();
  } else if (kind == kTerminal) {
    m = std::make_unique<proto::TerminalProfile>();
  } else if (kind == kMerchant) {
    m = std::make_unique<proto::MerchantConfig>();
  } else if (kind == "key_export") {
    m = std::make_unique<proto::KeyExport>();  // check values only: no key is ever in it
  }
  std::string json;
  pb::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  if (m && m->ParseFromString(bytes) && pb::util::MessageToJsonString(*m, &json, o).ok() &&
      pb::util::JsonStringToMessage(json, &v).ok()) {
    return v;
  }
  v.Clear();
  (*v.mutable_struct_value()->mutable_fields())["serialized_base64"].set_string_value(
      Base64(bytes));
  return v;
}

std::string Pad(std::uint64_t n, int width) {
  std::string s = std::to_string(n);
  return s.size() < static_cast<std::size_t>(width)
             ? std::string(static_cast<std::size_t>(width) - s.size(), '0') + s
             : s;
}

// The largest number N among ids "<prefix>N" (N all digits), 0 when none.
std::uint64_t MaxSequence(const std::vector<std::string>& ids, std::string_view prefix) {
  std::uint64_t max = 0;
  for (const auto& id : ids) {
    if (id.size() > prefix.size() && id.compare(0, prefix.size(), prefix) == 0 &&
        id.find_first_not_of("0123456789", prefix.size()) == std::string::npos &&
        id.size() - prefix.size() <= 18) {
      max = std::max<std::uint64_t>(max, std::stoull(id.substr(prefix.size())));
    }
  }
  return max;
}

bool ConstantTimeEqual(const std::array<std::uint8_t, 32>& a,
                       const std::array<std::uint8_t, 32>& b) {
  std::uint8_t diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = static_cast<std::uint8_t>(diff | (a[i] ^ b[i]));
  }
  return diff == 0;
}

std::optional<Role> ParseRole(std::string_view s) {
  if (s == "reviewer") {
    return Role::kReviewer;
  }
  if (s == "operator") {
    return Role::kOperator;
  }
  if (s == "auditor") {
    return Role::kAuditor;
  }
  return std::nullopt;
}

// Every agreement version of merchant `mid`, by version (defined with the agreement handlers).
storage::Result<std::vector<proto::Agreement>> AgreementsOf(const storage::Registry& registry,
                                                            const std::string& mid);

}  // namespace

int CompareVersions(std::string_view a, std::string_view b) noexcept {
  // Part by part: the leading digits of each dot-separated part as a number (saturating).
  auto next = [](std::string_view& s) {
    std::uint64_t n = 0;
    std::size_t i = 0;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      n = n > 1'000'000'000'000ULL ? n : n * 10 + static_cast<std::uint64_t>(s[i] - '0');
    }
    const std::size_t dot = s.find('.');
    s = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
    return n;
  };
  while (!a.empty() || !b.empty()) {
    const std::uint64_t x = next(a);
    const std::uint64_t y = next(b);
    if (x != y) {
      return x < y ? -1 : 1;
    }
  }
  return 0;
}

bool IsDottedVersion(std::string_view v) noexcept {
  if (v.empty() || v.size() > 32) {
    return false;
  }
  bool digit = false;  // the current part has a digit
  for (char c : v) {
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c == '.' && digit) {
      digit = false;
    } else {
      return false;
    }
  }
  return digit;
}

std::string_view RoleName(Role role) noexcept {
  switch (role) {
    case Role::kReviewer:
      return "reviewer";
    case Role::kOperator:
      return "operator";
    case Role::kAuditor:
      return "auditor";
  }
  return "unknown";
}

std::string ResolveAdminConfig(proto::AdminConfig& a, const std::string& data_dir) {
  std::string problems;
  auto bad = [&](const std::string& key, const std::string& what) {
    problems += (problems.empty() ? "" : "\n") + ("admin." + key + ": " + what);
  };
  if (a.address().empty()) {
    a.set_address("127.0.0.1");
  }
  if (a.port() == 0) {
    a.set_port(9443);
  } else if (a.port() > 65535) {
    bad("port", std::to_string(a.port()) + " is not a TCP port");
  }
  if (a.certificate().empty() != a.private_key().empty()) {
    bad(a.certificate().empty() ? "certificate" : "private_key",
        "certificate and private_key go together");
  }
  if (a.certificate().empty()) {
    const std::string dir = (data_dir.empty() ? std::string(".") : data_dir) + "/tls/";
    a.set_certificate(dir + "switch.crt");
    a.set_private_key(dir + "switch.key");
  }
  if (a.review_target_days() == 0) {
    a.set_review_target_days(5);
  }
  if (a.utc_offset_minutes() < -14 * 60 || a.utc_offset_minutes() > 14 * 60) {
    bad("utc_offset_minutes", "must be within -840..840");
  }
  if (!a.terminal_software_minimum().empty() && !IsDottedVersion(a.terminal_software_minimum())) {
    bad("terminal_software_minimum",
        "'" + a.terminal_software_minimum() + "' is not a version of dotted numbers (2.4.0)");
  }
  std::set<std::string> names;
  std::set<std::string> digests;
  for (int i = 0; i < a.tokens_size(); ++i) {
    const auto& t = a.tokens(i);
    const std::string key = "tokens[" + std::to_string(i) + "]";
    if (t.name().empty()) {
      bad(key + ".name", "is required (it is the actor in the audit log)");
    } else if (!names.insert(t.name()).second) {
      bad(key + ".name", "'" + t.name() + "' is used by another token");
    }
    if (t.token_sha256().size() != 64 || !IsHex(t.token_sha256())) {
      bad(key + ".token_sha256",
          "must be 64 hex digits, the SHA-256 of the token (printf %s TOKEN | sha256sum)");
    } else if (!digests.insert(Upper(t.token_sha256())).second) {
      bad(key + ".token_sha256", "the same token is configured twice");
    }
    if (!ParseRole(t.role())) {
      bad(key + ".role", "must be reviewer, operator or auditor");
    }
  }
  return problems;
}

AdminApi::AdminApi(const proto::AdminConfig& config, storage::Registry& registry,
                   const Clock& clock, AdminOptions options)
    : registry_(registry), clock_(clock), options_(std::move(options)) {
  target_.business_days =
      config.review_target_days() > 0 ? static_cast<int>(config.review_target_days()) : 5;
  target_.utc_offset = std::chrono::minutes(config.utc_offset_minutes());
  software_minimum_ = config.terminal_software_minimum();
  default_kek_ = config.key_transport_key_id();
  for (const auto& t : config.tokens()) {
    auto digest = crypto::FromHex(t.token_sha256());
    auto role = ParseRole(t.role());
    if (!digest || digest->size() != 32 || !role) {
      throw std::invalid_argument("admin token '" + t.name() +
                                  "': token_sha256 must be 64 hex digits and role one of "
                                  "reviewer, operator, auditor");
    }
    Token token{.name = t.name(), .role = *role};
    std::copy(digest->begin(), digest->end(), token.digest.begin());
    tokens_.push_back(std::move(token));
  }
}

const AdminApi::Token* AdminApi::Authenticate(const Headers& headers) const {
  const auto it = headers.find("authorization");
  if (it == headers.end()) {
    return nullptr;
  }
  const std::string_view value = it->second;
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size()) {
    return nullptr;
  }
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(value[i])) != kScheme[i]) {
      return nullptr;
    }
  }
  std::string_view token = value.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') {
    token.remove_prefix(1);
  }
  if (token.empty()) {
    return nullptr;
  }
  const auto digest =
      crypto::Sha256(std::span(reinterpret_cast<const std::uint8_t*>(token.data()), token.size()));
  // Every configured digest is compared, in constant time, whichever matches.
  const Token* found = nullptr;
  for (const auto& t : tokens_) {
    if (ConstantTimeEqual(t.digest, digest) && found == nullptr) {
      found = &t;
    }
  }
  return found;
}

std::chrono::sys_days AdminApi::Today() const {
  return std::chrono::floor<std::chrono::days>(clock_.Now() + target_.utc_offset);
}

std::int64_t AdminApi::NowMicros() const { return Micros(clock_.Now()); }

HttpResponse AdminApi::Handle(std::string_view method, std::string_view target,
                              const Headers& headers, std::string_view body) {
  try {
    const std::size_t q = target.find('?');
    const std::vector<std::string> seg = SplitPath(target.substr(0, q));
    const auto query =
        ParseQuery(q == std::string_view::npos ? std::string_view() : target.substr(q + 1));
    const bool get = method == "GET";
    const bool post = method == "POST";
    auto not_allowed = [&] {
      return Fail(405, "method_not_allowed", "",
                  std::string(method) + " is not allowed on " + std::string(target.substr(0, q)));
    };
    if (seg.size() == 2 && seg[0] == "v1" && seg[1] == "health") {
      if (!get) {
        return not_allowed();
      }
      proto::Health h;
      h.set_status("ok");
      return Json(200, h);
    }
    const Token* token = Authenticate(headers);
    if (token == nullptr) {
      return Fail(401, "unauthenticated", "authorization",
                  headers.count("authorization") != 0
                      ? "the bearer token is not one this switch knows"
                      : "an Authorization: Bearer token is required");
    }
    const Caller caller{token->name, token->role};
    auto refuse = [&](std::initializer_list<Role> roles) -> std::optional<HttpResponse> {
      if (std::find(roles.begin(), roles.end(), caller.role) != roles.end()) {
        return std::nullopt;
      }
      std::string allowed;
      for (Role r : roles) {
        allowed += (allowed.empty() ? "" : " or ") + std::string(RoleName(r));
      }
      return Fail(403, "forbidden", "",
                  "token '" + caller.name + "' has role " + std::string(RoleName(caller.role)) +
                      "; this request needs " + allowed);
    };
    const std::initializer_list<Role> kAnyone = {Role::kReviewer, Role::kOperator, Role::kAuditor};
    const std::size_t n = seg.size();
    if (n >= 2 && seg[0] == "v1") {
      const std::string& what = seg[1];
      if (what == "applications") {
        if (n == 2) {
          if (post) {
            if (auto r = refuse({Role::kOperator})) {
              return *r;
            }
            return SubmitApplication(caller, body);
          }
          if (get) {
            if (auto r = refuse(kAnyone)) {
              return *r;
            }
            return ListApplications(query);
          }
          return not_allowed();
        }
        if (n == 3) {
          if (!get) {
            return not_allowed();
          }
          if (auto r = refuse(kAnyone)) {
            return *r;
          }
          return GetApplication(seg[2]);
        }
        if (n == 4 && seg[3] == "transitions") {
          if (!post) {
            return not_allowed();
          }
          if (auto r = refuse({Role::kReviewer, Role::kOperator})) {
            return *r;
          }
          return TransitionApplication(caller, seg[2], body);
        }
      } else if (what == "merchants" && n == 4 && seg[3] == "agreements") {
        if (post) {
          if (auto r = refuse({Role::kOperator})) {
            return *r;
          }
          return CreateAgreement(caller, seg[2], body);
        }
        if (get) {
          if (auto r = refuse(kAnyone)) {
            return *r;
          }
          return ListAgreements(seg[2]);
        }
        return not_allowed();
      } else if (what == "terminals") {
        if (n == 2) {
          if (get) {
            if (auto r = refuse(kAnyone)) {
              return *r;
            }
            return ListTerminals(query);
          }
          if (!post) {
            return not_allowed();
          }
          if (auto r = refuse({Role::kOperator})) {
            return *r;
          }
          return ProvisionTerminal(caller, body);
        }
        if (n == 3) {
          if (!get) {
            return not_allowed();
          }
          if (auto r = refuse(kAnyone)) {
            return *r;
          }
          return GetTerminal(seg[2]);
        }
        if (n == 4 && seg[3] == "status") {
          if (!post) {
            return not_allowed();
          }
          if (auto r = refuse({Role::kOperator})) {
            return *r;
          }
          return SetTerminalStatus(caller, seg[2], body);
        }
        // Keys: operators only (an export hands out key material, a rotation changes it).
        if (n >= 5 && seg[3] == "keys") {
          if (auto r = refuse({Role::kOperator})) {
            return *r;
          }
          if (n == 5 && seg[4] == "exports") {
            if (post) {
              return ExportKeys(caller, seg[2], body);
            }
            return get ? ListKeyExports(seg[2]) : not_allowed();
          }
          if (n == 8 && seg[4] == "exports" && seg[6] == "components") {
            return post ? TakeComponent(caller, seg[2], seg[5], seg[7], body) : not_allowed();
          }
          if (n == 5 && seg[4] == "rotate") {
            return post ? RotateKeys(caller, seg[2], body) : not_allowed();
          }
        }
      } else if (what == "transactions" && n == 2) {
        if (!get) {
          return not_allowed();
        }
        if (auto r = refuse({Role::kOperator, Role::kAuditor})) {
          return *r;
        }
        return Transactions(query);
      } else if (what == "bins" && n == 2) {
        if (!get) {
          return not_allowed();
        }
        if (auto r = refuse(kAnyone)) {
          return *r;
        }
        return Bins();
      } else if (what == "audit" && n == 2) {
        if (!get) {
          return not_allowed();
        }
        if (auto r = refuse({Role::kAuditor})) {
          return *r;
        }
        return Audit(query);
      } else if (what == "settlement-runs" && options_.settlement != nullptr) {
        return options_.settlement->Handle(method, seg, query, caller.name, caller.role, body);
      }
    }
    return Fail(404, "not_found", "", "no endpoint " + std::string(target.substr(0, q)));
  } catch (const std::exception& e) {
    return Fail(500, "internal", "", e.what());
  }
}

// ---- applications -----------------------------------------------------------------------------

namespace {

proto::ApplicationView MakeView(const proto::MerchantApplication& r,
                                std::chrono::system_clock::time_point now,
                                const onboarding::HolidayCalendar& holidays,
                                const onboarding::ReviewTarget& target) {
  proto::ApplicationView v;
  *v.mutable_application() = r;
  const onboarding::Application a = ToModel(r);
  v.set_business_days_waiting(onboarding::BusinessDaysWaiting(a, now, holidays, target.utc_offset));
  v.set_overdue(onboarding::Overdue(a, now, holidays, target));
  return v;
}

// A TransitionError as the API answers it.
HttpResponse Refusal(const onboarding::TransitionError& e) {
  using onboarding::Error;
  switch (e.code) {
    case Error::kStaleVersion:
      return Fail(409, "stale_version", "version", e.message);
    case Error::kTransitionRefused:
      return Fail(409, "transition_refused", "to", e.message);
    case Error::kReasonRequired:
      return Fail(400, "reason_required", "reason", e.message);
    case Error::kInvalidApplication:
      return FieldErrors("invalid_application", e.message, e.fields);
    case Error::kMissing:
      return Fail(400, "missing", "", e.message);
    default:
      return Fail(400, ErrorCodeName(e.code), "", e.message);
  }
}

}  // namespace

HttpResponse AdminApi::SubmitApplication(const Caller& c, std::string_view body) {
  proto::ApplicationFields fields;
  if (auto r = ParseBody(body, fields)) {
    return *r;
  }
  onboarding::MerchantApplication model;
  if (auto errors = CheckFields(fields, model, Today()); !errors.empty()) {
    return FieldErrors("invalid_application", "the application does not validate", errors);
  }
  std::lock_guard lock(mu_);
  auto ids = registry_.List(kApplication);
  if (!ids) {
    return StoreFailure("applications", ids.error());
  }
  const std::uint64_t seq = MaxSequence(*ids, "APP-") + 1;
  const std::string id = "APP-" + Pad(seq, 6);
  // The merchant's MID (field 42, 15 characters) is fixed now, so agreements and terminals can
  // name it; its "merchant" record, which the pipeline reads, is written only at approval.
  std::string mid;
  for (std::uint64_t m = seq;; ++m) {
    mid = "MA" + Pad(m, 13);
    if (!registry_.GetRaw(kMerchant, mid)) {
      break;
    }
  }
  auto app = onboarding::Submit(id, std::move(model), c.name, clock_);
  if (!app) {
    return Refusal(app.error());
  }
  proto::MerchantApplication record;
  *record.mutable_fields() = fields;
  record.set_merchant_id(mid);
  SetSteps(*app, record);
  if (auto ec = registry_.Put(kApplication, id, record,
                              {.actor = c.name, .reason = "submitted", .at_micros = NowMicros()});
      ec) {
    return StoreFailure("application " + id, ec);
  }
  return Json(201, MakeView(record, clock_.Now(), options_.holidays, target_));
}

HttpResponse AdminApi::GetApplication(const std::string& id) {
  auto r = registry_.Get<proto::MerchantApplication>(kApplication, id);
  if (!r) {
    if (r.error() == make_error_code(storage::Error::kNotFound)) {
      return Fail(404, "not_found", "id", "no application " + id);
    }
    return StoreFailure("application " + id, r.error());
  }
  return Json(200, MakeView(*r, clock_.Now(), options_.holidays, target_));
}

AdminApi::ReviewQueue AdminApi::Queue() const {
  ReviewQueue q;
  auto ids = registry_.List(kApplication);
  if (!ids) {
    return q;
  }
  const auto now = clock_.Now();
  for (const auto& id : *ids) {
    auto r = registry_.Get<proto::MerchantApplication>(kApplication, id);
    if (!r || r->state() == "approved" || r->state() == "rejected" || r->state() == "withdrawn") {
      continue;
    }
    const proto::ApplicationView v = MakeView(*r, now, options_.holidays, target_);
    ++q.waiting;
    q.overdue += v.overdue() ? 1 : 0;
    q.oldest_business_days =
        std::max<std::int64_t>(q.oldest_business_days, v.business_days_waiting());
  }
  return q;
}

HttpResponse AdminApi::ListApplications(const std::map<std::string, std::string>& query) {
  std::optional<ApplicationState> state;
  for (const auto& [key, value] : query) {
    if (key != "state") {
      return Fail(400, "invalid_request", key, "unknown query parameter '" + key + "'");
    }
    state = ParseState(value);
    if (!state) {
      return Fail(400, "invalid_request", "state", "state must be one of " + StateList());
    }
  }
  auto ids = registry_.List(kApplication);
  if (!ids) {
    return StoreFailure("applications", ids.error());
  }
  proto::ApplicationList list;
  const auto now = clock_.Now();
  for (const auto& id : *ids) {
    auto r = registry_.Get<proto::MerchantApplication>(kApplication, id);
    if (!r) {
      continue;  // deleted since List
    }
    if (state && r->state() != onboarding::StateName(*state)) {
      continue;
    }
    *list.add_applications() = MakeView(*r, now, options_.holidays, target_);
  }
  return Json(200, list);
}

HttpResponse AdminApi::TransitionApplication(const Caller& c, const std::string& id,
                                             std::string_view body) {
  proto::TransitionRequest req;
  if (auto r = ParseBody(body, req)) {
    return *r;
  }
  const auto to = ParseState(req.to());
  if (!to) {
    return Fail(400, req.to().empty() ? "missing" : "bad_format", "to",
                "to must be one of " + StateList());
  }
  // Review steps are the reviewers'; the merchant's own (resubmitting, withdrawing) go through
  // an operator acting for the merchant.
  const bool review_step = *to == ApplicationState::kInReview ||
                           *to == ApplicationState::kMoreInfoRequested ||
                           *to == ApplicationState::kApproved || *to == ApplicationState::kRejected;
  const Role needed = review_step ? Role::kReviewer : Role::kOperator;
  if (c.role != needed) {
    return Fail(403, "forbidden", "to",
                "moving an application to " + req.to() + " needs role " +
                    std::string(RoleName(needed)) + "; token '" + c.name + "' has " +
                    std::string(RoleName(c.role)));
  }
  if (req.version() == 0) {
    return Fail(400, "missing", "version",
                "version (the application's version as read) is required");
  }
  if (req.has_fields() && *to != ApplicationState::kResubmitted) {
    return Fail(400, "invalid_request", "fields", "fields may be amended only when resubmitting");
  }
  onboarding::MerchantApplication amended;
  if (req.has_fields()) {
    if (auto errors = CheckFields(req.fields(), amended, Today()); !errors.empty()) {
      return FieldErrors("invalid_application", "the amended application does not validate",
                         errors);
    }
  }
  std::lock_guard lock(mu_);
  auto record = registry_.Get<proto::MerchantApplication>(kApplication, id);
  if (!record) {
    if (record.error() == make_error_code(storage::Error::kNotFound)) {
      return Fail(404, "not_found", "id", "no application " + id);
    }
    return StoreFailure("application " + id, record.error());
  }
  onboarding::Application app = ToModel(*record);
  const onboarding::StepRequest step{
      .expected_version = req.version(), .actor = c.name, .reason = req.reason()};
  onboarding::TransitionResult<void> done;
  if (*to == ApplicationState::kResubmitted) {
    done =
        onboarding::Resubmit(app, req.has_fields() ? std::move(amended) : app.fields, step, clock_);
  } else {
    done = onboarding::Transition(app, *to, step, clock_);
  }
  if (!done) {
    return Refusal(done.error());
  }
  if (req.has_fields()) {
    *record->mutable_fields() = req.fields();
  }
  SetSteps(app, *record);
  const std::string reason =
      req.to() + (req.reason().empty() ? std::string() : ": " + req.reason());
  const storage::Change change{.actor = c.name, .reason = reason, .at_micros = NowMicros()};
  if (*to == ApplicationState::kApproved) {
    // The merchant record the pipeline reads (field 43 is 40 characters). Written before the
    // application so that an approved application always has its merchant; a merchant record
    // whose application a crash left in review is unusable (agreements and terminals check the
    // application).
    proto::MerchantConfig m;
    m.set_mid(record->merchant_id());
    m.set_name(record->fields().legal_name().substr(0, 40));
    m.set_mcc(record->fields().mcc());
    m.set_location(record->fields().address().city() + " " + record->fields().address().country());
    // No transactions until an agreement is signed and in force.
    auto signed_agreements = AgreementsOf(registry_, m.mid());
    onboarding::SetAgreementTerms(
        m, signed_agreements ? *signed_agreements : std::vector<proto::Agreement>());
    if (auto ec = registry_.Put(kMerchant, m.mid(), m, change); ec) {
      return StoreFailure("merchant " + m.mid(), ec);
    }
    if (options_.merchant_changed) {
      options_.merchant_changed(m);
    }
  }
  if (auto ec = registry_.Put(kApplication, id, *record, change); ec) {
    return StoreFailure("application " + id, ec);
  }
  return Json(200, MakeView(*record, clock_.Now(), options_.holidays, target_));
}

// ---- agreements -------------------------------------------------------------------------------

namespace {

// The merchant's agreements, lowest version first.
storage::Result<std::vector<proto::Agreement>> AgreementsOf(const storage::Registry& registry,
                                                            const std::string& mid) {
  auto ids = registry.List(kAgreement);
  if (!ids) {
    return ids.error();
  }
  std::vector<proto::Agreement> out;
  const std::string prefix = mid + "/";
  for (const auto& id : *ids) {
    if (id.compare(0, prefix.size(), prefix) != 0) {
      continue;
    }
    if (auto a = registry.Get<proto::Agreement>(kAgreement, id); a) {
      out.push_back(std::move(*a));
    }
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.version() < b.version(); });
  return out;
}

// nullopt when the merchant may sign agreements and take terminals: its application is approved,
// or it has a merchant record and no application (merchants of the configuration file, onboarded
// before the admin API). The refusal otherwise.
std::optional<HttpResponse> CheckMerchantApproved(const storage::Registry& registry,
                                                  const std::string& mid, std::string_view field) {
  if (mid.empty()) {
    return Fail(400, "missing", field, "the merchant's MID is required");
  }
  auto ids = registry.List(kApplication);
  if (!ids) {
    return StoreFailure("applications", ids.error());
  }
  for (const auto& id : *ids) {
    auto a = registry.Get<proto::MerchantApplication>(kApplication, id);
    if (a && a->merchant_id() == mid) {
      if (a->state() == onboarding::StateName(ApplicationState::kApproved)) {
        return std::nullopt;
      }
      return Fail(
          409, "merchant_not_approved", field,
          "merchant " + mid + ": application " + id + " is " + a->state() + ", not approved");
    }
  }
  if (registry.GetRaw(kMerchant, mid)) {
    return std::nullopt;
  }
  return Fail(404, "not_found", field, "no merchant " + mid);
}

}  // namespace

HttpResponse AdminApi::CreateAgreement(const Caller& c, const std::string& mid,
                                       std::string_view body) {
  proto::Agreement req;
  if (auto r = ParseBody(body, req)) {
    return *r;
  }
  if (!req.merchant_id().empty() && req.merchant_id() != mid) {
    return Fail(400, "invalid_request", "merchant_id",
                "merchant_id differs from the merchant in the path");
  }
  std::lock_guard lock(mu_);
  if (auto refused = CheckMerchantApproved(registry_, mid, "mid")) {
    return *refused;
  }
  auto existing = AgreementsOf(registry_, mid);
  if (!existing) {
    return StoreFailure("agreements of " + mid, existing.error());
  }
  const std::uint32_t next = existing->empty() ? 1 : existing->back().version() + 1;
  if (req.version() != 0 && req.version() != next) {
    return Fail(409, "stale_version", "version",
                "merchant " + mid + ": the next agreement version is " + std::to_string(next));
  }
  req.set_merchant_id(mid);
  req.set_version(next);
  onboarding::Agreement model;
  if (auto errors = AgreementFromProto(req, model, clock_.Now()); !errors.empty()) {
    return FieldErrors("invalid_agreement", "the agreement does not validate", errors);
  }
  if (!req.has_signed_at()) {
    *req.mutable_signed_at() = pb::util::TimeUtil::MicrosecondsToTimestamp(NowMicros());
  }
  if (!req.has_settlement_cycle_days()) {
    req.set_settlement_cycle_days(1);
  }
  const std::string id = mid + "/" + Pad(next, 6);
  if (auto ec = registry_.Put(kAgreement, id, req,
                              {.actor = c.name,
                               .reason = "agreement version " + std::to_string(next),
                               .at_micros = NowMicros()});
      ec) {
    return StoreFailure("agreement " + id, ec);
  }
  // The merchant record the pipeline reads learns the new term at once.
  if (auto merchant = registry_.Get<proto::MerchantConfig>(kMerchant, mid); merchant) {
    if (auto all = AgreementsOf(registry_, mid); all) {
      onboarding::SetAgreementTerms(*merchant, *all);
      if (merchant->agreement_required() || !all->empty()) {
        if (auto ec = registry_.Put(kMerchant, mid, *merchant,
                                    {.actor = c.name,
                                     .reason = "agreement version " + std::to_string(next),
                                     .at_micros = NowMicros()});
            ec) {
          return StoreFailure("merchant " + mid, ec);
        }
        if (options_.merchant_changed) {
          options_.merchant_changed(*merchant);
        }
      }
    }
  }
  return Json(201, req);
}

HttpResponse AdminApi::ListAgreements(const std::string& mid) {
  auto list = AgreementsOf(registry_, mid);
  if (!list) {
    return StoreFailure("agreements of " + mid, list.error());
  }
  if (list->empty() && !registry_.GetRaw(kMerchant, mid)) {
    return Fail(404, "not_found", "mid", "no agreements for merchant " + mid);
  }
  proto::AgreementList out;
  std::vector<onboarding::Agreement> models;
  for (const auto& a : *list) {
    *out.add_agreements() = a;
    onboarding::Agreement m;
    (void)AgreementFromProto(a, m, clock_.Now());  // validated when stored
    models.push_back(std::move(m));
  }
  if (const auto* in_force = onboarding::AgreementInForce(models, Today())) {
    out.set_in_force_version(in_force->version);
  }
  return Json(200, out);
}

// ---- terminals --------------------------------------------------------------------------------

namespace {

// What a terminal's keys are: a rotation changes it.
std::string KeyIdentity(const proto::TerminalProfile& t) {
  return t.key_scheme() + "/" + t.bdk_id() + "/" + Upper(t.initial_ksn()) + "/" + t.tmk_id();
}

// The next initial KSN under key set `ksi` (upper-case hex) of BDK `bdk_id`: one more than the
// highest device id any terminal's initial KSN has there, so a device id is never handed out
// twice (a rotation moves a terminal to a new one). ANSI X9.24-1:2009 (TDES: 40-bit key set id,
// 19-bit device id, 21-bit counter) and X9.24-3-2017 (AES: 32-bit BDK id, 32-bit derivation id,
// 32-bit counter); counter 0. Empty when the key set has no device id left.
std::string NextInitialKsn(const std::vector<proto::TerminalProfile>& terminals,
                           const std::string& bdk_id, const std::string& ksi, bool tdes) {
  const std::size_t ksn_len = tdes ? 20 : 24;
  std::uint64_t max_device = 0;
  for (const auto& other : terminals) {
    const std::string ksn = Upper(other.initial_ksn());
    if (other.bdk_id() != bdk_id || ksn.size() != ksn_len || ksn.compare(0, ksi.size(), ksi) != 0 ||
        !IsHex(ksn)) {
      continue;
    }
    const std::uint64_t device = tdes ? std::stoull(ksn.substr(10), nullptr, 16) >> 21
                                      : std::stoull(ksn.substr(8, 8), nullptr, 16);
    max_device = std::max(max_device, device);
  }
  const std::uint64_t device = max_device + 1;
  if ((tdes && device >= (1U << 19)) || (!tdes && device > 0xFFFFFFFFULL)) {
    return {};
  }
  char tail[32];
  if (tdes) {
    std::snprintf(tail, sizeof(tail), "%010llX", static_cast<unsigned long long>(device << 21));
  } else {
    std::snprintf(tail, sizeof(tail), "%08llX00000000", static_cast<unsigned long long>(device));
  }
  return ksi + tail;
}

}  // namespace

HttpResponse AdminApi::ProvisionTerminal(const Caller& c, std::string_view body) {
  proto::ProvisionTerminalRequest req;
  if (auto r = ParseBody(body, req)) {
    return *r;
  }
  using onboarding::Error;
  std::vector<FieldError> errors;
  if (req.mid().empty()) {
    errors.push_back({Error::kMissing, "mid", "is required"});
  }
  if (!req.tid().empty() &&
      (req.tid().size() != 8 || std::any_of(req.tid().begin(), req.tid().end(), [](char ch) {
         return !std::isalnum(static_cast<unsigned char>(ch));
       }))) {
    errors.push_back({Error::kBadFormat, "tid", "must be 8 letters and digits (field 41)"});
  }
  if (req.serial().empty()) {
    errors.push_back({Error::kMissing, "serial", "is required"});
  }
  if (req.model().empty()) {
    errors.push_back({Error::kMissing, "model", "is required"});
  }
  const bool tdes = req.key_scheme() == "dukpt-tdes";
  const bool aes = req.key_scheme() == "dukpt-aes";
  const bool ms = req.key_scheme() == "master-session";
  if (!tdes && !aes && !ms) {
    errors.push_back({req.key_scheme().empty() ? Error::kMissing : Error::kBadFormat, "key_scheme",
                      "must be dukpt-tdes, dukpt-aes or master-session"});
  }
  if ((tdes || aes) && req.bdk_id().empty()) {
    errors.push_back({Error::kMissing, "bdk_id", "is required for DUKPT"});
  }
  if (ms && req.tmk_id().empty()) {
    errors.push_back({Error::kMissing, "tmk_id", "is required for master/session"});
  }
  if (ms && (!req.bdk_id().empty() || !req.initial_ksn().empty() || !req.key_set_id().empty())) {
    errors.push_back({Error::kUnsupported, "bdk_id", "DUKPT keys do not apply to master/session"});
  }
  if ((tdes || aes) && !req.tmk_id().empty()) {
    errors.push_back({Error::kUnsupported, "tmk_id", "a TMK does not apply to DUKPT"});
  }
  const std::size_t ksn_len = tdes ? 20 : 24;
  const std::size_t ksi_len = tdes ? 10 : 8;
  if ((tdes || aes) && !req.initial_ksn().empty() &&
      (req.initial_ksn().size() != ksn_len || !IsHex(req.initial_ksn()))) {
    errors.push_back(
        {Error::kBadFormat, "initial_ksn", "must be " + std::to_string(ksn_len) + " hex digits"});
  }
  if ((tdes || aes) && !req.key_set_id().empty() &&
      (req.key_set_id().size() != ksi_len || !IsHex(req.key_set_id()))) {
    errors.push_back(
        {Error::kBadFormat, "key_set_id", "must be " + std::to_string(ksi_len) + " hex digits"});
  }
  if (!errors.empty()) {
    return FieldErrors("invalid_request", "the terminal request does not validate", errors);
  }

  std::lock_guard lock(mu_);
  if (auto refused = CheckMerchantApproved(registry_, req.mid(), "mid")) {
    return *refused;
  }
  if (!registry_.GetRaw(kMerchant, req.mid())) {
    return Fail(409, "merchant_not_approved", "mid",
                "merchant " + req.mid() + " has no merchant record");
  }
  auto agreements = AgreementsOf(registry_, req.mid());
  if (!agreements) {
    return StoreFailure("agreements of " + req.mid(), agreements.error());
  }
  std::vector<onboarding::Agreement> models;
  for (const auto& a : *agreements) {
    onboarding::Agreement m;
    (void)AgreementFromProto(a, m, clock_.Now());
    models.push_back(std::move(m));
  }
  if (onboarding::AgreementInForce(models, Today()) == nullptr) {
    return Fail(409, "no_agreement", "mid",
                "merchant " + req.mid() + " has no agreement in force on " +
                    onboarding::FormatDate(Today()));
  }
  auto ids = registry_.List(kTerminal);
  if (!ids) {
    return StoreFailure("terminals", ids.error());
  }
  std::vector<proto::TerminalProfile> terminals;
  for (const auto& id : *ids) {
    if (auto t = registry_.Get<proto::TerminalProfile>(kTerminal, id); t) {
      terminals.push_back(std::move(*t));
    }
  }
  for (const auto& t : terminals) {
    if (t.serial() == req.serial() && t.status() != "retired") {
      return Fail(409, "conflict", "serial",
                  "device " + req.serial() + " is terminal " + t.tid() + "'s; retire it first");
    }
  }
  proto::TerminalProfile t;
  if (!req.tid().empty()) {
    if (std::find(ids->begin(), ids->end(), req.tid()) != ids->end()) {
      return Fail(409, "conflict", "tid", "terminal " + req.tid() + " exists");
    }
    t.set_tid(req.tid());
  } else {
    const std::uint64_t next = MaxSequence(*ids, "T") + 1;
    if (next > 9'999'999) {
      return Fail(409, "conflict", "tid", "no terminal ids left to allocate");
    }
    t.set_tid("T" + Pad(next, 7));
  }
  t.set_mid(req.mid());
  t.set_key_scheme(req.key_scheme());
  t.set_serial(req.serial());
  t.set_model(req.model());
  t.set_status("provisioned");
  if (ms) {
    t.set_tmk_id(req.tmk_id());
  } else {
    t.set_bdk_id(req.bdk_id());
    if (!req.initial_ksn().empty()) {
      t.set_initial_ksn(Upper(req.initial_ksn()));
    } else {
      const std::string ksi =
          Upper(req.key_set_id().empty() ? std::string(tdes ? "FFFF000000" : "00000000")
                                         : req.key_set_id());
      const std::string ksn = NextInitialKsn(terminals, req.bdk_id(), ksi, tdes);
      if (ksn.empty()) {
        return Fail(409, "conflict", "key_set_id", "no device ids left under key set " + ksi);
      }
      t.set_initial_ksn(ksn);
    }
  }
  if (auto ec = registry_.Put(kTerminal, t.tid(), t,
                              {.actor = c.name, .reason = "provisioned", .at_micros = NowMicros()});
      ec) {
    return StoreFailure("terminal " + t.tid(), ec);
  }
  if (options_.terminal_changed) {
    options_.terminal_changed(t);
  }
  return Json(201, View(t, options_, software_minimum_));
}

HttpResponse AdminApi::SetTerminalStatus(const Caller& c, const std::string& tid,
                                         std::string_view body) {
  proto::TerminalStatusRequest req;
  if (auto r = ParseBody(body, req)) {
    return *r;
  }
  const std::string& to = req.status();
  if (to != "suspended" && to != "retired" && to != "active") {
    return Fail(400, to.empty() ? "missing" : "bad_format", "status",
                "status must be suspended, retired or active");
  }
  if (req.reason().empty()) {
    return Fail(400, "reason_required", "reason", "a change of terminal status needs a reason");
  }
  std::lock_guard lock(mu_);
  auto t = registry_.Get<proto::TerminalProfile>(kTerminal, tid);
  if (!t) {
    if (t.error() == make_error_code(storage::Error::kNotFound)) {
      return Fail(404, "not_found", "tid", "no terminal " + tid);
    }
    return StoreFailure("terminal " + tid, t.error());
  }
  const std::string from = t->status().empty() ? "provisioned" : t->status();
  std::string next = to;
  auto refused = [&] {
    return Fail(409, "transition_refused", "status",
                "terminal " + tid + ": " + from + " -> " + to + " is not allowed");
  };
  if (from == "retired" || from == to) {
    return refused();
  }
  if (to == "active") {
    // Reinstating: back to what it was before its suspension. A terminal that never proved its
    // key stays provisioned until its first sign-on.
    if (from != "suspended") {
      return refused();
    }
    next = "provisioned";
    bool rotated = false;  // its keys changed during this suspension
    if (auto history = registry_.History(kTerminal, tid); history) {
      for (auto it = history->rbegin(); it != history->rend(); ++it) {
        proto::TerminalProfile before;
        proto::TerminalProfile after;
        if (!before.ParseFromString(it->before()) || !after.ParseFromString(it->after())) {
          continue;
        }
        if (KeyIdentity(before) != KeyIdentity(after) && !it->before().empty()) {
          rotated = true;  // since the suspension: it cannot have proved the new keys
          break;
        }
        if (after.status() == "suspended" && before.status() != "suspended") {
          next = before.status() == "active" ? "active" : "provisioned";
          break;
        }
      }
    }
    // The registry's record says "provisioned" for a terminal that activated itself at its
    // sign-on (the switch keeps that activation); ask the switch.
    if (next == "provisioned" && !rotated && options_.was_activated &&
        options_.was_activated(tid)) {
      next = "active";
    }
  }
  t->set_status(next);
  if (auto ec = registry_.Put(kTerminal, tid, *t,
                              {.actor = c.name,
                               .reason = from + " -> " + next + ": " + req.reason(),
                               .at_micros = NowMicros()});
      ec) {
    return StoreFailure("terminal " + tid, ec);
  }
  if (options_.terminal_changed) {
    options_.terminal_changed(*t);
  }
  return Json(200, View(*t, options_, software_minimum_));
}

HttpResponse AdminApi::GetTerminal(const std::string& tid) {
  auto t = registry_.Get<proto::TerminalProfile>(kTerminal, tid);
  if (!t) {
    if (t.error() == make_error_code(storage::Error::kNotFound)) {
      return Fail(404, "not_found", "tid", "no terminal " + tid);
    }
    return StoreFailure("terminal " + tid, t.error());
  }
  return Json(200, View(*t, options_, software_minimum_));
}

// ---- audit ------------------------------------------------------------------------------------

HttpResponse AdminApi::Audit(const std::map<std::string, std::string>& query) {
  std::string kind;
  std::string id;
  for (const auto& [key, value] : query) {
    if (key == "kind") {
      kind = value;
    } else if (key == "id") {
      id = value;
    } else {
      return Fail(400, "invalid_request", key, "unknown query parameter '" + key + "'");
    }
  }
  if (!id.empty() && kind.empty()) {
    return Fail(400, "invalid_request", "kind", "id needs kind");
  }
  // Registry::History reads one record's entries, or everyone's: a kind alone filters the latter.
  auto history = registry_.History(id.empty() ? std::string_view() : kind, id);
  if (!history) {
    return StoreFailure("audit log", history.error());
  }
  proto::AuditList out;
  for (const auto& e : *history) {
    if (!kind.empty() && e.kind() != kind) {
      continue;
    }
    auto* v = out.add_entries();
    v->set_seq(e.seq());
    *v->mutable_at() = pb::util::TimeUtil::MicrosecondsToTimestamp(e.at_micros());
    v->set_actor(e.actor());
    v->set_kind(e.kind());
    v->set_id(e.id());
    v->set_reason(e.reason());
    *v->mutable_before() = RecordJson(e.kind(), e.before());
    *v->mutable_after() = RecordJson(e.kind(), e.after());
  }
  return Json(200, out);
}

// ---- terminal lists ---------------------------------------------------------------------------

HttpResponse AdminApi::ListTerminals(const std::map<std::string, std::string>& query) {
  std::optional<std::int64_t> silent_days;
  bool outdated = false;
  std::string mid;
  std::string status;
  for (const auto& [key, value] : query) {
    if (key == "silent_days") {
      if (value.empty() || value.size() > 5 ||
          !std::all_of(value.begin(), value.end(), ::isdigit)) {
        return Fail(400, "bad_format", key, "silent_days must be a number of days (0 to 99999)");
      }
      silent_days = std::stoll(value);
    } else if (key == "outdated") {
      if (value != "true" && value != "false") {
        return Fail(400, "bad_format", key, "outdated must be true or false");
      }
      outdated = value == "true";
    } else if (key == "mid") {
      mid = value;
    } else if (key == "status") {
      if (value != "provisioned" && value != "active" && value != "suspended" &&
          value != "retired") {
        return Fail(400, "bad_format", key,
                    "status must be provisioned, active, suspended or retired");
      }
      status = value;
    } else {
      return Fail(400, "invalid_request", key, "unknown query parameter '" + key + "'");
    }
  }
  if (outdated && software_minimum_.empty()) {
    return Fail(400, "invalid_request", "outdated",
                "no minimum software version is configured (admin.terminal_software_minimum)");
  }
  auto ids = registry_.List(kTerminal);
  if (!ids) {
    return StoreFailure("terminals", ids.error());
  }
  const std::int64_t now = NowMicros();
  proto::TerminalList out;
  out.set_software_minimum(software_minimum_);
  for (const auto& id : *ids) {
    auto t = registry_.Get<proto::TerminalProfile>(kTerminal, id);
    if (!t || (!mid.empty() && t->mid() != mid)) {
      continue;
    }
    proto::TerminalView v = View(*t, options_, software_minimum_);
    // What the switch holds when it runs (an activation is not in the record).
    const std::string& effective = v.live_status().empty() ? v.status() : v.live_status();
    if (!status.empty() && effective != status) {
      continue;
    }
    if (silent_days) {
      if (effective == "retired") {
        continue;
      }
      const std::int64_t seen =
          v.has_last_seen() ? pb::util::TimeUtil::TimestampToMicroseconds(v.last_seen()) : 0;
      const std::int64_t cutoff = now - *silent_days * 86'400'000'000LL;
      // Never seen: silent when it should be talking (active); a provisioned terminal may not be
      // installed yet.
      const bool silent = seen == 0 ? effective == "active" : seen < cutoff;
      if (!silent) {
        continue;
      }
    }
    if (outdated && !v.outdated()) {
      continue;
    }
    *out.add_terminals() = std::move(v);
  }
  return Json(200, out);
}

// ---- terminal keys ----------------------------------------------------------------------------

namespace {

constexpr std::string_view kKeyExport = "key_export";

std::string KcvHex(const crypto::Kcv& k) { return crypto::ToHex(k); }

std::string AlgorithmName(crypto::KeyAlgorithm a) {
  return a == crypto::KeyAlgorithm::kAes ? "aes" : "tdes";
}

// The key store's name for a terminal's initial key, and what the export record says of it
// (never the key); the refusal otherwise.
std::optional<HttpResponse> TerminalKeyOf(const proto::TerminalProfile& t, crypto::TerminalKey& key,
                                          proto::KeyExport& x) {
  using Scheme = crypto::TerminalKey::Scheme;
  x.set_tid(t.tid());
  x.set_key_scheme(t.key_scheme());
  if (t.key_scheme() == "master-session") {
    key.scheme = Scheme::kMasterSession;
    key.key_id = t.tmk_id();
    x.set_key("tmk");
    x.set_tmk_id(t.tmk_id());
    return std::nullopt;
  }
  const bool aes = t.key_scheme() == "dukpt-aes";
  if (!aes && t.key_scheme() != "dukpt-tdes") {
    return Fail(409, "conflict", "key_scheme",
                "terminal " + t.tid() + " has key scheme '" + t.key_scheme() + "'");
  }
  auto ksn = crypto::FromHex(t.initial_ksn());
  if (!ksn || ksn->size() != (aes ? crypto::kAesKsnSize : crypto::kTdesKsnSize)) {
    return Fail(409, "conflict", "initial_ksn",
                "terminal " + t.tid() + "'s initial KSN is not one of its key scheme");
  }
  key.scheme = aes ? Scheme::kAesDukpt : Scheme::kTdesDukpt;
  key.key_id = t.bdk_id();
  key.ksn = std::move(*ksn);
  x.set_key(aes ? "aes_initial_key" : "tdes_ipek");
  x.set_initial_ksn(Upper(t.initial_ksn()));
  if (aes) {
    x.set_initial_key_id(x.initial_ksn().substr(0, 2 * crypto::kAesInitialKeyIdSize));
  }
  return std::nullopt;
}

// A key-store refusal as the API answers it: which key is wrong and how, never key material.
HttpResponse KeyFailure(boost::system::error_code ec, std::string_view field,
                        const std::string& what) {
  using crypto::Error;
  if (ec == make_error_code(Error::kUnknownKeyId)) {
    return Fail(409, "unknown_key", field, what + ": no such key in the key store");
  }
  if (ec == make_error_code(Error::kBadKeyUsage)) {
    return Fail(409, "wrong_key_kind", field, what + ": that key is not of the kind this needs");
  }
  if (ec == make_error_code(Error::kKeyTypeNotAllowed)) {
    return Fail(409, "key_too_weak", field,
                what + ": a TDES transport key may not carry an AES key; name an AES KEK");
  }
  return Fail(500, "internal", field, what + ": " + ec.message());
}

HttpResponse NoKeyStore() {
  return Fail(503, "unavailable", "", "this API has no key store (it runs without the switch)");
}

}  // namespace

HttpResponse AdminApi::ExportKeys(const Caller& c, const std::string& tid, std::string_view body) {
  if (options_.keys == nullptr) {
    return NoKeyStore();
  }
  proto::KeyExportRequest req;
  if (auto r = ParseBody(body, req)) {
    return *r;
  }
  const bool tr31 = req.form() == "tr31";
  const bool split = req.form() == "components";
  if (!tr31 && !split) {
    return Fail(400, req.form().empty() ? "missing" : "bad_format", "form",
                "form must be tr31 (a key block under a transport key) or components");
  }
  if (tr31 && req.components() != 0) {
    return Fail(400, "invalid_request", "components", "components go with form components");
  }
  if (split && !req.transport_key_id().empty()) {
    return Fail(400, "invalid_request", "transport_key_id", "a transport key goes with form tr31");
  }
  const std::uint32_t count = req.components() == 0 ? 2 : req.components();
  if (split && count != 2 && count != 3) {
    return Fail(400, "out_of_range", "components", "a key is split into 2 or 3 components");
  }
  const std::string kek = req.transport_key_id().empty() ? default_kek_ : req.transport_key_id();
  if (tr31 && kek.empty()) {
    return Fail(400, "missing", "transport_key_id",
                "name the facility's transport key (no admin.key_transport_key_id is configured)");
  }
  std::lock_guard lock(mu_);
  auto t = registry_.Get<proto::TerminalProfile>(kTerminal, tid);
  if (!t) {
    if (t.error() == make_error_code(storage::Error::kNotFound)) {
      return Fail(404, "not_found", "tid", "no terminal " + tid);
    }
    return StoreFailure("terminal " + tid, t.error());
  }
  if (t->status() == "retired") {
    return Fail(409, "transition_refused", "tid", "terminal " + tid + " is retired");
  }
  crypto::TerminalKey key;
  proto::KeyExport x;
  if (auto refused = TerminalKeyOf(*t, key, x)) {
    return *refused;
  }
  auto ids = registry_.List(kKeyExport);
  if (!ids) {
    return StoreFailure("key exports", ids.error());
  }
  x.set_id("KX-" + Pad(MaxSequence(*ids, "KX-") + 1, 6));
  x.set_form(req.form());
  x.set_created_by(c.name);
  *x.mutable_created_at() = pb::util::TimeUtil::MicrosecondsToTimestamp(NowMicros());
  x.set_reason(req.reason());
  std::string audit;
  if (tr31) {
    auto block = options_.keys->ExportTerminalKey(key, kek);
    if (!block) {
      const bool kek_at_fault = !options_.keys->Describe(kek) ||
                                options_.keys->Describe(kek)->kind != crypto::KeyKind::kKek ||
                                block.error() == make_error_code(crypto::Error::kKeyTypeNotAllowed);
      return KeyFailure(block.error(), kek_at_fault ? "transport_key_id" : "tid",
                        kek_at_fault ? "transport key '" + kek + "'"
                                     : "terminal " + tid + "'s key '" + key.key_id + "'");
    }
    x.set_algorithm(AlgorithmName(block->algorithm));
    x.set_key_kcv(KcvHex(block->key_kcv));
    x.set_key_block(std::move(block->block));
    x.set_transport_key_id(kek);
    x.set_transport_key_kcv(KcvHex(block->kek_kcv));
    audit = "exported as a TR-31 key block under " + kek + " (kcv " + x.transport_key_kcv() +
            "), key kcv " + x.key_kcv();
  } else {
    auto set = options_.keys->SplitTerminalKey(x.id(), key, count);
    if (!set) {
      return KeyFailure(set.error(), "tid", "terminal " + tid + "'s key '" + key.key_id + "'");
    }
    x.set_algorithm(AlgorithmName(set->algorithm));
    x.set_key_kcv(KcvHex(set->key_kcv));
    x.set_components(count);
    for (const auto& k : set->component_kcvs) {
      x.add_component_kcvs(KcvHex(k));
    }
    audit = "split into " + std::to_string(count) + " components for dual control, key kcv " +
            x.key_kcv();
  }
  if (const auto info = options_.keys->Describe(key.key_id); info) {
    // A TDES IPEK is double length whatever the BDK; the others are as long as their source.
    x.set_key_length(key.scheme == crypto::TerminalKey::Scheme::kTdesDukpt
                         ? 16
                         : static_cast<std::uint32_t>(info->length));
  }
  proto::KeyExport stored = x;
  stored.clear_key_block();  // not needed again; only check values are kept
  if (auto ec = registry_.Put(
          kKeyExport, x.id(), stored,
          {.actor = c.name,
           .reason = tid + ": " + audit + (req.reason().empty() ? "" : ": " + req.reason()),
           .at_micros = NowMicros()});
      ec) {
    options_.keys->DropComponents(x.id());
    return StoreFailure("key export " + x.id(), ec);
  }
  return Json(201, x);
}

HttpResponse AdminApi::ListKeyExports(const std::string& tid) {
  if (!registry_.GetRaw(kTerminal, tid)) {
    return Fail(404, "not_found", "tid", "no terminal " + tid);
  }
  auto ids = registry_.List(kKeyExport);
  if (!ids) {
    return StoreFailure("key exports", ids.error());
  }
  proto::KeyExportList out;
  for (const auto& id : *ids) {
    if (auto x = registry_.Get<proto::KeyExport>(kKeyExport, id); x && x->tid() == tid) {
      *out.add_exports() = std::move(*x);
    }
  }
  return Json(200, out);
}

HttpResponse AdminApi::TakeComponent(const Caller& c, const std::string& tid,
                                     const std::string& export_id, const std::string& index,
                                     std::string_view body) {
  if (options_.keys == nullptr) {
    return NoKeyStore();
  }
  if (body.find_first_not_of(" \t\r\n") != std::string_view::npos) {
    pb::Empty none;
    if (auto r = ParseBody(body, none)) {
      return *r;
    }
  }
  if (index.size() != 1 || index[0] < '1' || index[0] > '3') {
    return Fail(400, "bad_format", "index", "the component number is 1, 2 or 3");
  }
  const std::size_t n = static_cast<std::size_t>(index[0] - '0');
  std::lock_guard lock(mu_);
  auto x = registry_.Get<proto::KeyExport>(kKeyExport, export_id);
  if (!x || x->tid() != tid) {
    if (x || x.error() == make_error_code(storage::Error::kNotFound)) {
      return Fail(404, "not_found", "export_id", "terminal " + tid + " has no export " + export_id);
    }
    return StoreFailure("key export " + export_id, x.error());
  }
  if (x->form() != "components") {
    return Fail(409, "conflict", "export_id", export_id + " is a TR-31 export, not components");
  }
  if (n > x->components()) {
    return Fail(400, "out_of_range", "index",
                export_id + " has " + std::to_string(x->components()) + " components");
  }
  for (const auto& taken : x->taken()) {
    if (taken.index() == n) {
      return Fail(409, "already_taken", "index",
                  "component " + index + " of " + export_id + " was taken by " + taken.by());
    }
  }
  auto part = options_.keys->TakeComponent(export_id, n, c.name);
  if (!part) {
    switch (part.error()) {
      case crypto::ComponentRefusal::kSameCustodian:
        return Fail(403, "dual_control", "index",
                    "token '" + c.name + "' already took a component of " + export_id +
                        "; another custodian must take this one");
      case crypto::ComponentRefusal::kAlreadyTaken:
        return Fail(409, "already_taken", "index",
                    "component " + index + " of " + export_id + " was taken before");
      case crypto::ComponentRefusal::kBadIndex:
        return Fail(400, "out_of_range", "index", "no component " + index);
      case crypto::ComponentRefusal::kUnknownExport:
        break;
    }
    return Fail(410, "gone", "export_id",
                "the components of " + export_id +
                    " are no longer held (the switch restarted since): export the key again");
  }
  // Recorded before it is shown: a component nobody can account for never leaves.
  auto* t = x->add_taken();
  t->set_index(static_cast<std::uint32_t>(n));
  t->set_by(c.name);
  *t->mutable_at() = pb::util::TimeUtil::MicrosecondsToTimestamp(NowMicros());
  t->set_kcv(KcvHex(part->kcv));
  if (auto ec = registry_.Put(
          kKeyExport, export_id, *x,
          {.actor = c.name,
           .reason = tid + ": component " + index + " of " + std::to_string(x->components()) +
                     " taken (kcv " + t->kcv() + ")",
           .at_micros = NowMicros()});
      ec) {
    return StoreFailure("key export " + export_id + " (the component is withheld; export again)",
                        ec);
  }
  proto::KeyComponentView v;
  v.set_export_id(export_id);
  v.set_tid(tid);
  v.set_index(static_cast<std::uint32_t>(n));
  v.set_count(x->components());
  v.set_component(crypto::ToHex(part->key.view()));
  v.set_kcv(t->kcv());
  v.set_key_kcv(x->key_kcv());
  v.set_algorithm(x->algorithm());
  HttpResponse out = Json(200, v);
  crypto::WipeString(*v.mutable_component());
  return out;
}

HttpResponse AdminApi::RotateKeys(const Caller& c, const std::string& tid, std::string_view body) {
  proto::KeyRotationRequest req;
  if (auto r = ParseBody(body, req)) {
    return *r;
  }
  if (req.reason().empty()) {
    return Fail(400, "reason_required", "reason", "a key rotation needs a reason");
  }
  std::lock_guard lock(mu_);
  auto t = registry_.Get<proto::TerminalProfile>(kTerminal, tid);
  if (!t) {
    if (t.error() == make_error_code(storage::Error::kNotFound)) {
      return Fail(404, "not_found", "tid", "no terminal " + tid);
    }
    return StoreFailure("terminal " + tid, t.error());
  }
  if (t->status() == "retired") {
    return Fail(409, "transition_refused", "tid", "terminal " + tid + " is retired");
  }
  const bool tdes = t->key_scheme() == "dukpt-tdes";
  const bool aes = t->key_scheme() == "dukpt-aes";
  std::string what;
  if (tdes || aes) {
    const std::size_t ksi_len = tdes ? 10 : 8;
    if (!req.key_set_id().empty() &&
        (req.key_set_id().size() != ksi_len || !IsHex(req.key_set_id()))) {
      return Fail(400, "bad_format", "key_set_id",
                  "key_set_id must be " + std::to_string(ksi_len) + " hex digits");
    }
    const std::string current = Upper(t->initial_ksn());
    if (req.key_set_id().empty() && current.size() < ksi_len) {
      return Fail(409, "conflict", "key_set_id",
                  "terminal " + tid + " has no initial KSN to take the key set from; name one");
    }
    const std::string ksi =
        Upper(req.key_set_id().empty() ? current.substr(0, ksi_len) : req.key_set_id());
    auto ids = registry_.List(kTerminal);
    if (!ids) {
      return StoreFailure("terminals", ids.error());
    }
    std::vector<proto::TerminalProfile> terminals;
    for (const auto& id : *ids) {
      if (auto other = registry_.Get<proto::TerminalProfile>(kTerminal, id); other) {
        terminals.push_back(std::move(*other));
      }
    }
    const std::string ksn = NextInitialKsn(terminals, t->bdk_id(), ksi, tdes);
    if (ksn.empty()) {
      return Fail(409, "conflict", "key_set_id", "no device ids left under key set " + ksi);
    }
    what = "initial KSN " + current + " -> " + ksn;
    t->set_initial_ksn(ksn);
  } else if (t->key_scheme() == "master-session") {
    if (!req.key_set_id().empty()) {
      return Fail(400, "invalid_request", "key_set_id", "key_set_id is for DUKPT terminals");
    }
    if (options_.keys == nullptr || !options_.save_keys) {
      return NoKeyStore();
    }
    auto old = options_.keys->Describe(t->tmk_id());
    if (!old) {
      return KeyFailure(old.error(), "tmk_id", "terminal " + tid + "'s TMK '" + t->tmk_id() + "'");
    }
    // A TMK of its own, as long and of the same algorithm as the one it replaces.
    std::string id;
    for (int n = 1;; ++n) {
      id = "tmk-" + tid + "-" + std::to_string(n);
      if (!options_.keys->Describe(id)) {
        break;
      }
    }
    auto kcv = options_.keys->GenerateKey(id, crypto::KeyKind::kTmk, old->algorithm, old->length);
    if (!kcv) {
      return KeyFailure(kcv.error(), "tmk_id", "new TMK '" + id + "'");
    }
    // On disk before any record names it: a restart must find the key the terminal uses.
    if (const std::string why = options_.save_keys(); !why.empty()) {
      return Fail(500, "internal", "", "the key file was not saved (nothing changed): " + why);
    }
    what = "TMK " + t->tmk_id() + " -> " + id + " (kcv " + KcvHex(*kcv) + ")";
    t->set_tmk_id(id);
  } else {
    return Fail(409, "conflict", "key_scheme",
                "terminal " + tid + " has key scheme '" + t->key_scheme() + "'");
  }
  // Until it proves the new key at a sign-on it is provisioned again (a suspension stays).
  const std::string from = t->status().empty() ? "provisioned" : t->status();
  if (from != "suspended") {
    t->set_status("provisioned");
  }
  if (auto ec = registry_.Put(kTerminal, tid, *t,
                              {.actor = c.name,
                               .reason = "keys rotated: " + req.reason() + " (" + what + ")",
                               .at_micros = NowMicros()});
      ec) {
    return StoreFailure("terminal " + tid, ec);
  }
  if (options_.terminal_changed) {
    options_.terminal_changed(*t);
  }
  return Json(200, View(*t, options_, software_minimum_));
}

// ---- transactions and BIN routes --------------------------------------------------------------

namespace {

std::string TxnTypeName(const proto::TransactionRecord& r) {
  const std::string& mti = r.mti();
  const std::string_view pc = std::string_view(r.processing_code()).substr(0, 2);
  if (mti == "0100") {
    return "preauth";
  }
  if (mti == "0220" || mti == "0221") {
    return "completion";
  }
  if (mti == "0400" || mti == "0401") {
    return "reversal";
  }
  if (mti == "0200") {
    return pc == "00" ? "purchase" : pc == "20" ? "refund" : pc == "02" ? "void" : "other";
  }
  return "other";
}

proto::TransactionView TxnView(const proto::TransactionRecord& r) {
  proto::TransactionView v;
  v.set_id(r.id());
  v.set_tid(r.tid());
  v.set_mid(r.mid());
  v.set_mti(r.mti());
  v.set_type(TxnTypeName(r));
  v.set_processing_code(r.processing_code());
  v.set_stan(r.stan());
  v.set_transmission_time(r.transmission_time());
  v.set_rrn(r.rrn());
  v.set_approval_code(r.approval_code());
  v.set_response_code(r.response_code());
  v.set_amount_minor(r.amount_minor());
  v.set_currency(r.currency());
  std::string state = proto::TxnState_Name(r.state());  // "TXN_ANSWERED"
  if (state.rfind("TXN_", 0) == 0) {
    state = state.substr(4);
  }
  for (char& ch : state) {
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  v.set_state(state);
  v.set_business_date(r.business_date());
  v.set_batch_number(r.batch_number());
  v.set_masked_pan(r.pan().masked());  // the journal never holds a clear PAN to show
  v.set_route(r.route());
  v.set_stand_in(r.stand_in());
  v.set_refunded_minor(r.refunded_minor());
  v.set_original_id(r.original_id());
  if (r.received_micros() > 0) {
    *v.mutable_received_at() = pb::util::TimeUtil::MicrosecondsToTimestamp(r.received_micros());
  }
  return v;
}

bool AllDigits(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

}  // namespace

HttpResponse AdminApi::Transactions(const std::map<std::string, std::string>& query) {
  if (options_.journal == nullptr) {
    return Fail(503, "unavailable", "", "this API has no journal (it runs without the switch)");
  }
  std::string tid, mid, date, rrn, stan;
  for (const auto& [key, value] : query) {
    if (key == "tid") {
      tid = value;
    } else if (key == "mid") {
      mid = value;
    } else if (key == "date") {
      date = value;
    } else if (key == "rrn") {
      rrn = value;
    } else if (key == "stan") {
      stan = value;
    } else {
      return Fail(400, "invalid_request", key, "unknown query parameter '" + key + "'");
    }
  }
  if (query.count("tid") != 0 && (tid.empty() || tid.size() > 8)) {
    return Fail(400, "bad_format", "tid", "tid is 1 to 8 characters (field 41)");
  }
  if (query.count("mid") != 0 && (mid.empty() || mid.size() > 15)) {
    return Fail(400, "bad_format", "mid", "mid is 1 to 15 characters (field 42)");
  }
  if (query.count("date") != 0 && (date.size() != 8 || !AllDigits(date))) {
    return Fail(400, "bad_format", "date", "date is a business date, YYYYMMDD");
  }
  if (query.count("rrn") != 0 &&
      (rrn.empty() || rrn.size() > 12 ||
       !std::all_of(rrn.begin(), rrn.end(), [](char ch) { return std::isalnum(ch) != 0; }))) {
    return Fail(400, "bad_format", "rrn", "rrn is 1 to 12 letters and digits (field 37)");
  }
  if (query.count("stan") != 0 && (stan.size() > 6 || !AllDigits(stan))) {
    return Fail(400, "bad_format", "stan", "stan is 1 to 6 digits (field 11)");
  }
  storage::Result<std::vector<proto::TransactionRecord>> found{
      std::vector<proto::TransactionRecord>{}};
  if (!rrn.empty()) {
    auto one = options_.journal->FindByRrn(rrn);
    if (!one) {
      if (one.error() == make_error_code(storage::Error::kNotFound)) {
        return Fail(404, "not_found", "rrn", "no transaction with RRN " + rrn);
      }
      return StoreFailure("journal", one.error());
    }
    found = std::vector<proto::TransactionRecord>{std::move(*one)};
  } else if (!tid.empty() && !stan.empty()) {
    found = options_.journal->ListByStan(tid, std::string(6 - stan.size(), '0') + stan);
  } else if (!date.empty() && (!tid.empty() || !mid.empty())) {
    std::string merchant = mid;
    if (merchant.empty()) {
      // The journal indexes a merchant's day; a terminal's is its merchant's, filtered.
      auto t = registry_.Get<proto::TerminalProfile>(kTerminal, tid);
      if (!t) {
        if (t.error() == make_error_code(storage::Error::kNotFound)) {
          return Fail(404, "not_found", "tid", "no terminal " + tid);
        }
        return StoreFailure("terminal " + tid, t.error());
      }
      merchant = t->mid();
    }
    found = options_.journal->ListByMerchantDate(merchant, date);
  } else {
    return Fail(400, "invalid_request", "",
                "look up by rrn=R, by tid=T&stan=S, or by tid=T (or mid=M) and date=YYYYMMDD");
  }
  if (!found) {
    return StoreFailure("journal", found.error());
  }
  std::sort(found->begin(), found->end(),
            [](const auto& a, const auto& b) { return a.id() < b.id(); });
  proto::TransactionList out;
  for (const auto& r : *found) {
    // The other given keys narrow the look-up.
    if ((!tid.empty() && r.tid() != tid) || (!mid.empty() && r.mid() != mid) ||
        (!date.empty() && r.business_date() != date) ||
        (!stan.empty() && r.stan() != std::string(6 - stan.size(), '0') + stan)) {
      continue;
    }
    *out.add_transactions() = TxnView(r);
  }
  return Json(200, out);
}

HttpResponse AdminApi::Bins() {
  if (!options_.bins) {
    return Fail(503, "unavailable", "", "this API has no BIN table (it runs without the switch)");
  }
  proto::BinList out;
  for (const auto& e : options_.bins()) {
    auto* b = out.add_bins();
    b->set_low(e.low);
    b->set_high(e.high);
    b->set_brand(e.brand);
    b->set_on_us(e.on_us);
    b->set_route(e.route);
  }
  return Json(200, out);
}

}  // namespace sy::server::admin
