#include "switch/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace sy::server {
namespace {

std::string WriteTemp(const std::string& text) {
  std::random_device rd;
  const auto path =
      std::filesystem::temp_directory_path() / ("sy-config-" + std::to_string(rd()) + ".yaml");
  std::ofstream(path) << text;
  return path.string();
}

TEST(ConfigTest, TheEmbeddedDefaultsLoadAndValidate) {
  std::vector<std::string> problems;
  auto c = LoadConfig("", problems);
  ASSERT_TRUE(c.has_value()) << (problems.empty() ? "" : problems[0]);
  EXPECT_EQ(c->mode(), "demo");
  ASSERT_EQ(c->listeners_size(), 2);
  EXPECT_EQ(c->listeners(0).port(), 8583U);
  EXPECT_EQ(c->listeners(0).max_frame(), 4096U);         // filled by ApplyDefaults
  EXPECT_EQ(c->listeners(1).dialect(), "iso87b-pin16");  // AES terminals' 16-byte PIN blocks
  EXPECT_EQ(c->routes(0).dialect(), "iso87a");
  EXPECT_EQ(c->bins(0).high(), c->bins(0).low());
  EXPECT_EQ(c->terminals(0).status(), "provisioned");
  EXPECT_EQ(c->keys().file(), "./data/keys.txt");
}

TEST(ConfigTest, AFileOverridesTheDefaults) {
  const auto path =
      WriteTemp("data_dir: /var/lib/sy\nlisteners: [{port: 9000, framing: ascii4}]\n");
  std::vector<std::string> problems;
  auto c = LoadConfig(path, problems);
  std::filesystem::remove(path);
  ASSERT_TRUE(c.has_value()) << problems[0];
  EXPECT_EQ(c->data_dir(), "/var/lib/sy");
  ASSERT_EQ(c->listeners_size(), 1);
  EXPECT_EQ(c->listeners(0).port(), 9000U);
  EXPECT_EQ(c->listeners(0).tpdu(), "no");
  EXPECT_EQ(c->routes_size(), 2);  // untouched lists keep the defaults
}

TEST(ConfigTest, RejectsUnknownKeysWithTheirPath) {
  const auto path = WriteTemp("listeners: [{port: 9000, colour: red}]\n");
  std::vector<std::string> problems;
  EXPECT_FALSE(LoadConfig(path, problems).has_value());
  std::filesystem::remove(path);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_EQ(problems[0], path + ": listeners[0].colour: unknown key");
}

TEST(ConfigTest, ReportsEveryInconsistencyWithItsPath) {
  const auto path = WriteTemp(R"(
mode: staging
listeners: [{port: 70000, framing: ascii4, tpdu: "yes", dialect: iso2003}]
business_day: {cutover: "25:00"}
bins: [{low: "4761", route: nowhere}]
terminals:
  - {tid: TERM000123, mid: NOBODY, key_scheme: dukpt-tdes, initial_ksn: "FFFF"}
  - {tid: T2, mid: "MERCHANT0000001", key_scheme: magic}
)");
  std::vector<std::string> problems;
  EXPECT_FALSE(LoadConfig(path, problems).has_value());
  std::filesystem::remove(path);
  std::string all;
  for (const auto& p : problems) {
    all += p + "\n";
  }
  for (const char* expected :
       {"mode: 'staging' is not demo or production", "listeners[0].port: 70000 is not a TCP port",
        "listeners[0].tpdu: ascii4 framing carries no TPDU",
        "listeners[0].dialect: dialect 'iso2003' is not shipped",
        "business_day.cutover: '25:00' is not HH:MM",
        "bins[0].low: '4761' is not a BIN of 6 to 11 digits",
        "bins[0].route: 'nowhere' is not a route id",
        "terminals[0].tid: 'TERM000123' is not 1 to 8 characters",
        "terminals[0].mid: 'NOBODY' is not a merchant's mid",
        "terminals[0].bdk_id: missing for a DUKPT terminal",
        "terminals[0].initial_ksn: not 20 hex characters",
        "terminals[1].key_scheme: 'magic' is not dukpt-tdes"}) {
    EXPECT_NE(all.find(expected), std::string::npos) << "missing: " << expected << "\nin:\n" << all;
  }
  EXPECT_EQ(problems[0].rfind(path + ": ", 0), 0U);
}

TEST(ConfigTest, RejectsOverlappingBinRanges) {
  const auto path = WriteTemp(R"(
bins:
  - {low: "400000", high: "450000", brand: visa, route: issuer-a}
  - {low: "449999", high: "499999", brand: visa, route: issuer-a}
)");
  std::vector<std::string> problems;
  EXPECT_FALSE(LoadConfig(path, problems).has_value());
  std::filesystem::remove(path);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_NE(problems[0].find("bins: BIN entry 1 (449999-499999): overlaps entry 0"),
            std::string::npos)
      << problems[0];
}

TEST(ConfigTest, BuildsTheBinTableOfTheDefaults) {
  std::vector<std::string> problems;
  auto c = LoadConfig("", problems);
  ASSERT_TRUE(c.has_value());
  auto table = BuildBinTable(*c);
  ASSERT_TRUE(table.has_value());
  const routing::BinEntry* hit = table->Lookup("4761739001010010");
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->route, "issuer-a");
  EXPECT_EQ(table->Lookup("6011000990139424"), nullptr);
}

}  // namespace
}  // namespace sy::server
