// Merchant onboarding: validation (every rule and check-digit scheme, with valid and invalid
// samples), the review state machine (every allowed and refused step, stale versions, waiting
// time in business days), and agreements (fees, settlement dates, versions in force).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "switch/business_day.h"
#include "switch/onboarding/agreement.h"
#include "switch/onboarding/agreement_proto.h"
#include "switch/onboarding/application.h"
#include "switch/onboarding/calendar.h"
#include "switch/onboarding/error.h"
#include "switch/onboarding/mcc.h"
#include "switch/onboarding/validation.h"

namespace sy::server::onboarding {
namespace {

using namespace std::chrono;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

sys_days Date(int y, unsigned m, unsigned d) { return sys_days(year{y} / month{m} / day{d}); }

system_clock::time_point At(int y, unsigned m, unsigned d, int hh = 10, int mm = 0) {
  return Date(y, m, d) + hours(hh) + minutes(mm);
}

const sys_days kToday = Date(2026, 11, 27);

std::vector<std::string> Fields(const std::vector<FieldError>& errors) {
  std::vector<std::string> out;
  for (const auto& e : errors) {
    out.push_back(e.field);
  }
  return out;
}

MerchantApplication Individual() {
  MerchantApplication app;
  app.type = MerchantType::kIndividual;
  app.legal_name = "Zhang San";
  app.id_document = {IdDocumentType::kPrcResidentId, "11010519491231002X"};
  app.settlement_account = {.bank = "Bank of China",
                            .account_name = "ZHANG  SAN",
                            .account_number = "6222 0212 3456 7890 128",
                            .scheme = AccountNumberScheme::kCard};
  app.mcc = "5411";
  app.address = {.country = "CN", .region = "Beijing", .city = "Beijing", .line1 = "1 Xidan St"};
  app.contact = {.name = "Zhang San", .phone = "+86 138 0013 8000"};
  return app;
}

MerchantApplication Company() {
  MerchantApplication app;
  app.type = MerchantType::kCompany;
  app.legal_name = "Fuzhou Example Trading Co., Ltd.";
  app.id_document = {IdDocumentType::kPrcResidentId, "440308199901010012"};
  app.business_licence = "91350100M000100Y43";
  app.settlement_account = {.bank = "ICBC Fuzhou",
                            .account_name = "Fuzhou Example Trading Co., Ltd.",
                            .account_number = "1402023009000123456",
                            .scheme = AccountNumberScheme::kDomestic};
  app.mcc = "5311";
  app.address = {.country = "CN", .city = "Fuzhou", .line1 = "88 Wuyi Rd", .postal_code = "350001"};
  app.contact = {.name = "Li Si", .email = "finance@example.com"};
  return app;
}

// --- errors ----------------------------------------------------------------------------------

TEST(OnboardingErrorTest, EveryEnumeratorHasAMessageInTheOnboardingCategory) {
  for (int v = static_cast<int>(kFirstError); v <= static_cast<int>(kLastError); ++v) {
    const auto ec = make_error_code(static_cast<Error>(v));
    EXPECT_STREQ(ec.category().name(), "sy.onboarding");
    EXPECT_THAT(ec.message(), ::testing::Not(HasSubstr("unknown"))) << v;
  }
  EXPECT_THAT(make_error_code(static_cast<Error>(999)).message(), HasSubstr("unknown"));
}

TEST(OnboardingErrorTest, FieldErrorDescribesFieldThenProblem) {
  const FieldError e{Error::kMissing, "legal_name", "is required"};
  EXPECT_EQ(e.Describe(), "legal_name: is required");
  EXPECT_EQ(e.error_code(), make_error_code(Error::kMissing));
}

// --- calendar --------------------------------------------------------------------------------

TEST(CalendarTest, ParsesAndFormatsDates) {
  EXPECT_EQ(ParseDate("20261127"), Date(2026, 11, 27));
  EXPECT_EQ(ParseDate("20240229"), Date(2024, 2, 29));
  EXPECT_EQ(ParseDate("20260229"), std::nullopt);
  EXPECT_EQ(ParseDate("20261301"), std::nullopt);
  EXPECT_EQ(ParseDate("2026112"), std::nullopt);
  EXPECT_EQ(ParseDate("2026-1-27"), std::nullopt);
  EXPECT_EQ(FormatDate(Date(2027, 1, 1)), "20270101");
}

TEST(CalendarTest, WeekendsAndHolidaysAreNotBusinessDaysButWorkingWeekendDaysAre) {
  const HolidayCalendar cal({Date(2026, 10, 1)}, {Date(2026, 10, 10)});
  EXPECT_TRUE(cal.IsBusinessDay(Date(2026, 9, 30)));   // Wednesday
  EXPECT_FALSE(cal.IsBusinessDay(Date(2026, 10, 1)));  // Thursday, a holiday
  EXPECT_FALSE(cal.IsBusinessDay(Date(2026, 10, 3)));  // Saturday
  EXPECT_FALSE(cal.IsBusinessDay(Date(2026, 10, 4)));  // Sunday
  EXPECT_TRUE(cal.IsBusinessDay(Date(2026, 10, 10)));  // a make-up working Saturday
  EXPECT_EQ(cal.NextBusinessDay(Date(2026, 9, 30)), Date(2026, 10, 2));
  EXPECT_EQ(cal.BusinessDaysAfter(Date(2026, 9, 30), Date(2026, 10, 5)), 2);  // Fri 2, Mon 5
  EXPECT_EQ(cal.BusinessDaysAfter(Date(2026, 10, 5), Date(2026, 10, 5)), 0);
  EXPECT_EQ(cal.BusinessDaysAfter(Date(2026, 10, 5), Date(2026, 10, 1)), 0);
}

// --- check-digit schemes ---------------------------------------------------------------------

// GB 11643-1999 / ISO 7064 MOD 11-2.
TEST(PrcResidentIdTest, AcceptsPublishedAndComputedValidNumbers) {
  EXPECT_EQ(Mod11_2CheckCharacter("11010519491231002"), 'X');
  EXPECT_EQ(CheckPrcResidentId("11010519491231002X", "id", kToday), std::nullopt);
  EXPECT_EQ(CheckPrcResidentId("11010519491231002x", "id", kToday), std::nullopt);
  EXPECT_EQ(CheckPrcResidentId("440308199901010012", "id", kToday), std::nullopt);
  EXPECT_EQ(CheckPrcResidentId("110105200002290013", "id", kToday), std::nullopt);  // leap day
}

TEST(PrcResidentIdTest, RejectsEachBrokenRuleWithItsOwnError) {
  auto code = [](std::string_view id) {
    auto e = CheckPrcResidentId(id, "id_document.number", kToday);
    return e ? e->code : static_cast<Error>(0);
  };
  EXPECT_EQ(code("110105194912310021"), Error::kBadCheckDigit);
  EXPECT_EQ(code("11010519491231002"), Error::kBadFormat);   // 17 characters
  EXPECT_EQ(code("1101051949123100X2"), Error::kBadFormat);  // X not last
  EXPECT_EQ(code("11010519491231002Y"), Error::kBadFormat);
  EXPECT_EQ(code("990105194912310023"), Error::kUnknownCode);  // no province 99
  EXPECT_EQ(code("110105194913320027"), Error::kBadDate);      // month 13, valid check
  EXPECT_EQ(code("110105190002290017"), Error::kBadDate);      // 1900 was not a leap year
  EXPECT_EQ(code("110105210001010015"), Error::kBadDate);      // born in 2100
  const auto e = CheckPrcResidentId("110105194912310021", "id_document.number", kToday);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->field, "id_document.number");
  EXPECT_THAT(e->message, HasSubstr("MOD 11-2"));
  EXPECT_THAT(e->message, ::testing::Not(HasSubstr("110105")));  // never echoes the number
}

// GB 32100-2015, worked example of the standard: 91350100M000100Y4 → 3.
TEST(UsccTest, ComputesTheCheckCharacterOfTheStandardsExample) {
  EXPECT_EQ(UsccCheckCharacter("91350100M000100Y4"), '3');
  EXPECT_EQ(UsccCheckCharacter("91350100I000100Y4"), std::nullopt);  // I is not a code character
  EXPECT_EQ(CheckUscc("91350100M000100Y43", "business_licence"), std::nullopt);
}

TEST(UsccTest, RejectsWrongCheckCharacterAlphabetRegionAndLength) {
  auto code = [](std::string_view c) {
    auto e = CheckUscc(c, "business_licence");
    return e ? e->code : static_cast<Error>(0);
  };
  EXPECT_EQ(code("91350100M000100Y44"), Error::kBadCheckDigit);
  EXPECT_EQ(code("91350100M000100Y4Z"), Error::kBadFormat);  // Z is excluded
  EXPECT_EQ(code("91350100m000100Y43"), Error::kBadFormat);  // lower case
  EXPECT_EQ(code("91A50100M000100Y42"), Error::kBadFormat);  // region must be digits
  EXPECT_EQ(code("91350100M000100Y4"), Error::kBadFormat);
}

// ISO 13616: the registry's example IBANs.
TEST(IbanTest, AcceptsRegistryExamples) {
  for (const char* iban :
       {"GB82WEST12345698765432", "DE89370400440532013000", "FR1420041010050500013M02606",
        "NL91ABNA0417164300", "BE68539007547034", "NO9386011117947",
        "MT84MALT011000012345MTLCAST001S", "CH9300762011623852957", "IT60X0542811101000000123456",
        "ES9121000418450200051332", "AT611904300234573201", "gb82 west 1234 5698 7654 32"}) {
    EXPECT_EQ(CheckIban(iban, "iban"), std::nullopt) << iban;
  }
  EXPECT_EQ(IbanMod97("GB82WEST12345698765432"), 1);
  EXPECT_EQ(IbanLength("DE"), 22);
  EXPECT_EQ(IbanLength("CN"), std::nullopt);
}

TEST(IbanTest, RejectsBadCheckDigitsLengthsAndCountries) {
  auto code = [](std::string_view i) {
    auto e = CheckIban(i, "iban");
    return e ? e->code : static_cast<Error>(0);
  };
  EXPECT_EQ(code("GB82WEST12345698765431"), Error::kBadCheckDigit);  // last digit changed
  EXPECT_EQ(code("GB28WEST12345698765432"), Error::kBadCheckDigit);  // check digits swapped
  EXPECT_EQ(code("GB00WEST12345698765432"), Error::kBadCheckDigit);
  EXPECT_EQ(code("DE8937040044053201300"), Error::kBadFormat);  // 21 characters
  EXPECT_EQ(code("DEXX370400440532013000"), Error::kBadFormat);
  EXPECT_EQ(code("DE89370400440532013-00"), Error::kBadFormat);
  EXPECT_EQ(code("CN12345678901234567890"), Error::kUnsupported);
  EXPECT_EQ(code("XX89370400440532013000"), Error::kUnknownCode);
  EXPECT_EQ(code("1234"), Error::kBadFormat);
}

TEST(LuhnTest, AcceptsValidCardNumbersAndRejectsOthers) {
  EXPECT_TRUE(LuhnValid("79927398713"));
  EXPECT_TRUE(LuhnValid("4111111111111111"));
  EXPECT_FALSE(LuhnValid("79927398710"));
  EXPECT_FALSE(LuhnValid(""));
  EXPECT_EQ(CheckCardAccount("6222021234567890128", "a"), std::nullopt);
  EXPECT_EQ(CheckCardAccount("6222 0212 3456 7890 128", "a"), std::nullopt);
  EXPECT_EQ(CheckCardAccount("6222021234567890123", "a")->code, Error::kBadCheckDigit);
  EXPECT_EQ(CheckCardAccount("79927398713", "a")->code, Error::kBadFormat);  // 11 digits
  EXPECT_EQ(CheckCardAccount("62220212345678901X", "a")->code, Error::kBadFormat);
}

TEST(MccTest, AcceptsAssignedCodesAndRejectsUnassignedOnes) {
  for (const char* mcc :
       {"0742", "1520", "3000", "3299", "3351", "3441", "3501", "4111", "4829", "5411", "5812",
        "5814", "5999", "6011", "7011", "7299", "8999", "9399", "9950"}) {
    EXPECT_TRUE(IsAssignedMcc(mcc)) << mcc;
  }
  for (const char* mcc : {"0000", "9999", "0001", "1000", "3300", "3442", "5410", "6999", "742",
                          "54111", "54a1", ""}) {
    EXPECT_FALSE(IsAssignedMcc(mcc)) << mcc;
  }
}

// --- field validation ------------------------------------------------------------------------

TEST(ValidateTest, AcceptsAValidIndividualAndAValidCompany) {
  EXPECT_THAT(Fields(Validate(Individual(), kToday)), ::testing::IsEmpty());
  EXPECT_THAT(Fields(Validate(Company(), kToday)), ::testing::IsEmpty());
}

TEST(ValidateTest, ReportsEveryMissingFieldOfACompanyAtOnce) {
  MerchantApplication empty;
  empty.type = MerchantType::kCompany;
  EXPECT_THAT(Fields(Validate(empty, kToday)),
              ElementsAre("legal_name", "id_document.number", "business_licence",
                          "settlement_account.bank", "settlement_account.account_name",
                          "settlement_account.account_number", "mcc", "address.country",
                          "address.city", "address.line1", "contact.name", "contact.phone"));
  for (const auto& e : Validate(empty, kToday)) {
    EXPECT_EQ(e.code, Error::kMissing) << e.Describe();
  }
}

TEST(ValidateTest, BusinessLicenceIsOptionalForIndividualsButCheckedWhenGiven) {
  auto app = Individual();
  EXPECT_THAT(Fields(Validate(app, kToday)), ::testing::IsEmpty());
  app.business_licence = "91350100M000100Y43";
  EXPECT_THAT(Fields(Validate(app, kToday)), ::testing::IsEmpty());
  app.business_licence = "91350100M000100Y44";
  EXPECT_THAT(Fields(Validate(app, kToday)), ElementsAre("business_licence"));
}

TEST(ValidateTest, AnIndividualsAccountMustBeInTheApplicantsNameModuloCaseAndSpaces) {
  auto app = Individual();
  app.settlement_account.account_name = "  zhang   SAN ";
  EXPECT_THAT(Fields(Validate(app, kToday)), ::testing::IsEmpty());
  app.settlement_account.account_name = "Li Si";
  const auto errors = Validate(app, kToday);
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_EQ(errors[0].field, "settlement_account.account_name");
  EXPECT_EQ(errors[0].code, Error::kNameMismatch);

  app.legal_name = "张三";
  app.settlement_account.account_name = "\xE3\x80\x80张三\xC2\xA0";  // U+3000 and U+00A0 around
  EXPECT_THAT(Fields(Validate(app, kToday)), ::testing::IsEmpty());
}

TEST(ValidateTest, ACompanysAccountNameIsNotComparedWithItsName) {
  auto app = Company();
  app.settlement_account.account_name = "Example Holdings";
  EXPECT_THAT(Fields(Validate(app, kToday)), ::testing::IsEmpty());
}

TEST(ValidateTest, NormalizesNames) {
  EXPECT_EQ(NormalizeName("  Zhang \t  SAN  "), "zhang san");
  EXPECT_EQ(NormalizeName("\xE3\x80\x80"), "");
  EXPECT_EQ(NormalizeName("李\xE3\x80\x80四"), "李 四");
}

TEST(ValidateTest, ChecksTheAccountNumberByItsScheme) {
  auto app = Company();
  app.settlement_account.scheme = AccountNumberScheme::kIban;
  app.settlement_account.account_number = "DE89 3704 0044 0532 0130 00";
  EXPECT_THAT(Fields(Validate(app, kToday)), ::testing::IsEmpty());
  app.settlement_account.account_number = "DE89 3704 0044 0532 0130 01";
  auto errors = Validate(app, kToday);
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_EQ(errors[0].field, "settlement_account.account_number");
  EXPECT_EQ(errors[0].code, Error::kBadCheckDigit);

  app.settlement_account.scheme = AccountNumberScheme::kDomestic;
  app.settlement_account.account_number = "1402-0230";
  EXPECT_THAT(Fields(Validate(app, kToday)), ElementsAre("settlement_account.account_number"));

  app = Individual();
  app.settlement_account.account_number = "6222021234567890123";
  errors = Validate(app, kToday);
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_EQ(errors[0].code, Error::kBadCheckDigit);
}

TEST(ValidateTest, ChecksIdDocumentsByType) {
  auto app = Individual();
  app.id_document = {IdDocumentType::kPassport, "E12345678"};
  EXPECT_THAT(Fields(Validate(app, kToday)), ::testing::IsEmpty());
  app.id_document = {IdDocumentType::kPassport, "E12-345"};
  EXPECT_THAT(Fields(Validate(app, kToday)), ElementsAre("id_document.number"));
  app.id_document = {IdDocumentType::kOther, "HKID A123456(7)"};
  EXPECT_THAT(Fields(Validate(app, kToday)), ::testing::IsEmpty());
  app.id_document = {IdDocumentType::kPrcResidentId, "110105194912310021"};
  EXPECT_THAT(Fields(Validate(app, kToday)), ElementsAre("id_document.number"));
}

TEST(ValidateTest, ChecksMccAddressAndContactShapes) {
  auto app = Individual();
  app.mcc = "9999";
  app.address.country = "cn";
  app.contact.phone = "call me";
  app.contact.email = "no-at-sign.example.com";
  const auto errors = Validate(app, kToday);
  EXPECT_THAT(Fields(errors),
              ElementsAre("mcc", "address.country", "contact.phone", "contact.email"));
  EXPECT_EQ(errors[0].code, Error::kUnknownCode);
  app = Individual();
  app.mcc = "54a1";
  app.contact = {.name = "Zhang San", .email = "zs@example.cn"};
  EXPECT_THAT(Fields(Validate(app, kToday)), ElementsAre("mcc"));
}

TEST(ValidateTest, RejectsControlCharactersAndOverlongText) {
  auto app = Individual();
  app.address.line1 = "1 Xidan\x01 St";
  app.legal_name = std::string(300, 'a');
  app.settlement_account.account_name = app.legal_name;
  EXPECT_THAT(Fields(Validate(app, kToday)),
              ElementsAre("legal_name", "settlement_account.account_name", "address.line1"));
  app = Individual();
  app.settlement_account.account_name = "Zhang\tSan";  // a tab is a control character
  EXPECT_THAT(Fields(Validate(app, kToday)), ElementsAre("settlement_account.account_name"));
}

// --- review state machine --------------------------------------------------------------------

class ReviewTest : public ::testing::Test {
 protected:
  ManualClock clock_{At(2026, 11, 30, 9)};  // Monday

