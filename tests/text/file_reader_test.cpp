// Reading what people have: compressed files, types from content, man pages, text titles.
#include "text/file_reader.h"

#include <bzlib.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <lzma.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "support/temp_dir.h"
#include "text/document.h"
#include "text/extract.h"

namespace sieve::text {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using sieve::testing_support::TempDir;

std::string Gzip(const std::string& data) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string Bzip2(const std::string& data) {
  std::string out(data.size() + data.size() / 100 + 1024, '\0');
  unsigned size = static_cast<unsigned>(out.size());
  EXPECT_EQ(BZ2_bzBuffToBuffCompress(out.data(), &size, const_cast<char*>(data.data()),
                                     static_cast<unsigned>(data.size()), 9, 0, 0),
            BZ_OK);
  out.resize(size);
  return out;
}

std::string Xz(const std::string& data) {
  std::string out(lzma_stream_buffer_bound(data.size()), '\0');
  std::size_t pos = 0;
  EXPECT_EQ(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, nullptr,
                                    reinterpret_cast<const std::uint8_t*>(data.data()), data.size(),
                                    reinterpret_cast<std::uint8_t*>(out.data()), &pos, out.size()),
            LZMA_OK);
  out.resize(pos);
  return out;
}

const char* kText = "Release notes\n\nThe frobnicator now supports widgets.\n";

TEST(ReadDocumentBytesTest, DecompressesGzipBzip2AndXzByTheirMagicBytes) {
  TempDir dir;
  for (const auto& [name, bytes] :
       {std::pair<std::string, std::string>{"a.txt.gz", Gzip(kText)},
        {"b.txt.bz2", Bzip2(kText)},
        {"c.txt.xz", Xz(kText)},
        {"mislabelled.txt", Gzip(kText)},  // the bytes decide, not the name
        {"two-members.gz", Gzip("first ") + Gzip("second")}}) {
    auto read = ReadDocumentBytes(dir.Write(name, bytes), 1 << 20);
    ASSERT_TRUE(read.ok()) << name << ": " << read.status().ToString();
    if (name == "two-members.gz") {
      EXPECT_EQ(*read, "first second");
    } else {
      EXPECT_EQ(*read, kText) << name;
    }
  }
}

TEST(ReadDocumentBytesTest, ACompressionBombIsRefusedAtTheUncompressedLimit) {
  TempDir dir;
  const std::string zeros(8 << 20, 'a');  // 8 MiB of one letter: a few KiB compressed
  for (const auto& [name, bytes] : {std::pair<std::string, std::string>{"bomb.gz", Gzip(zeros)},
                                    {"bomb.bz2", Bzip2(zeros)},
                                    {"bomb.xz", Xz(zeros)}}) {
    ASSERT_LT(bytes.size(), 64u * 1024) << name;
    auto read = ReadDocumentBytes(dir.Write(name, bytes), 1 << 20);
    ASSERT_FALSE(read.ok()) << name;
    EXPECT_EQ(read.status().code(), StatusCode::kInvalidInput);
    EXPECT_THAT(read.status().message(), HasSubstr("over the limit")) << name;
    // Through LoadFile the error names the file.
    LoadOptions options;
    options.max_file_bytes = 1 << 20;
    auto loaded = LoadFile(dir.path() / name, options);
    ASSERT_FALSE(loaded.ok());
    EXPECT_THAT(loaded.status().message(), HasSubstr(name));
    EXPECT_THAT(loaded.status().message(), HasSubstr("compression bomb"));
  }
  // Below the limit the same data reads.
  auto small = ReadDocumentBytes(dir.Write("ok.gz", Gzip(zeros)), 16 << 20);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->size(), zeros.size());
}

TEST(ReadDocumentBytesTest, CorruptAndTruncatedCompressedDataFail) {
  TempDir dir;
  std::string gz = Gzip(std::string(10000, 'x') + kText);
  auto truncated = ReadDocumentBytes(dir.Write("cut.gz", gz.substr(0, gz.size() / 2)), 1 << 20);
  ASSERT_FALSE(truncated.ok());
  EXPECT_THAT(truncated.status().message(), HasSubstr("gzip"));
  std::string xz = Xz(kText);
  xz[xz.size() / 2] ^= 0x55;
  EXPECT_FALSE(ReadDocumentBytes(dir.Write("bad.xz", xz), 1 << 20).ok());
}

