#include "routing/bin_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sy::routing {
namespace {

const std::set<std::string> kRoutes = {"visa-net", "mc-net", "on-us"};

BinEntry Bin(std::string low, std::string high, std::string brand = "visa",
             std::string route = "visa-net", bool on_us = false) {
  return BinEntry{std::move(low), std::move(high), std::move(brand), on_us, std::move(route)};
}

BinEntry Bin(const std::string& bin) { return Bin(bin, bin); }

BinTable BuildOrDie(std::vector<BinEntry> entries) {
  auto table = BinTable::Build(std::move(entries), kRoutes);
  EXPECT_TRUE(table.has_value()) << (table ? "" : table.error().Describe());
  return table ? std::move(*table) : BinTable();
}

// The brand of the entry a PAN routes to, or "none".
std::string BrandOf(const BinTable& table, std::string_view pan) {
  const BinEntry* e = table.Lookup(pan);
  return e == nullptr ? "none" : e->brand;
}

BinTableError BuildError(std::vector<BinEntry> entries) {
  auto table = BinTable::Build(std::move(entries), kRoutes);
  EXPECT_FALSE(table.has_value()) << "table was accepted";
  return table ? BinTableError{} : table.error();
}

// --- validation: every error, with its message ------------------------------------------------

TEST(BinTableBuildTest, RejectsANonDigitInTheLowBound) {
  const BinTableError err = BuildError({Bin("412345"), Bin("41a345", "412399")});
  EXPECT_EQ(err.code, Error::kBinNotDigits);
  EXPECT_EQ(err.entry, 1u);
  EXPECT_EQ(err.Describe(), "BIN entry 1: low bound has a character other than 0-9 at position 3");
  EXPECT_EQ(err.error_code(), make_error_code(Error::kBinNotDigits));
}

TEST(BinTableBuildTest, RejectsANonDigitInTheHighBound) {
  const BinTableError err = BuildError({Bin("412300", "41239 ")});
  EXPECT_EQ(err.code, Error::kBinNotDigits);
  EXPECT_EQ(err.entry, 0u);
  EXPECT_EQ(err.Describe(), "BIN entry 0: high bound has a character other than 0-9 at position 6");
}

TEST(BinTableBuildTest, RejectsAPanInPlaceOfABinWithoutEchoingIt) {
  const BinTableError err = BuildError({Bin("4111111111111111")});
  EXPECT_EQ(err.code, Error::kBadBinLength);
  EXPECT_EQ(err.Describe(), "BIN entry 0: low bound has 16 digits; a BIN has 6 to 11");
  EXPECT_EQ(err.Describe().find("411111"), std::string::npos);
}

TEST(BinTableBuildTest, RejectsAPanWithASpaceWithoutEchoingIt) {
  const BinTableError err = BuildError({Bin("412345", "4111 1111 1111 1111")});
  EXPECT_EQ(err.code, Error::kBinNotDigits);
  EXPECT_EQ(err.Describe(), "BIN entry 0: high bound has a character other than 0-9 at position 5");
  EXPECT_EQ(err.Describe().find("4111"), std::string::npos);
}

TEST(BinTableBuildTest, RejectsBoundsShorterThanSixOrLongerThanElevenDigits) {
  BinTableError err = BuildError({Bin("412345"), Bin("412345", "41234")});
  EXPECT_EQ(err.code, Error::kBadBinLength);
  EXPECT_EQ(err.entry, 1u);
  EXPECT_EQ(err.Describe(), "BIN entry 1: high bound has 5 digits; a BIN has 6 to 11");

  err = BuildError({Bin("412345678901")});
  EXPECT_EQ(err.code, Error::kBadBinLength);
  EXPECT_EQ(err.Describe(), "BIN entry 0: low bound has 12 digits; a BIN has 6 to 11");

  err = BuildError({Bin("", "412345")});
  EXPECT_EQ(err.code, Error::kBadBinLength);
  EXPECT_EQ(err.Describe(), "BIN entry 0: low bound has 0 digits; a BIN has 6 to 11");

  EXPECT_TRUE(BinTable::Build({Bin("412345"), Bin("41234567890")}, kRoutes).has_value());
}

TEST(BinTableBuildTest, RejectsBoundsOfDifferentLengths) {
  const BinTableError err = BuildError({Bin("412345", "4123459")});
  EXPECT_EQ(err.code, Error::kBinLengthMismatch);
  EXPECT_EQ(err.Describe(), "BIN entry 0 (412345-4123459): low bound has 6 digits, high bound 7");
}

TEST(BinTableBuildTest, RejectsALowBoundAboveTheHighBound) {
  const BinTableError err = BuildError({Bin("412345"), Bin("41239900", "41230000")});
  EXPECT_EQ(err.code, Error::kLowAboveHigh);
  EXPECT_EQ(err.entry, 1u);
  EXPECT_EQ(err.Describe(), "BIN entry 1 (41239900-41230000): low bound above high bound");
}

TEST(BinTableBuildTest, RejectsAnEntryWithoutABrand) {
  const BinTableError err = BuildError({Bin("412345", "412345", "")});
  EXPECT_EQ(err.code, Error::kMissingBrand);
  EXPECT_EQ(err.Describe(), "BIN entry 0 (412345): no card brand");
}

TEST(BinTableBuildTest, RejectsARouteThatIsNotConfigured) {
  const BinTableError err =
      BuildError({Bin("412345"), Bin("510000", "559999", "mastercard", "mc-net"),
                  Bin("340000", "349999", "amex", "amex-net")});
  EXPECT_EQ(err.code, Error::kUnknownRoute);
  EXPECT_EQ(err.entry, 2u);
  EXPECT_EQ(err.Describe(),
            "BIN entry 2 (340000-349999): route 'amex-net' is not a configured issuer route");

  EXPECT_EQ(BuildError({Bin("412345", "412345", "visa", "")}).code, Error::kUnknownRoute);
}

TEST(BinTableBuildTest, RejectsPartiallyOverlappingRangesOfTheSameLength) {
  const BinTableError err =
      BuildError({Bin("41234500", "41234599"), Bin("412345"), Bin("41234550", "41234650")});
  EXPECT_EQ(err.code, Error::kOverlappingRanges);
  EXPECT_EQ(err.entry, 2u);
  EXPECT_EQ(err.other, 0u);
  EXPECT_EQ(err.Describe(),
            "BIN entry 2 (41234550-41234650): overlaps entry 0 (41234500-41234599) of the same "
            "length");
}

TEST(BinTableBuildTest, RejectsARangeInsideAnotherOfTheSameLength) {
  const BinTableError err = BuildError({Bin("412350"), Bin("412300", "412399")});
  EXPECT_EQ(err.code, Error::kOverlappingRanges);
  EXPECT_EQ(err.entry, 1u);
  EXPECT_EQ(err.other, 0u);
  EXPECT_EQ(err.Describe(),
            "BIN entry 1 (412300-412399): overlaps entry 0 (412350) of the same length");
}

TEST(BinTableBuildTest, RejectsRangesSharingOnlyAnEndpoint) {
  const BinTableError err = BuildError({Bin("412300", "412350"), Bin("412350", "412399")});
  EXPECT_EQ(err.code, Error::kOverlappingRanges);
  EXPECT_EQ(err.entry, 1u);
}

TEST(BinTableBuildTest, RejectsIdenticalDuplicatesEvenWithDifferentAttributes) {
  BinTableError err = BuildError({Bin("412345"), Bin("510000"), Bin("412345")});
  EXPECT_EQ(err.code, Error::kDuplicateRange);
  EXPECT_EQ(err.entry, 2u);
  EXPECT_EQ(err.other, 0u);
  EXPECT_EQ(err.Describe(), "BIN entry 2 (412345): same range as entry 0");

  err = BuildError({Bin("41234500", "41234599", "visa", "visa-net"),
                    Bin("41234500", "41234599", "mastercard", "mc-net", true)});
  EXPECT_EQ(err.code, Error::kDuplicateRange);
  EXPECT_EQ(err.Describe(), "BIN entry 1 (41234500-41234599): same range as entry 0");
}

TEST(BinTableBuildTest, ReportsTheFirstBadEntryAndPerEntryRulesBeforeOverlaps) {
  // Entries 0 and 1 overlap, but entry 2's unknown route is a per-entry rule checked first;
  // entry 3's bad digits come after it.
  const BinTableError err = BuildError({Bin("412300", "412399"), Bin("412350"),
                                        Bin("510000", "510000", "mc", "nowhere"), Bin("5x0000")});
  EXPECT_EQ(err.code, Error::kUnknownRoute);
  EXPECT_EQ(err.entry, 2u);
}

TEST(BinTableBuildTest, ReportsTheOverlapWhoseLaterEntryComesFirstAcrossLengths) {
  const BinTableError err = BuildError(
      {Bin("41234500", "41234599"), Bin("412300", "412399"), Bin("412310"), Bin("41234599")});
  EXPECT_EQ(err.code, Error::kOverlappingRanges);
  EXPECT_EQ(err.entry, 2u);
  EXPECT_EQ(err.other, 1u);
}

TEST(BinTableBuildTest, AcceptsAdjacentRangesAndNestingOrStraddlingAcrossLengths) {
  auto built = BinTable::Build(
      {
          Bin("412300", "412349", "a"), Bin("412350", "412399", "b"),  // adjacent, same length
          Bin("41230000", "41230099", "c"),  // nested inside a 6-digit range
          Bin("41234990", "41235009", "d"),  // straddles the two 6-digit ranges
          Bin("4123000", "4123999", "e"),    // covers both 6-digit ranges
      },
      kRoutes);
  ASSERT_TRUE(built.has_value()) << built.error().Describe();
  EXPECT_EQ(built->size(), 5u);
}

TEST(BinTableBuildTest, AnEmptyTableBuildsAndRoutesNothing) {
  const BinTable table = BuildOrDie({});
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.Lookup("4123456789012345"), nullptr);
  EXPECT_EQ(BinTable().Lookup("4123456789012345"), nullptr);
}