  Application Submitted() { return Submit("APP-1", Individual(), "merchant:42", clock_).value(); }

  void Step(Application& app, ApplicationState to) {
    const StepRequest r{.expected_version = app.version, .actor = "reviewer:ann", .reason = "ok"};
    ASSERT_TRUE(Transition(app, to, r, clock_)) << StateName(to);
  }

  // An application in `state`, reached by the shortest allowed path.
  Application In(ApplicationState state) {
    using S = ApplicationState;
    Application app = Submitted();
    switch (state) {
      case S::kSubmitted:
        break;
      case S::kInReview:
        Step(app, S::kInReview);
        break;
      case S::kMoreInfoRequested:
        Step(app, S::kInReview);
        Step(app, S::kMoreInfoRequested);
        break;
      case S::kResubmitted:
        Step(app, S::kInReview);
        Step(app, S::kMoreInfoRequested);
        Step(app, S::kResubmitted);
        break;
      case S::kApproved:
      case S::kRejected:
        Step(app, S::kInReview);
        Step(app, state);
        break;
      case S::kWithdrawn:
        Step(app, S::kWithdrawn);
        break;
    }
    EXPECT_EQ(app.state, state);
    return app;
  }
};

TEST_F(ReviewTest, SubmissionValidatesAndRecordsTheFirstStep) {
  const Application app = Submitted();
  EXPECT_EQ(app.state, ApplicationState::kSubmitted);
  EXPECT_EQ(app.version, 1U);
  ASSERT_EQ(app.steps.size(), 1U);
  EXPECT_EQ(app.steps[0].actor, "merchant:42");
  EXPECT_EQ(app.steps[0].at, At(2026, 11, 30, 9));

  auto bad = Individual();
  bad.mcc = "0000";
  bad.legal_name.clear();
  const auto refused = Submit("APP-2", bad, "merchant:42", clock_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Error::kInvalidApplication);
  EXPECT_THAT(Fields(refused.error().fields), ElementsAre("legal_name", "mcc"));
  EXPECT_EQ(Submit("APP-3", Individual(), "", clock_).error().code, Error::kMissing);
}

TEST_F(ReviewTest, AllowsExactlyTheDocumentedTransitions) {
  using S = ApplicationState;
  const std::vector<std::pair<S, S>> allowed = {
      {S::kSubmitted, S::kInReview},          {S::kResubmitted, S::kInReview},
      {S::kInReview, S::kMoreInfoRequested},  {S::kInReview, S::kApproved},
      {S::kInReview, S::kRejected},           {S::kMoreInfoRequested, S::kResubmitted},
      {S::kSubmitted, S::kWithdrawn},         {S::kInReview, S::kWithdrawn},
      {S::kMoreInfoRequested, S::kWithdrawn}, {S::kResubmitted, S::kWithdrawn},
  };
  for (int f = static_cast<int>(kFirstState); f <= static_cast<int>(kLastState); ++f) {
    for (int t = static_cast<int>(kFirstState); t <= static_cast<int>(kLastState); ++t) {
      const S from = static_cast<S>(f);
      const S to = static_cast<S>(t);
      const bool expected =
          std::find(allowed.begin(), allowed.end(), std::pair{from, to}) != allowed.end();
      EXPECT_EQ(TransitionAllowed(from, to), expected)
          << StateName(from) << " -> " << StateName(to);

      Application app = In(from);
      const Application before = app;
      clock_.Advance(hours(1));
      const StepRequest r{
          .expected_version = app.version, .actor = "reviewer:bob", .reason = "because"};
      const auto result = Transition(app, to, r, clock_);
      if (expected) {
        ASSERT_TRUE(result) << result.error().Describe();
        EXPECT_EQ(app.state, to);
        EXPECT_EQ(app.version, before.version + 1);
        ASSERT_EQ(app.steps.size(), before.steps.size() + 1);
        const ReviewStep& step = app.steps.back();
        EXPECT_EQ(step.from, from);
        EXPECT_EQ(step.to, to);
        EXPECT_EQ(step.actor, "reviewer:bob");
        EXPECT_EQ(step.reason, "because");
        EXPECT_EQ(step.at, clock_.Now());
        EXPECT_EQ(step.version, app.version);
      } else {
        ASSERT_FALSE(result) << StateName(from) << " -> " << StateName(to);
        EXPECT_EQ(result.error().code, Error::kTransitionRefused);
        EXPECT_EQ(result.error().from, from);
        EXPECT_EQ(result.error().to, to);
        EXPECT_THAT(result.error().message,
                    HasSubstr(std::string(StateName(from)) + " -> " + std::string(StateName(to))));
        EXPECT_EQ(app.state, before.state);
        EXPECT_EQ(app.version, before.version);
        EXPECT_EQ(app.steps.size(), before.steps.size());
      }
    }
  }
}

TEST_F(ReviewTest, FinalStatesAreFinal) {
  EXPECT_TRUE(IsFinal(ApplicationState::kApproved));
  EXPECT_TRUE(IsFinal(ApplicationState::kRejected));
  EXPECT_TRUE(IsFinal(ApplicationState::kWithdrawn));
  EXPECT_FALSE(IsFinal(ApplicationState::kMoreInfoRequested));
}

TEST_F(ReviewTest, TheSecondOfTwoReviewersHoldsAStaleVersion) {
  Application app = In(ApplicationState::kInReview);
  const std::uint64_t read_by_both = app.version;
  ASSERT_TRUE(Transition(app, ApplicationState::kApproved,
                         {.expected_version = read_by_both, .actor = "reviewer:ann"}, clock_));
  const auto second = Transition(
      app, ApplicationState::kRejected,
      {.expected_version = read_by_both, .actor = "reviewer:bob", .reason = "fraud"}, clock_);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, Error::kStaleVersion);
  EXPECT_THAT(second.error().message, HasSubstr("version " + std::to_string(app.version)));
  EXPECT_EQ(app.state, ApplicationState::kApproved);
  EXPECT_EQ(app.steps.back().actor, "reviewer:ann");
}

