#include "text/html_guard.h"

#include <gumbo.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sieve::text {
namespace {

bool IsAsciiAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool IsHtmlSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

char Lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

GumboTag TagOf(std::string_view name) {
  char lower[32];
  if (name.size() >= sizeof(lower)) return GUMBO_TAG_UNKNOWN;
  for (std::size_t i = 0; i < name.size(); ++i) lower[i] = Lower(name[i]);
  return gumbo_tagn_enum(lower, static_cast<unsigned>(name.size()));
}

// Elements that never have content (no end tag, never on the stack).
bool IsVoid(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_AREA:
    case GUMBO_TAG_BASE:
    case GUMBO_TAG_BASEFONT:
    case GUMBO_TAG_BGSOUND:
    case GUMBO_TAG_BR:
    case GUMBO_TAG_COL:
    case GUMBO_TAG_EMBED:
    case GUMBO_TAG_FRAME:
    case GUMBO_TAG_HR:
    case GUMBO_TAG_IMAGE:
    case GUMBO_TAG_IMG:
    case GUMBO_TAG_INPUT:
    case GUMBO_TAG_KEYGEN:
    case GUMBO_TAG_LINK:
    case GUMBO_TAG_META:
    case GUMBO_TAG_PARAM:
    case GUMBO_TAG_SOURCE:
    case GUMBO_TAG_TRACK:
    case GUMBO_TAG_WBR:
      return true;
    default:
      return false;
  }
}

// Elements whose content the tokenizer reads as text up to their end tag.
bool IsRawText(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_SCRIPT:
    case GUMBO_TAG_STYLE:
    case GUMBO_TAG_TEXTAREA:
    case GUMBO_TAG_TITLE:
    case GUMBO_TAG_XMP:
    case GUMBO_TAG_IFRAME:
    case GUMBO_TAG_NOEMBED:
    case GUMBO_TAG_NOFRAMES:
    case GUMBO_TAG_NOSCRIPT:
      return true;
    default:
      return false;
  }
}

// Formatting elements: they go on the list of active formatting elements, which the parser
// re-opens ("reconstructs") after a block closes them.
bool IsFormatting(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_A:
    case GUMBO_TAG_B:
    case GUMBO_TAG_BIG:
    case GUMBO_TAG_CODE:
    case GUMBO_TAG_EM:
    case GUMBO_TAG_FONT:
    case GUMBO_TAG_I:
    case GUMBO_TAG_NOBR:
    case GUMBO_TAG_S:
    case GUMBO_TAG_SMALL:
    case GUMBO_TAG_STRIKE:
    case GUMBO_TAG_STRONG:
    case GUMBO_TAG_TT:
    case GUMBO_TAG_U:
      return true;
    default:
      return false;
  }
}

// An end tag does not close elements past these (the parser's "scope").
bool IsScopeBoundary(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_APPLET:
    case GUMBO_TAG_CAPTION:
    case GUMBO_TAG_HTML:
    case GUMBO_TAG_TABLE:
    case GUMBO_TAG_TD:
    case GUMBO_TAG_TH:
    case GUMBO_TAG_MARQUEE:
    case GUMBO_TAG_OBJECT:
    case GUMBO_TAG_TEMPLATE:
    case GUMBO_TAG_SVG:
    case GUMBO_TAG_MATH:
      return true;
    default:
      return false;
  }
}

// Start tags that close an open <p>.
bool ClosesP(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_ADDRESS:
    case GUMBO_TAG_ARTICLE:
    case GUMBO_TAG_ASIDE:
    case GUMBO_TAG_BLOCKQUOTE:
    case GUMBO_TAG_CENTER:
    case GUMBO_TAG_DETAILS:
    case GUMBO_TAG_DIR:
    case GUMBO_TAG_DIV:
    case GUMBO_TAG_DL:
    case GUMBO_TAG_DD:
    case GUMBO_TAG_DT:
    case GUMBO_TAG_FIELDSET:
    case GUMBO_TAG_FIGCAPTION:
    case GUMBO_TAG_FIGURE:
    case GUMBO_TAG_FOOTER:
    case GUMBO_TAG_FORM:
    case GUMBO_TAG_H1:
    case GUMBO_TAG_H2:
    case GUMBO_TAG_H3:
    case GUMBO_TAG_H4:
    case GUMBO_TAG_H5:
    case GUMBO_TAG_H6:
    case GUMBO_TAG_HEADER:
    case GUMBO_TAG_HGROUP:
    case GUMBO_TAG_HR:
    case GUMBO_TAG_LI:
    case GUMBO_TAG_LISTING:
    case GUMBO_TAG_MAIN:
    case GUMBO_TAG_MENU:
    case GUMBO_TAG_NAV:
    case GUMBO_TAG_OL:
    case GUMBO_TAG_P:
    case GUMBO_TAG_PRE:
    case GUMBO_TAG_SECTION:
    case GUMBO_TAG_SUMMARY:
    case GUMBO_TAG_TABLE:
    case GUMBO_TAG_UL:
      return true;
    default:
      return false;
  }
}

