// roff man pages (man and mdoc macros) to plain text. Not a typesetter: requests that only
// change the layout are dropped, font changes and escapes become their text, and the structure
// a reader needs (sections, paragraphs, option tags, no-fill blocks) is kept.
#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "text/extract.h"
#include "text/normalize.h"
#include "text/text_builder.h"

namespace sieve::text {
namespace {

std::string_view SpecialChar(std::string_view name) {
  static const std::unordered_map<std::string_view, std::string_view> kChars = {
      {"em", "\u2014"}, {"en", "\u2013"}, {"hy", "-"},      {"mi", "-"},      {"aq", "'"},
      {"lq", "\""},     {"rq", "\""},     {"oq", "'"},      {"cq", "'"},      {"dq", "\""},
      {"bu", "\u2022"}, {"co", "\u00a9"}, {"rg", "\u00ae"}, {"tm", "\u2122"}, {"ga", "`"},
      {"ti", "~"},      {"ha", "^"},      {"pl", "+"},      {"mu", "\u00d7"}, {"de", "\u00b0"},
      {">=", "\u2265"}, {"<=", "\u2264"}, {"->", "\u2192"}, {"<-", "\u2190"}, {"fm", "'"},
      {"R", "\u00ae"},  {"Tm", "\u2122"}, {"rs", "\\"},     {"sl", "/"},      {"ba", "|"},
      {"Lq", "\""},     {"Rq", "\""},     {"ua", "\u2191"}, {"da", "\u2193"}};
  auto it = kChars.find(name);
  return it == kChars.end() ? std::string_view() : it->second;
}

// Reads an escape's name after `\(`, `\[`, or a one-character name; advances i past it.
std::string_view EscapeName(std::string_view s, std::size_t& i) {
  if (i >= s.size()) return {};
  if (s[i] == '(') {
    std::string_view name = s.substr(i + 1, 2);
    i = std::min(s.size(), i + 3);
    return name;
  }
  if (s[i] == '[') {
    const std::size_t close = s.find(']', i);
    if (close == std::string_view::npos) {
      i = s.size();
      return {};
    }
    std::string_view name = s.substr(i + 1, close - i - 1);
    i = close + 1;
    return name;
  }
  return s.substr(i++, 1);
}

// Skips a quoted escape argument: \h'...', \w'...'.
void SkipQuoted(std::string_view s, std::size_t& i) {
  if (i >= s.size()) return;
  const char quote = s[i];
  const std::size_t close = s.find(quote, i + 1);
  i = close == std::string_view::npos ? s.size() : close + 1;
}

// The text of a roff line with escapes resolved.
std::string Unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (c != '\\') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= s.size()) break;  // a trailing backslash joins lines
    const char e = s[i + 1];
    i += 2;
    switch (e) {
      case '"':
      case '#':
        return out;  // comment to the end of the line
      case 'f':
      case 'F':
      case 'g':
      case 'k':
      case 'n':
      case 'm':
      case 'M':
      case 'Y':
        if (i < s.size() && (s[i] == '+' || s[i] == '-') && e == 'n') ++i;
        EscapeName(s, i);
        break;
      case 's':
        if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
        if (i < s.size() && (s[i] == '(' || s[i] == '[')) {
          EscapeName(s, i);
        } else {
          while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
        }
        break;
      case '*': {
        std::string_view name = EscapeName(s, i);
        out += SpecialChar(name);
        break;
      }
      case '(':
      case '[': {
        --i;
        std::string_view name = EscapeName(s, i);
        if (name.size() == 5 && name[0] == 'u') {
          const unsigned long cp = std::strtoul(std::string(name.substr(1)).c_str(), nullptr, 16);
          AppendUtf8(static_cast<char32_t>(cp), out);
        } else {
          out += SpecialChar(name);
        }
        break;
      }
      case 'h':
      case 'v':
      case 'w':
      case 'l':
      case 'L':
      case 'o':
      case 'X':
      case 'Z':
      case 'D':
      case 'b':
      case 'x':
      case 'A':
      case 'B':
      case 'C':
      case 'N':
      case 'R':
      case 'S':
      case 'V':
        SkipQuoted(s, i);
        break;
      case '$':
        if (i < s.size()) ++i;
        break;
      case '-':
        out.push_back('-');
        break;
      case 'e':
      case '\\':
        out.push_back('\\');
        break;
      case '0':
      case '~':
      case ' ':
        out.push_back(' ');
        break;
      case '&':
      case '|':
      case '^':
      case '%':
      case ':':
      case 'c':
      case 'd':
      case 'u':
      case 'r':
      case 'p':
      case 'a':
      case 'z':
      case '{':
      case '}':
      case 't':
        break;
      default:
        out.push_back(e);
    }
  }
  return out;
}

