// libFuzzer target: opening a FAISS vector folder whose manifest (vectors.json) or index file is
// arbitrary bytes. Opening never crashes and never fails for damage: a damaged folder opens
// without the damaged part, damage() saying why; the store must then answer Ids() (never more
// ids than were saved) and Search() (finite scores). The
// first byte picks the file the rest replaces; the other one is a valid file from a real save.
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "models/encoder.h"
#include "store/faiss_vector_store.h"

namespace {

namespace fs = std::filesystem;
using namespace sieve;

constexpr std::size_t kDim = 4;

struct Folder {
  fs::path dir;
  fs::path manifest;
  std::string manifest_bytes;
  fs::path index;
  std::string index_bytes;
};

std::string Read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

models::ModelInfo Model() {
  models::ModelInfo m;
  m.id = "fuzz/model";
  m.dimension = kDim;
  m.pooling = "mean";
  m.normalize = true;
  return m;
}

// A folder saved once by the store itself: the valid files the inputs replace.
const Folder& ValidFolder() {
  static const Folder folder = [] {
    Folder f;
    f.dir = fs::temp_directory_path() / ("sieve-fuzz-manifest-" + std::to_string(::getpid()));
    fs::remove_all(f.dir);
    fs::create_directories(f.dir);
    auto store = store::FaissVectorStore::Open(f.dir);
    if (!store.ok() || !(*store)->BindModel(Model()).ok()) std::abort();
    std::vector<store::VectorRecord> records;
    for (std::int64_t id = 1; id <= 5; ++id) {
      records.push_back({id, {1.0f, static_cast<float>(id), 0.5f, -0.25f}, {}});
    }
    if (!(*store)->Upsert(records).ok() || !(*store)->Flush().ok()) std::abort();
    for (const auto& entry : fs::directory_iterator(f.dir)) {
      if (entry.path().filename() == store::kVectorManifestFile) {
        f.manifest = entry.path();
      } else if (entry.path().extension() == ".faiss") {
        f.index = entry.path();
      }
    }
    if (f.manifest.empty() || f.index.empty()) std::abort();
    f.manifest_bytes = Read(f.manifest);
    f.index_bytes = Read(f.index);
    return f;
  }();
  return folder;
}

void Write(const fs::path& path, std::string_view bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

// With SIEVE_FUZZ_SEEDS=DIR set, writes the two valid files (with their selector byte) into DIR
// as seeds: scripts/fuzz starts the corpus from them.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const Folder& folder = ValidFolder();
  std::atexit([] {
    std::error_code ignored;
    fs::remove_all(ValidFolder().dir, ignored);
  });
  if (const char* seeds = std::getenv("SIEVE_FUZZ_SEEDS")) {
    Write(fs::path(seeds) / "manifest", std::string(1, '\0') + folder.manifest_bytes);
    Write(fs::path(seeds) / "index", std::string(1, '\1') + folder.index_bytes);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const Folder& folder = ValidFolder();
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  // Only the two files: whatever the last open renamed or cleaned up goes.
  for (const auto& entry : fs::directory_iterator(folder.dir)) fs::remove_all(entry.path());
  const bool replace_manifest = (data[0] & 1) == 0;
  Write(folder.manifest, replace_manifest ? bytes : std::string_view(folder.manifest_bytes));
  Write(folder.index, replace_manifest ? std::string_view(folder.index_bytes) : bytes);

  auto opened = store::FaissVectorStore::Open(folder.dir);
  if (!opened.ok()) return 0;  // an I/O error, not damage
  store::FaissVectorStore& vectors = **opened;
  auto ids = vectors.Ids();
  if (!ids.ok()) std::abort();
  if (ids->size() > 5) std::abort();  // never more vectors than were saved
  if (vectors.model() && vectors.model()->dimension > 0 && vectors.model()->dimension <= 4096) {
    const std::vector<float> query(vectors.model()->dimension, 0.5f);
    auto hits = vectors.Search(query, 1, 3, store::Filter{}, nullptr);
    if (hits.ok()) {
      for (const auto& match : (*hits)[0]) {
        if (!std::isfinite(match.score)) std::abort();  // no junk scores
      }
    }
  }
  return 0;
}