TEST_F(ReviewTest, AStaleVersionIsRefusedEvenForAnAllowedStep) {
  Application app = Submitted();
  const auto r = Transition(app, ApplicationState::kInReview,
                            {.expected_version = 7, .actor = "reviewer:ann"}, clock_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Error::kStaleVersion);
  EXPECT_EQ(app.state, ApplicationState::kSubmitted);
}

TEST_F(ReviewTest, RequestsForMoreInfoRejectionsAndWithdrawalsNeedAReason) {
  using S = ApplicationState;
  for (S to : {S::kMoreInfoRequested, S::kRejected, S::kWithdrawn}) {
    Application app = In(S::kInReview);
    const auto r =
        Transition(app, to, {.expected_version = app.version, .actor = "x", .reason = " "}, clock_);
    ASSERT_FALSE(r) << StateName(to);
    EXPECT_EQ(r.error().code, Error::kReasonRequired);
  }
  Application app = In(S::kInReview);
  EXPECT_TRUE(
      Transition(app, S::kApproved, {.expected_version = app.version, .actor = "x"}, clock_));
  app = In(S::kInReview);
  const auto r = Transition(app, S::kApproved, {.expected_version = app.version}, clock_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Error::kMissing);
}

TEST_F(ReviewTest, ResubmitReplacesTheFieldsOnlyWhenTheyValidate) {
  Application app = In(ApplicationState::kMoreInfoRequested);
  auto amended = Individual();
  amended.mcc = "9999";
  auto r =
      Resubmit(app, amended, {.expected_version = app.version, .actor = "merchant:42"}, clock_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Error::kInvalidApplication);
  EXPECT_THAT(Fields(r.error().fields), ElementsAre("mcc"));
  EXPECT_EQ(app.state, ApplicationState::kMoreInfoRequested);
  EXPECT_EQ(app.fields.mcc, "5411");

  amended.mcc = "5812";
  r = Resubmit(app, amended, {.expected_version = app.version, .actor = "merchant:42"}, clock_);
  ASSERT_TRUE(r);
  EXPECT_EQ(app.state, ApplicationState::kResubmitted);
  EXPECT_EQ(app.fields.mcc, "5812");

  // Only from more_info_requested.
  r = Resubmit(app, amended, {.expected_version = app.version, .actor = "merchant:42"}, clock_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Error::kTransitionRefused);
}

