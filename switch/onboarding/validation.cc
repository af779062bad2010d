#include "switch/onboarding/validation.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "switch/onboarding/calendar.h"
#include "switch/onboarding/mcc.h"

namespace sy::server::onboarding {
namespace {

using std::chrono::sys_days;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
char ToUpper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }
bool AllDigits(std::string_view s) { return std::all_of(s.begin(), s.end(), IsDigit); }

FieldError Problem(Error code, std::string_view field, std::string message) {
  return FieldError{code, std::string(field), std::move(message)};
}

// True for bytes below 0x20 and DEL: no field of an application may hold them.
bool HasControl(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// `s` without spaces, upper-cased (IBANs and card numbers are printed in groups).
std::string Compact(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c != ' ') {
      out.push_back(ToUpper(c));
    }
  }
  return out;
}

// ISO 7064 MOD 11-2 as GB 11643-1999 applies it: weight of position i (1-based, from the left,
// over the 17 digits) is 2^(18-i) mod 11.
constexpr std::array<int, 17> kMod11_2Weights = {7, 9, 10, 5,  8, 4, 2, 1, 6,
                                                 3, 7, 9,  10, 5, 8, 4, 2};

// Province-level region codes (GB/T 2260) that open a PRC resident ID number; 81-83 are the
// residence permits of Hong Kong, Macao and Taiwan residents.
constexpr std::array<int, 35> kPrcProvinces = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34,
                                               35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
                                               53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83};

// GB 32100-2015 table 1: the 31 code characters (0-9 and A-Z without I, O, S, V, Z), valued
// 0..30 in this order; table 2: the weight of position i is 3^(i-1) mod 31.
constexpr std::string_view kUsccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY";
constexpr std::array<int, 17> kUsccWeights = {1,  3,  9,  27, 19, 26, 16, 17, 20,
                                              29, 25, 13, 8,  24, 10, 30, 28};

// ISO 13616 IBAN lengths from the SWIFT IBAN registry: every SEPA country, then other countries
// whose IBAN formats are registered. Countries without IBANs (CN, US, HK, JP, ...) are absent.
struct IbanCountry {
  std::string_view code;
  int length;
};
constexpr IbanCountry kIbanCountries[] = {
    // SEPA
    {"AD", 24},
    {"AT", 20},
    {"BE", 16},
    {"BG", 22},
    {"CH", 21},
    {"CY", 28},
    {"CZ", 24},
    {"DE", 22},
    {"DK", 18},
    {"EE", 20},
    {"ES", 24},
    {"FI", 18},
    {"FR", 27},
    {"GB", 22},
    {"GI", 23},
    {"GR", 27},
    {"HR", 21},
    {"HU", 28},
    {"IE", 22},
    {"IS", 26},
    {"IT", 27},
    {"LI", 21},
    {"LT", 20},
    {"LU", 20},
    {"LV", 21},
    {"MC", 27},
    {"MT", 31},
    {"NL", 18},
    {"NO", 15},
    {"PL", 28},
    {"PT", 25},
    {"RO", 24},
    {"SE", 24},
    {"SI", 19},
    {"SK", 24},
    {"SM", 27},
    {"VA", 22},
    // Other registered countries
    {"AE", 23},
    {"AL", 28},
    {"AZ", 28},
    {"BA", 20},
    {"BH", 22},
    {"BR", 29},
    {"BY", 28},
    {"CR", 22},
    {"DO", 28},
    {"EG", 29},
    {"FO", 18},
    {"GE", 22},
    {"GL", 18},
    {"GT", 28},
    {"IL", 23},
    {"IQ", 23},
    {"JO", 30},
    {"KW", 30},
    {"KZ", 20},
    {"LB", 28},
    {"LC", 32},
    {"MD", 24},
    {"ME", 22},
    {"MK", 19},
    {"MR", 27},
    {"MU", 30},
    {"PK", 24},
    {"PS", 29},
    {"QA", 29},
    {"RS", 22},
    {"SA", 24},
    {"SC", 31},
    {"ST", 25},
    {"SV", 28},
    {"TL", 23},
    {"TN", 24},
    {"TR", 26},
    {"UA", 29},
    {"VG", 24},
    {"XK", 20},
};