TEST(TypeDetectorTest, TypeFromContentWhenTheNameDoesNotSay) {
  TempDir dir;
  auto detector = TypeDetector::Create();
  ASSERT_TRUE(detector.ok()) << detector.status().ToString();
  auto type_of = [&](const fs::path& path) {
    auto detection = (*detector)->Detect(path);
    EXPECT_TRUE(detection.ok()) << detection.status().ToString();
    return detection.ok() ? detection->type : std::nullopt;
  };
  EXPECT_EQ(type_of(dir.Write("README", "This package does things.\nSee below.\n")),
            DocumentType::kText);
  EXPECT_EQ(type_of(dir.Write("copyright", "Copyright: 1995 Jean-loup Gailly\nLicense: Zlib\n")),
            DocumentType::kText);
  EXPECT_EQ(type_of(dir.Write("changelog.Debian.gz", Gzip("pkg (1.0-1) unstable\n\n  * New.\n"))),
            DocumentType::kText);
  EXPECT_EQ(type_of(dir.Write("page",
                              "<!DOCTYPE html><html><head><title>T</title></head>"
                              "<body><p>Hello</p></body></html>\n")),
            DocumentType::kHtml);
  EXPECT_EQ(type_of(dir.Write("ls.1.gz", Gzip(".TH LS 1\n.SH NAME\nls \\- list\n"))),
            DocumentType::kMan);
  EXPECT_EQ(type_of(dir.Write("notes.md.gz", Gzip("# Notes\n"))), DocumentType::kMarkdown);
  // A ".1" that is not roff is sniffed like anything else.
  EXPECT_EQ(type_of(dir.Write("data.1", "plain words\n")), DocumentType::kText);

  std::string elf(
      "\x7f"
      "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0\x3e\0",
      20);
  elf += std::string(4000, '\0');
  auto binary = (*detector)->Detect(dir.Write("libfoo.so.1", elf));
  ASSERT_TRUE(binary.ok());
  EXPECT_FALSE(binary->type);
  EXPECT_THAT(binary->not_document, HasSubstr("binary"));
  auto png = (*detector)->Detect(dir.Write(
      "logo", std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16) + std::string(200, '\x01')));
  ASSERT_TRUE(png.ok());
  EXPECT_FALSE(png->type);
  EXPECT_THAT(png->not_document, HasSubstr("image/png"));
  auto empty = (*detector)->Detect(dir.Write("EMPTY", ""));
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->type);
  EXPECT_EQ(empty->not_document, "empty file");
}

TEST(LoadFileTest, TypeOverrideAndTextTitles) {
  TempDir dir;
  // --type: a .txt file read as Markdown.
  LoadOptions as_markdown;
  as_markdown.type = DocumentType::kMarkdown;
  auto md = LoadFile(dir.Write("notes.txt", "# Heading\n\nSome *words*.\n"), as_markdown);
  ASSERT_TRUE(md.ok());
  EXPECT_EQ(md->front().type, DocumentType::kMarkdown);
  EXPECT_EQ(md->front().title, "Heading");
  EXPECT_EQ(md->front().text.find('*'), std::string::npos);

  // A heading-like first line is the title; else the file name.
  auto titled = LoadFile(dir.Write("pkg/README", "Frobnicator for Debian\n\nIt frobs.\n"));
  ASSERT_TRUE(titled.ok());
  EXPECT_EQ(titled->front().title, "Frobnicator for Debian");
  auto centred = LoadFile(dir.Write("GPL", "    GNU GENERAL PUBLIC LICENSE\n  Version 3\n"));
  ASSERT_TRUE(centred.ok());
  EXPECT_EQ(centred->front().title, "GNU GENERAL PUBLIC LICENSE");
  auto untitled =
      LoadFile(dir.Write("zlib1g/copyright", "Format: https://example.org/dep5\nFiles: *\n"));
  ASSERT_TRUE(untitled.ok());
  EXPECT_EQ(untitled->front().title, "zlib1g/copyright");
  auto sentence = LoadFile(dir.Write("notes", "This is a sentence that goes on.\nAnd on.\n"));
  ASSERT_TRUE(sentence.ok());
  EXPECT_EQ(sentence->front().title, "notes");
}

