#include <gumbo.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "text/extract.h"
#include "text/html_guard.h"
#include "text/normalize.h"
#include "text/text_builder.h"

namespace sieve::text {
namespace {

// Elements whose content is never readable page text.
bool IsDropped(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_SCRIPT:
    case GUMBO_TAG_STYLE:
    case GUMBO_TAG_NAV:
    case GUMBO_TAG_NOSCRIPT:
    case GUMBO_TAG_TEMPLATE:
    case GUMBO_TAG_HEAD:
    case GUMBO_TAG_TITLE:
    case GUMBO_TAG_IFRAME:
    case GUMBO_TAG_SVG:
    case GUMBO_TAG_CANVAS:
    case GUMBO_TAG_OBJECT:
    case GUMBO_TAG_EMBED:
    case GUMBO_TAG_SELECT:
    case GUMBO_TAG_MATH:
      return true;
    default:
      return false;
  }
}

bool IsBlock(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_ADDRESS:
    case GUMBO_TAG_ARTICLE:
    case GUMBO_TAG_ASIDE:
    case GUMBO_TAG_BLOCKQUOTE:
    case GUMBO_TAG_BODY:
    case GUMBO_TAG_CAPTION:
    case GUMBO_TAG_CENTER:
    case GUMBO_TAG_DD:
    case GUMBO_TAG_DETAILS:
    case GUMBO_TAG_DIV:
    case GUMBO_TAG_DL:
    case GUMBO_TAG_DT:
    case GUMBO_TAG_FIELDSET:
    case GUMBO_TAG_FIGCAPTION:
    case GUMBO_TAG_FIGURE:
    case GUMBO_TAG_FOOTER:
    case GUMBO_TAG_FORM:
    case GUMBO_TAG_HEADER:
    case GUMBO_TAG_HGROUP:
    case GUMBO_TAG_HR:
    case GUMBO_TAG_LEGEND:
    case GUMBO_TAG_LI:
    case GUMBO_TAG_LISTING:
    case GUMBO_TAG_MAIN:
    case GUMBO_TAG_MENU:
    case GUMBO_TAG_OL:
    case GUMBO_TAG_P:
    case GUMBO_TAG_PLAINTEXT:
    case GUMBO_TAG_PRE:
    case GUMBO_TAG_SECTION:
    case GUMBO_TAG_SUMMARY:
    case GUMBO_TAG_TABLE:
    case GUMBO_TAG_TBODY:
    case GUMBO_TAG_TEXTAREA:
    case GUMBO_TAG_TFOOT:
    case GUMBO_TAG_THEAD:
    case GUMBO_TAG_TR:
    case GUMBO_TAG_UL:
    case GUMBO_TAG_XMP:
      return true;
    default:
      return false;
  }
}

bool IsHeading(GumboTag tag) {
  return tag == GUMBO_TAG_H1 || tag == GUMBO_TAG_H2 || tag == GUMBO_TAG_H3 || tag == GUMBO_TAG_H4 ||
         tag == GUMBO_TAG_H5 || tag == GUMBO_TAG_H6;
}

// Elements whose whitespace is significant.
bool KeepsWhitespace(GumboTag tag) {
  return tag == GUMBO_TAG_PRE || tag == GUMBO_TAG_TEXTAREA || tag == GUMBO_TAG_LISTING ||
         tag == GUMBO_TAG_PLAINTEXT || tag == GUMBO_TAG_XMP;
}

bool IsCell(const GumboNode* node) {
  return node->type == GUMBO_NODE_ELEMENT &&
         (node->v.element.tag == GUMBO_TAG_TD || node->v.element.tag == GUMBO_TAG_TH);
}

bool HasEarlierCell(const GumboNode* cell) {
  const GumboNode* row = cell->parent;
  if (row == nullptr) return false;
  const GumboVector& siblings = row->v.element.children;
  for (unsigned i = 0; i < siblings.length && i < cell->index_within_parent; ++i) {
    if (IsCell(static_cast<const GumboNode*>(siblings.data[i]))) return true;
  }
  return false;
}

