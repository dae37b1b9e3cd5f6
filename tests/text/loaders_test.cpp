#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <string>

#include "core/file.h"
#include "test_util.h"
#include "text/document.h"
#include "text/extract.h"
#include "text/normalize.h"

namespace sieve::text {
namespace {

using testing::FixturePath;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;

ExtractedDocument LoadOne(const std::filesystem::path& path) {
  auto docs = LoadFile(path);
  EXPECT_TRUE(docs.ok()) << docs.status().ToString();
  if (!docs.ok() || docs->size() != 1) {
    ADD_FAILURE() << "expected one document from " << path;
    return {};
  }
  return std::move(docs->front());
}

// Every section offset points at its title in the text.
void ExpectSectionsPointAtTitles(const ExtractedDocument& doc) {
  for (const Section& section : doc.sections) {
    ASSERT_LE(section.begin + section.title.size(), doc.text.size()) << section.title;
    EXPECT_EQ(doc.text.substr(section.begin, section.title.size()), section.title);
  }
}

TEST(DetectTypeTest, ByExtension) {
  EXPECT_EQ(DetectType("a/b.TXT"), DocumentType::kText);
  EXPECT_EQ(DetectType("notes.md"), DocumentType::kMarkdown);
  EXPECT_EQ(DetectType("page.htm"), DocumentType::kHtml);
  EXPECT_EQ(DetectType("paper.pdf"), DocumentType::kPdf);
  EXPECT_EQ(DetectType("corpus.jsonl"), DocumentType::kBeir);
  EXPECT_EQ(DetectType("image.png"), std::nullopt);
  EXPECT_STREQ(DocumentTypeName(DocumentType::kBeir), "beir");
}

// ---- plain text ------------------------------------------------------------------------------

TEST(PlainTextTest, RepairsInvalidUtf8CrlfAndNul) {
  const ExtractedDocument doc = LoadOne(FixturePath("latin1_crlf.txt"));
  EXPECT_EQ(doc.text,
            "Caf\xEF\xBF\xBD au lait.\nNa\xEF\xBF\xBDve text with a NUL.\nEnd \xEF\xBF\xBD of "
            "line.\n");
  EXPECT_EQ(doc.invalid_utf8_replaced, 4u);  // e9, ef, and the run ff fe
  EXPECT_EQ(doc.type, DocumentType::kText);
  EXPECT_EQ(doc.key, FixturePath("latin1_crlf.txt").string());
  EXPECT_EQ(doc.source_path, doc.key);
  EXPECT_TRUE(doc.pages.empty());
}

// ---- markdown ---------------------------------------------------------------------------------

TEST(MarkdownTest, ReadableTextWithSections) {
  const ExtractedDocument doc = LoadOne(FixturePath("sample.md"));
  EXPECT_EQ(doc.type, DocumentType::kMarkdown);
  EXPECT_EQ(doc.title, "Wind Tunnel Notes");
  ASSERT_EQ(doc.sections.size(), 3u);
  EXPECT_EQ(doc.sections[0].title, "Wind Tunnel Notes");
  EXPECT_EQ(doc.sections[0].begin, 0u);
  EXPECT_EQ(doc.sections[1].title, "Setup");
  EXPECT_EQ(doc.sections[2].title, "Results");
  ExpectSectionsPointAtTitles(doc);
  // Markup is gone, prose and code stay.
  EXPECT_THAT(doc.text, HasSubstr("Measurements were taken at Mach 2 in the supersonic tunnel. "
                                  "See the report for details."));
  EXPECT_THAT(doc.text, HasSubstr("def lift(cl, q, s):\n    return cl * q * s"));
  EXPECT_THAT(doc.text, HasSubstr("Mach\t2.0"));
  EXPECT_THAT(doc.text, HasSubstr("Raw HTML note & more."));
  EXPECT_THAT(doc.text, HasSubstr("Pressure probes on the upper surface.\n\nSchlieren"));
  for (const char* markup : {"**", "](", "```", "# ", "https://", "<div", "&amp;", "| --"}) {
    EXPECT_THAT(doc.text, Not(HasSubstr(markup))) << markup;
  }
  EXPECT_TRUE(doc.text.ends_with("Dr. Smith agreed!"));
}

TEST(MarkdownTest, InvalidBytesAreCounted) {
  const ExtractedDocument doc = ExtractMarkdown("# T\xE9st\n\nBody \xFF text.\n");
  EXPECT_EQ(doc.invalid_utf8_replaced, 2u);
  EXPECT_TRUE(IsValidUtf8(doc.text));
  ASSERT_EQ(doc.sections.size(), 1u);
  EXPECT_EQ(doc.sections[0].title, "T\xEF\xBF\xBDst");
}

TEST(MarkdownTest, FrontMatterIsDroppedAndGivesTheTitle) {
  const ExtractedDocument doc =
      ExtractMarkdown("---\ntitle: \"Flow Notes\"\ntags: [a, b]\n---\n# Heading\n\nBody.\n");
  EXPECT_EQ(doc.title, "Flow Notes");
  EXPECT_EQ(doc.text, "Heading\n\nBody.");
  // A thematic break followed by prose is not front matter.
  const ExtractedDocument plain = ExtractMarkdown("---\nJust text\n\n---\nMore.\n");
  EXPECT_THAT(plain.text, HasSubstr("More."));
  EXPECT_THAT(plain.text, HasSubstr("Just text"));
}

// ---- HTML -------------------------------------------------------------------------------------

TEST(HtmlTest, VisibleTextSectionsAndTitle) {
  const ExtractedDocument doc = LoadOne(FixturePath("sample.html"));
  EXPECT_EQ(doc.type, DocumentType::kHtml);
  EXPECT_EQ(doc.title, "Boundary Layer & Heat");
  ASSERT_EQ(doc.sections.size(), 2u);
  EXPECT_EQ(doc.sections[0].title, "Boundary Layers");
  EXPECT_EQ(doc.sections[1].title, "Heat & Mass Transfer");
  ExpectSectionsPointAtTitles(doc);
  EXPECT_THAT(doc.text,
              HasSubstr("The boundary layer is thin near the leading edge.\nA second line"));
  EXPECT_THAT(doc.text, HasSubstr("Heat flux < 5 kW \xE2\x80\x94 measured."));
  EXPECT_THAT(doc.text, HasSubstr("alpha\t0.5\n\nbeta\t1.5"));
  EXPECT_THAT(doc.text, HasSubstr("x = 1\n  y = 2"));
  EXPECT_THAT(doc.text, HasSubstr("First item\n\nSecond item"));
  for (const char* hidden : {"color: red", "script text", "Home", "About", "Enable JavaScript",
                             "template text", "Boundary Layer & Heat", "<p>", "&amp;"}) {
    EXPECT_THAT(doc.text, Not(HasSubstr(hidden))) << hidden;
  }
}

TEST(HtmlTest, TitleFallsBackToFirstH1AndDeepNestingIsSafe) {
  const ExtractedDocument doc = ExtractHtml("<body><h2>Minor</h2><h1>Main</h1><p>x</p></body>");
  EXPECT_EQ(doc.title, "Main");
  EXPECT_EQ(ExtractHtml("<p>One.&nbsp; Two&nbsp;&nbsp;three.</p>").text, "One. Two three.");
  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += "<div>";
  deep += "deep text";
  const ExtractedDocument nested = ExtractHtml(deep);
  EXPECT_EQ(nested.text, "deep text");
}

TEST(HtmlTest, DeclaredLatin1IsDecoded) {
  const ExtractedDocument latin1 = ExtractHtml(
      "<html><head><meta charset=\"ISO-8859-1\"></head><body>Caf\xE9 \x93quoted\x94</body>");
  EXPECT_EQ(latin1.text, "Caf\xC3\xA9 \xE2\x80\x9Cquoted\xE2\x80\x9D");
  EXPECT_EQ(latin1.invalid_utf8_replaced, 0u);
  // Undeclared: read as UTF-8, the bad byte replaced and counted.
  const ExtractedDocument undeclared = ExtractHtml("<p>Caf\xE9</p>");
  EXPECT_EQ(undeclared.text, "Caf\xEF\xBF\xBD");
  EXPECT_EQ(undeclared.invalid_utf8_replaced, 1u);
  // Declared Latin-1 but really UTF-8 (a common lie): the valid UTF-8 wins.
  EXPECT_EQ(ExtractHtml("<meta charset=latin1><p>Caf\xC3\xA9</p>").text, "Caf\xC3\xA9");
}

// ---- PDF --------------------------------------------------------------------------------------

TEST(PdfTest, TwoPagesWithPageStarts) {
  const ExtractedDocument doc = LoadOne(FixturePath("two_pages.pdf"));
  EXPECT_EQ(doc.type, DocumentType::kPdf);
  EXPECT_EQ(doc.title, "Sieve Test Document");
  ASSERT_EQ(doc.pages.size(), 2u);
  EXPECT_EQ(doc.pages[0].page, 1);
  EXPECT_EQ(doc.pages[0].begin, 0u);
  EXPECT_EQ(doc.pages[1].page, 2);
  EXPECT_TRUE(doc.text.starts_with("Page one talks about wind tunnels."));
  EXPECT_EQ(doc.text.substr(doc.pages[1].begin, 30), "Page two covers heat transfer.");
  EXPECT_THAT(doc.text.substr(0, doc.pages[1].begin), HasSubstr("measured at Mach 2."));
  EXPECT_THAT(doc.text, HasSubstr("Results agree with theory."));
}

TEST(PdfTest, EncryptedIsRefusedClearly) {
  auto docs = LoadFile(FixturePath("encrypted.pdf"));
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(docs.status().message(), HasSubstr("encrypted.pdf: encrypted PDF"));
}

TEST(PdfTest, LigaturesAreSpelledOut) {
  const ExtractedDocument doc = LoadOne(FixturePath("ligature.pdf"));
  EXPECT_EQ(doc.text, "The final figure shows the first result.");
}

TEST(PdfTest, OwnerPasswordOnlyStillLoads) {
  // Encrypted, but the empty user password opens it (a permissions-only PDF).
  const ExtractedDocument doc = LoadOne(FixturePath("owner_only.pdf"));
  EXPECT_EQ(doc.pages.size(), 2u);
  EXPECT_TRUE(doc.text.starts_with("Page one talks about wind tunnels."));
}

TEST(PdfTest, CorruptIsRefusedQuietly) {
  ::testing::internal::CaptureStderr();
  auto docs = LoadFile(FixturePath("corrupt.pdf"));
  const std::string noise = ::testing::internal::GetCapturedStderr();
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), StatusCode::kInvalidInput);
  EXPECT_THAT(docs.status().message(), HasSubstr("corrupt.pdf: corrupt PDF"));
  EXPECT_EQ(noise, "") << "poppler must not print to stderr";
}