TEST(BinTableBuildTest, EntriesAreOrderedByLengthThenRange) {
  const BinTable table = BuildOrDie(
      {Bin("41234567"), Bin("510000", "559999"), Bin("412345"), Bin("41234500", "41234566")});
  ASSERT_EQ(table.size(), 4u);
  EXPECT_EQ(RangeText(table.entries()[0]), "412345");
  EXPECT_EQ(RangeText(table.entries()[1]), "510000-559999");
  EXPECT_EQ(RangeText(table.entries()[2]), "41234500-41234566");
  EXPECT_EQ(RangeText(table.entries()[3]), "41234567");
}

// --- lookup ------------------------------------------------------------------------------------

TEST(BinTableLookupTest, AnEightDigitBinInsideASixDigitRangeWins) {
  const BinTable table = BuildOrDie({Bin("412300", "412399", "visa", "visa-net"),
                                     Bin("41234567", "41234567", "visa", "on-us", true)});
  const BinEntry* hit = table.Lookup("4123456700000001");
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->route, "on-us");
  EXPECT_TRUE(hit->on_us);

  hit = table.Lookup("4123456800000000");
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->route, "visa-net");
  EXPECT_FALSE(hit->on_us);
}

TEST(BinTableLookupTest, TheLongestMatchingPrefixWinsThroughSeveralNestedLevels) {
  const BinTable table = BuildOrDie({
      Bin("400000", "499999", "visa", "visa-net"),
      Bin("4123400", "4123499", "visa-7", "visa-net"),
      Bin("412345678", "412345678", "visa-9", "mc-net"),
      Bin("41234567890", "41234567899", "visa-11", "on-us", true),
  });
  auto brand_of = [&table](std::string_view pan) { return BrandOf(table, pan); };
  EXPECT_EQ(brand_of("4999999999999999"), "visa");
  EXPECT_EQ(brand_of("4123399999999999"), "visa");
  EXPECT_EQ(brand_of("4123400000000000"), "visa-7");
  EXPECT_EQ(brand_of("4123456770000000"), "visa-7");
  EXPECT_EQ(brand_of("4123456780000000"), "visa-9");
  EXPECT_EQ(brand_of("4123456789000000"), "visa-11");
  EXPECT_EQ(brand_of("4123456789900000"), "visa-11");
  EXPECT_EQ(brand_of("3999999999999999"), "none");
  EXPECT_EQ(brand_of("5000000000000000"), "none");
}

