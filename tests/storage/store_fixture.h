#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "crypto/pan_protector.h"
#include "storage/store.h"

namespace sy::storage::testing {

// A fresh store in its own temporary directory, removed afterwards; Reopen() simulates a restart.
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() /
           ("sy-store-" + std::to_string(rd()) + "-" + std::to_string(rd()));
    Open();
    auto key = crypto::SecretBytes(32);
    for (std::size_t i = 0; i < key.size(); ++i) {
      key.data()[i] = static_cast<std::uint8_t>(i * 7 + 1);
    }
    pans_ = std::make_unique<crypto::PanProtector>(
        crypto::PanProtector::Create("data-test", key).value());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Open() {
    std::string why;
    auto s = Store::Open({.path = dir_.string()}, &why);
    ASSERT_TRUE(s.has_value()) << why;
    store_ = std::move(*s);
  }
  void Reopen() {
    store_.reset();
    Open();
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<crypto::PanProtector> pans_;
};

}  // namespace sy::storage::testing