TEST(PdfTest, NotAPdfAtAll) {
  TempDir dir("not_pdf");
  auto docs = LoadFile(dir.Write("fake.pdf", "just some text, no PDF header"));
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), StatusCode::kInvalidInput);
  EXPECT_THAT(docs.status().message(), HasSubstr("fake.pdf: corrupt PDF"));
}

TEST(PdfTest, TruncatedFilesNeverCrash) {
  const auto full = ReadFile(FixturePath("two_pages.pdf"));
  ASSERT_TRUE(full.ok());
  for (std::size_t size = 0; size < full->size(); size += 37) {
    auto doc = ExtractPdf(std::string_view(*full).substr(0, size));
    if (doc.ok()) {
      EXPECT_TRUE(IsValidUtf8(doc->text));
    } else {
      EXPECT_THAT(doc.status().message(), HasSubstr("PDF")) << size;
    }
  }
}

TEST(PdfTest, NoTextLayerIsEmptyDocument) {
  auto docs = LoadFile(FixturePath("no_text.pdf"));
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), StatusCode::kInvalidInput);
  EXPECT_THAT(docs.status().message(), HasSubstr("no_text.pdf: empty document"));
}

// ---- BEIR -------------------------------------------------------------------------------------

TEST(BeirTest, RecordsBecomeDocuments) {
  auto docs = LoadFile(FixturePath("corpus.jsonl"));
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  ASSERT_EQ(docs->size(), 4u);
  const ExtractedDocument& first = (*docs)[0];
  EXPECT_EQ(first.key, "doc1");
  EXPECT_EQ(first.title, "Supersonic flow");
  EXPECT_EQ(first.text, "Supersonic flow\n\nShock waves form ahead of the body.");
  EXPECT_EQ(first.type, DocumentType::kBeir);
  EXPECT_EQ(first.source_path, FixturePath("corpus.jsonl").string());
  EXPECT_EQ((*docs)[1].key, "doc2");
  EXPECT_EQ((*docs)[1].text, "An untitled record about heat transfer.");
  EXPECT_EQ((*docs)[2].key, "3");  // integer id, after a blank line
  EXPECT_EQ((*docs)[3].key, "empty");
  EXPECT_EQ((*docs)[3].text, "");  // kept: a corpus may judge an empty document
}

