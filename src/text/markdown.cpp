#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "text/extract.h"
#include "text/normalize.h"
#include "text/text_builder.h"

namespace sieve::text {
namespace {

struct ParserDeleter {
  void operator()(cmark_parser* parser) const { cmark_parser_free(parser); }
};
struct NodeDeleter {
  void operator()(cmark_node* node) const { cmark_node_free(node); }
};
struct IterDeleter {
  void operator()(cmark_iter* iter) const { cmark_iter_free(iter); }
};

// The extension registry is process-wide inside libcmark-gfm; fill it exactly once.
void RegisterExtensionsOnce() {
  static std::once_flag once;
  std::call_once(once, [] { cmark_gfm_core_extensions_ensure_registered(); });
}

bool IsBlock(cmark_node* node) {
  return (static_cast<unsigned>(cmark_node_get_type(node)) & CMARK_NODE_TYPE_MASK) ==
         CMARK_NODE_TYPE_BLOCK;
}

std::string_view Literal(cmark_node* node) {
  const char* literal = cmark_node_get_literal(node);
  return literal == nullptr ? std::string_view() : std::string_view(literal);
}

// The trimmed text from byte `begin` to the end (a heading's text, read when it closes).
std::string TextFrom(std::string_view text, std::size_t begin) {
  std::string_view s = text.substr(std::min(begin, text.size()));
  const auto first = s.find_first_not_of(" \t\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\n");
  return std::string(s.substr(first, last - first + 1));
}

// YAML front matter ("---" line, "key: value" lines, "---" or "..." line) at the very start of
// a file, as static-site generators use it. Returns the body after it and the `title:` value.
struct FrontMatter {
  std::string_view body;
  std::string title;
};

FrontMatter SplitFrontMatter(std::string_view text) {
  FrontMatter result{text, {}};
  if (!text.starts_with("---\n")) return result;
  bool has_key = false;
  std::string title;
  std::size_t pos = 4;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    if (line == "---" || line == "...") {
      if (has_key) {
        result.body = text.substr(std::min(end + 1, text.size()));
        result.title = std::move(title);
      }
      return result;
    }
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos && colon > 0 && line.front() != ' ' &&
        line.front() != '#') {
      has_key = true;
      if (line.substr(0, colon) == "title") {
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
            value.back() == value.front()) {
          value = value.substr(1, value.size() - 2);
        }
        title = std::string(value);
      }
    }
    pos = end + 1;
  }
  return result;  // never closed: not front matter
}

// libcmark-gfm's table extension spends time per cell that grows with the column count (the
// header's count is padded into every row): 128 columns by 20,000 one-cell rows (60 KB) take
// 11 s, 20,000 columns by 10 rows 10 s. Above these bounds tables are read as plain text.
constexpr std::size_t kMaxTableColumns = 256;
constexpr std::size_t kMaxTableCells = 200000;

// Cells (columns x rows, header included) of the tables in `text`, estimated from their
// delimiter rows ("|---|:--:|"), and the most columns of one: an upper bound of what the
// table extension will build.
struct TableSize {
  std::size_t cells = 0;
  std::size_t columns = 0;
};
TableSize EstimateTables(std::string_view text) {
  TableSize size;
  std::size_t table_columns = 0;  // of the table being read; 0 outside tables
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    const bool blank = line.find_first_not_of(" \t\r") == std::string_view::npos;
    if (blank) {
      table_columns = 0;
      continue;
    }
    const bool delimiter = line.find('|') != std::string_view::npos &&
                           line.find('-') != std::string_view::npos &&
                           line.find_first_not_of("|:- \t\r") == std::string_view::npos;
    if (delimiter) {
      std::size_t columns = 0;
      bool dash_in_cell = false;
      for (const char c : line) {
        if (c == '-') dash_in_cell = true;
        if (c == '|') {
          columns += dash_in_cell ? 1 : 0;
          dash_in_cell = false;
        }
      }
      columns += dash_in_cell ? 1 : 0;
      table_columns = columns;
      size.columns = std::max(size.columns, columns);
      size.cells += 2 * columns;  // header and delimiter
      continue;
    }
    size.cells += table_columns;  // a row of the open table (padded to its columns)
  }
  return size;
}

}  // namespace

