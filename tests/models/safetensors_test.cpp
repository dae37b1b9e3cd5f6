#include "models/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

namespace sieve::models {
namespace {

using ::testing::HasSubstr;

// A safetensors file: 8-byte little-endian length, header, data.
std::string MakeFile(const std::string& header, const std::string& data) {
  std::string bytes(8, '\0');
  std::uint64_t length = header.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return bytes + header + data;
}

std::string Floats(std::initializer_list<float> values) {
  std::string data;
  for (float v : values) data.append(reinterpret_cast<const char*>(&v), sizeof(v));
  return data;
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("sieve_safetensors_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path Write(const std::string& bytes) {
    const auto path = dir_ / "model.safetensors";
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  std::filesystem::path dir_;
};

TEST(ParseSafetensorsHeaderTest, ReadsTensorsAndMetadata) {
  const std::string bytes = MakeFile(
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"BF16","shape":[1,2],"data_offsets":[8,12]}})",
      std::string(12, '\0'));
  auto header = ParseSafetensorsHeader(bytes);
  ASSERT_TRUE(header.ok()) << header.status().ToString();
  EXPECT_EQ(header->metadata.at("format"), "pt");
  ASSERT_EQ(header->tensors.size(), 2u);
  EXPECT_EQ(header->tensors.at("b").dtype, DType::kBF16);
  EXPECT_EQ(header->tensors.at("b").shape, (std::vector<std::size_t>{1, 2}));
  EXPECT_EQ(header->data_offset, bytes.size() - 12);
}

Status ParseError(const std::string& bytes) {
  return ParseSafetensorsHeader(bytes).status();
}

TEST(ParseSafetensorsHeaderTest, RefusesTruncatedAndLyingHeaders) {
  EXPECT_THAT(ParseError("abc").message(), HasSubstr("too short"));
  // Header length says 1000 bytes, file has 10.
  std::string past_eof = MakeFile("{}", "");
  past_eof[0] = static_cast<char>(0xe8);
  past_eof[1] = 0x03;
  EXPECT_THAT(ParseError(past_eof).message(), HasSubstr("past the end"));
  std::string huge(8, '\xff');
  EXPECT_THAT(ParseError(huge).message(), HasSubstr("100 MB"));
  EXPECT_THAT(ParseError(MakeFile("{not json", "")).message(), HasSubstr("not valid JSON"));
  EXPECT_THAT(ParseError(MakeFile("[1,2]", "")).message(), HasSubstr("not an object"));
  EXPECT_EQ(ParseError(MakeFile("{not json", "")).code(), StatusCode::kInvalidInput);
}

TEST(ParseSafetensorsHeaderTest, RefusesBadTensorEntries) {
  auto one = [](const std::string& entry, std::size_t data_bytes) {
    return ParseError(MakeFile("{\"t\":" + entry + "}", std::string(data_bytes, '\0')));
  };
  EXPECT_THAT(one(R"({"dtype":"F32","shape":[4],"data_offsets":[0,16]})", 8).message(),
              HasSubstr("past the end of the data"));
  EXPECT_THAT(one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,16]})", 16).message(),
              HasSubstr("does not match"));
  EXPECT_THAT(one(R"({"dtype":"F12","shape":[4],"data_offsets":[0,16]})", 16).message(),
              HasSubstr("unknown dtype 'F12'"));
  EXPECT_THAT(one(R"({"dtype":"F32","shape":[-4],"data_offsets":[0,16]})", 16).message(),
              HasSubstr("shape"));
  EXPECT_THAT(one(R"({"dtype":"F32","shape":[4],"data_offsets":[16,0]})", 16).message(),
              HasSubstr("begin after end"));
  EXPECT_THAT(one(R"({"dtype":"F32","shape":[4]})", 16).message(), HasSubstr("data_offsets"));
  EXPECT_THAT(one(R"("F32")", 16).message(), HasSubstr("not an object"));
  // Shape product overflowing size_t must not wrap around into a match.
  EXPECT_THAT(
      one(R"({"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]})", 0).message(),
      HasSubstr("does not match"));
}

