#include "core/status.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/file.h"

namespace sieve {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument(std::to_string(x) + " is odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  SIEVE_ASSIGN_OR_RETURN(int h, Half(x));
  SIEVE_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(StatusTest, ResultCarriesValueOrError) {
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().ToString(), "InvalidArgument: 3 is odd");
  EXPECT_EQ(r.status().WithContext("quarter").message(), "quarter: 3 is odd");
}

TEST(FileTest, AtomicWriteReplacesAndReadBackMatches) {
  auto dir = std::filesystem::temp_directory_path() / "sieve_core_test";
  std::filesystem::create_directories(dir);
  auto path = dir / "f.txt";
  ASSERT_TRUE(WriteFileAtomic(path, "first").ok());
  ASSERT_TRUE(WriteFileAtomic(path, "second").ok());
  EXPECT_EQ(*ReadFile(path), "second");
  EXPECT_EQ(ReadFile(dir / "missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ReadFile(path, 3).status().code(), StatusCode::kInvalidInput);
  // No temporary files are left behind.
  int entries = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir)) ++entries;
  EXPECT_EQ(entries, 1);
  std::filesystem::remove_all(dir);
}

TEST(HashTest, Sha256KnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace sieve