ExtractedDocument ExtractMarkdown(std::string_view bytes) {
  RegisterExtensionsOnce();
  // Clean first so invalid bytes are counted here (cmark would replace them silently).
  std::size_t invalid_in_input = 0;
  std::vector<std::size_t> file_line_starts;  // offsets in `clean` where file lines 2, 3... begin
  const std::string clean = NormalizeText(bytes, &invalid_in_input, &file_line_starts);
  const FrontMatter front_matter = SplitFrontMatter(clean);
  ExtractedDocument doc;
  // cmark numbers the lines of the body; a body line's offset in `clean` gives the file's line
  // (lines differ where a form feed or lone CR became a line break).
  const std::size_t body_offset = static_cast<std::size_t>(front_matter.body.data() - clean.data());
  std::vector<std::size_t> body_lines{0};  // offset in the body where body line n+1 begins
  for (std::size_t p = front_matter.body.find('\n'); p != std::string_view::npos;
       p = front_matter.body.find('\n', p + 1)) {
    body_lines.push_back(p + 1);
  }
  auto file_line = [&](int body_line) -> std::size_t {
    const std::size_t index =
        std::min(static_cast<std::size_t>(std::max(body_line, 1) - 1), body_lines.size() - 1);
    const std::size_t offset = body_offset + body_lines[index];
    return 1 + static_cast<std::size_t>(
                   std::upper_bound(file_line_starts.begin(), file_line_starts.end(), offset) -
                   file_line_starts.begin());
  };
  // The node's first line, or its nearest ancestor's when cmark gave it none.
  auto node_line = [&](cmark_node* node) -> std::size_t {
    for (cmark_node* n = node; n != nullptr; n = cmark_node_parent(n)) {
      if (const int line = cmark_node_get_start_line(n); line > 0) return file_line(line);
    }
    return 0;
  };
  auto mark = [&](TextBuilder& out, cmark_node* node) {
    if (const std::size_t line = node_line(node); line > 0) out.MarkLine(line, doc.lines);
  };
  const TableSize tables = EstimateTables(front_matter.body);
  const bool read_tables = tables.columns <= kMaxTableColumns && tables.cells <= kMaxTableCells;
  if (!read_tables) {
    doc.notes.push_back("tables too large (" + std::to_string(tables.cells) + " cells, " +
                        std::to_string(tables.columns) + " columns; limits " +
                        std::to_string(kMaxTableCells) + " and " +
                        std::to_string(kMaxTableColumns) + "): read as plain text");
  }
  std::unique_ptr<cmark_parser, ParserDeleter> parser(cmark_parser_new(CMARK_OPT_DEFAULT));
  for (const char* name : {"table", "strikethrough", "autolink", "tasklist"}) {
    if (!read_tables && std::string_view(name) == "table") continue;
    if (cmark_syntax_extension* ext = cmark_find_syntax_extension(name)) {
      cmark_parser_attach_syntax_extension(parser.get(), ext);
    }
  }
  cmark_parser_feed(parser.get(), front_matter.body.data(), front_matter.body.size());
  std::unique_ptr<cmark_node, NodeDeleter> root(cmark_parser_finish(parser.get()));

  doc.title = front_matter.title;
  TextBuilder out;
  std::size_t heading_begin = 0;
  std::unique_ptr<cmark_iter, IterDeleter> iter(cmark_iter_new(root.get()));
  for (cmark_event_type event = cmark_iter_next(iter.get()); event != CMARK_EVENT_DONE;
       event = cmark_iter_next(iter.get())) {
    cmark_node* node = cmark_iter_get_node(iter.get());
    const bool enter = event == CMARK_EVENT_ENTER;
    const std::string_view type_name = cmark_node_get_type_string(node);
    if (type_name == "table_cell") {
      // Cells stay on their row's line, separated by a tab.
      if (enter && cmark_node_previous(node) != nullptr) out.AppendRaw("\t");
      continue;
    }
    switch (cmark_node_get_type(node)) {
      case CMARK_NODE_HEADING:
        out.ParagraphBreak();
        if (enter) {
          heading_begin = out.ContentOffset();
        } else {
          std::string title = TextFrom(out.text(), heading_begin);
          if (!title.empty()) {
            if (doc.title.empty() && cmark_node_get_heading_level(node) == 1) doc.title = title;
            doc.sections.push_back({heading_begin, std::move(title)});
          }
        }
        break;
      case CMARK_NODE_TEXT:
      case CMARK_NODE_CODE:
        mark(out, node);
        out.AppendRaw(Literal(node));
        break;
      case CMARK_NODE_SOFTBREAK:
        out.Space();
        break;
      case CMARK_NODE_LINEBREAK:
        out.LineBreak();
        break;
      case CMARK_NODE_CODE_BLOCK: {
        out.ParagraphBreak();
        // A fenced block's text starts on the line after its fence; each of its lines is kept.
        int fence_length = 0;
        int fence_offset = 0;
        char fence_char = 0;
        const bool fenced =
            cmark_node_get_fenced(node, &fence_length, &fence_offset, &fence_char) != 0;
        const std::size_t first = node_line(node) + (fenced ? 1 : 0);
        const std::string_view literal = Literal(node);
        out.MarkLine(first, doc.lines);
        out.AppendRaw(literal);
        // The literal is the text's tail (only leading whitespace may have been dropped).
        const std::size_t tail = out.text().size() - std::min(out.text().size(), literal.size());
        std::size_t line = first;
        for (std::size_t p = literal.find('\n');
             p != std::string_view::npos && p + 1 < literal.size(); p = literal.find('\n', p + 1)) {
          ++line;
          const std::size_t begin = tail + p + 1;
          if (doc.lines.empty() || begin >= out.text().size() || begin < doc.lines.back().begin) {
            continue;  // in leading blank lines AppendRaw dropped
          }
          if (begin == doc.lines.back().begin) {
            doc.lines.back().line = line;  // the block's text starts after blank lines
          } else {
            doc.lines.push_back({begin, line});
          }
        }
        out.ParagraphBreak();
        break;
      }
      case CMARK_NODE_HTML_BLOCK:
        out.ParagraphBreak();
        mark(out, node);
        out.AppendRaw(ExtractHtml(Literal(node)).text);
        out.ParagraphBreak();
        break;
      case CMARK_NODE_HTML_INLINE:
        break;  // a tag; the text around it is in TEXT nodes
      default:
        if (IsBlock(node)) out.ParagraphBreak();
        break;
    }
  }
  doc.invalid_utf8_replaced = invalid_in_input + out.invalid_utf8_replaced();
  doc.text = out.Finish();
  ClampOffsets(doc);
  return doc;
}

}  // namespace sieve::text
