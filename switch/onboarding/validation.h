#pragma once

// Merchant onboarding, step 1: the application a merchant files, and its validation. Validate
// reports every problem at once, one FieldError per field, naming the field by its path; it never
// stops at the first. The check-digit schemes are exposed for tests and for the admin API's
// field-by-field checks.
//
//   MerchantApplication app{.type = MerchantType::kIndividual, .legal_name = "Zhang San", ...};
//   for (const FieldError& e : Validate(app, today)) {
//     std::cerr << e.Describe() << "\n";  // "id_document.number: check character ... does not
//     match"
//   }

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "switch/onboarding/error.h"

namespace sy::server::onboarding {

enum class MerchantType {
  kIndividual = 1,  // a natural person with a "personal POS"
  kCompany,         // a legal person (or other organization) with a business licence
};

enum class IdDocumentType {
  kPrcResidentId = 1,  // PRC resident identity card (GB 11643-1999), 18 characters
  kPassport,           // any country's passport: 5 to 20 letters and digits
  kOther,              // another identity document: any printable text up to 64 bytes
};

// How the settlement account number is written, and therefore checked.
enum class AccountNumberScheme {
  kIban = 1,  // ISO 13616 IBAN, checked mod 97 with its country's length
  kCard,      // a debit card number (PRC personal settlement accounts), 12-19 digits, Luhn
  kDomestic,  // a domestic account number without a check digit (PRC corporate accounts): digits
};

// For an individual, the applicant's own document; for a company, its legal representative's.
struct IdDocument {
  IdDocumentType type = IdDocumentType::kPrcResidentId;
  std::string number;
};

struct SettlementAccount {
  std::string bank;            // bank name or code
  std::string account_name;    // the account holder as the bank records it
  std::string account_number;  // spaces allowed (printed IBANs group by four)
  AccountNumberScheme scheme = AccountNumberScheme::kCard;
};

struct Address {
  std::string country;  // ISO 3166-1 alpha-2, upper case: "CN"
  std::string region;   // province or state; optional
  std::string city;
  std::string line1;
  std::string line2;        // optional
  std::string postal_code;  // optional
};

struct Contact {
  std::string name;
  std::string phone;  // a phone number or an e-mail address, or both
  std::string email;
};

struct MerchantApplication {
  MerchantType type = MerchantType::kIndividual;
  std::string legal_name;
  IdDocument id_document;
  // Unified Social Credit Code (GB 32100-2015) of the business licence: required for companies,
  // optional for individuals (checked when given).
  std::string business_licence;
  SettlementAccount settlement_account;
  std::string mcc;  // ISO 18245, four digits
  Address address;
  Contact contact;
};

// Every problem with `app`, in field order; empty when valid. `today` bounds the birth date
// embedded in a PRC resident ID number.
[[nodiscard]] std::vector<FieldError> Validate(const MerchantApplication& app,
                                               std::chrono::sys_days today);

// Names compared the way a bank's account-holder check does: ASCII letters folded to lower
// case, leading and trailing white space dropped, inner runs of white space (ASCII, U+00A0,
// U+3000 ideographic space) made one space.
[[nodiscard]] std::string NormalizeName(std::string_view name);

// The check-digit schemes. Each returns nullopt when valid, else the problem for `field`.

// PRC resident ID number (GB 11643-1999): 18 characters, 17 digits and a check character (digit
// or X, lower-case x accepted) by ISO 7064 MOD 11-2; the first two digits a province-level
// region; digits 7-14 a birth date from 1900 up to `today`.
[[nodiscard]] std::optional<FieldError> CheckPrcResidentId(std::string_view number,
                                                           std::string_view field,
                                                           std::chrono::sys_days today);
// Unified Social Credit Code (GB 32100-2015): 18 characters of 0-9 and A-Z without I O S V Z;
// characters 3-8 the registering authority's region (digits); the 18th the check character.
[[nodiscard]] std::optional<FieldError> CheckUscc(std::string_view code, std::string_view field);
// IBAN (ISO 13616-1): country code from the registry (CN has no IBAN), that country's length,
// check digits 02-98, and the whole mod 97 equal to 1 (ISO 7064 MOD 97-10). Spaces are ignored.
[[nodiscard]] std::optional<FieldError> CheckIban(std::string_view iban, std::string_view field);
// A card-style account number: 12 to 19 digits (spaces ignored) passing the Luhn check.
[[nodiscard]] std::optional<FieldError> CheckCardAccount(std::string_view number,
                                                         std::string_view field);

// The bare algorithms. Preconditions: the arguments have the lengths and character sets named.
// ISO 7064 MOD 11-2 check character of 17 digits: '0'..'9' or 'X'.
[[nodiscard]] char Mod11_2CheckCharacter(std::string_view digits17);
// GB 32100-2015 check character of 17 code characters (nullopt if one is outside the alphabet).
[[nodiscard]] std::optional<char> UsccCheckCharacter(std::string_view chars17);
// ISO 13616 IBAN length of a country (nullopt when the country has no IBAN in this table).
[[nodiscard]] std::optional<int> IbanLength(std::string_view country);
// An IBAN (upper case, no spaces) rearranged and reduced mod 97; 1 means valid (-1 when a
// character is not A-Z or 0-9).
[[nodiscard]] int IbanMod97(std::string_view iban);
// The Luhn (ISO/IEC 7812-1 Annex B) check over a string of digits.
[[nodiscard]] bool LuhnValid(std::string_view digits);

}  // namespace sy::server::onboarding
