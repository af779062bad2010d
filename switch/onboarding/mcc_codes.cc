// The assigned merchant category codes (ISO 18245), as data.
//
// ISO 18245 itself is not freely published; its Maintenance Agency's list reaches acquirers
// through the card networks. This table follows the codes of the public compilation
// github.com/greggles/mcc-codes (mcc_codes.csv), which is drawn from the Visa Merchant Data
// Standards Manual, the Mastercard Quick Reference Booklet and the Citibank MCC list, plus a few
// codes added by the networks since (marked "later additions"). Ranges in the travel and
// entertainment block (3000-3999) are the individually assigned airline, car rental and lodging
// codes of that compilation. Adding a code is one line here and one test.

#include <algorithm>
#include <cstdint>
#include <iterator>

#include "switch/onboarding/mcc.h"

namespace sy::server::onboarding {
namespace {

struct Range {
  std::uint16_t low;
  std::uint16_t high;  // inclusive
};

// Sorted, non-overlapping. Single codes are ranges of one.
// clang-format off
constexpr Range kAssigned[] = {
    // Agricultural services
    {742, 742},  // veterinary services
    {763, 763},  // agricultural co-operatives
    {780, 780},  // horticultural and landscaping services
    // Contracted services
    {1520, 1520}, {1711, 1711}, {1731, 1731}, {1740, 1740}, {1750, 1750}, {1761, 1761},
    {1771, 1771}, {1799, 1799}, {2741, 2741}, {2791, 2791}, {2842, 2842},
    // Travel and entertainment: airlines, car rental agencies, lodging (brand-specific codes)
    {3000, 3299}, {3351, 3441}, {3501, 3790}, {3835, 3835},
    // Transportation services
    {4011, 4011}, {4111, 4112}, {4119, 4119}, {4121, 4121}, {4131, 4131}, {4214, 4215},
    {4225, 4225}, {4411, 4411}, {4457, 4457}, {4468, 4468}, {4511, 4511}, {4582, 4582},
    {4722, 4723}, {4784, 4784}, {4789, 4789},
    // Utility and telecommunication services
    {4812, 4812}, {4814, 4816}, {4821, 4821}, {4829, 4829}, {4899, 4900},
    // Wholesale distributors and manufacturers
    {5013, 5013}, {5021, 5021}, {5039, 5039}, {5044, 5047}, {5051, 5051}, {5065, 5065},
    {5072, 5072}, {5074, 5074}, {5085, 5085}, {5094, 5094}, {5099, 5099}, {5111, 5111},
    {5122, 5122}, {5131, 5131}, {5137, 5137}, {5139, 5139}, {5169, 5169}, {5172, 5172},
    {5192, 5193}, {5198, 5200},
    // Retail outlets
    {5211, 5211}, {5231, 5231}, {5251, 5251}, {5261, 5261}, {5271, 5271}, {5300, 5300},
    {5309, 5311}, {5331, 5331}, {5399, 5399}, {5411, 5411}, {5422, 5422}, {5441, 5441},
    {5451, 5451}, {5462, 5462}, {5499, 5499},
    // Automobiles and vehicles
    {5511, 5511}, {5521, 5521}, {5531, 5533}, {5541, 5542}, {5551, 5551}, {5561, 5561},
    {5571, 5571}, {5592, 5592}, {5598, 5599},
    // Clothing stores
    {5611, 5611}, {5621, 5621}, {5631, 5631}, {5641, 5641}, {5651, 5651}, {5655, 5655},
    {5661, 5661}, {5681, 5681}, {5691, 5691}, {5697, 5699},
    // Miscellaneous stores
    {5712, 5714}, {5718, 5719}, {5722, 5722}, {5732, 5735}, {5811, 5814},
    {5815, 5818},  // later additions: digital goods (media, games, applications, large merchants)
    {5832, 5832}, {5912, 5912}, {5921, 5921}, {5931, 5933}, {5935, 5935}, {5937, 5937},
    {5940, 5950}, {5960, 5973}, {5975, 5978}, {5983, 5983}, {5992, 5999},
    // Service providers: financial institutions, insurance, real estate
    {6010, 6012}, {6051, 6051}, {6211, 6211}, {6300, 6300}, {6381, 6381}, {6399, 6399},
    {6513, 6513},
    {6540, 6540},  // later addition: stored value card purchase and load
    // Personal and business services
    {7011, 7012}, {7032, 7033}, {7210, 7211}, {7216, 7217}, {7221, 7221}, {7230, 7230},
    {7251, 7251}, {7261, 7261}, {7273, 7273}, {7276, 7278}, {7296, 7299}, {7311, 7311},
    {7321, 7321}, {7332, 7333}, {7338, 7339}, {7342, 7342}, {7349, 7349}, {7361, 7361},
    {7372, 7372}, {7375, 7375}, {7379, 7379}, {7392, 7395}, {7399, 7399},
    // Repair services
    {7511, 7513}, {7519, 7519}, {7523, 7523}, {7531, 7531}, {7534, 7535}, {7538, 7538},
    {7542, 7542}, {7549, 7549}, {7622, 7623}, {7629, 7629}, {7631, 7631}, {7641, 7641},
    {7692, 7692}, {7699, 7699},
    {7800, 7802},  // later additions: government lotteries, online gambling, racing (US)
    // Amusement and entertainment
    {7829, 7829}, {7832, 7832}, {7841, 7841}, {7911, 7911}, {7922, 7922}, {7929, 7929},
    {7932, 7933}, {7941, 7941}, {7991, 7999},
    // Professional services and membership organizations
    {8011, 8011}, {8021, 8021}, {8031, 8031}, {8041, 8044}, {8049, 8050}, {8062, 8062},
    {8071, 8071}, {8099, 8099}, {8111, 8111}, {8211, 8211}, {8220, 8220}, {8241, 8241},
    {8244, 8244}, {8249, 8249}, {8299, 8299}, {8351, 8351}, {8398, 8398}, {8641, 8641},
    {8651, 8651}, {8661, 8661}, {8675, 8675}, {8699, 8699}, {8734, 8734}, {8911, 8911},
    {8931, 8931}, {8999, 8999},
    // Government services
    {9211, 9211}, {9222, 9223}, {9311, 9311}, {9399, 9399}, {9402, 9402}, {9405, 9405},
    {9406, 9406},  // later addition: government-owned lotteries (outside the US)
    // Network-reserved codes
    {9700, 9702}, {9950, 9950},
};
// clang-format on

constexpr bool SortedAndDisjoint() {
  for (std::size_t i = 0; i < std::size(kAssigned); ++i) {
    if (kAssigned[i].low > kAssigned[i].high) {
      return false;
    }
    if (i > 0 && kAssigned[i - 1].high >= kAssigned[i].low) {
      return false;
    }
  }
  return true;
}
static_assert(SortedAndDisjoint(), "kAssigned must be sorted and its ranges disjoint");

}  // namespace

bool IsAssignedMcc(std::string_view mcc) noexcept {
  if (mcc.size() != 4) {
    return false;
  }
  unsigned code = 0;
  for (char c : mcc) {
    if (c < '0' || c > '9') {
      return false;
    }
    code = code * 10 + static_cast<unsigned>(c - '0');
  }
  // The first range whose high bound is not below the code.
  const auto* it = std::lower_bound(std::begin(kAssigned), std::end(kAssigned), code,
                                    [](const Range& r, unsigned c) { return r.high < c; });
  return it != std::end(kAssigned) && it->low <= code;
}

}  // namespace sy::server::onboarding