// The trimmed text from byte `begin` to the end (a heading's text, read when it closes).
std::string TextFrom(std::string_view text, std::size_t begin) {
  std::string_view s = text.substr(std::min(begin, text.size()));
  const auto first = s.find_first_not_of(" \t\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\n");
  return std::string(s.substr(first, last - first + 1));
}

// Text content of an element (for <title>), whitespace collapsed.
std::string CollapsedTextOf(const GumboNode* element) {
  TextBuilder builder;
  const GumboVector& children = element->v.element.children;
  for (unsigned i = 0; i < children.length; ++i) {
    const auto* child = static_cast<const GumboNode*>(children.data[i]);
    if (child->type == GUMBO_NODE_TEXT || child->type == GUMBO_NODE_CDATA ||
        child->type == GUMBO_NODE_WHITESPACE) {
      builder.AppendCollapsed(child->v.text.text);
    }
  }
  return builder.Finish();
}

// The <title> inside <head>, if any.
const GumboNode* FindTitleInHead(const GumboNode* root) {
  const GumboVector& top = root->v.element.children;
  for (unsigned i = 0; i < top.length; ++i) {
    const auto* head = static_cast<const GumboNode*>(top.data[i]);
    if (head->type != GUMBO_NODE_ELEMENT || head->v.element.tag != GUMBO_TAG_HEAD) continue;
    const GumboVector& children = head->v.element.children;
    for (unsigned j = 0; j < children.length; ++j) {
      const auto* child = static_cast<const GumboNode*>(children.data[j]);
      if (child->type == GUMBO_NODE_ELEMENT && child->v.element.tag == GUMBO_TAG_TITLE) {
        return child;
      }
    }
  }
  return nullptr;
}

struct OutputDeleter {
  void operator()(GumboOutput* output) const {
    gumbo_destroy_output(&kGumboDefaultOptions, output);
  }
};

// One open element during the walk (an explicit stack: deeply nested junk must not overflow).
struct Frame {
  const GumboNode* node;
  unsigned next_child = 0;
  std::size_t heading_begin = 0;
};

// Does the page declare a single-byte Western charset (<meta charset="iso-8859-1">, or the
// http-equiv form) near its start? Browsers decode those as windows-1252.
bool DeclaresWindows1252(std::string_view bytes) {
  std::string head(bytes.substr(0, 2048));
  std::transform(head.begin(), head.end(), head.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto at = head.find("charset=");
  if (at == std::string::npos) return false;
  std::string_view value = std::string_view(head).substr(at + 8);
  while (!value.empty() &&
         (value.front() == '"' || value.front() == '\'' || value.front() == ' ')) {
    value.remove_prefix(1);
  }
  for (std::string_view name :
       {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "windows-1252", "cp1252", "us-ascii"}) {
    if (value.starts_with(name)) return true;
  }
  return false;
}

// windows-1252 -> UTF-8 (0x80..0x9F are the cp1252 punctuation; its 5 holes become U+FFFD).
std::string Windows1252ToUtf8(std::string_view bytes) {
  static constexpr char16_t kHigh[32] = {
      0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
      0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD, 0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
      0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178};
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 8);
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    AppendUtf8(byte < 0x80 ? byte : (byte < 0xA0 ? kHigh[byte - 0x80] : byte), out);
  }
  return out;
}

}  // namespace