// --- waiting time ----------------------------------------------------------------------------

TEST_F(ReviewTest, WaitingCountsBusinessDaysAfterSubmissionSkippingWeekends) {
  clock_.Set(At(2026, 11, 27, 15));  // Friday afternoon
  const Application app = Submitted();
  const HolidayCalendar none;
  EXPECT_EQ(BusinessDaysWaiting(app, At(2026, 11, 27, 23), none), 0);
  EXPECT_EQ(BusinessDaysWaiting(app, At(2026, 11, 29, 12), none), 0);  // Sunday
  EXPECT_EQ(BusinessDaysWaiting(app, At(2026, 11, 30, 9), none), 1);   // Monday
  EXPECT_EQ(BusinessDaysWaiting(app, At(2026, 12, 4, 9), none), 5);    // Friday
}

TEST_F(ReviewTest, WaitingSkipsHolidaysAndCountsMakeUpWorkingDays) {
  // PRC National Day 2026: 1-7 October off, Saturday 10 October worked.
  std::vector<sys_days> off;
  for (unsigned d = 1; d <= 7; ++d) {
    off.push_back(Date(2026, 10, d));
  }
  const HolidayCalendar cal(off, {Date(2026, 10, 10)});
  clock_.Set(At(2026, 9, 28));  // Monday
  const Application app = Submitted();
  EXPECT_EQ(BusinessDaysWaiting(app, At(2026, 10, 7), cal), 2);   // Tue 29, Wed 30 September
  EXPECT_EQ(BusinessDaysWaiting(app, At(2026, 10, 9), cal), 4);   // + Thu 8, Fri 9
  EXPECT_EQ(BusinessDaysWaiting(app, At(2026, 10, 10), cal), 5);  // + the working Saturday
  EXPECT_EQ(BusinessDaysWaiting(app, At(2026, 10, 11), cal), 5);
}

