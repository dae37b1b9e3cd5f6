// retrieval/tracing.h: the OpenInference attributes of the stage's spans (internal helpers).
//
// Retrievers open a RETRIEVER span when SearchRequest::ctx is set; when that context records
// attributes, the span lists its documents as retrieval.documents.{i}.document.{id, score,
// content, metadata}: id = the chunk id, content = the chunk's text (through
// SearchRequest::documents), metadata = a JSON object with the document key, path, title,
// section, page and every stage's score. The reranker's span lists reranker.input_documents and
// reranker.output_documents the same way.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/context.h"
#include "retrieval/retriever.h"
#include "store/document_store.h"

namespace sieve::retrieval {

// Sets "<prefix>.{i}.document.*" for each hit; `chunks` (same order as hits, or empty) gives
// content and metadata.
void SetDocumentAttributes(Span& span, std::string_view prefix, const std::vector<Hit>& hits,
                           const std::vector<const store::ChunkRecord*>& chunks);

// Fetches the hits' chunks through request.documents (when set) and sets the span's
// retrieval.documents. Does nothing unless request.ctx records attributes. A failed lookup only
// leaves the content out.
void RecordRetrievedDocuments(Span& span, const std::vector<Hit>& hits,
                              const SearchRequest& request);

}  // namespace sieve::retrieval