TEST(BinTableLookupTest, ALongerRangeStraddlingShorterOnesWinsWhereverItCovers) {
  const BinTable table = BuildOrDie(
      {Bin("412345", "412345", "six", "visa-net"), Bin("41234590", "41234610", "eight", "mc-net")});
  EXPECT_EQ(BrandOf(table, "4123458900000000"), "six");
  EXPECT_EQ(BrandOf(table, "4123459000000000"), "eight");
  EXPECT_EQ(BrandOf(table, "4123461000000000"), "eight");
  EXPECT_EQ(BrandOf(table, "4123461100000000"), "none");
}

TEST(BinTableLookupTest, RangeBoundsAreInclusive) {
  const BinTable table = BuildOrDie({Bin("412300", "412399"), Bin("51000000", "51000099")});
  EXPECT_EQ(table.Lookup("4122999999999999"), nullptr);
  EXPECT_NE(table.Lookup("4123000000000000"), nullptr);
  EXPECT_NE(table.Lookup("4123999999999999"), nullptr);
  EXPECT_EQ(table.Lookup("4124000000000000"), nullptr);
  EXPECT_EQ(table.Lookup("5099999999999999"), nullptr);
  EXPECT_NE(table.Lookup("5100000000000000"), nullptr);
  EXPECT_NE(table.Lookup("5100009999999999"), nullptr);
  EXPECT_EQ(table.Lookup("5100010000000000"), nullptr);
}