TEST_F(ReviewTest, WaitingStopsWhileTheMerchantOwesMaterialAndAtTheDecision) {
  const HolidayCalendar none;
  clock_.Set(At(2026, 11, 30));  // Monday
  Application app = Submitted();
  clock_.Set(At(2026, 12, 1));
  Step(app, ApplicationState::kInReview);
  clock_.Set(At(2026, 12, 2));
  Step(app, ApplicationState::kMoreInfoRequested);
  EXPECT_EQ(BusinessDaysWaiting(app, At(2026, 12, 4), none), 2);  // 1 and 2 December only
  clock_.Set(At(2026, 12, 7));                                    // Monday
  Step(app, ApplicationState::kResubmitted);
  EXPECT_EQ(BusinessDaysWaiting(app, At(2026, 12, 9), none), 4);  // + 8 and 9 December
  clock_.Set(At(2026, 12, 9, 11));
  Step(app, ApplicationState::kInReview);
  clock_.Set(At(2026, 12, 10));
  Step(app, ApplicationState::kApproved);
  EXPECT_EQ(BusinessDaysWaiting(app, At(2026, 12, 31), none), 5);  // frozen at 10 December
}

TEST_F(ReviewTest, WaitingUsesTheConfiguredUtcOffsetForDates) {
  clock_.Set(At(2026, 11, 27, 17));  // Friday 17:00 UTC = Saturday 01:00 in Beijing
  const Application app = Submitted();
  const HolidayCalendar none;
  const auto now = At(2026, 11, 30, 20);  // Monday 20:00 UTC = Tuesday 04:00 in Beijing
  EXPECT_EQ(BusinessDaysWaiting(app, now, none), 1);
  EXPECT_EQ(BusinessDaysWaiting(app, now, none, hours(8)), 2);
}