// A request's arguments: words, or "double quoted" phrases.
std::vector<std::string> SplitArgs(std::string_view s) {
  std::vector<std::string> args;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (i >= s.size()) break;
    std::string arg;
    if (s[i] == '"') {
      ++i;
      while (i < s.size()) {
        if (s[i] == '"') {
          if (i + 1 < s.size() && s[i + 1] == '"') {
            arg.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        arg.push_back(s[i++]);
      }
    } else {
      while (i < s.size() && s[i] != ' ' && s[i] != '\t') {
        if (s[i] == '\\' && i + 1 < s.size()) {
          if (s[i + 1] == '"') {  // a comment ends the arguments
            i = s.size();
            break;
          }
          arg.push_back(s[i++]);
        }
        arg.push_back(s[i++]);
      }
    }
    args.push_back(std::move(arg));
  }
  return args;
}

std::string Join(const std::vector<std::string>& args, std::size_t from, std::string_view sep) {
  std::string out;
  for (std::size_t i = from; i < args.size(); ++i) {
    if (i > from) out += sep;
    out += Unescape(args[i]);
  }
  return out;
}

bool IsMdocCallable(std::string_view word) {
  static const std::vector<std::string_view> kCallable = {
      "Ac", "Ao", "Ap", "Aq", "Ar", "Bc", "Bo", "Bq", "Brc", "Bro", "Brq", "Cm", "Dc",
      "Do", "Dq", "Dv", "Ec", "Em", "Eo", "Er", "Ev", "Fa",  "Fl",  "Fn",  "Ft", "Ic",
      "Li", "Ms", "Nm", "No", "Ns", "Oc", "Oo", "Op", "Pa",  "Pc",  "Po",  "Pq", "Qc",
      "Ql", "Qo", "Qq", "Sc", "So", "Sq", "Sx", "Sy", "Tn",  "Va",  "Xr",  "Lk", "Mt"};
  return std::find(kCallable.begin(), kCallable.end(), word) != kCallable.end();
}

// The text of an mdoc line's arguments: macro names dropped, Fl prefixing "-", Ns gluing.
std::string MdocText(const std::vector<std::string>& args, std::size_t from,
                     std::string_view first_macro) {
  std::string out;
  bool glue = false;
  std::string_view macro = first_macro;
  std::string open_close;
  for (std::size_t i = from; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (IsMdocCallable(arg)) {
      macro = arg;
      if (arg == "Ns" || arg == "Ap") glue = true;
      if (arg == "Fl" && (i + 1 == args.size() || IsMdocCallable(args[i + 1]))) {
        if (!out.empty() && !glue) out.push_back(' ');
        out.push_back('-');
        glue = true;
      }
      if (arg == "Op" || arg == "Oo") {
        if (!out.empty() && !glue) out.push_back(' ');
        out.push_back('[');
        glue = true;
        open_close.push_back(']');
      }
      if (arg == "Oc" && !open_close.empty()) {
        out.push_back(open_close.back());
        open_close.pop_back();
      }
      continue;
    }
    const bool punctuation = arg.size() == 1 && std::ispunct(static_cast<unsigned char>(arg[0])) &&
                             arg != "(" && arg != "[";
    if (!out.empty() && !glue && !punctuation) out.push_back(' ');
    if (macro == "Fl") out.push_back('-');
    out += Unescape(arg);
    glue = arg == "(" || arg == "[";
  }
  while (!open_close.empty()) {
    out.push_back(open_close.back());
    open_close.pop_back();
  }
  return out;
}

std::string Trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\n");
  return std::string(s.substr(first, last - first + 1));
}

