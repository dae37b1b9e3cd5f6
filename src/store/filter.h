// store: the metadata filter every search path applies (lexical in SQLite, dense in a vector
// store). One definition: retrieval::Filter and store::ChunkFilter are this type.
#pragma once

#include <string>
#include <vector>

namespace sieve::store {

// Which documents a query may return; an empty field means "no constraint". Fields combine with
// AND. A value type: copy it freely, share it read-only between threads.
struct Filter {
  std::string path_prefix;         // document source path starts with this (byte prefix)
  std::vector<std::string> types;  // document type names ("pdf", "markdown", ...): any of them
  std::vector<std::string> tags;   // user tags given at ingest: the document has all of them
  bool empty() const { return path_prefix.empty() && types.empty() && tags.empty(); }
};

}  // namespace sieve::store
