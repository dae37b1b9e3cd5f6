// Internal to the text stage: bounds the work an HTML parser does on hostile markup.
//
// libgumbo spends time proportional to the depth of the open-element stack for each tag (scope
// checks) and to the attribute count for each attribute (duplicate checks), so a page nested a
// million elements deep, or one tag with a million attributes, takes minutes. GuardHtml() scans
// the markup once (linear time), following the HTML tokenizer closely enough to find tags,
// comments and raw-text elements, and models the depth of the open-element stack (void
// elements, optional end tags, scope boundaries, the list of active formatting elements). A
// start tag that would nest deeper than `max_depth` is removed (its content stays, it is no
// longer nested); attributes past `max_attributes` on one tag are removed (the extractor reads
// no attributes). Markup within the limits is returned unchanged, byte for byte.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sieve::text {

struct HtmlLimits {
  std::size_t max_depth = 256;
  std::size_t max_attributes = 256;
};

struct GuardedHtml {
  std::string rewritten;         // the bounded markup; empty when nothing had to change
  bool changed = false;          // use `rewritten` instead of the input
  std::size_t tags_removed = 0;  // start and end tags removed for depth
  std::size_t attributes_removed = 0;
};

// Thread-safe (pure).
GuardedHtml GuardHtml(std::string_view html, const HtmlLimits& limits = {});

}  // namespace sieve::text