// Appends the problem of a required text field: missing, too long, or holding control bytes.
// Returns true when the field is present and clean (so further checks may run).
bool RequireText(std::string_view value, std::string_view field, std::size_t max_bytes,
                 std::vector<FieldError>& out) {
  if (value.find_first_not_of(" \t") == std::string_view::npos) {
    out.push_back(Problem(Error::kMissing, field, "is required"));
    return false;
  }
  if (value.size() > max_bytes) {
    out.push_back(Problem(Error::kBadFormat, field,
                          "must be at most " + std::to_string(max_bytes) + " bytes, got " +
                              std::to_string(value.size())));
    return false;
  }
  if (HasControl(value)) {
    out.push_back(Problem(Error::kBadFormat, field, "must not contain control characters"));
    return false;
  }
  return true;
}

// Like RequireText for a field that may be empty.
void OptionalText(std::string_view value, std::string_view field, std::size_t max_bytes,
                  std::vector<FieldError>& out) {
  if (!value.empty()) {
    RequireText(value, field, max_bytes, out);
  }
}

void CheckIdDocument(const IdDocument& doc, sys_days today, std::vector<FieldError>& out) {
  constexpr std::string_view kField = "id_document.number";
  switch (doc.type) {
    case IdDocumentType::kPrcResidentId:
      if (RequireText(doc.number, kField, 18, out)) {
        if (auto e = CheckPrcResidentId(doc.number, kField, today)) {
          out.push_back(std::move(*e));
        }
      }
      return;
    case IdDocumentType::kPassport:
      if (RequireText(doc.number, kField, 20, out)) {
        const bool alnum = std::all_of(doc.number.begin(), doc.number.end(),
                                       [](char c) { return IsDigit(c) || IsUpper(ToUpper(c)); });
        if (!alnum || doc.number.size() < 5) {
          out.push_back(Problem(Error::kBadFormat, kField,
                                "a passport number is 5 to 20 letters and digits"));
        }
      }
      return;
    case IdDocumentType::kOther:
      RequireText(doc.number, kField, 64, out);
      return;
  }
  out.push_back(Problem(Error::kBadFormat, "id_document.type", "is not a known document type"));
}

void CheckAccountNumber(const SettlementAccount& account, std::vector<FieldError>& out) {
  constexpr std::string_view kField = "settlement_account.account_number";
  if (!RequireText(account.account_number, kField, 42, out)) {
    return;
  }
  std::optional<FieldError> e;
  switch (account.scheme) {
    case AccountNumberScheme::kIban:
      e = CheckIban(account.account_number, kField);
      break;
    case AccountNumberScheme::kCard:
      e = CheckCardAccount(account.account_number, kField);
      break;
    case AccountNumberScheme::kDomestic: {
      const std::string number = Compact(account.account_number);
      if (!AllDigits(number) || number.size() < 6 || number.size() > 34) {
        e = Problem(Error::kBadFormat, kField, "a domestic account number is 6 to 34 digits");
      }
      break;
    }
    default:
      e = Problem(Error::kBadFormat, "settlement_account.scheme",
                  "is not a known account number scheme");
  }
  if (e) {
    out.push_back(std::move(*e));
  }
}

void CheckAddress(const Address& a, std::vector<FieldError>& out) {
  if (RequireText(a.country, "address.country", 2, out) &&
      !(a.country.size() == 2 && IsUpper(a.country[0]) && IsUpper(a.country[1]))) {
    out.push_back(Problem(Error::kBadFormat, "address.country",
                          "must be an ISO 3166-1 alpha-2 code in upper case"));
  }
  OptionalText(a.region, "address.region", 128, out);
  RequireText(a.city, "address.city", 128, out);
  RequireText(a.line1, "address.line1", 256, out);
  OptionalText(a.line2, "address.line2", 256, out);
  if (!a.postal_code.empty()) {
    const bool ok = a.postal_code.size() <= 16 &&
                    std::all_of(a.postal_code.begin(), a.postal_code.end(), [](char c) {
                      return IsDigit(c) || IsUpper(ToUpper(c)) || c == ' ' || c == '-';
                    });
    if (!ok) {
      out.push_back(Problem(Error::kBadFormat, "address.postal_code",
                            "must be at most 16 letters, digits, spaces and hyphens"));
    }
  }
}

