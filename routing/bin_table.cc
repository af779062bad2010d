#include "routing/bin_table.h"

#include <algorithm>
#include <optional>
#include <tuple>
#include <utility>

namespace sy::routing {
namespace {

std::string EntryName(std::size_t index) { return "BIN entry " + std::to_string(index); }

std::string EntryName(std::size_t index, const BinEntry& e) {
  return EntryName(index) + " (" + RangeText(e) + ")";
}

BinTableError Fail(Error code, std::size_t entry, std::string message,
                   std::size_t other = BinTableError::kNoEntry) {
  return BinTableError{code, entry, other, std::move(message)};
}

// Checks that one bound is a 6..11-digit BIN. The bound itself is never echoed: a misplaced PAN
// in the configuration must not reach the log.
std::optional<BinTableError> CheckBound(const std::string& bound, const char* which,
                                        std::size_t index) {
  for (std::size_t i = 0; i < bound.size(); ++i) {
    if (bound[i] < '0' || bound[i] > '9') {
      return Fail(Error::kBinNotDigits, index,
                  EntryName(index) + ": " + which + " bound has a character other than 0-9 at " +
                      "position " + std::to_string(i + 1));
    }
  }
  if (bound.size() < BinTable::kMinBinLength || bound.size() > BinTable::kMaxBinLength) {
    return Fail(Error::kBadBinLength, index,
                EntryName(index) + ": " + which + " bound has " + std::to_string(bound.size()) +
                    " digits; a BIN has 6 to 11");
  }
  return std::nullopt;
}

std::uint64_t ToNumber(const std::string& digits) {
  std::uint64_t v = 0;
  for (char c : digits) {
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

std::optional<BinTableError> CheckEntry(const BinEntry& e, std::size_t index,
                                        const std::set<std::string>& known_routes) {
  if (auto err = CheckBound(e.low, "low", index)) {
    return err;
  }
  if (auto err = CheckBound(e.high, "high", index)) {
    return err;
  }
  if (e.low.size() != e.high.size()) {
    return Fail(Error::kBinLengthMismatch, index,
                EntryName(index, e) + ": low bound has " + std::to_string(e.low.size()) +
                    " digits, high bound " + std::to_string(e.high.size()));
  }
  if (e.low > e.high) {  // equal-length digit strings compare as their numbers do
    return Fail(Error::kLowAboveHigh, index, EntryName(index, e) + ": low bound above high bound");
  }
  if (e.brand.empty()) {
    return Fail(Error::kMissingBrand, index, EntryName(index, e) + ": no card brand");
  }
  if (!known_routes.contains(e.route)) {
    return Fail(Error::kUnknownRoute, index,
                EntryName(index, e) + ": route '" + e.route + "' is not a configured issuer route");
  }
  return std::nullopt;
}

// Canonical order of entries: prefix length, then low, then high.
auto Key(const BinEntry& e) {
  return std::make_tuple(e.low.size(), std::cref(e.low), std::cref(e.high));
}

std::string Attributes(const BinEntry& e) {
  return "brand=" + e.brand + " on_us=" + (e.on_us ? "yes" : "no") + " route=" + e.route;
}

const char* YesNo(bool b) { return b ? "yes" : "no"; }

}  // namespace

std::string RangeText(const BinEntry& entry) {
  return entry.low == entry.high ? entry.low : entry.low + "-" + entry.high;
}

Result<BinTable> BinTable::Build(std::vector<BinEntry> entries,
                                 const std::set<std::string>& known_routes) {
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (auto err = CheckEntry(entries[i], i, known_routes)) {
      return std::move(*err);
    }
  }

  // Same-length collisions. Sorted by (low, high, index), ranges are disjoint exactly when each
  // starts after the previous one ends (which, up to the first collision, has the highest end so
  // far). Each length's first collision names the later of its two entries as the offender; of
  // those, the one earliest in the configuration is reported, so the verdict does not depend on
  // the order lengths are checked in.
  struct Item {
    std::uint64_t low;
    std::uint64_t high;
    std::size_t index;
  };
  std::array<std::vector<Item>, kLengths> by_length;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    by_length[entries[i].low.size() - kMinBinLength].push_back(
        {ToNumber(entries[i].low), ToNumber(entries[i].high), i});
  }
  std::optional<BinTableError> collision;
  for (auto& items : by_length) {
    std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
      return std::tie(a.low, a.high, a.index) < std::tie(b.low, b.high, b.index);
    });
    for (std::size_t k = 1; k < items.size(); ++k) {
      const Item& prev = items[k - 1];
      const Item& cur = items[k];
      if (cur.low > prev.high) {
        continue;
      }
      const std::size_t later = std::max(prev.index, cur.index);
      const std::size_t earlier = std::min(prev.index, cur.index);
      if (collision && collision->entry <= later) {
        break;
      }
      const BinEntry& e = entries[later];
      const BinEntry& o = entries[earlier];
      if (cur.low == prev.low && cur.high == prev.high) {
        collision =
            Fail(Error::kDuplicateRange, later,
                 EntryName(later, e) + ": same range as entry " + std::to_string(earlier), earlier);
      } else {
        collision = Fail(Error::kOverlappingRanges, later,
                         EntryName(later, e) + ": overlaps entry " + std::to_string(earlier) +
                             " (" + RangeText(o) + ") of the same length",
                         earlier);
      }
      break;
    }
  }
  if (collision) {
    return std::move(*collision);
  }

  BinTable table;
  std::sort(entries.begin(), entries.end(),
            [](const BinEntry& a, const BinEntry& b) { return Key(a) < Key(b); });
  for (std::size_t i = 0; i < entries.size(); ++i) {
    Index& index = table.index_[entries[i].low.size() - kMinBinLength];
    index.lows.push_back(ToNumber(entries[i].low));
    index.highs.push_back(ToNumber(entries[i].high));
    index.entries.push_back(i);
  }
  table.entries_ = std::move(entries);
  return table;
}

