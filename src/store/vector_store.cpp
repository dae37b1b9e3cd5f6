#include "store/vector_store.h"

#include <string_view>

#include "store/faiss_vector_store.h"
#include "store/qdrant_vector_store.h"

namespace sieve::store {

namespace {
constexpr std::string_view kFaiss = "faiss:";
}  // namespace

void RemoveStaleTemporaries(const std::string& uri, const IndexWriteLock& lock) {
  if (uri.starts_with(kFaiss) && uri.size() > kFaiss.size()) {
    FaissVectorStore::RemoveStaleTemporaries(uri.substr(kFaiss.size()), lock);
  }
}

Result<std::unique_ptr<VectorStore>> OpenVectorStore(const std::string& uri,
                                                     const VectorStoreOptions& options) {
  if (uri.starts_with(kFaiss)) {
    const std::string dir = uri.substr(kFaiss.size());
    if (dir.empty()) return Status::InvalidArgument("vector store URI " + uri + " names no folder");
    SIEVE_ASSIGN_OR_RETURN(auto store, FaissVectorStore::Open(dir, options));
    return std::unique_ptr<VectorStore>(std::move(store));
  }
  if (uri.starts_with("qdrant://") || uri.starts_with("qdrants://")) {
    SIEVE_ASSIGN_OR_RETURN(auto store, QdrantVectorStore::Open(uri, options));
    return std::unique_ptr<VectorStore>(std::move(store));
  }
  const std::size_t colon = uri.find(':');
  return Status::Unsupported(
      "unsupported vector store scheme \"" +
      (colon == std::string::npos ? uri : uri.substr(0, colon)) + "\" in \"" + uri +
      "\" (supported: faiss:<dir>, qdrant://HOST:PORT/COLLECTION, qdrants://HOST:PORT/COLLECTION)");
}

}  // namespace sieve::store
