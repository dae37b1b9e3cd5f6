#include "text/normalize.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "test_util.h"
#include "text/document.h"

namespace sieve::text {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(NormalizeTest, KeepsValidUtf8Unchanged) {
  const std::string text =
      "plain ASCII, caf\xC3\xA9, \xE6\xBC\xA2\xE5\xAD\x97, \xF0\x9F\x9A\x80\n\ttab";
  std::size_t replaced = 99;
  EXPECT_EQ(NormalizeText(text, &replaced), text);
  EXPECT_EQ(replaced, 0u);
  EXPECT_TRUE(IsValidUtf8(text));
}

TEST(NormalizeTest, ReplacesEachRunOfInvalidBytesAndCountsBytes) {
  std::size_t replaced = 0;
  // Latin-1 e-acute, then a run of two bad bytes.
  EXPECT_EQ(NormalizeText("caf\xE9 x\xFF\xFEy", &replaced), "caf" + kFffd + " x" + kFffd + "y");
  EXPECT_EQ(replaced, 3u);
}

TEST(NormalizeTest, RejectsOverlongSurrogateAndTruncatedSequences) {
  for (const std::string bad : {"\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80",
                                "\xE2\x82", "\x80", "\xF8\x88\x80\x80\x80"}) {
    std::size_t replaced = 0;
    const std::string out = NormalizeText("a" + bad + "b", &replaced);
    EXPECT_EQ(out, "a" + kFffd + "b") << "input bytes: " << bad.size();
    EXPECT_EQ(replaced, bad.size());
    EXPECT_FALSE(IsValidUtf8(bad));
  }
}

TEST(NormalizeTest, LineEndsAndControls) {
  EXPECT_EQ(NormalizeText("a\r\nb\rc\n"), "a\nb\nc\n");
  EXPECT_EQ(NormalizeText("page1\fpage2\vx"), "page1\npage2\nx");
  EXPECT_EQ(NormalizeText(std::string("n\0u\x01l\x1B[0m\x7F", 10)), "nul[0m");
  EXPECT_EQ(NormalizeText("c1\xC2\x85x"), "c1x");          // U+0085, a C1 control
  EXPECT_EQ(NormalizeText("\xEF\xBB\xBFhello"), "hello");  // byte-order mark
  EXPECT_EQ(NormalizeText("tab\tkept"), "tab\tkept");
  EXPECT_EQ(NormalizeText("aero\xC2\xAD"
                          "dynamics"),
            "aerodynamics");  // soft hyphen
}

TEST(NormalizeTest, ProfileSeesBinary) {
  EXPECT_FALSE(LooksBinary(ProfileBytes("An ordinary sentence.\n")));
  EXPECT_FALSE(LooksBinary(ProfileBytes("Latin-1 caf\xE9 and na\xEFve text is still text.")));
  EXPECT_TRUE(LooksBinary(ProfileBytes(std::string("ab\0\0\0\0cd", 8))));
  const ByteProfile profile = ProfileBytes(std::string("x\0\xFF", 3));
  EXPECT_EQ(profile.total, 3u);
  EXPECT_EQ(profile.control, 1u);
  EXPECT_EQ(profile.invalid_utf8, 1u);
}

// Property: whatever the bytes, the output is valid UTF-8 without NUL or C0 controls other
// than TAB and LF.
TEST(NormalizeTest, RandomBytesAlwaysGiveCleanUtf8) {
  std::mt19937 rng(1234);
  for (int round = 0; round < 2000; ++round) {
    std::string bytes(rng() % 300, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() % 256);
    const std::string out = NormalizeText(bytes);
    ASSERT_TRUE(IsValidUtf8(out)) << "round " << round;
    for (char c : out) {
      const auto u = static_cast<unsigned char>(c);
      ASSERT_TRUE(u >= 0x20 || c == '\t' || c == '\n') << "round " << round;
      ASSERT_NE(u, 0x7F);
    }
  }
}

// The same property through LoadFile on .txt files: random bytes either load as clean UTF-8
// or are refused as binary, never anything else. Mostly-text files with junk sprinkled in load.
TEST(NormalizeTest, RandomBytesThroughLoadFile) {
  testing::TempDir dir("random_bytes");
  std::mt19937 rng(99);
  const std::string words = "the lift of a wing rises with angle of attack ";
  for (int round = 0; round < 200; ++round) {
    std::string bytes;
    const bool mostly_text = round % 2 == 0;
    const std::size_t size = 1 + rng() % 2000;
    for (std::size_t i = 0; i < size; ++i) {
      if (mostly_text && rng() % 50 != 0) {
        bytes.push_back(words[i % words.size()]);
      } else {
        bytes.push_back(static_cast<char>(rng() % 256));
      }
    }
    const auto file = dir.Write("r" + std::to_string(round) + ".txt", bytes);
    auto docs = LoadFile(file);
    if (docs.ok()) {
      ASSERT_EQ(docs->size(), 1u);
      EXPECT_TRUE(IsValidUtf8(docs->front().text)) << "round " << round;
    } else {
      EXPECT_FALSE(mostly_text) << docs.status().ToString();
      EXPECT_EQ(docs.status().code(), StatusCode::kInvalidInput) << docs.status().ToString();
      const std::string& message = docs.status().message();
      EXPECT_TRUE(message.find("looks binary") != std::string::npos ||
                  message.find("empty document") != std::string::npos)
          << message;
    }
  }
}

}  // namespace
}  // namespace sieve::text