TEST(BinTableLookupTest, GapsBetweenRangesAndPansOutsideEveryRangeMatchNothing) {
  const BinTable table = BuildOrDie({Bin("412300", "412349"), Bin("412360", "412399")});
  EXPECT_EQ(table.Lookup("0000000000000000"), nullptr);
  EXPECT_EQ(table.Lookup("4123550000000000"), nullptr);
  EXPECT_EQ(table.Lookup("9999999999999999"), nullptr);
}

TEST(BinTableLookupTest, PansShorterThanTwelveOrLongerThanNineteenDigitsMatchNothing) {
  const BinTable table = BuildOrDie({Bin("41234567890"), Bin("412345")});
  EXPECT_EQ(table.Lookup(""), nullptr);
  EXPECT_EQ(table.Lookup("41234"), nullptr);        // shorter than every BIN
  EXPECT_EQ(table.Lookup("412345"), nullptr);       // exactly a BIN, not a PAN
  EXPECT_EQ(table.Lookup("41234567890"), nullptr);  // as long as the 11-digit BIN
  const BinEntry* hit = table.Lookup("412345678901");
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->low, "41234567890");
  ASSERT_NE(table.Lookup("4123456789012345678"), nullptr);
  EXPECT_EQ(table.Lookup("41234567890123456789"), nullptr);
}

TEST(BinTableLookupTest, APanWithAnyNonDigitMatchesNothing) {
  const BinTable table = BuildOrDie({Bin("400000", "499999")});
  ASSERT_NE(table.Lookup("4123456789012345"), nullptr);
  for (std::string_view pan :
       {std::string_view("4123 4567 8901 2345"), std::string_view("412345678901234X"),
        std::string_view("41234567890123\n5"), std::string_view("4123456789012/45"),
        std::string_view("4123456789012:45"), std::string_view("-123456789012345"),
        std::string_view("4123456789012345\0", 17),
        std::string_view("4123456789\xb4"
                         "12345")}) {
    EXPECT_EQ(table.Lookup(pan), nullptr) << "PAN #" << pan.size();
  }
}

// --- property: the index agrees with a linear scan -----------------------------------------