// Does a start tag `opening` imply the end of the open element `top` (optional end tags)?
bool ImpliesEnd(GumboTag top, GumboTag opening) {
  switch (top) {
    case GUMBO_TAG_P:
      return ClosesP(opening);
    case GUMBO_TAG_LI:
      return opening == GUMBO_TAG_LI;
    case GUMBO_TAG_DT:
    case GUMBO_TAG_DD:
      return opening == GUMBO_TAG_DT || opening == GUMBO_TAG_DD;
    case GUMBO_TAG_OPTION:
      return opening == GUMBO_TAG_OPTION || opening == GUMBO_TAG_OPTGROUP;
    case GUMBO_TAG_OPTGROUP:
      return opening == GUMBO_TAG_OPTGROUP;
    case GUMBO_TAG_TD:
    case GUMBO_TAG_TH:
      return opening == GUMBO_TAG_TD || opening == GUMBO_TAG_TH || opening == GUMBO_TAG_TR ||
             opening == GUMBO_TAG_TBODY || opening == GUMBO_TAG_THEAD || opening == GUMBO_TAG_TFOOT;
    case GUMBO_TAG_TR:
      return opening == GUMBO_TAG_TR || opening == GUMBO_TAG_TBODY || opening == GUMBO_TAG_THEAD ||
             opening == GUMBO_TAG_TFOOT;
    case GUMBO_TAG_THEAD:
    case GUMBO_TAG_TBODY:
    case GUMBO_TAG_TFOOT:
      return opening == GUMBO_TAG_TBODY || opening == GUMBO_TAG_THEAD || opening == GUMBO_TAG_TFOOT;
    case GUMBO_TAG_HEAD:
      return opening == GUMBO_TAG_BODY;
    default:
      return false;
  }
}

// Elements that put a marker on the list of active formatting elements: when they close, the
// formatting elements opened inside them are forgotten.
bool IsMarker(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_APPLET:
    case GUMBO_TAG_CAPTION:
    case GUMBO_TAG_MARQUEE:
    case GUMBO_TAG_OBJECT:
    case GUMBO_TAG_TD:
    case GUMBO_TAG_TH:
    case GUMBO_TAG_TEMPLATE:
      return true;
    default:
      return false;
  }
}

struct Open {
  GumboTag tag;
  std::string_view name;          // for unknown tags
  std::size_t formatting_before;  // active formatting elements when it opened
};

// One pass over the markup. Copies it into `out` only once something must change.
class Guard {
 public:
  Guard(std::string_view html, const HtmlLimits& limits) : in_(html), limits_(limits) {}

  GuardedHtml Run() {
    std::size_t i = 0;
    while (i < in_.size()) {
      const std::size_t lt = in_.find('<', i);
      if (lt == std::string_view::npos || lt + 1 >= in_.size()) break;
      const char next = in_[lt + 1];
      if (next == '!') {
        i = SkipMarkupDeclaration(lt);
      } else if (next == '?') {
        i = SkipTo(lt, ">");
      } else if (next == '/' && lt + 2 < in_.size() && IsAsciiAlpha(in_[lt + 2])) {
        i = EndTag(lt);
      } else if (IsAsciiAlpha(next)) {
        i = StartTag(lt);
        if (plaintext_) break;
      } else {
        i = lt + 1;
      }
    }
    if (result_.changed) result_.rewritten.append(in_.substr(copied_));
    return std::move(result_);
  }

 private:
  // Past the first `terminator` at or after `from` (the end when there is none).
  std::size_t SkipTo(std::size_t from, std::string_view terminator) const {
    const std::size_t at = in_.find(terminator, from);
    return at == std::string_view::npos ? in_.size() : at + terminator.size();
  }