TEST(BeirTest, MalformedLineIsNamed) {
  auto docs = LoadFile(FixturePath("bad_corpus.jsonl"));
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), StatusCode::kInvalidInput);
  EXPECT_THAT(docs.status().message(), HasSubstr("bad_corpus.jsonl: line 3: malformed JSON"));
}

TEST(BeirTest, FieldErrorsNameTheLine) {
  struct Case {
    std::string corpus;
    std::string expected;
  };
  const Case cases[] = {
      {"{\"_id\":\"a\",\"text\":\"x\"}\n[1,2]\n", "line 2: not a JSON object"},
      {"{\"title\":\"t\",\"text\":\"x\"}\n", "line 1: missing \"_id\""},
      {"{\"_id\":\"a\",\"text\":\"x\"}\n{\"_id\":\"a\",\"text\":\"y\"}\n",
       "line 2: duplicate _id \"a\" (first on line 1)"},
      {"{\"_id\":\"a\",\"text\":5}\n", "line 1: \"text\" is not a string"},
      {"{\"_id\":\"a\",\"title\":\"t\"}\n", "line 1: missing \"text\""},
      {"{\"_id\":[1],\"text\":\"x\"}\n", "line 1: \"_id\" is not a string or integer"},
  };
  for (const Case& c : cases) {
    auto docs = ExtractBeirCorpus(c.corpus);
    ASSERT_FALSE(docs.ok()) << c.corpus;
    EXPECT_EQ(docs.status().code(), StatusCode::kInvalidInput);
    EXPECT_THAT(docs.status().message(), HasSubstr(c.expected));
  }
}