// The specification, literally: among entries whose range holds the PAN's prefix of their
// length, the longest prefix wins, then the narrowest range.
const BinEntry* LinearScan(const std::vector<BinEntry>& entries, std::string_view pan) {
  if (pan.size() < 12 || pan.size() > 19 ||
      !std::all_of(pan.begin(), pan.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return nullptr;
  }
  const BinEntry* best = nullptr;
  for (const BinEntry& e : entries) {
    const std::string_view prefix = pan.substr(0, e.low.size());
    if (prefix < e.low || prefix > e.high) {
      continue;
    }
    if (best == nullptr || e.low.size() > best->low.size() ||
        (e.low.size() == best->low.size() &&
         std::stoull(e.high) - std::stoull(e.low) <
             std::stoull(best->high) - std::stoull(best->low))) {
      best = &e;
    }
  }
  return best;
}

std::string Digits(std::uint64_t value, std::size_t length) {
  std::string s = std::to_string(value);
  return std::string(length - s.size(), '0') + s;
}

std::uint64_t Pow10(std::size_t n) {
  std::uint64_t v = 1;
  while (n-- > 0) {
    v *= 10;
  }
  return v;
}

// Non-overlapping ranges of every length 6..11 inside the 6-digit region 400000..400999 (so
// that random PANs starting 400 hit them at every length), in random order.
std::vector<BinEntry> RandomDisjointTable(std::mt19937_64& rng) {
  std::vector<BinEntry> entries;
  const std::vector<std::string> routes(kRoutes.begin(), kRoutes.end());
  for (std::size_t len = 6; len <= 11; ++len) {
    const std::uint64_t base = 400000 * Pow10(len - 6);
    const std::uint64_t span = 1000 * Pow10(len - 6);
    const std::size_t count = std::uniform_int_distribution<std::size_t>(0, 40)(rng);
    std::set<std::uint64_t> points;
    while (points.size() < 2 * count) {
      points.insert(base + std::uniform_int_distribution<std::uint64_t>(0, span - 1)(rng));
    }
    std::vector<std::uint64_t> p(points.begin(), points.end());
    for (std::size_t i = 0; i + 1 < p.size(); i += 2) {
      const bool single = std::uniform_int_distribution<int>(0, 9)(rng) < 3;
      const std::uint64_t low = p[i];
      const std::uint64_t high = single ? p[i] : p[i + 1];
      const std::size_t r = std::uniform_int_distribution<std::size_t>(0, routes.size() - 1)(rng);
      entries.push_back(Bin(Digits(low, len), Digits(high, len),
                            "b" + std::to_string(entries.size()), routes[r], r == 0));
    }
  }
  std::shuffle(entries.begin(), entries.end(), rng);
  return entries;
}

std::string RandomPan(std::mt19937_64& rng) {
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int roll = pick(0, 99);
  const std::size_t length =
      roll < 5 ? static_cast<std::size_t>(pick(0, 24)) : static_cast<std::size_t>(pick(12, 19));
  std::string pan;
  for (std::size_t i = 0; i < length; ++i) {
    pan += static_cast<char>('0' + pick(0, 9));
  }
  if (roll >= 15 && length >= 3) {
    pan.replace(0, 3, "400");  // most PANs fall in the region the tables cover
  }
  if (roll >= 5 && roll < 10 && !pan.empty()) {
    pan[static_cast<std::size_t>(pick(0, static_cast<int>(pan.size()) - 1))] =
        static_cast<char>(pick(0, 1) == 0 ? pick(0, '0' - 1) : pick('9' + 1, 255));
  }
  return pan;
}

TEST(BinTablePropertyTest, LookupAgreesWithALinearScanOnRandomTablesAndPans) {
  std::size_t hits = 0;
  std::size_t misses = 0;
  std::set<std::size_t> lengths_hit;
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    const std::vector<BinEntry> entries = RandomDisjointTable(rng);
    auto built = BinTable::Build(entries, kRoutes);
    ASSERT_TRUE(built.has_value()) << built.error().Describe();
    const BinTable& table = *built;
    ASSERT_EQ(table.size(), entries.size());
    for (int n = 0; n < 2500; ++n) {
      const std::string pan = RandomPan(rng);
      const BinEntry* want = LinearScan(entries, pan);
      const BinEntry* got = table.Lookup(pan);
      if (want == nullptr) {
        ASSERT_EQ(got, nullptr) << "PAN " << pan << " matched " << RangeText(*got);
        ++misses;
      } else {
        ASSERT_NE(got, nullptr) << "PAN " << pan << " should match " << RangeText(*want);
        ASSERT_EQ(*got, *want) << "PAN " << pan;
        ++hits;
        lengths_hit.insert(got->low.size());
      }
    }
  }
  // The generator must exercise both outcomes and every prefix length, or the test proves little.
  EXPECT_GT(hits, 20000u);
  EXPECT_GT(misses, 20000u);
  EXPECT_EQ(lengths_hit.size(), 6u);
}

bool SameLengthCollision(const BinEntry& a, const BinEntry& b) {
  return a.low.size() == b.low.size() && a.low <= b.high && b.low <= a.high;
}

