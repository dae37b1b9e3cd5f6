// store: which database a set of vectors belongs to.
//
// Every sieve.db has a random `index_id` (made when the database is created, or on the first
// write-open of an older one) and a `vectors_generation` counter, both in its meta table. A
// vector writer raises the generation in sieve.db before it saves vectors and records the pair
// in the vector files. Vectors recorded with another index id (the database was deleted and made
// again) or with a generation above the database's (the database was restored from an older
// copy, so chunk ids may be handed out again) are never used: the store starts empty and a
// Reconcile re-embeds.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/status.h"

namespace sieve::store {

struct IndexIdentity {
  std::string index_id;  // 32 hex digits; "" for a database that has none yet (read-only, old)
  std::uint64_t generation = 0;
};

// How a vector store learns the identity of the database it belongs to.
struct VectorBinding {
  // The database's identity now. Called by Open after the vector files were read (so a writer
  // that raised the generation and then saved is never mistaken for a newer copy).
  std::function<Result<IndexIdentity>()> current;
  // Writers: raises the database's generation (committed) and returns the new identity. Called
  // by Flush before it writes; unset for readers (Flush then records current()).
  std::function<Result<IndexIdentity>()> advance;
};

}  // namespace sieve::store