bool PlausiblePhone(std::string_view phone) {
  std::size_t digits = 0;
  for (std::size_t i = 0; i < phone.size(); ++i) {
    const char c = phone[i];
    if (IsDigit(c)) {
      ++digits;
    } else if (!(c == ' ' || c == '-' || (c == '+' && i == 0))) {
      return false;
    }
  }
  return digits >= 6 && digits <= 15;  // E.164 allows at most 15 digits
}

bool PlausibleEmail(std::string_view email) {
  const auto at = email.find('@');
  if (at == std::string_view::npos || at == 0 ||
      email.find('@', at + 1) != std::string_view::npos ||
      email.find(' ') != std::string_view::npos) {
    return false;
  }
  const std::string_view domain = email.substr(at + 1);
  const auto dot = domain.find('.');
  return dot != std::string_view::npos && dot != 0 && domain.back() != '.';
}

void CheckContact(const Contact& c, std::vector<FieldError>& out) {
  RequireText(c.name, "contact.name", 128, out);
  if (c.phone.empty() && c.email.empty()) {
    out.push_back(Problem(Error::kMissing, "contact.phone",
                          "a phone number or an e-mail address is required"));
    return;
  }
  if (!c.phone.empty() && !PlausiblePhone(c.phone)) {
    out.push_back(Problem(Error::kBadFormat, "contact.phone",
                          "must be 6 to 15 digits, optionally with a leading + and separators"));
  }
  if (!c.email.empty() && (c.email.size() > 254 || !PlausibleEmail(c.email))) {
    out.push_back(Problem(Error::kBadFormat, "contact.email", "is not an e-mail address"));
  }
}

}  // namespace

std::vector<FieldError> Validate(const MerchantApplication& app, sys_days today) {
  std::vector<FieldError> out;
  const bool company = app.type == MerchantType::kCompany;
  if (app.type != MerchantType::kIndividual && !company) {
    out.push_back(Problem(Error::kBadFormat, "type", "must be individual or company"));
  }
  const bool name_ok = RequireText(app.legal_name, "legal_name", 256, out);
  CheckIdDocument(app.id_document, today, out);

  if (app.business_licence.empty()) {
    if (company) {
      out.push_back(Problem(Error::kMissing, "business_licence", "is required for a company"));
    }
  } else if (auto e = CheckUscc(app.business_licence, "business_licence")) {
    out.push_back(std::move(*e));
  }

  const SettlementAccount& account = app.settlement_account;
  RequireText(account.bank, "settlement_account.bank", 128, out);
  if (RequireText(account.account_name, "settlement_account.account_name", 256, out) && name_ok &&
      !company && NormalizeName(account.account_name) != NormalizeName(app.legal_name)) {
    out.push_back(Problem(Error::kNameMismatch, "settlement_account.account_name",
                          "an individual's settlement account must be in the applicant's "
                          "legal name"));
  }
  CheckAccountNumber(account, out);

  if (RequireText(app.mcc, "mcc", 4, out)) {
    if (app.mcc.size() != 4 || !AllDigits(app.mcc)) {
      out.push_back(Problem(Error::kBadFormat, "mcc", "must be four digits"));
    } else if (!IsAssignedMcc(app.mcc)) {
      out.push_back(
          Problem(Error::kUnknownCode, "mcc", "is not an assigned ISO 18245 merchant category"));
    }
  }
  CheckAddress(app.address, out);
  CheckContact(app.contact, out);
  return out;
}

