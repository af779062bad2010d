#pragma once

// The BIN table: which card brand, issuer route and on-us flag a PAN belongs to, chosen by its
// leading digits. Entries are single BINs or ranges of 6 to 11 digits; the most specific entry
// wins (the longest prefix length that matches; within one length ranges never overlap, so at
// most one entry of each length can match). Built from configuration and validated as a whole;
// swapped at run time through BinRouter (routing/bin_router.h).
//
//   std::vector<BinEntry> entries = {{"400000", "499999", "visa", false, "visa-net"},
//                                    {"41234500", "41234599", "visa", true, "on-us"}};
//   BinTable table = BinTable::Build(std::move(entries), {"visa-net", "on-us"}).value();
//   const BinEntry* hit = table.Lookup("4123450000000001");  // the 8-digit on-us entry
//   const BinEntry* none = table.Lookup("5100000000000000");  // nullptr: answer 92
//   for (const std::string& line : Diff(old_table, table)) log(line);

#include <array>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "routing/error.h"

namespace sy::routing {

// One configured BIN or BIN range. BINs are not card data: they may be logged and printed.
struct BinEntry {
  // PAN prefixes of equal length, 6 to 11 digits; a single BIN has low == high. The range holds
  // every prefix p of that length with low <= p <= high.
  std::string low;
  std::string high;
  std::string brand;   // card brand ("visa", "mastercard", ...); not empty
  bool on_us = false;  // the acquirer is also the issuer
  std::string route;   // the issuer route's name; must be a configured route

  friend bool operator==(const BinEntry&, const BinEntry&) = default;
};

// "41234500-41234599", or "412345" for a single BIN.
[[nodiscard]] std::string RangeText(const BinEntry& entry);

// An immutable, validated BIN table. Thread-safe for concurrent Lookup (nothing mutates it after
// Build). Movable; copying is allowed but not needed on the transaction path.
class BinTable {
 public:
  static constexpr std::size_t kMinBinLength = 6;
  static constexpr std::size_t kMaxBinLength = 11;
  static constexpr std::size_t kMinPanLength = 12;
  static constexpr std::size_t kMaxPanLength = 19;

  // The empty table: every lookup misses.
  BinTable() = default;

  // Validates `entries` against `known_routes` and builds the lookup index. Refuses, naming the
  // first offending entry by its index: a bound that is not 6..11 digits (kBinNotDigits,
  // kBadBinLength), bounds of different lengths (kBinLengthMismatch), low > high (kLowAboveHigh),
  // an empty brand (kMissingBrand), a route not in `known_routes` (kUnknownRoute), and two
  // entries of the same length that overlap (kOverlappingRanges, including one inside the other)
  // or are identical (kDuplicateRange). Entries of different lengths may nest or straddle: the
  // longer one is more specific and wins for the PANs it covers.
  [[nodiscard]] static Result<BinTable> Build(std::vector<BinEntry> entries,
                                              const std::set<std::string>& known_routes);

  // The most specific entry covering `pan`, or nullptr (no route: the switch answers 92). A PAN
  // that is not 12 to 19 digits matches nothing. No allocation; O(log n) per configured prefix
  // length. The pointer is valid as long as this table lives (hold the router's snapshot).
  [[nodiscard]] const BinEntry* Lookup(std::string_view pan) const noexcept;

  // Every entry, ordered by prefix length, then low bound.
  [[nodiscard]] const std::vector<BinEntry>& entries() const noexcept { return entries_; }
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }

 private:
  static constexpr std::size_t kLengths = kMaxBinLength - kMinBinLength + 1;

  // The ranges of one prefix length as numbers, sorted by low bound and disjoint. The low bounds
  // are kept apart from the rest so the binary search walks a dense array.
  struct Index {
    std::vector<std::uint64_t> lows;
    std::vector<std::uint64_t> highs;  // highs[i] ends the range starting at lows[i]
    std::vector<std::size_t> entries;  // entries[i] indexes entries_
  };

  std::vector<BinEntry> entries_;
  std::array<Index, kLengths> index_;  // index_[L - kMinBinLength] for prefix length L
};

// What changed between two tables, one line per entry, ordered by prefix length then range:
//   "added 41234500-41234599 brand=visa on_us=yes route=on-us"
//   "removed 412345 brand=visa on_us=no route=visa-net"
//   "changed 412345: brand visa -> mastercard, route visa-net -> mc-net, on_us no -> yes"
// An entry whose range changed shows as removed plus added. Empty when the tables are the same.
[[nodiscard]] std::vector<std::string> Diff(const BinTable& before, const BinTable& after);

}  // namespace sy::routing