const BinEntry* BinTable::Lookup(std::string_view pan) const noexcept {
  if (pan.size() < kMinPanLength || pan.size() > kMaxPanLength) {
    return nullptr;
  }
  // prefix[L - kMinBinLength] = the PAN's first L digits as a number.
  std::array<std::uint64_t, kLengths> prefix{};
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < pan.size(); ++i) {
    const unsigned digit = static_cast<unsigned char>(pan[i]) - static_cast<unsigned>('0');
    if (digit > 9) {
      return nullptr;
    }
    if (i < kMaxBinLength) {
      value = value * 10 + digit;
      if (i + 1 >= kMinBinLength) {
        prefix[i + 1 - kMinBinLength] = value;
      }
    }
  }
  for (std::size_t k = kLengths; k-- > 0;) {
    const Index& index = index_[k];
    if (index.lows.empty()) {
      continue;
    }
    const std::uint64_t p = prefix[k];
    // The last range starting at or below p is the only one that can hold it. Branch-free
    // binary search (the comparison becomes a conditional move): random PANs make every
    // branch of a classic one a coin toss.
    const std::uint64_t* base = index.lows.data();
    for (std::size_t n = index.lows.size(); n > 1;) {
      const std::size_t half = n / 2;
      base = base[half] <= p ? base + half : base;
      n -= half;
    }
    if (*base > p) {
      continue;  // p is below every range of this length
    }
    const auto i = static_cast<std::size_t>(base - index.lows.data());
    if (p <= index.highs[i]) {
      return &entries_[index.entries[i]];
    }
  }
  return nullptr;
}

std::vector<std::string> Diff(const BinTable& before, const BinTable& after) {
  std::vector<std::string> lines;
  const std::vector<BinEntry>& a = before.entries();
  const std::vector<BinEntry>& b = after.entries();
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && Key(a[i]) < Key(b[j]))) {
      lines.push_back("removed " + RangeText(a[i]) + " " + Attributes(a[i]));
      ++i;
    } else if (i == a.size() || Key(b[j]) < Key(a[i])) {
      lines.push_back("added " + RangeText(b[j]) + " " + Attributes(b[j]));
      ++j;
    } else {
      const BinEntry& x = a[i];
      const BinEntry& y = b[j];
      std::string changes;
      auto add = [&changes](std::string_view what, std::string_view from, std::string_view to) {
        changes += changes.empty() ? ": " : ", ";
        changes.append(what).append(" ").append(from).append(" -> ").append(to);
      };
      if (x.brand != y.brand) {
        add("brand", x.brand, y.brand);
      }
      if (x.route != y.route) {
        add("route", x.route, y.route);
      }
      if (x.on_us != y.on_us) {
        add("on_us", YesNo(x.on_us), YesNo(y.on_us));
      }
      if (!changes.empty()) {
        lines.push_back("changed " + RangeText(x) + changes);
      }
      ++i;
      ++j;
    }
  }
  return lines;
}

}  // namespace sy::routing