  std::size_t SkipMarkupDeclaration(std::size_t lt) const {
    const std::string_view rest = in_.substr(lt);
    if (rest.starts_with("<!--")) return SkipTo(lt + 4, "-->");
    if (rest.starts_with("<![CDATA[")) return SkipTo(lt + 9, "]]>");
    return SkipTo(lt, ">");
  }

  std::size_t NameEnd(std::size_t from) const {
    std::size_t j = from;
    while (j < in_.size() && !IsHtmlSpace(in_[j]) && in_[j] != '/' && in_[j] != '>') ++j;
    return j;
  }

  // Reads the attributes from `j` to the end of the tag. Returns the position past '>' (or the
  // end); `kept_end` is where the attributes that stay end; `self_closing` is set for "/>".
  std::size_t Attributes(std::size_t j, std::size_t& count, std::size_t& kept_end,
                         bool& self_closing) const {
    count = 0;
    kept_end = j;
    self_closing = false;
    while (j < in_.size()) {
      while (j < in_.size() && (IsHtmlSpace(in_[j]) || in_[j] == '/')) {
        self_closing = in_[j] == '/';
        ++j;
      }
      if (j >= in_.size()) return j;
      if (in_[j] == '>') return j + 1;
      self_closing = false;
      // Name: up to space, '/', '>' or '=' (a leading '=' belongs to the name).
      std::size_t k = j + 1;
      while (k < in_.size() && !IsHtmlSpace(in_[k]) && in_[k] != '/' && in_[k] != '>' &&
             in_[k] != '=') {
        ++k;
      }
      std::size_t v = k;
      while (v < in_.size() && IsHtmlSpace(in_[v])) ++v;
      if (v < in_.size() && in_[v] == '=') {
        ++v;
        while (v < in_.size() && IsHtmlSpace(in_[v])) ++v;
        if (v < in_.size() && (in_[v] == '"' || in_[v] == '\'')) {
          const std::size_t close = in_.find(in_[v], v + 1);
          k = close == std::string_view::npos ? in_.size() : close + 1;
        } else {
          k = v;
          while (k < in_.size() && !IsHtmlSpace(in_[k]) && in_[k] != '>') ++k;
        }
      }
      ++count;
      if (count <= limits_.max_attributes) kept_end = k;
      j = k;
    }
    return j;
  }

  // Replaces in_[from, to) by `replacement` in the output.
  void Replace(std::size_t from, std::size_t to, std::string_view replacement) {
    if (!result_.changed) {
      result_.changed = true;
      result_.rewritten.reserve(in_.size());
    }
    result_.rewritten.append(in_.substr(copied_, from - copied_));
    result_.rewritten.append(replacement);
    copied_ = to;
  }

  std::size_t Depth() const { return stack_.size() + active_formatting_; }

  bool InForeignContent() const { return foreign_ > 0; }

  void Pop() {
    const Open& open = stack_.back();
    if (open.tag == GUMBO_TAG_SVG || open.tag == GUMBO_TAG_MATH) --foreign_;
    if (IsMarker(open.tag) && active_formatting_ > open.formatting_before) {
      active_formatting_ = open.formatting_before;
      if (active_a_ > active_formatting_) active_a_ = active_formatting_;
    }
    stack_.pop_back();
  }