std::string NormalizeName(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  bool pending_space = false;
  for (std::size_t i = 0; i < name.size();) {
    const auto c = static_cast<unsigned char>(name[i]);
    std::size_t space_len = 0;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      space_len = 1;
    } else if (c == 0xC2 && i + 1 < name.size() &&
               static_cast<unsigned char>(name[i + 1]) == 0xA0) {
      space_len = 2;  // U+00A0 no-break space
    } else if (c == 0xE3 && i + 2 < name.size() &&
               static_cast<unsigned char>(name[i + 1]) == 0x80 &&
               static_cast<unsigned char>(name[i + 2]) == 0x80) {
      space_len = 3;  // U+3000 ideographic space
    }
    if (space_len > 0) {
      pending_space = !out.empty();
      i += space_len;
      continue;
    }
    if (pending_space) {
      out.push_back(' ');
      pending_space = false;
    }
    out.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : name[i]);
    ++i;
  }
  return out;
}

char Mod11_2CheckCharacter(std::string_view digits17) {
  int sum = 0;
  for (std::size_t i = 0; i < kMod11_2Weights.size(); ++i) {
    sum += (digits17[i] - '0') * kMod11_2Weights[i];
  }
  // The check value c makes sum + c ≡ 1 (mod 11); the value 10 is written X.
  const int c = (12 - sum % 11) % 11;
  return c == 10 ? 'X' : static_cast<char>('0' + c);
}

std::optional<char> UsccCheckCharacter(std::string_view chars17) {
  int sum = 0;
  for (std::size_t i = 0; i < kUsccWeights.size(); ++i) {
    const auto v = kUsccAlphabet.find(chars17[i]);
    if (v == std::string_view::npos) {
      return std::nullopt;
    }
    sum += static_cast<int>(v) * kUsccWeights[i];
  }
  // GB 32100-2015 4.2: C18 = 31 - MOD(sum, 31), where the value 31 is written as 0.
  return kUsccAlphabet[static_cast<std::size_t>((31 - sum % 31) % 31)];
}

std::optional<int> IbanLength(std::string_view country) {
  for (const IbanCountry& c : kIbanCountries) {
    if (c.code == country) {
      return c.length;
    }
  }
  return std::nullopt;
}

int IbanMod97(std::string_view iban) {
  if (iban.size() < 4) {
    return -1;
  }
  // ISO 13616-1: move the first four characters to the end, write each letter as two digits
  // (A = 10 ... Z = 35), and take the number mod 97 digit by digit.
  int rem = 0;
  auto feed = [&rem](char c) {
    if (IsDigit(c)) {
      rem = (rem * 10 + (c - '0')) % 97;
      return true;
    }
    if (IsUpper(c)) {
      rem = (rem * 100 + (c - 'A' + 10)) % 97;
      return true;
    }
    return false;
  };
  for (std::size_t i = 4; i < iban.size(); ++i) {
    if (!feed(iban[i])) {
      return -1;
    }
  }
  for (std::size_t i = 0; i < 4; ++i) {
    if (!feed(iban[i])) {
      return -1;
    }
  }
  return rem;
}