TEST_F(ReviewTest, OverdueOnceWaitingExceedsTheTargetAndNeverWhenFinal) {
  const HolidayCalendar none;
  const ReviewTarget target{.business_days = 3};
  clock_.Set(At(2026, 11, 30));  // Monday
  Application app = Submitted();
  EXPECT_FALSE(Overdue(app, At(2026, 12, 3), none, target));  // 3 days: on target
  EXPECT_TRUE(Overdue(app, At(2026, 12, 4), none, target));   // 4 days
  clock_.Set(At(2026, 12, 7));
  Step(app, ApplicationState::kInReview);
  Step(app, ApplicationState::kRejected);
  EXPECT_FALSE(Overdue(app, At(2026, 12, 31), none, target));
}

// --- agreements ------------------------------------------------------------------------------

FeeSchedule Cny() {
  FeeSchedule s;
  s.currency = 156;
  s.rates = {{"unionpay", 6000}, {"visa", 1250}};  // 0.60%, 0.125%
  return s;
}

TEST(FeeTest, RoundsHalfUpAtTheHalfMinorUnit) {
  const FeeSchedule s = Cny();
  // 0.125% = 12.5 bp = 1250 hundredths of a basis point.
  EXPECT_EQ(Fee(10000, "visa", s).value(), 13);  // 12.5 → 13
  EXPECT_EQ(Fee(400, "visa", s).value(), 1);     // 0.5 → 1
  EXPECT_EQ(Fee(399, "visa", s).value(), 0);     // 0.49875 → 0
  EXPECT_EQ(Fee(9960, "visa", s).value(), 12);   // 12.45 → 12
  EXPECT_EQ(Fee(10000, "unionpay", s).value(), 60);
  EXPECT_EQ(Fee(0, "visa", s).value(), 0);
}

