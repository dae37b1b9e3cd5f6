// Format extractors behind LoadFile(), for callers (and tests) that already hold the bytes.
// They do not know the file name: their errors say only the reason ("encrypted PDF (password
// required)", "line 7: malformed JSON: ..."), and LoadFile() puts the path in front. They leave
// key, source_path and type for the caller to fill in, and do not reject empty text.
#pragma once

#include <string_view>
#include <vector>

#include "core/status.h"
#include "text/document.h"

namespace sieve::text {

// Plain text: cleaned (normalize.h), nothing else changed. The title is the first line when it
// looks like a heading (short, not a sentence, followed by a blank line or an underline, or in
// capitals), else empty.
ExtractedDocument ExtractPlainText(std::string_view bytes);

// A roff man page (man or mdoc macros): the text without markup; .SH/.SS (.Sh/.Ss) headings stay
// in the text and start Sections; paragraphs, option tags (.TP, .IP) and no-fill blocks (.nf,
// .EX) keep their breaks; font and size escapes are dropped and special characters spelled out.
// The title is the NAME section's text ("ls - list directory contents"), else .TH's "LS(1)".
ExtractedDocument ExtractMan(std::string_view bytes);

// Markdown (CommonMark + GFM tables, strikethrough, autolinks, task lists): readable text with
// markup removed. Each block (paragraph, heading, list item, table row, code block, quote)
// becomes its own paragraph; code blocks keep their text and line breaks; link and image
// targets are dropped (their text is kept); raw HTML blocks are reduced to their text. Headings
// stay in the text and each starts a Section. YAML front matter at the start is dropped; the
// title is its `title:` if it has one, else the first level-1 heading. Bounded work: a document
// whose tables would hold more than 200,000 cells or 256 columns is read without the table
// extension (its rows stay as text), with a note in `notes`.
ExtractedDocument ExtractMarkdown(std::string_view bytes);

// HTML: visible text. script, style, nav, noscript, template, iframe, svg, canvas, object and
// <head> are dropped (<title> becomes the title; if absent the first <h1>); block elements
// become paragraph breaks, <br> a line break, table cells are separated by a tab; whitespace
// (no-break spaces included) is collapsed to one space except inside <pre> and <textarea>;
// entities are decoded; h1-h6 start Sections. Input is UTF-8, except that a page which is not
// valid UTF-8 and declares charset iso-8859-1/windows-1252 is decoded as windows-1252.
// Bounded work on hostile markup: elements nested deeper than 256 levels lose their tags (their
// text is kept) and attributes past 256 on one tag are dropped, with a note in `notes`; pages
// within those bounds are parsed unchanged.
ExtractedDocument ExtractHtml(std::string_view bytes);

// PDF: each page's text in reading order, pages separated by a blank line, one PageStart per
// page; ligatures (U+FB00..U+FB06) spelled out; the title from the document information
// dictionary. Fails with kInvalidInput for a
// corrupt file and kUnsupported for one that needs a password.
Result<ExtractedDocument> ExtractPdf(std::string_view bytes);

// BEIR corpus.jsonl: one JSON object per line with "_id" (string or integer), optional
// "title" and "text". key = _id; title kept; text = title + "\n\n" + text (just text when the
// title is empty), so lexical search sees the title as Xapian's BEIR baseline does. Blank
// lines are skipped; a record whose title and text are both empty is kept with empty text (a
// corpus may judge it, e.g. Cranfield 471 and 995). Fails naming the 1-based line for
// malformed JSON, a non-object, a missing/ill-typed field or a duplicate _id.
Result<std::vector<ExtractedDocument>> ExtractBeirCorpus(std::string_view bytes);

}  // namespace sieve::text