TEST(BeirTest, CleansTextInsideRecords) {
  auto docs = ExtractBeirCorpus("{\"_id\":\"a\",\"title\":\"T\",\"text\":\"x\\u0000y \xE9\"}\r\n");
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  ASSERT_EQ(docs->size(), 1u);
  EXPECT_EQ((*docs)[0].text, "T\n\nxy \xEF\xBF\xBD");
  EXPECT_EQ((*docs)[0].invalid_utf8_replaced, 1u);
}

TEST(BeirTest, EmptyCorpusIsAnError) {
  TempDir dir("empty_corpus");
  auto docs = LoadFile(dir.Write("corpus.jsonl", "\n\n"));
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), StatusCode::kInvalidInput);
  EXPECT_THAT(docs.status().message(), HasSubstr("corpus.jsonl: empty corpus"));
}

// ---- bad input shared by every format ---------------------------------------------------------

TEST(BadInputTest, MissingFile) {
  auto docs = LoadFile("/nonexistent/dir/report.txt");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(docs.status().message(), HasSubstr("/nonexistent/dir/report.txt"));
}

TEST(BadInputTest, UnknownExtensionAndDirectory) {
  TempDir dir("unknown_ext");
  // The type comes from the content when the name does not give it: a real PNG is not a
  // document, text behind any extension is text.
  auto png = LoadFile(dir.Write(
      "image.png", std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16) + std::string(64, '\x01')));
  ASSERT_FALSE(png.ok());
  EXPECT_EQ(png.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(png.status().message(), HasSubstr("image.png: not a document: binary (image/png)"));
  auto text = LoadFile(dir.Write("notes.png", "plain words after all"));
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->front().type, DocumentType::kText);

  std::filesystem::create_directory(dir.path() / "folder.txt");
  auto folder = LoadFile(dir.path() / "folder.txt");
  ASSERT_FALSE(folder.ok());
  EXPECT_THAT(folder.status().message(), HasSubstr("folder.txt: is a directory"));
}