TEST(FeeTest, AddsTheFixedFeeThenClampsToMinimumAndMaximum) {
  FeeSchedule s = Cny();
  s.fixed_fee_minor = 30;
  EXPECT_EQ(Fee(10000, "visa", s).value(), 43);
  s.fixed_fee_minor = 0;
  s.min_fee_minor = 50;
  s.max_fee_minor = 2000;
  EXPECT_EQ(Fee(100, "visa", s).value(), 50);                // 0.125 → 0, raised to the minimum
  EXPECT_EQ(Fee(100'000'000, "unionpay", s).value(), 2000);  // 600,000 capped
  EXPECT_EQ(Fee(200'000, "unionpay", s).value(), 1200);      // inside the bounds
}

TEST(FeeTest, IsExactForTheLargestAmounts) {
  FeeSchedule s;
  s.currency = 156;
  s.rates = {{"one-hundredth-bp", 1}, {"all", kRateUnitsPerWhole}};
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();      // 9223372036854775807
  EXPECT_EQ(Fee(kMax, "one-hundredth-bp", s).value(), 9223372036855);  // .775807 rounds up
  EXPECT_EQ(Fee(kMax, "all", s).value(), kMax);
  s.fixed_fee_minor = 1;
  EXPECT_EQ(Fee(kMax, "all", s).error().code, Error::kOverflow);
  s.max_fee_minor = 5000;
  EXPECT_EQ(Fee(kMax, "all", s).value(), 5000);
}

TEST(FeeTest, RefusesUnknownBrandsNegativeAmountsAndBadSchedules) {
  FeeSchedule s = Cny();
  EXPECT_EQ(Fee(100, "jcb", s).error().code, Error::kUnknownBrand);
  EXPECT_EQ(Fee(100, "jcb", s).error().field, "brand");
  EXPECT_EQ(Fee(-1, "visa", s).error().code, Error::kOutOfRange);
  s.rates["visa"] = kRateUnitsPerWhole + 1;
  EXPECT_EQ(Fee(100, "visa", s).error().code, Error::kOutOfRange);
  s = Cny();
  s.min_fee_minor = 10;
  s.max_fee_minor = 5;
  EXPECT_EQ(Fee(100, "visa", s).error().code, Error::kOutOfRange);
}

TEST(SettlementDateTest, SkipsWeekends) {
  const HolidayCalendar none;
  const sys_days friday = Date(2026, 11, 27);
  const sys_days saturday = Date(2026, 11, 28);
  EXPECT_EQ(SettlementDate(friday, 0, none), friday);
  EXPECT_EQ(SettlementDate(friday, 1, none), Date(2026, 11, 30));
  EXPECT_EQ(SettlementDate(friday, 2, none), Date(2026, 12, 1));
  EXPECT_EQ(SettlementDate(saturday, 0, none), Date(2026, 11, 30));
  EXPECT_EQ(SettlementDate(saturday, 1, none), Date(2026, 11, 30));
  EXPECT_EQ(SettlementDate(Date(2026, 11, 30), 1, none), Date(2026, 12, 1));
}

TEST(SettlementDateTest, SkipsHolidaysAndUsesMakeUpWorkingDays) {
  std::vector<sys_days> off;
  for (unsigned d = 1; d <= 7; ++d) {
    off.push_back(Date(2026, 10, d));
  }
  const HolidayCalendar cal(off, {Date(2026, 10, 10)});
  const sys_days wednesday = Date(2026, 9, 30);
  EXPECT_EQ(SettlementDate(wednesday, 1, cal), Date(2026, 10, 8));
  EXPECT_EQ(SettlementDate(wednesday, 2, cal), Date(2026, 10, 9));
  EXPECT_EQ(SettlementDate(wednesday, 3, cal), Date(2026, 10, 10));  // the working Saturday
  EXPECT_EQ(SettlementDate(wednesday, 4, cal), Date(2026, 10, 12));
  EXPECT_EQ(SettlementDate(Date(2026, 10, 1), 0, cal), Date(2026, 10, 8));
  // A holiday on a year boundary.
  const HolidayCalendar new_year({Date(2027, 1, 1)});
  EXPECT_EQ(SettlementDate(Date(2026, 12, 31), 1, new_year), Date(2027, 1, 4));
}

Agreement Version(std::uint32_t v, sys_days from) {
  Agreement a;
  a.merchant_id = "M-1";
  a.version = v;
  a.effective_from = from;
  a.fees = {Cny()};
  a.signed_by = "Zhang San";
  return a;
}

TEST(AgreementTest, TheHighestVersionEffectiveOnTheDateIsInForce) {
  std::vector<Agreement> list = {Version(2, Date(2026, 6, 1)), Version(1, Date(2026, 1, 1))};
  EXPECT_EQ(AgreementInForce(list, Date(2025, 12, 31)), nullptr);
  EXPECT_EQ(AgreementInForce(list, Date(2026, 1, 1))->version, 1U);
  EXPECT_EQ(AgreementInForce(list, Date(2026, 5, 31))->version, 1U);
  EXPECT_EQ(AgreementInForce(list, Date(2026, 6, 1))->version, 2U);
  list.push_back(Version(3, Date(2026, 9, 1)));
  list.back().effective_until = Date(2026, 12, 1);
  EXPECT_EQ(AgreementInForce(list, Date(2026, 11, 30))->version, 3U);
  EXPECT_EQ(AgreementInForce(list, Date(2026, 12, 1)), nullptr);  // terminated: none in force
  EXPECT_EQ(AgreementInForce({}, Date(2026, 12, 1)), nullptr);
}

TEST(AgreementTest, AMerchantRecordTransactsOnlyUnderAnAgreementInForce) {
  proto::MerchantConfig configured;  // onboarded outside the switch: not restricted
  EXPECT_TRUE(MayTransact(configured, "20261127"));
  proto::MerchantConfig m;
  SetAgreementTerms(m, {});  // approved, nothing signed yet
  EXPECT_FALSE(MayTransact(m, "20261127"));
  proto::Agreement v1;
  v1.set_version(1);
  v1.set_effective_from("20261201");
  v1.set_effective_until("20270101");
  proto::Agreement v2;
  v2.set_version(2);
  v2.set_effective_from("20261215");
  SetAgreementTerms(m, {v1, v2});
  EXPECT_TRUE(m.agreement_required());
  EXPECT_FALSE(MayTransact(m, "20261130"));  // before the first
  EXPECT_TRUE(MayTransact(m, "20261201"));
  EXPECT_TRUE(MayTransact(m, "20270201"));  // version 2 superseded 1 and has no end
  v2.set_effective_until("20270115");
  SetAgreementTerms(m, {v1, v2});
  EXPECT_TRUE(MayTransact(m, "20270114"));
  EXPECT_FALSE(MayTransact(m, "20270115"));  // ended: version 1 does not come back
}

TEST(AgreementTest, FindsTheScheduleOfACurrency) {
  const Agreement a = Version(1, Date(2026, 1, 1));
  ASSERT_NE(ScheduleFor(a, 156), nullptr);
  EXPECT_EQ(ScheduleFor(a, 156)->rates.at("visa"), 1250);
  EXPECT_EQ(ScheduleFor(a, 978), nullptr);
}

TEST(AgreementTest, ValidatesEveryField) {
  EXPECT_THAT(Fields(ValidateAgreement(Version(1, Date(2026, 1, 1)))), ::testing::IsEmpty());
  Agreement a = Version(0, Date(2026, 1, 1));
  a.merchant_id.clear();
  a.effective_until = Date(2026, 1, 1);
  a.fees.push_back(Cny());
  a.fees[0].rates["visa"] = 2'000'000;
  a.fees[0].min_fee_minor = 100;
  a.fees[0].max_fee_minor = 10;
  a.fees[0].fixed_fee_minor = -1;
  a.settlement_cycle_days = 31;
  a.deposit = {.amount_minor = 500000, .currency = 0};
  a.signed_by.clear();
  EXPECT_THAT(Fields(ValidateAgreement(a)),
              ElementsAre("merchant_id", "version", "effective_until", "fees[156].rates.visa",
                          "fees[156].fixed_fee_minor", "fees[156].max_fee_minor", "fees[156]",
                          "settlement_cycle_days", "deposit.currency", "signed_by"));
}

}  // namespace
}  // namespace sy::server::onboarding
