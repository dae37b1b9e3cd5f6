// tests/store: a test fixture with a fresh DocumentStore in its own temporary folder.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <utility>

#include "store/document_store.h"
#include "support/temp_dir.h"

namespace sieve::testing_support {

// SetUp opens (creates) a DocumentStore at dir_/index; both go away with the test.
class OpenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::DocumentStore::Open(dir_.path() / "index");
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(*opened);
  }

  TempDir dir_;
  std::unique_ptr<store::DocumentStore> store_;
};

}  // namespace sieve::testing_support