TEST(ManPageTest, NameIsTheTitleAndSectionsAreKept) {
  const std::string page = R"(.\" a comment
.TH GREP 1 2023-01-01 "GNU grep 3.8" "User Commands"
.SH NAME
grep \- print lines that match patterns
.SH SYNOPSIS
.B grep
[\fIOPTION\fP...] \fIPATTERNS\fP [\fIFILE\fP...]
.SH OPTIONS
.SS "Matching Control"
.TP
.BR \-i ", " \-\^\-ignore\-case
Ignore case distinctions in patterns and input data,
so that characters that differ only in case match each other.
.TP
\fB\-v\fR, \fB\-\-invert\-match\fR
Invert the sense of matching.
.SH EXAMPLE
.nf
grep \-i 'hello.*world' menu.h main.c
.fi
.SH "SEE ALSO"
.BR sed (1),
\(lqgrep\(rq is \(em fast.
)";
  ExtractedDocument doc = ExtractMan(page);
  EXPECT_EQ(doc.title, "grep - print lines that match patterns");
  EXPECT_EQ(doc.type, DocumentType::kMan);
  std::vector<std::string> sections;
  for (const auto& s : doc.sections) sections.push_back(s.title);
  EXPECT_THAT(sections, ::testing::ElementsAre("NAME", "SYNOPSIS", "OPTIONS", "Matching Control",
                                               "EXAMPLE", "SEE ALSO"));
  EXPECT_THAT(doc.text, HasSubstr("-i, --ignore-case\nIgnore case distinctions in patterns and "
                                  "input data, so that characters"));
  EXPECT_THAT(doc.text, HasSubstr("-v, --invert-match\nInvert the sense"));
  EXPECT_THAT(doc.text, HasSubstr("grep [OPTION...] PATTERNS [FILE...]"));
  EXPECT_THAT(doc.text, HasSubstr("grep -i 'hello.*world' menu.h main.c\n"));
  EXPECT_THAT(doc.text, HasSubstr("sed(1),"));
  EXPECT_THAT(doc.text, HasSubstr("\"grep\" is \u2014 fast."));
  EXPECT_EQ(doc.text.find("\\f"), std::string::npos);
  EXPECT_EQ(doc.text.find("comment"), std::string::npos);
  for (const auto& s : doc.sections) {
    EXPECT_EQ(doc.text.substr(s.begin, s.title.size()), s.title);
  }
}

TEST(ManPageTest, MdocPagesToo) {
  const std::string page = R"(.Dd $Mdocdate: July 1 2023 $
.Dt SSH 1
.Os
.Sh NAME
.Nm ssh
.Nd OpenSSH remote login client
.Sh SYNOPSIS
.Nm ssh
.Op Fl 46AaCfGgKkMNnqsTtVvXxYy
.Sh DESCRIPTION
.Nm
is a program for logging into a remote machine.
.It Fl 4
Forces
.Nm
to use IPv4 addresses only.
)";
  ExtractedDocument doc = ExtractMan(page);
  EXPECT_EQ(doc.title, "ssh - OpenSSH remote login client");
  EXPECT_THAT(doc.text, HasSubstr("ssh is a program for logging into a remote machine."));
  EXPECT_THAT(doc.text, HasSubstr("[-46AaCfGgKkMNnqsTtVvXxYy]"));
  EXPECT_THAT(doc.text, HasSubstr("-4"));
}

TEST(ManPageTest, AGzippedManPageLoadsWithItsName) {
  TempDir dir;
  auto docs = LoadFile(
      dir.Write("man1/true.1.gz", Gzip(".TH TRUE 1\n.SH NAME\ntrue \\- do nothing, successfully\n"
                                       ".SH DESCRIPTION\nExit with a status code indicating "
                                       "success.\n")));
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  EXPECT_EQ(docs->front().type, DocumentType::kMan);
  EXPECT_EQ(docs->front().title, "true - do nothing, successfully");
  EXPECT_THAT(docs->front().text, HasSubstr("Exit with a status code indicating success."));
}

}  // namespace
}  // namespace sieve::text