// Root reads any file, so the permission check runs in a child that drops to "nobody".
TEST(BadInputTest, UnreadableFile) {
  TempDir dir("unreadable");
  const auto file = dir.Write("secret.txt", "classified");
  // The folder (mkdtemp: 0700) open to everyone, so that only the file's own mode denies it.
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  ASSERT_EQ(::chmod(file.c_str(), 0), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(10);
    auto docs = LoadFile(file);
    if (docs.ok()) ::_exit(11);
    if (docs.status().code() != StatusCode::kIoError) ::_exit(12);
    if (docs.status().message().find("secret.txt") == std::string::npos) ::_exit(13);
    if (docs.status().message().find("ermission denied") == std::string::npos) ::_exit(14);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10 setuid failed, 11 loaded, 12 wrong code, "
                                       "13 no file name, 14 no reason";
}

TEST(BadInputTest, BinaryJunkAsText) {
  for (const char* name : {"junk.txt"}) {
    auto docs = LoadFile(FixturePath(name));
    ASSERT_FALSE(docs.ok());
    EXPECT_EQ(docs.status().code(), StatusCode::kInvalidInput);
    EXPECT_THAT(docs.status().message(), HasSubstr("junk.txt: looks binary"));
  }
  TempDir dir("binary");
  auto md = LoadFile(dir.Write("zeros.md", std::string(1000, '\0')));
  ASSERT_FALSE(md.ok());
  EXPECT_THAT(md.status().message(), HasSubstr("zeros.md: looks binary"));
  auto utf16 = LoadFile(dir.Write("wide.txt", std::string("\xFF\xFEh\0i\0", 6)));
  ASSERT_FALSE(utf16.ok());
  EXPECT_EQ(utf16.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(utf16.status().message(), HasSubstr("wide.txt: UTF-16"));
}

TEST(BadInputTest, EmptyDocuments) {
  TempDir dir("empty_docs");
  const std::pair<std::string, std::string> files[] = {
      {"blank.txt", " \n\t\r\n "},
      {"nothing.txt", ""},
      {"rule.md", "---\n\n<!-- a comment -->\n"},
      {"script.html", "<html><head><title>T</title><script>x()</script></head><body> </body>"},
  };
  for (const auto& [name, content] : files) {
    auto docs = LoadFile(dir.Write(name, content));
    ASSERT_FALSE(docs.ok()) << name;
    EXPECT_EQ(docs.status().code(), StatusCode::kInvalidInput) << name;
    EXPECT_THAT(docs.status().message(), HasSubstr(name + ": empty document"));
  }
}

TEST(BadInputTest, OverSizeLimit) {
  TempDir dir("size_limit");
  const auto file = dir.Write("big.txt", std::string(1000, 'a'));
  LoadOptions options;
  options.max_file_bytes = 100;
  auto docs = LoadFile(file, options);
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), StatusCode::kInvalidInput);
  EXPECT_THAT(docs.status().message(), HasSubstr("big.txt"));
  EXPECT_THAT(docs.status().message(), HasSubstr("limit"));
  options.max_file_bytes = 1000;
  EXPECT_TRUE(LoadFile(file, options).ok());
}

}  // namespace
}  // namespace sieve::text

namespace sieve::text {
namespace {

// Random byte damage to the fixtures never crashes an extractor, and what comes out is still
// valid UTF-8 with in-range offsets.
TEST(RobustnessTest, DamagedFixturesStillGiveCleanText) {
  std::mt19937 rng(2024);
  for (const char* name : {"sample.md", "sample.html", "two_pages.pdf", "corpus.jsonl"}) {
    auto original = ReadFile(FixturePath(name));
    ASSERT_TRUE(original.ok()) << name;
    for (int round = 0; round < 60; ++round) {
      std::string bytes = *original;
      for (int flips = 1 + static_cast<int>(rng() % 8); flips > 0; --flips) {
        bytes[rng() % bytes.size()] = static_cast<char>(rng() % 256);
      }
      if (round % 3 == 0) bytes.resize(rng() % bytes.size());
      std::vector<ExtractedDocument> docs;
      const std::string_view type(name);
      if (type.ends_with(".md")) {
        docs.push_back(ExtractMarkdown(bytes));
      } else if (type.ends_with(".html")) {
        docs.push_back(ExtractHtml(bytes));
      } else if (type.ends_with(".pdf")) {
        auto pdf = ExtractPdf(bytes);
        if (pdf.ok()) docs.push_back(std::move(*pdf));
      } else {
        auto records = ExtractBeirCorpus(bytes);
        if (records.ok()) docs = std::move(*records);
      }
      for (const ExtractedDocument& doc : docs) {
        ASSERT_TRUE(IsValidUtf8(doc.text)) << name << " round " << round;
        ASSERT_TRUE(IsValidUtf8(doc.title)) << name << " round " << round;
        for (const Section& s : doc.sections) ASSERT_LE(s.begin, doc.text.size());
        for (const PageStart& p : doc.pages) ASSERT_LE(p.begin, doc.text.size());
      }
    }
  }
}

}  // namespace
}  // namespace sieve::text