ExtractedDocument ExtractHtml(std::string_view bytes) {
  ExtractedDocument doc;
  std::size_t invalid_in_input = 0;
  // A page that says it is Latin-1 and is not valid UTF-8 is decoded as it says; anything else
  // is read as UTF-8 (invalid bytes replaced and counted).
  std::string transcoded;
  if (!IsValidUtf8(bytes) && DeclaresWindows1252(bytes)) {
    transcoded = Windows1252ToUtf8(bytes);
    bytes = transcoded;
  }
  std::string clean = NormalizeText(bytes, &invalid_in_input);
  // Hostile nesting or attribute counts are cut down before the parser sees them (html_guard.h).
  GuardedHtml guarded = GuardHtml(clean);
  if (guarded.changed) {
    clean = std::move(guarded.rewritten);
    std::string note = "markup too deep or too large: ";
    if (guarded.tags_removed > 0) {
      note += std::to_string(guarded.tags_removed) + " tags nested deeper than " +
              std::to_string(HtmlLimits{}.max_depth) + " levels removed (their text kept)";
    }
    if (guarded.attributes_removed > 0) {
      if (guarded.tags_removed > 0) note += ", ";
      note += std::to_string(guarded.attributes_removed) + " attributes past " +
              std::to_string(HtmlLimits{}.max_attributes) + " on one tag removed";
    }
    doc.notes.push_back(std::move(note));
  }
  GumboOptions options = kGumboDefaultOptions;
  options.max_errors = 0;  // parse errors are not reported; do not collect them
  std::unique_ptr<GumboOutput, OutputDeleter> parsed(
      gumbo_parse_with_options(&options, clean.data(), clean.size()));
  if (!parsed || parsed->root == nullptr) return doc;

  if (const GumboNode* title = FindTitleInHead(parsed->root)) {
    doc.title = CollapsedTextOf(title);
  }
  std::string first_h1;

  TextBuilder out;
  int whitespace_kept = 0;  // depth of <pre>-like elements we are inside
  std::vector<Frame> stack;
  stack.push_back({parsed->root});
  while (!stack.empty()) {
    Frame& frame = stack.back();
    const GumboNode* node = frame.node;
    const GumboVector& children = node->v.element.children;
    if (frame.next_child < children.length) {
      const auto* child = static_cast<const GumboNode*>(children.data[frame.next_child++]);
      switch (child->type) {
        case GUMBO_NODE_TEXT:
        case GUMBO_NODE_CDATA:
          if (whitespace_kept > 0) {
            out.AppendRaw(child->v.text.text);
          } else {
            out.AppendCollapsed(child->v.text.text);
          }
          break;
        case GUMBO_NODE_WHITESPACE:
          if (whitespace_kept > 0) {
            out.AppendRaw(child->v.text.text);
          } else {
            out.Space();
          }
          break;
        case GUMBO_NODE_ELEMENT: {
          const GumboTag tag = child->v.element.tag;
          if (tag == GUMBO_TAG_TITLE && doc.title.empty()) doc.title = CollapsedTextOf(child);
          if (IsDropped(tag)) break;
          if (tag == GUMBO_TAG_BR) {
            out.LineBreak();
            break;
          }
          if (IsCell(child) && HasEarlierCell(child)) out.AppendRaw("\t");
          Frame opened{child};
          if (IsBlock(tag) || IsHeading(tag)) out.ParagraphBreak();
          if (IsHeading(tag)) opened.heading_begin = out.ContentOffset();
          if (KeepsWhitespace(tag)) ++whitespace_kept;
          stack.push_back(opened);  // `frame` is not used after this
          break;
        }
        default:
          break;  // comments, templates, documents
      }
      continue;
    }
    // All children done: close the element.
    const GumboTag tag = node->v.element.tag;
    if (IsHeading(tag)) {
      std::string title = TextFrom(out.text(), frame.heading_begin);
      if (!title.empty()) {
        if (first_h1.empty() && tag == GUMBO_TAG_H1) first_h1 = title;
        doc.sections.push_back({frame.heading_begin, std::move(title)});
      }
    }
    if (IsBlock(tag) || IsHeading(tag)) out.ParagraphBreak();
    if (KeepsWhitespace(tag)) --whitespace_kept;
    stack.pop_back();
  }
  if (doc.title.empty()) doc.title = std::move(first_h1);
  doc.invalid_utf8_replaced = invalid_in_input + out.invalid_utf8_replaced();
  doc.text = out.Finish();
  ClampOffsets(doc);
  return doc;
}

}  // namespace sieve::text