bool LuhnValid(std::string_view digits) {
  if (digits.empty() || !AllDigits(digits)) {
    return false;
  }
  int sum = 0;
  bool twice = false;  // every second digit from the right, the check digit excluded
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    int d = *it - '0';
    if (twice) {
      d *= 2;
      if (d > 9) {
        d -= 9;
      }
    }
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

std::optional<FieldError> CheckPrcResidentId(std::string_view number, std::string_view field,
                                             sys_days today) {
  if (number.size() != 18) {
    return Problem(
        Error::kBadFormat, field,
        "a PRC resident ID number is 18 characters, got " + std::to_string(number.size()));
  }
  for (std::size_t i = 0; i < 17; ++i) {
    if (!IsDigit(number[i])) {
      return Problem(Error::kBadFormat, field,
                     "character " + std::to_string(i + 1) + " must be a digit");
    }
  }
  const char last = ToUpper(number[17]);
  if (!IsDigit(last) && last != 'X') {
    return Problem(Error::kBadFormat, field, "character 18 must be a digit or X");
  }
  if (Mod11_2CheckCharacter(number.substr(0, 17)) != last) {
    return Problem(Error::kBadCheckDigit, field,
                   "check character (position 18) does not match (ISO 7064 MOD 11-2)");
  }
  const int province = (number[0] - '0') * 10 + (number[1] - '0');
  if (std::find(kPrcProvinces.begin(), kPrcProvinces.end(), province) == kPrcProvinces.end()) {
    return Problem(Error::kUnknownCode, field,
                   "characters 1-2 are not a PRC province-level region code");
  }
  const auto birth = ParseDate(number.substr(6, 8));
  if (!birth || *birth > today ||
      std::chrono::year_month_day{*birth}.year() < std::chrono::year{1900}) {
    return Problem(Error::kBadDate, field,
                   "characters 7-14 are not a birth date between 1900 and today");
  }
  return std::nullopt;
}

std::optional<FieldError> CheckUscc(std::string_view code, std::string_view field) {
  if (code.size() != 18) {
    return Problem(
        Error::kBadFormat, field,
        "a Unified Social Credit Code is 18 characters, got " + std::to_string(code.size()));
  }
  for (std::size_t i = 0; i < 18; ++i) {
    if (kUsccAlphabet.find(code[i]) == std::string_view::npos) {
      return Problem(Error::kBadFormat, field,
                     "character " + std::to_string(i + 1) +
                         " must be 0-9 or an upper-case letter other than I, O, S, V, Z");
    }
  }
  if (!AllDigits(code.substr(2, 6))) {
    return Problem(Error::kBadFormat, field,
                   "characters 3-8 (the registering authority's region) must be digits");
  }
  if (UsccCheckCharacter(code.substr(0, 17)) != code[17]) {
    return Problem(Error::kBadCheckDigit, field,
                   "check character (position 18) does not match (GB 32100-2015)");
  }
  return std::nullopt;
}

std::optional<FieldError> CheckIban(std::string_view text, std::string_view field) {
  const std::string iban = Compact(text);
  if (iban.size() < 5 || !IsUpper(iban[0]) || !IsUpper(iban[1])) {
    return Problem(Error::kBadFormat, field, "an IBAN starts with a two-letter country code");
  }
  const std::string_view country = std::string_view(iban).substr(0, 2);
  if (country == "CN") {
    return Problem(Error::kUnsupported, field,
                   "CN does not use IBANs; give the domestic account number or card number");
  }
  const auto length = IbanLength(country);
  if (!length) {
    return Problem(Error::kUnknownCode, field,
                   "country " + std::string(country) + " has no IBAN format in the registry");
  }
  if (static_cast<int>(iban.size()) != *length) {
    return Problem(Error::kBadFormat, field,
                   "an IBAN of " + std::string(country) + " is " + std::to_string(*length) +
                       " characters, got " + std::to_string(iban.size()));
  }
  if (!IsDigit(iban[2]) || !IsDigit(iban[3])) {
    return Problem(Error::kBadFormat, field, "characters 3-4 (check digits) must be digits");
  }
  const int check = (iban[2] - '0') * 10 + (iban[3] - '0');
  const int rem = IbanMod97(iban);
  if (rem < 0) {
    return Problem(Error::kBadFormat, field, "an IBAN holds only letters and digits");
  }
  if (check < 2 || check > 98 || rem != 1) {
    return Problem(Error::kBadCheckDigit, field, "check digits do not verify (ISO 13616 mod 97)");
  }
  return std::nullopt;
}

std::optional<FieldError> CheckCardAccount(std::string_view text, std::string_view field) {
  const std::string number = Compact(text);
  if (!AllDigits(number) || number.size() < 12 || number.size() > 19) {
    return Problem(Error::kBadFormat, field, "a card number is 12 to 19 digits");
  }
  if (!LuhnValid(number)) {
    return Problem(Error::kBadCheckDigit, field, "check digit does not verify (Luhn)");
  }
  return std::nullopt;
}

}  // namespace sy::server::onboarding