TEST(BinTablePropertyTest, BuildRefusesExactlyTheTablesWithSameLengthCollisions) {
  std::size_t refused = 0;
  std::size_t accepted = 0;
  for (std::uint64_t seed = 1; seed <= 3000; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    std::vector<BinEntry> entries;
    const int count = std::uniform_int_distribution<int>(1, 8)(rng);
    for (int i = 0; i < count; ++i) {
      const std::size_t len = std::uniform_int_distribution<std::size_t>(6, 8)(rng);
      const std::uint64_t base = 400000 * Pow10(len - 6);
      const std::uint64_t span = 200 * Pow10(len - 6);
      std::uint64_t low = base + std::uniform_int_distribution<std::uint64_t>(0, span - 1)(rng);
      std::uint64_t high = low + std::uniform_int_distribution<std::uint64_t>(0, span / 8)(rng);
      entries.push_back(Bin(Digits(low, len), Digits(high, len)));
    }
    bool collides = false;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      for (std::size_t j = i + 1; j < entries.size(); ++j) {
        collides = collides || SameLengthCollision(entries[i], entries[j]);
      }
    }
    auto built = BinTable::Build(entries, kRoutes);
    ASSERT_EQ(built.has_value(), !collides);
    if (!built) {
      ++refused;
      const BinTableError& err = built.error();
      ASSERT_TRUE(err.code == Error::kOverlappingRanges || err.code == Error::kDuplicateRange);
      ASSERT_LT(err.other, err.entry);
      ASSERT_LT(err.entry, entries.size());
      const BinEntry& a = entries[err.entry];
      const BinEntry& b = entries[err.other];
      EXPECT_TRUE(SameLengthCollision(a, b)) << err.Describe();
      EXPECT_EQ(err.code == Error::kDuplicateRange, a.low == b.low && a.high == b.high)
          << err.Describe();
    } else {
      ++accepted;
    }
  }
  EXPECT_GT(refused, 300u);
  EXPECT_GT(accepted, 300u);
}

// --- diff ----------------------------------------------------------------------------------

TEST(BinTableDiffTest, IdenticalTablesHaveNoDiff) {
  const BinTable a = BuildOrDie({Bin("412345"), Bin("51000000", "51009999", "mc", "mc-net")});
  const BinTable b = BuildOrDie({Bin("51000000", "51009999", "mc", "mc-net"), Bin("412345")});
  EXPECT_TRUE(Diff(a, b).empty());
  EXPECT_TRUE(Diff(BinTable(), BinTable()).empty());
}

TEST(BinTableDiffTest, ListsAddedRemovedAndChangedEntriesInRangeOrder) {
  const BinTable before = BuildOrDie({
      Bin("412345", "412345", "visa", "visa-net"),
      Bin("510000", "519999", "mastercard", "mc-net"),
      Bin("41234567", "41234567", "visa", "on-us", true),
      Bin("520000", "529999", "mastercard", "mc-net"),
  });
  const BinTable after = BuildOrDie({
      Bin("412345", "412345", "visa", "visa-net"),          // unchanged
      Bin("510000", "519999", "maestro", "on-us", true),    // brand, route, on-us
      Bin("41234567", "41234567", "visa", "on-us", false),  // on-us only
      Bin("520000", "525999", "mastercard", "mc-net"),      // range narrowed
      Bin("40000000", "40009999", "visa", "visa-net"),      // new
  });
  const std::vector<std::string> want = {
      "changed 510000-519999: brand mastercard -> maestro, route mc-net -> on-us, on_us no -> yes",
      "added 520000-525999 brand=mastercard on_us=no route=mc-net",
      "removed 520000-529999 brand=mastercard on_us=no route=mc-net",
      "added 40000000-40009999 brand=visa on_us=no route=visa-net",
      "changed 41234567: on_us yes -> no",
  };
  EXPECT_EQ(Diff(before, after), want);
}

TEST(BinTableDiffTest, FromAndToTheEmptyTableEveryEntryIsAddedOrRemoved) {
  const BinTable table =
      BuildOrDie({Bin("412345"), Bin("41234500", "41234599", "visa", "on-us", true)});
  EXPECT_EQ(Diff(BinTable(), table),
            (std::vector<std::string>{"added 412345 brand=visa on_us=no route=visa-net",
                                      "added 41234500-41234599 brand=visa on_us=yes route=on-us"}));
  EXPECT_EQ(
      Diff(table, BinTable()),
      (std::vector<std::string>{"removed 412345 brand=visa on_us=no route=visa-net",
                                "removed 41234500-41234599 brand=visa on_us=yes route=on-us"}));
}

}  // namespace
}  // namespace sy::routing