TEST(ParseSafetensorsHeaderTest, RefusesOverlappingTensorsButAllowsGaps) {
  const std::string overlap = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                              R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  EXPECT_THAT(ParseError(MakeFile(overlap, std::string(12, '\0'))).message(), HasSubstr("overlap"));
  const std::string gap = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                          R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
  EXPECT_TRUE(ParseSafetensorsHeader(MakeFile(gap, std::string(12, '\0'))).ok());
}

TEST_F(SafetensorsTest, ConvertsHalfPrecisionToFloat32) {
  // F16: 1.0 = 0x3c00, -2.5 = 0xc100, smallest subnormal 2^-24 = 0x0001.
  // BF16: 1.0 = 0x3f80, -0.5 = 0xbf00.
  std::string data;
  for (std::uint16_t h : {0x3c00, 0xc100, 0x0001, 0x3f80, 0xbf00}) {
    data.push_back(static_cast<char>(h & 0xff));
    data.push_back(static_cast<char>(h >> 8));
  }
  data += Floats({3.25f});
  const auto path = Write(MakeFile(R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},)"
                                   R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[6,10]},)"
                                   R"("f":{"dtype":"F32","shape":[1,1],"data_offsets":[10,14]}})",
                                   data));
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  auto h = file->ReadFloat32("h", {3});
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ((*h)[0], 1.0f);
  EXPECT_EQ((*h)[1], -2.5f);
  EXPECT_EQ((*h)[2], std::ldexp(1.0f, -24));
  auto b = file->ReadFloat32("b", {2});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)[0], 1.0f);
  EXPECT_EQ((*b)[1], -0.5f);
  auto f = file->ReadFloat32("f", {1, 1});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)[0], 3.25f);
}

TEST_F(SafetensorsTest, ReadErrorsNameTheTensorAndReason) {
  const auto path = Write(MakeFile(R"({"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},)"
                                   R"("w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                                   std::string(16, '\0')));
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  auto ids = file->ReadFloat32("ids", {1});
  EXPECT_EQ(ids.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(ids.status().message(), HasSubstr("'ids' has dtype I64"));
  auto wrong_shape = file->ReadFloat32("w", {3});
  EXPECT_THAT(wrong_shape.status().message(), HasSubstr("shape [2] but the config implies [3]"));
  auto missing = file->ReadFloat32("nope", {1});
  EXPECT_THAT(missing.status().message(), HasSubstr("'nope' is missing"));
}

TEST_F(SafetensorsTest, OpenNamesTheFileOnErrors) {
  auto missing = SafetensorsFile::Open(dir_ / "absent.safetensors");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("absent.safetensors"));
  const auto empty = Write("");
  auto empty_file = SafetensorsFile::Open(empty);
  EXPECT_THAT(empty_file.status().message(), HasSubstr("model.safetensors"));
  EXPECT_THAT(empty_file.status().message(), HasSubstr("too short"));
}

TEST_F(SafetensorsTest, TruncatedRealCheckpointIsRefused) {
  const auto fixture =
      std::filesystem::path(SIEVE_SOURCE_DIR) / "tests/data/models/tiny-bge/model.safetensors";
  std::ifstream in(fixture, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 1000u);
  ASSERT_TRUE(ParseSafetensorsHeader(bytes).ok());
  auto truncated = SafetensorsFile::Open(Write(bytes.substr(0, bytes.size() / 2)));
  EXPECT_EQ(truncated.status().code(), StatusCode::kInvalidInput);
  EXPECT_THAT(truncated.status().message(), HasSubstr("past the end of the data"));
  auto header_cut = SafetensorsFile::Open(Write(bytes.substr(0, 100)));
  EXPECT_THAT(header_cut.status().message(), HasSubstr("runs past the end"));
}

}  // namespace
}  // namespace sieve::models
