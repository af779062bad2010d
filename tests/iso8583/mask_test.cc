#include "iso8583/mask.h"

#include <gtest/gtest.h>

namespace sy::iso8583 {
namespace {

TEST(MaskTest, KeepsFirstSixAndLastFourOfAPan) {
  EXPECT_EQ(MaskPan("4761739001010010"), "476173******0010");
  EXPECT_EQ(MaskPan("371449635398431"), "371449*****8431");
  EXPECT_EQ(MaskPan("4761739001010010", 8), "47617390****0010");
  EXPECT_EQ(MaskPan("6011000990139424117"), "601100*********4117");
}

TEST(MaskTest, ShowsLessOfShortPans) {
  EXPECT_EQ(MaskPan("123456789012"), "********9012");
  EXPECT_EQ(MaskPan("1234567"), "*******");
  EXPECT_EQ(MaskPan(""), "");
}

TEST(MaskTest, MasksTrackDataAfterThePan) {
  EXPECT_EQ(MaskTrack("4761739001010010=2812201175892888"), "476173******0010=****************");
  EXPECT_EQ(MaskTrack("B4761739001010010^CARDHOLDER/TEST^2812201"),
            "B476173******0010^***********************");
  EXPECT_EQ(MaskTrack(";4761739001010010=28122011?"), ";476173******0010=*********");
}

TEST(MaskTest, MasksByTheFieldsSensitivity) {
  FieldSpec pin;
  pin.sensitivity = Sensitivity::kPinBlock;
  EXPECT_EQ(MaskValue(pin, "\x01\x02\x03"), "***");
  FieldSpec plain;
  EXPECT_EQ(MaskValue(plain, "TERM0001"), "TERM0001");
}

}  // namespace
}  // namespace sy::iso8583