class ManConverter {
 public:
  ExtractedDocument Convert(std::string_view bytes) {
    std::size_t pos = 0;
    while (pos <= bytes.size()) {
      std::size_t end = bytes.find('\n', pos);
      if (end == std::string_view::npos) end = bytes.size();
      std::string_view line = bytes.substr(pos, end - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      ++line_number_;
      Line(line);
      if (end == bytes.size()) break;
      pos = end + 1;
    }
    ExtractedDocument doc;
    doc.type = DocumentType::kMan;
    doc.sections = std::move(sections_);
    doc.lines = std::move(lines_);
    doc.invalid_utf8_replaced = builder_.invalid_utf8_replaced();
    doc.text = builder_.Finish();
    std::string name = Trim(name_text_);
    doc.title = name.empty() ? th_title_ : name;
    ClampOffsets(doc);
    return doc;
  }

 private:
  void Text(const std::string& text) {
    builder_.MarkLine(line_number_, lines_);
    if (in_name_) name_text_ += (name_text_.empty() ? "" : " ") + text;
    if (nofill_) {
      builder_.AppendRaw(text);
      builder_.LineBreak();
    } else {
      builder_.AppendCollapsed(text);
      builder_.Space();
    }
    if (tag_pending_) {
      builder_.LineBreak();
      tag_pending_ = false;
    }
  }

  void Heading(const std::string& title, bool top_level) {
    builder_.ParagraphBreak();
    if (title.empty()) {
      heading_pending_ = top_level ? 1 : 2;
      return;
    }
    StartSection(title, top_level);
  }

  void StartSection(const std::string& raw, bool top_level) {
    const std::string title = Trim(raw);
    sections_.push_back({builder_.ContentOffset(), title});
    builder_.MarkLine(line_number_, lines_);
    builder_.AppendCollapsed(title);
    builder_.ParagraphBreak();
    if (top_level) {
      std::string upper = title;
      std::transform(upper.begin(), upper.end(), upper.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      in_name_ = upper == "NAME";
    }
  }

  void Line(std::string_view line) {
    if (skipping_definition_) {
      if (line.starts_with("..")) skipping_definition_ = false;
      return;
    }
    if (line.empty()) {
      if (nofill_) {
        builder_.LineBreak();
        builder_.AppendRaw("");
      }
      builder_.ParagraphBreak();
      return;
    }
    if (line[0] != '.' && line[0] != '\'') {
      std::string text = Unescape(line);
      if (heading_pending_ > 0) {
        const bool top = heading_pending_ == 1;
        heading_pending_ = 0;
        StartSection(text, top);
        return;
      }
      Text(text);
      return;
    }
    std::string_view request = line.substr(1);
    while (!request.empty() && (request[0] == ' ' || request[0] == '\t')) request.remove_prefix(1);
    if (request.empty() || request.starts_with("\\\"") || request.starts_with("\\#")) return;
    std::size_t name_end = request.find_first_of(" \t");
    const std::string name(request.substr(0, name_end));
    const std::vector<std::string> args =
        SplitArgs(name_end == std::string_view::npos ? "" : request.substr(name_end));
    Request(name, args);
  }

  void Request(const std::string& name, const std::vector<std::string>& args) {
    if (name == "TH" || name == "Dt") {
      if (!args.empty()) {
        th_title_ = Unescape(args[0]);
        if (args.size() > 1) th_title_ += "(" + Unescape(args[1]) + ")";
      }
    } else if (name == "SH" || name == "Sh") {
      Heading(name == "Sh" ? MdocText(args, 0, "") : Join(args, 0, " "), true);
    } else if (name == "SS" || name == "Ss") {
      Heading(name == "Ss" ? MdocText(args, 0, "") : Join(args, 0, " "), false);
    } else if (name == "PP" || name == "LP" || name == "P" || name == "Pp" || name == "sp" ||
               name == "HP" || name == "Lp") {
      builder_.ParagraphBreak();
    } else if (name == "TP" || name == "TQ") {
      builder_.ParagraphBreak();
      tag_pending_ = true;
    } else if (name == "IP") {
      builder_.ParagraphBreak();
      if (!args.empty() && !args[0].empty()) {
        Text(Unescape(args[0]));
        builder_.LineBreak();
      }
    } else if (name == "br" || name == "It") {
      builder_.LineBreak();
      if (name == "It" && !args.empty()) {
        Text(MdocText(args, 0, ""));
        builder_.LineBreak();
      }
    } else if (name == "nf" || name == "EX" || name == "Bd") {
      builder_.ParagraphBreak();
      nofill_ = name != "Bd" || std::find(args.begin(), args.end(), "-literal") != args.end() ||
                std::find(args.begin(), args.end(), "-unfilled") != args.end();
    } else if (name == "fi" || name == "EE" || name == "Ed") {
      nofill_ = false;
      builder_.ParagraphBreak();
    } else if (name == "B" || name == "I" || name == "SM" || name == "SB") {
      if (!args.empty()) Text(Join(args, 0, " "));
    } else if (name == "BR" || name == "BI" || name == "IB" || name == "IR" || name == "RB" ||
               name == "RI") {
      Text(Join(args, 0, ""));
    } else if (name == "de" || name == "de1" || name == "am" || name == "ig") {
      skipping_definition_ = true;
    } else if (name == "Nm") {
      std::string text = MdocText(args, 0, "");
      if (text.empty()) text = mdoc_name_;
      if (mdoc_name_.empty()) mdoc_name_ = text;
      Text(text);
    } else if (name == "Nd") {
      Text("- " + MdocText(args, 0, ""));
    } else if (name == "Xr") {
      if (!args.empty()) {
        Text(Unescape(args[0]) + (args.size() > 1 ? "(" + Unescape(args[1]) + ")" : "") +
             (args.size() > 2 ? Join(args, 2, "") : ""));
      }
    } else if (name.size() >= 2 && name.size() <= 3 &&
               std::isupper(static_cast<unsigned char>(name[0])) &&
               std::islower(static_cast<unsigned char>(name[1]))) {
      // Other mdoc macros (Fl, Ar, Op, Pa, Cm, ...): their text.
      if (name == "Bl" || name == "El" || name == "Dd" || name == "Os" || name == "Ed") return;
      std::vector<std::string> all{name};
      all.insert(all.end(), args.begin(), args.end());
      std::string text = MdocText(all, 0, "");
      if (!text.empty()) Text(text);
    }
    // Anything else (RS, RE, in, ti, ft, ps, ne, ad, na, UR, UE, ...) only changes the layout.
  }

  TextBuilder builder_;
  std::vector<Section> sections_;
  std::vector<LineStart> lines_;  // where the text of each source line begins
  std::size_t line_number_ = 0;   // of the line being read (1-based)
  std::string th_title_;
  std::string name_text_;
  std::string mdoc_name_;
  bool in_name_ = false;
  bool nofill_ = false;
  bool tag_pending_ = false;
  bool skipping_definition_ = false;
  int heading_pending_ = 0;  // 1: .SH, 2: .SS without arguments (the title is the next line)
};

}  // namespace

ExtractedDocument ExtractMan(std::string_view bytes) {
  return ManConverter().Convert(bytes);
}

}  // namespace sieve::text