  std::size_t StartTag(std::size_t lt) {
    const std::size_t name_end = NameEnd(lt + 1);
    const std::string_view name = in_.substr(lt + 1, name_end - lt - 1);
    const GumboTag tag = TagOf(name);
    std::size_t attributes = 0;
    std::size_t kept_end = name_end;
    bool self_closing = false;
    const std::size_t end = Attributes(name_end, attributes, kept_end, self_closing);
    const bool too_many_attributes = attributes > limits_.max_attributes;
    if (too_many_attributes) result_.attributes_removed += attributes - limits_.max_attributes;

    if (tag == GUMBO_TAG_PLAINTEXT) {
      plaintext_ = true;  // everything after it is text
      if (too_many_attributes) Replace(kept_end, end, self_closing ? "/>" : ">");
      return end;
    }
    if (IsRawText(tag)) {
      if (too_many_attributes) Replace(kept_end, end, self_closing ? "/>" : ">");
      return SkipRawText(end, name);
    }
    const bool pushes = !IsVoid(tag) && !(self_closing && InForeignContent());
    if (pushes) {
      while (!stack_.empty() && ImpliesEnd(stack_.back().tag, tag)) Pop();
      if (tag == GUMBO_TAG_A && active_a_ > 0) {
        // A new <a> closes the open one.
        --active_a_;
        --active_formatting_;
      }
    }
    if (pushes && Depth() >= limits_.max_depth) {
      // Too deep: the tag goes, its content stays (one level up).
      Replace(lt, end, "");
      ++result_.tags_removed;
      ++suppressed_;
      return end;
    }
    if (too_many_attributes) Replace(kept_end, end, self_closing ? "/>" : ">");
    if (!pushes) return end;
    if (IsFormatting(tag)) {
      ++active_formatting_;
      if (tag == GUMBO_TAG_A) ++active_a_;
    } else {
      if (tag == GUMBO_TAG_SVG || tag == GUMBO_TAG_MATH) ++foreign_;
      stack_.push_back({tag, name, active_formatting_});
    }
    return end;
  }

  // Skips the content of a raw-text element to its end tag (the end tag itself is skipped too).
  std::size_t SkipRawText(std::size_t from, std::string_view name) const {
    std::size_t j = from;
    while (j < in_.size()) {
      const std::size_t at = in_.find("</", j);
      if (at == std::string_view::npos) return in_.size();
      const std::size_t name_end = at + 2 + name.size();
      if (name_end <= in_.size() && EqualsIgnoreCase(in_.substr(at + 2, name.size()), name) &&
          (name_end == in_.size() || IsHtmlSpace(in_[name_end]) || in_[name_end] == '/' ||
           in_[name_end] == '>')) {
        return SkipTo(name_end, ">");
      }
      j = at + 2;
    }
    return in_.size();
  }

  std::size_t EndTag(std::size_t lt) {
    const std::size_t name_end = NameEnd(lt + 2);
    const std::string_view name = in_.substr(lt + 2, name_end - lt - 2);
    const GumboTag tag = TagOf(name);
    std::size_t attributes = 0;
    std::size_t kept_end = name_end;
    bool self_closing = false;
    const std::size_t end = Attributes(name_end, attributes, kept_end, self_closing);
    if (attributes > limits_.max_attributes) {
      result_.attributes_removed += attributes - limits_.max_attributes;
      Replace(kept_end, end, ">");
    }
    if (IsFormatting(tag)) {
      if (tag == GUMBO_TAG_A ? active_a_ > 0 : active_formatting_ > active_a_) {
        --active_formatting_;
        if (tag == GUMBO_TAG_A) --active_a_;
      } else if (suppressed_ > 0) {
        --suppressed_;
        Replace(lt, end, "");
        ++result_.tags_removed;
      }
      return end;
    }
    // The nearest open element of that name within scope closes, with everything above it.
    std::size_t k = stack_.size();
    while (k > 0) {
      const Open& open = stack_[k - 1];
      const bool match =
          open.tag == tag && (tag != GUMBO_TAG_UNKNOWN || EqualsIgnoreCase(open.name, name));
      if (match) break;
      if (IsScopeBoundary(open.tag)) {
        k = 0;
        break;
      }
      --k;
    }
    if (k > 0) {
      while (stack_.size() >= k) Pop();
    } else if (suppressed_ > 0) {
      // The end of an element whose start tag was removed.
      --suppressed_;
      Replace(lt, end, "");
      ++result_.tags_removed;
    }
    return end;
  }

  std::string_view in_;
  HtmlLimits limits_;
  GuardedHtml result_;
  std::size_t copied_ = 0;  // in_[0, copied_) is in result_.rewritten (once changed)
  std::vector<Open> stack_;
  std::size_t active_formatting_ = 0;  // formatting elements opened and not closed
  std::size_t active_a_ = 0;           // of which <a> (at most one is open)
  std::size_t foreign_ = 0;            // <svg>/<math> elements on the stack
  std::size_t suppressed_ = 0;         // start tags removed whose end tag may still come
  bool plaintext_ = false;
};

}  // namespace

GuardedHtml GuardHtml(std::string_view html, const HtmlLimits& limits) {
  return Guard(html, limits).Run();
}

}  // namespace sieve::text
