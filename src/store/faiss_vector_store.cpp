#include "store/faiss_vector_store.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string_view>
#include <unordered_set>

#include "core/file.h"
#include "store/model_json.h"

namespace sieve::store {

namespace fs = std::filesystem;
using faiss_id = faiss::Index::idx_t;

namespace {

// 2: vectors.faiss carries a checksum trailer, the manifest the index id and generation.
constexpr int kManifestFormat = 2;

// Unit length; a zero vector stays zero (it matches nothing).
void Normalize(float* v, std::size_t d) {
  double norm = 0;
  for (std::size_t i = 0; i < d; ++i) norm += static_cast<double>(v[i]) * v[i];
  if (norm <= 0) return;
  const float inv = static_cast<float>(1.0 / std::sqrt(norm));
  for (std::size_t i = 0; i < d; ++i) v[i] *= inv;
}

bool IsFinite(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

// vectors.faiss is FAISS's serialisation followed by a trailer that makes the file check itself:
//   "SIEVEVX1" | payload bytes (u64) | generation (u64) | index id (32 bytes, NUL padded) |
//   XXH3-64 of the payload and the 56 trailer bytes before it (u64); integers little-endian.
// The whole payload is hashed before FAISS reads a byte of it, so damaged or foreign data is
// never deserialised, and the index id / generation bind the file to its sieve.db.
constexpr char kTrailerMagic[8] = {'S', 'I', 'E', 'V', 'E', 'V', 'X', '1'};
constexpr std::size_t kTrailerIdBytes = 32;
constexpr std::size_t kTrailerHashed = 8 + 8 + 8 + kTrailerIdBytes;  // 56
constexpr std::size_t kTrailerBytes = kTrailerHashed + 8;            // 64

void PutU64(unsigned char* out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>((v >> (8 * i)) & 0xff);
}
std::uint64_t GetU64(const unsigned char* in) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | in[i];
  return v;
}

// Writes to a FILE* and hashes what it writes (the FAISS payload).
struct HashingFileWriter : faiss::IOWriter {
  std::FILE* f;
  XXH3_state_t* state;
  std::uint64_t bytes = 0;
  HashingFileWriter(std::FILE* file, XXH3_state_t* s) : f(file), state(s) {}
  size_t operator()(const void* ptr, size_t size, size_t nitems) override {
    const size_t written = std::fwrite(ptr, size, nitems, f);
    XXH3_64bits_update(state, ptr, size * written);
    bytes += size * written;
    return written;
  }
};

// Reads at most `limit` bytes from a FILE* (the payload, never the trailer); FAISS throws on a
// short read.
struct BoundedFileReader : faiss::IOReader {
  std::FILE* f;
  std::uint64_t left;
  BoundedFileReader(std::FILE* file, std::uint64_t limit) : f(file), left(limit) {}
  size_t operator()(void* ptr, size_t size, size_t nitems) override {
    if (size == 0) return 0;
    const size_t allowed = static_cast<size_t>(std::min<std::uint64_t>(nitems, left / size));
    const size_t got = std::fread(ptr, size, allowed, f);
    left -= got * size;
    return got;
  }
};

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

void FsyncDirectory(const fs::path& path) {
  const int dir_fd =
      ::open(path.parent_path().empty() ? "." : path.parent_path().c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

// FAISS payload + trailer to a temporary file, fsync, rename over `path`, fsync the directory.
Status WriteIndexAtomic(const faiss::Index& index, const fs::path& path,
                        const IndexIdentity& identity) {
  const fs::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return Status::IoError(tmp.string() + ": cannot create: " + strerror(errno));
  Status status;
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(),
                                                                 &XXH3_freeState);
  XXH3_64bits_reset(state.get());
  HashingFileWriter writer(f, state.get());
  try {
    faiss::write_index(&index, &writer);
  } catch (const std::exception& e) {
    status = Status::IoError(tmp.string() + ": writing the vector index failed: " + e.what());
  }
  if (status.ok()) {
    unsigned char trailer[kTrailerBytes] = {};
    std::memcpy(trailer, kTrailerMagic, 8);
    PutU64(trailer + 8, writer.bytes);
    PutU64(trailer + 16, identity.generation);
    std::memcpy(trailer + 24, identity.index_id.data(),
                std::min(identity.index_id.size(), kTrailerIdBytes));
    XXH3_64bits_update(state.get(), trailer, kTrailerHashed);
    PutU64(trailer + kTrailerHashed, XXH3_64bits_digest(state.get()));
    if (std::fwrite(trailer, 1, kTrailerBytes, f) != kTrailerBytes) {
      status = Status::IoError(tmp.string() + ": " + strerror(errno));
    }
  }
  if (status.ok() && (std::fflush(f) != 0 || ::fsync(::fileno(f)) != 0)) {
    status = Status::IoError(tmp.string() + ": " + strerror(errno));
  }
  if (std::fclose(f) != 0 && status.ok()) {
    status = Status::IoError(tmp.string() + ": " + strerror(errno));
  }
  if (status.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    status = Status::IoError(path.string() + ": cannot rename into place: " + strerror(errno));
  }
  if (!status.ok()) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    if (status.message().find("No space left") != std::string::npos) {
      return Status::IoError(path.string() +
                             ": disk full while saving the vectors (the previous "
                             "vectors are kept)");
    }
    return status;
  }
  FsyncDirectory(path);
  return Status::Ok();
}

// What the trailer of a vectors file says, once its checksum has been verified.
struct VerifiedFile {
  FilePtr file;
  std::uint64_t payload_bytes = 0;
  IndexIdentity identity;
};

// Opens `path`, checks the trailer and the XXH3 of the whole payload (streamed, constant memory).
// The error message says what is wrong; the caller records it as damage.
Result<VerifiedFile> VerifyIndexFile(const fs::path& path) {
  VerifiedFile out;
  out.file.reset(std::fopen(path.c_str(), "rb"));
  if (!out.file) return Status::IoError(path.string() + ": cannot open: " + strerror(errno));
  std::FILE* f = out.file.get();
  if (std::fseek(f, 0, SEEK_END) != 0) return Status::IoError(path.string() + ": cannot seek");
  const long size = std::ftell(f);
  if (size < static_cast<long>(kTrailerBytes)) {
    return Status::InvalidInput(path.string() + ": damaged: " + std::to_string(size) +
                                " bytes, too short for a Sieve vector file");
  }
  unsigned char trailer[kTrailerBytes];
  std::fseek(f, size - static_cast<long>(kTrailerBytes), SEEK_SET);
  if (std::fread(trailer, 1, kTrailerBytes, f) != kTrailerBytes) {
    return Status::IoError(path.string() + ": cannot read: " + strerror(errno));
  }
  if (std::memcmp(trailer, kTrailerMagic, 8) != 0) {
    return Status::InvalidInput(path.string() +
                                ": damaged or written by an older sieve (no checksum trailer)");
  }
  out.payload_bytes = GetU64(trailer + 8);
  if (out.payload_bytes != static_cast<std::uint64_t>(size) - kTrailerBytes) {
    return Status::InvalidInput(
        path.string() + ": damaged: the trailer says " + std::to_string(out.payload_bytes) +
        " payload bytes, the file has " + std::to_string(size - static_cast<long>(kTrailerBytes)));
  }
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(),
                                                                 &XXH3_freeState);
  XXH3_64bits_reset(state.get());
  std::fseek(f, 0, SEEK_SET);
  std::vector<unsigned char> block(1 << 20);
  std::uint64_t left = out.payload_bytes;
  while (left > 0) {
    const size_t want = static_cast<size_t>(std::min<std::uint64_t>(left, block.size()));
    if (std::fread(block.data(), 1, want, f) != want) {
      return Status::IoError(path.string() + ": cannot read: " + strerror(errno));
    }
    XXH3_64bits_update(state.get(), block.data(), want);
    left -= want;
  }
  XXH3_64bits_update(state.get(), trailer, kTrailerHashed);
  if (XXH3_64bits_digest(state.get()) != GetU64(trailer + kTrailerHashed)) {
    return Status::InvalidInput(path.string() +
                                ": damaged: the checksum of the vectors does not match");
  }
  out.identity.generation = GetU64(trailer + 16);
  const char* id = reinterpret_cast<const char*>(trailer + 24);
  out.identity.index_id.assign(id, strnlen(id, kTrailerIdBytes));
  std::fseek(f, 0, SEEK_SET);
  return out;
}

// FAISS's header of an IndexIDMap2 over IndexFlatIP / IndexHNSWFlat: the dimension and count
// must be the manifest's and fit the payload, before FAISS allocates anything from them.
Status CheckIndexHeader(std::FILE* f, std::uint64_t payload_bytes, std::size_t dimension,
                        const fs::path& path) {
  // fourcc, d (i32), ntotal (i64), two i64 dummies, is_trained (u8), metric (i32): 37 bytes,
  // then the inner index's fourcc and header.
  unsigned char head[74];
  const std::string where = path.string() + ": damaged: ";
  if (payload_bytes < sizeof head || std::fread(head, 1, sizeof head, f) != sizeof head) {
    return Status::InvalidInput(where + "too short for a FAISS index");
  }
  std::fseek(f, 0, SEEK_SET);
  auto i32 = [&](std::size_t at) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | head[at + static_cast<std::size_t>(i)];
    return static_cast<std::int32_t>(v);
  };
  auto i64 = [&](std::size_t at) { return static_cast<std::int64_t>(GetU64(head + at)); };
  if (std::memcmp(head, "IxM2", 4) != 0) {
    return Status::InvalidInput(where + "not an ID-mapped FAISS index");
  }
  const bool flat = std::memcmp(head + 37, "IxFI", 4) == 0;
  const bool hnsw = std::memcmp(head + 37, "IHNf", 4) == 0;
  if (!flat && !hnsw) return Status::InvalidInput(where + "not a flat or HNSW index");
  const std::int64_t d = i32(4), n = i64(8), inner_d = i32(41), inner_n = i64(45);
  if (d <= 0 || static_cast<std::uint64_t>(d) != dimension || inner_d != d) {
    return Status::InvalidInput(where + "header says " + std::to_string(d) +
                                " dimensions, the manifest's model " + std::to_string(dimension));
  }
  if (n < 0 || inner_n != n) {
    return Status::InvalidInput(where + "header counts disagree (" + std::to_string(n) + ", " +
                                std::to_string(inner_n) + ")");
  }
  // Every vector takes d floats and an 8-byte id: a count the file cannot hold is a lie.
  const std::uint64_t per_vector = static_cast<std::uint64_t>(d) * 4 + 8;
  if (static_cast<std::uint64_t>(n) > payload_bytes / per_vector) {
    return Status::InvalidInput(where + "header says " + std::to_string(n) + " vectors, " +
                                "more than its " + std::to_string(payload_bytes) +
                                " bytes can hold");
  }
  return Status::Ok();
}

// Removes temporary files a killed save left (vectors.faiss.tmp.PID, vectors.json.tmp.PID):
// called by a writer, which holds the index's writer lock, so none of them is being written.
// `keep_own`: spare this process's (a Flush, whose own files are not stale).
void RemoveTemporaries(const fs::path& dir, bool keep_own) {
  std::error_code ec;
  const std::string own = ".tmp." + std::to_string(::getpid());
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const bool ours = name.starts_with(std::string(kVectorIndexFile) + ".tmp.") ||
                      name.starts_with(std::string(kVectorManifestFile) + ".tmp.");
    if (ours && !(keep_own && name.ends_with(own))) {
      std::error_code ignored;
      fs::remove(it->path(), ignored);
    }
  }
}

}  // namespace

bool SameEmbeddingModel(const models::ModelInfo& a, const models::ModelInfo& b) {
  // A Hub commit names a model exactly, whatever path or id it was reached by.
  const bool same_source =
      (!a.revision.empty() && !b.revision.empty()) ? a.revision == b.revision : a.id == b.id;
  return same_source && a.dimension == b.dimension && a.pooling == b.pooling &&
         a.normalize == b.normalize && a.query_prompt == b.query_prompt &&
         a.precision == b.precision;
}

Status PrecisionMismatch(const models::ModelInfo& stored, const models::ModelInfo& model,
                         const std::string& where, const std::string& location_flag) {
  if (stored.precision == model.precision) return Status::Ok();
  return Status::InvalidArgument(
      "the vectors in " + where + " were made at precision " + stored.precision + " by " +
      DescribeModel(stored) + ", not at " + model.precision +
      "; vectors of different precisions are not mixed in one index. Use --precision " +
      stored.precision + " (models.precision), or re-embed every chunk at " + model.precision +
      " with `sieve " + location_flag + " reembed --embed-model " + model.id + " --precision " +
      model.precision + "`");
}

std::string DescribeModel(const models::ModelInfo& model) {
  std::string out = model.id;
  if (!model.revision.empty()) out += " @" + model.revision.substr(0, 12);
  out += " (" + std::to_string(model.dimension) + "-d";
  if (!model.pooling.empty()) out += ", " + model.pooling + " pooling";
  if (!model.query_prompt.empty()) out += ", query prompt \"" + model.query_prompt + "\"";
  if (model.precision != "fp32") out += ", " + model.precision;
  out += ")";
  return out;
}

std::string IdsChecksum(std::vector<std::int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  std::string bytes;
  bytes.reserve(ids.size() * 8);
  for (std::int64_t id : ids) {
    auto u = static_cast<std::uint64_t>(id);
    for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  }
  return Sha256Hex(bytes);
}

FaissVectorStore::FaissVectorStore(fs::path dir, VectorStoreOptions options)
    : dir_(std::move(dir)), options_(std::move(options)) {}

FaissVectorStore::~FaissVectorStore() = default;

Result<std::unique_ptr<FaissVectorStore>> FaissVectorStore::Open(
    const fs::path& dir, const VectorStoreOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return Status::NotFound(dir.string() + ": index directory does not exist");
  }
  const FaissIndexOptions& faiss = options.faiss;
  if (faiss.hnsw_m < 2 || faiss.hnsw_ef_construction < 1 || faiss.hnsw_ef_search < 1) {
    return Status::InvalidArgument(
        "vector index: HNSW M must be >= 2 and efConstruction, efSearch >= 1");
  }
  if (faiss.exact_threshold == 0) {
    return Status::InvalidArgument("vector index: the exact-search threshold must be >= 1");
  }
  std::unique_ptr<FaissVectorStore> store(new FaissVectorStore(dir, options));
  SIEVE_RETURN_IF_ERROR(store->LoadFiles());
  return store;
}

void FaissVectorStore::RemoveStaleTemporaries(const fs::path& dir, const IndexWriteLock& lock) {
  // Every save runs under the writer lock, in this process too: with it held, none is running.
  if (lock.held()) RemoveTemporaries(dir, /*keep_own=*/false);
}

std::string FaissUri(const fs::path& dir) {
  return "faiss:" + dir.string();
}

std::string FaissVectorStore::uri() const {
  return FaissUri(dir_);
}

std::optional<models::ModelInfo> FaissVectorStore::model() const {
  std::shared_lock lock(mutex_);
  return model_;
}

std::string FaissVectorStore::damage() const {
  std::shared_lock lock(mutex_);
  return damage_;
}

Status FaissVectorStore::LoadFiles() {
  const fs::path manifest_path = dir_ / kVectorManifestFile;
  std::error_code ec;
  const bool has_manifest = fs::exists(manifest_path, ec);
  if (!has_manifest) {
    // Vectors whose model is unknown cannot be trusted; Reconcile() re-embeds.
    const fs::path index_path = dir_ / kVectorIndexFile;
    if (fs::exists(index_path, ec))
      damage_ = index_path.string() + " has no " + kVectorManifestFile;
    return Status::Ok();
  }
  auto manifest_text = ReadFile(manifest_path, 16u << 20);
  if (!manifest_text.ok()) {
    damage_ = "vector manifest " + manifest_text.status().message();
    return Status::Ok();
  }
  std::size_t expected_count = 0;
  std::string expected_checksum;
  std::string index_file = kVectorIndexFile;
  try {
    const auto j = nlohmann::json::parse(*manifest_text);
    if (j.at("format").get<int>() != kManifestFormat) {
      damage_ = "vector manifest " + manifest_path.string() + ": format " + j.at("format").dump() +
                " is not this sieve's (" + std::to_string(kManifestFormat) +
                "); the vectors are rebuilt";
      return Status::Ok();
    }
    model_ = ModelFromJson(j.at("model"));
    expected_count = j.at("count").get<std::size_t>();
    expected_checksum = j.at("ids_sha256").get<std::string>();
    index_file = j.value("index_file", std::string(kVectorIndexFile));
  } catch (const std::exception& e) {
    model_.reset();
    damage_ = "vector manifest " + manifest_path.string() + " is damaged: " + e.what();
    return Status::Ok();
  }
  if (model_->dimension == 0 || model_->dimension > (1u << 16)) {
    damage_ = "vector manifest " + manifest_path.string() + " is damaged: model dimension " +
              std::to_string(model_->dimension);
    model_.reset();
    return Status::Ok();
  }
  if (index_file != kVectorIndexFile && index_file != kVectorStagedFile) {
    damage_ = "vector manifest " + manifest_path.string() + " is damaged: index file \"" +
              index_file + "\"";
    model_.reset();
    return Status::Ok();
  }
  const fs::path index_path = dir_ / index_file;
  if (!fs::exists(index_path, ec)) {
    if (expected_count > 0) {
      damage_ = index_path.string() + " is missing (manifest lists " +
                std::to_string(expected_count) + " vectors)";
    }
    return ResetIndexLocked(0);
  }
  auto verified = VerifyIndexFile(index_path);
  if (!verified.ok()) {
    damage_ = verified.status().message();
    return ResetIndexLocked(0);
  }
  // Bound to its database: checked after the file was read (see VectorBinding::current).
  if (options_.binding.current) {
    auto database = options_.binding.current();
    if (!database.ok()) return database.status();
    const IndexIdentity& file = verified->identity;
    if (file.index_id != database->index_id) {
      damage_ = index_path.string() + " belongs to another index (id " +
                (file.index_id.empty() ? "none" : file.index_id) + ", sieve.db has " +
                (database->index_id.empty() ? "none" : database->index_id) +
                "): the vectors are rebuilt";
      return ResetIndexLocked(0);
    }
    if (file.generation > database->generation) {
      damage_ = index_path.string() + " is newer than sieve.db (vector generation " +
                std::to_string(file.generation) + ", database " +
                std::to_string(database->generation) +
                "; was sieve.db restored from a copy?): the vectors are rebuilt";
      return ResetIndexLocked(0);
    }
  }
  // The header is checked against the file's own size (the manifest's count may be older than
  // the file: killed between the two renames; compared below).
  std::unique_ptr<faiss::Index> loaded;
  {
    Status header = CheckIndexHeader(verified->file.get(), verified->payload_bytes,
                                     model_->dimension, index_path);
    if (!header.ok()) {
      damage_ = header.message();
      return ResetIndexLocked(0);
    }
    BoundedFileReader reader(verified->file.get(), verified->payload_bytes);
    try {
      loaded.reset(faiss::read_index(&reader));
    } catch (const std::exception& e) {
      damage_ = index_path.string() + ": unreadable: " + e.what();
      return ResetIndexLocked(0);
    }
  }
  auto* id_map = dynamic_cast<faiss::IndexIDMap2*>(loaded.get());
  const bool inner_ok =
      id_map != nullptr && (dynamic_cast<faiss::IndexFlatIP*>(id_map->index) != nullptr ||
                            dynamic_cast<faiss::IndexHNSWFlat*>(id_map->index) != nullptr);
  if (!inner_ok || loaded->metric_type != faiss::METRIC_INNER_PRODUCT) {
    damage_ = index_path.string() + ": not an ID-mapped inner-product flat or HNSW index";
    return ResetIndexLocked(0);
  }
  if (static_cast<std::size_t>(loaded->d) != model_->dimension) {
    damage_ = index_path.string() + ": vectors have " + std::to_string(loaded->d) +
              " dimensions, the manifest's model " + std::to_string(model_->dimension);
    return ResetIndexLocked(0);
  }
  loaded.release();
  index_.reset(id_map);
  std::vector<std::int64_t> ids(index_->id_map.begin(), index_->id_map.end());
  if (ids.size() != expected_count || IdsChecksum(ids) != expected_checksum) {
    // Saved between the index and its manifest (the index is the newer one; both are from the
    // same model). Reconcile() compares against the store and Save() rewrites the manifest.
    damage_ = manifest_path.string() + " does not match " + index_file + " (" +
              std::to_string(expected_count) + " vs " + std::to_string(ids.size()) + " ids)";
  }
  return Status::Ok();
}

Status FaissVectorStore::ResetIndexLocked(std::size_t expected_size) {
  if (!model_) return Status::Internal("vector index: no model bound");
  const int d = static_cast<int>(model_->dimension);
  try {
    std::unique_ptr<faiss::Index> inner;
    if (expected_size >= options_.faiss.exact_threshold) {
      auto hnsw = std::make_unique<faiss::IndexHNSWFlat>(d, options_.faiss.hnsw_m,
                                                         faiss::METRIC_INNER_PRODUCT);
      hnsw->hnsw.efConstruction = options_.faiss.hnsw_ef_construction;
      hnsw->hnsw.efSearch = options_.faiss.hnsw_ef_search;
      inner = std::move(hnsw);
    } else {
      inner = std::make_unique<faiss::IndexFlatIP>(d);
    }
    auto id_map = std::make_unique<faiss::IndexIDMap2>(inner.release());
    id_map->own_fields = true;
    index_ = std::move(id_map);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("vector index: ") + e.what());
  }
  return Status::Ok();
}

Status FaissVectorStore::BindModel(const models::ModelInfo& model) {
  std::unique_lock lock(mutex_);
  if (model.dimension == 0) {
    return Status::InvalidArgument("embedding model " + model.id + " reports dimension 0");
  }
  if (model_) {
    if (SameEmbeddingModel(*model_, model)) return Status::Ok();
    if (model_->precision != model.precision) {
      SIEVE_RETURN_IF_ERROR(
          PrecisionMismatch(*model_, model, dir_.string(), "--index " + dir_.string()));
    }
    return Status::InvalidArgument(
        "the vectors in " + dir_.string() + " were made by " + DescribeModel(*model_) +
        ", not by " + DescribeModel(model) +
        "; vectors of different models cannot be mixed. To re-embed every chunk with the new "
        "model run `sieve --index " +
        dir_.string() + " reembed --embed-model " + model.id +
        "`, or use the old model (--embed-model " + model_->id + ")");
  }
  model_ = model;
  return ResetIndexLocked(0);
}

std::size_t FaissVectorStore::SizeLocked() const {
  return index_ ? static_cast<std::size_t>(index_->ntotal) : 0;
}

Result<std::size_t> FaissVectorStore::size() const {
  std::shared_lock lock(mutex_);
  return SizeLocked();
}

bool FaissVectorStore::is_hnsw() const {
  std::shared_lock lock(mutex_);
  return index_ && dynamic_cast<const faiss::IndexHNSW*>(index_->index) != nullptr;
}

Result<std::vector<std::int64_t>> FaissVectorStore::Ids() const {
  std::shared_lock lock(mutex_);
  if (!index_) return std::vector<std::int64_t>{};
  std::vector<std::int64_t> ids(index_->id_map.begin(), index_->id_map.end());
  std::sort(ids.begin(), ids.end());
  return ids;
}

Result<std::vector<float>> FaissVectorStore::Vector(std::int64_t id) const {
  std::shared_lock lock(mutex_);
  if (!index_ || index_->rev_map.count(id) == 0) {
    return Status::NotFound("vector index: no vector for chunk " + std::to_string(id));
  }
  std::vector<float> v(model_->dimension);
  try {
    index_->reconstruct(id, v.data());
  } catch (const std::exception& e) {
    return Status::Internal(std::string("vector index: ") + e.what());
  }
  return v;
}

// Builds a fresh index (kind chosen by size) holding every vector except those of `drop`.
Status FaissVectorStore::RebuildLocked(const std::vector<std::int64_t>& drop) {
  const std::unordered_set<std::int64_t> dropped(drop.begin(), drop.end());
  const std::size_t d = model_->dimension;
  std::vector<faiss_id> keep_ids;
  std::vector<float> keep_vectors;
  try {
    for (std::size_t i = 0; i < index_->id_map.size(); ++i) {
      const faiss_id id = index_->id_map[i];
      if (dropped.count(id) > 0) continue;
      keep_ids.push_back(id);
      keep_vectors.resize(keep_ids.size() * d);
      index_->index->reconstruct(static_cast<faiss_id>(i),
                                 keep_vectors.data() + (keep_ids.size() - 1) * d);
    }
  } catch (const std::exception& e) {
    return Status::Internal(std::string("vector index: rebuild failed: ") + e.what());
  }
  SIEVE_RETURN_IF_ERROR(ResetIndexLocked(keep_ids.size()));
  if (keep_ids.empty()) return Status::Ok();
  try {
    index_->add_with_ids(static_cast<faiss_id>(keep_ids.size()), keep_vectors.data(),
                         keep_ids.data());
  } catch (const std::exception& e) {
    return Status::Internal(std::string("vector index: rebuild failed: ") + e.what());
  }
  return Status::Ok();
}

Status FaissVectorStore::Upsert(std::span<const VectorRecord> records) {
  std::unique_lock lock(mutex_);
  if (!model_ || !index_) {
    return Status::Internal("vector index: Upsert before a model was bound");
  }
  if (records.empty()) return Status::Ok();
  const std::size_t d = model_->dimension;
  std::vector<float> flat(records.size() * d);
  std::vector<faiss_id> ids;
  ids.reserve(records.size());
  std::unordered_set<std::int64_t> seen;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const VectorRecord& r = records[i];
    if (!seen.insert(r.chunk_id).second) {
      return Status::InvalidArgument("vector index: chunk " + std::to_string(r.chunk_id) +
                                     " given twice");
    }
    if (r.vector.size() != d) {
      return Status::InvalidArgument(
          "vector index: vector for chunk " + std::to_string(r.chunk_id) + " has " +
          std::to_string(r.vector.size()) + " dimensions, the index " + std::to_string(d));
    }
    if (!IsFinite(r.vector)) {
      return Status::InvalidInput("vector index: vector for chunk " + std::to_string(r.chunk_id) +
                                  " has NaN or infinite values");
    }
    std::copy(r.vector.begin(), r.vector.end(), flat.begin() + static_cast<std::ptrdiff_t>(i * d));
    Normalize(flat.data() + i * d, d);
    ids.push_back(r.chunk_id);
  }
  std::vector<faiss_id> replaced;
  for (faiss_id id : ids) {
    if (index_->rev_map.count(id) > 0) replaced.push_back(id);
  }
  const bool hnsw = dynamic_cast<const faiss::IndexHNSW*>(index_->index) != nullptr;
  const std::size_t final_size = SizeLocked() - replaced.size() + ids.size();
  const std::size_t threshold = options_.faiss.exact_threshold;
  // HNSW cannot delete; crossing the threshold changes the kind: both mean a rebuild.
  const bool rebuild = (hnsw && !replaced.empty()) || (!hnsw && final_size >= threshold) ||
                       (hnsw && final_size < threshold);
  try {
    if (rebuild) {
      // Rebuild once with the new vectors included, so the kind fits the final size.
      std::vector<faiss_id> all_ids;
      std::vector<float> all_vectors;
      const std::unordered_set<std::int64_t> drop(replaced.begin(), replaced.end());
      all_ids.reserve(final_size);
      all_vectors.reserve(final_size * d);
      std::vector<float> v(d);
      for (std::size_t i = 0; i < index_->id_map.size(); ++i) {
        if (drop.count(index_->id_map[i]) > 0) continue;
        index_->index->reconstruct(static_cast<faiss_id>(i), v.data());
        all_ids.push_back(index_->id_map[i]);
        all_vectors.insert(all_vectors.end(), v.begin(), v.end());
      }
      all_ids.insert(all_ids.end(), ids.begin(), ids.end());
      all_vectors.insert(all_vectors.end(), flat.begin(), flat.end());
      SIEVE_RETURN_IF_ERROR(ResetIndexLocked(all_ids.size()));
      index_->add_with_ids(static_cast<faiss_id>(all_ids.size()), all_vectors.data(),
                           all_ids.data());
      return Status::Ok();
    }
    if (!replaced.empty()) {
      faiss::IDSelectorBatch selector(replaced.size(), replaced.data());
      index_->remove_ids(selector);
    }
    index_->add_with_ids(static_cast<faiss_id>(ids.size()), flat.data(), ids.data());
  } catch (const std::exception& e) {
    return Status::Internal(std::string("vector index: adding vectors failed: ") + e.what());
  }
  return Status::Ok();
}

Status FaissVectorStore::Remove(std::span<const std::int64_t> ids) {
  std::unique_lock lock(mutex_);
  if (!index_) return Status::Ok();
  std::vector<faiss_id> present;
  for (std::int64_t id : ids) {
    if (index_->rev_map.count(id) > 0) present.push_back(id);
  }
  if (present.empty()) return Status::Ok();
  const bool hnsw = dynamic_cast<const faiss::IndexHNSW*>(index_->index) != nullptr;
  if (hnsw) return RebuildLocked(present);
  try {
    faiss::IDSelectorBatch selector(present.size(), present.data());
    index_->remove_ids(selector);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("vector index: removing vectors failed: ") + e.what());
  }
  return Status::Ok();
}

Status FaissVectorStore::Clear() {
  std::unique_lock lock(mutex_);
  std::error_code ec;
  // Manifest first: an index file left without one is treated as damaged, never trusted.
  for (const char* name : {kVectorManifestFile, kVectorIndexFile}) {
    fs::remove(dir_ / name, ec);
    if (ec) return Status::IoError((dir_ / name).string() + ": cannot delete: " + ec.message());
  }
  model_.reset();
  index_.reset();
  damage_.clear();
  return Status::Ok();
}

Result<std::vector<std::vector<VectorMatch>>> FaissVectorStore::Search(
    std::span<const float> queries, std::size_t n, std::size_t k, const Filter& filter,
    RequestContext* ctx) const {
  Span span;
  if (ctx != nullptr) {
    SIEVE_RETURN_IF_ERROR(ctx->Check());
    span = ctx->StartSpan("vector_store.search", SpanKind::kInternal);
    span.SetAttribute("vector_store.n", static_cast<std::int64_t>(n));
    span.SetAttribute("vector_store.k", static_cast<std::int64_t>(k));
  }
  std::vector<std::vector<VectorMatch>> results(n);
  // Resolve the filter before taking the lock: the resolver reads the SQLite store.
  std::optional<std::vector<std::int64_t>> allowed;
  if (!filter.empty()) {
    if (!options_.resolve_filter) {
      return Status::InvalidArgument(
          "vector index: a filtered search needs a filter resolver (none given at open)");
    }
    SIEVE_ASSIGN_OR_RETURN(allowed, options_.resolve_filter(filter));
  }
  std::shared_lock lock(mutex_);
  if (!index_ || !model_) return results;
  const std::size_t d = model_->dimension;
  if (queries.size() != n * d) {
    return Status::InvalidArgument("vector index: " + std::to_string(queries.size()) +
                                   " query floats for " + std::to_string(n) + " queries of " +
                                   std::to_string(d) + " dimensions");
  }
  if (index_->ntotal == 0 || k == 0 || n == 0) return results;
  std::vector<float> q(queries.begin(), queries.end());
  if (!IsFinite(q)) return Status::InvalidInput("vector index: query vector is not finite");
  for (std::size_t i = 0; i < n; ++i) Normalize(q.data() + i * d, d);

  std::vector<faiss_id> allowed_internal;
  if (allowed) {
    for (std::int64_t id : *allowed) {
      auto it = index_->rev_map.find(id);
      if (it != index_->rev_map.end()) allowed_internal.push_back(it->second);
    }
    if (allowed_internal.empty()) return results;
    std::sort(allowed_internal.begin(), allowed_internal.end());
    allowed_internal.erase(std::unique(allowed_internal.begin(), allowed_internal.end()),
                           allowed_internal.end());
  }
  const std::size_t candidates =
      allowed ? allowed_internal.size() : static_cast<std::size_t>(index_->ntotal);
  const std::size_t kk = std::min(k, candidates);
  std::vector<float> distances(n * kk);
  std::vector<faiss_id> labels(n * kk, -1);
  const auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(index_->index);
  try {
    if (allowed && hnsw != nullptr && allowed_internal.size() <= 50000) {
      // A small allowed set is scored exactly: a filtered graph walk could miss some of them.
      std::vector<float> allowed_vectors(allowed_internal.size() * d);
      for (std::size_t j = 0; j < allowed_internal.size(); ++j) {
        index_->index->reconstruct(allowed_internal[j], allowed_vectors.data() + j * d);
      }
      std::vector<std::pair<float, faiss_id>> scored(allowed_internal.size());
      for (std::size_t qi = 0; qi < n; ++qi) {
        const float* qv = q.data() + qi * d;
        for (std::size_t j = 0; j < allowed_internal.size(); ++j) {
          const float* v = allowed_vectors.data() + j * d;
          float dot = 0;
          for (std::size_t i = 0; i < d; ++i) dot += v[i] * qv[i];
          scored[j] = {dot, allowed_internal[j]};
        }
        std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(kk),
                          scored.end(), [](const auto& a, const auto& b) {
                            return a.first != b.first ? a.first > b.first : a.second < b.second;
                          });
        for (std::size_t i = 0; i < kk; ++i) {
          distances[qi * kk + i] = scored[i].first;
          labels[qi * kk + i] = scored[i].second;
        }
      }
    } else {
      std::unique_ptr<faiss::IDSelectorBatch> selector;
      if (allowed) {
        selector = std::make_unique<faiss::IDSelectorBatch>(allowed_internal.size(),
                                                            allowed_internal.data());
      }
      if (hnsw != nullptr) {
        faiss::SearchParametersHNSW params;
        params.sel = selector.get();
        params.efSearch = std::max(options_.faiss.hnsw_ef_search, static_cast<int>(kk));
        index_->index->search(static_cast<faiss_id>(n), q.data(), static_cast<faiss_id>(kk),
                              distances.data(), labels.data(), &params);
      } else {
        faiss::SearchParameters params;
        params.sel = selector.get();
        index_->index->search(static_cast<faiss_id>(n), q.data(), static_cast<faiss_id>(kk),
                              distances.data(), labels.data(), &params);
      }
    }
  } catch (const std::exception& e) {
    return Status::Internal(std::string("vector index: search failed: ") + e.what());
  }
  for (std::size_t qi = 0; qi < n; ++qi) {
    auto& matches = results[qi];
    for (std::size_t i = 0; i < kk; ++i) {
      const faiss_id label = labels[qi * kk + i];
      if (label < 0) continue;
      matches.push_back({index_->id_map[static_cast<std::size_t>(label)], distances[qi * kk + i]});
    }
  }
  return results;
}

Status FaissVectorStore::Flush() {
  std::unique_lock lock(mutex_);
  if (!model_ || !index_) return Status::Ok();  // nothing bound, nothing to record
  RemoveTemporaries(dir_, /*keep_own=*/true);
  // The database's generation goes up first: vectors are never newer than their sieve.db.
  IndexIdentity identity;
  if (options_.binding.advance) {
    SIEVE_ASSIGN_OR_RETURN(identity, options_.binding.advance());
  } else if (options_.binding.current) {
    SIEVE_ASSIGN_OR_RETURN(identity, options_.binding.current());
  }
  SIEVE_RETURN_IF_ERROR(WriteIndexAtomic(*index_, dir_ / kVectorIndexFile, identity));
  SIEVE_RETURN_IF_ERROR(WriteFileAtomic(dir_ / kVectorManifestFile,
                                        ManifestLocked(kVectorIndexFile, identity).dump(2) + "\n"));
  // A staged file an earlier re-embedding swapped in is superseded now.
  std::error_code ignored;
  fs::remove(dir_ / kVectorStagedFile, ignored);
  damage_.clear();
  return Status::Ok();
}

nlohmann::json FaissVectorStore::ManifestLocked(const std::string& index_file,
                                                const IndexIdentity& identity) const {
  std::vector<std::int64_t> ids(index_->id_map.begin(), index_->id_map.end());
  return {
      {"format", kManifestFormat},
      {"index_id", identity.index_id},
      {"generation", identity.generation},
      {"model", ModelToJson(*model_)},
      {"count", ids.size()},
      {"ids_sha256", IdsChecksum(ids)},
      {"index_file", index_file},
      {"kind", dynamic_cast<const faiss::IndexHNSW*>(index_->index) != nullptr ? "hnsw" : "flat"},
      {"hnsw",
       {{"M", options_.faiss.hnsw_m}, {"efConstruction", options_.faiss.hnsw_ef_construction}}}};
}

Result<std::unique_ptr<VectorStore>> FaissVectorStore::OpenStaging() {
  const fs::path staging = dir_ / kVectorStagingDir;
  std::error_code ec;
  fs::create_directories(staging, ec);
  if (ec) return Status::IoError(staging.string() + ": cannot create: " + ec.message());
  SIEVE_ASSIGN_OR_RETURN(auto opened, FaissVectorStore::Open(staging, options_));
  return std::unique_ptr<VectorStore>(std::move(opened));
}

Status FaissVectorStore::CommitStaging(VectorStore& staged_store) {
  auto* staged = dynamic_cast<FaissVectorStore*>(&staged_store);
  if (staged == nullptr || staged->dir_ != dir_ / kVectorStagingDir) {
    return Status::Internal("vector index: CommitStaging with a store OpenStaging did not make");
  }
  SIEVE_RETURN_IF_ERROR(staged->Flush());
  std::unique_lock lock(mutex_);
  std::unique_lock staged_lock(staged->mutex_);
  if (!staged->model_ || !staged->index_) {
    return Status::Internal("vector index: the staged vectors have no model");
  }
  // 1. The staged file beside the live one (a hard link: the staging folder stays whole until
  //    the swap is committed, so a crash here loses nothing).
  const fs::path staged_file = dir_ / kVectorStagedFile;
  std::error_code ec;
  fs::remove(staged_file, ec);
  fs::create_hard_link(staged->dir_ / kVectorIndexFile, staged_file, ec);
  if (ec) {
    ec.clear();
    fs::copy_file(staged->dir_ / kVectorIndexFile, staged_file, ec);
    if (ec) return Status::IoError(staged_file.string() + ": " + ec.message());
  }
  FsyncDirectory(staged_file);
  // 2. The commit point: one atomic rename of the manifest that names the staged file.
  IndexIdentity identity;
  if (options_.binding.current) {
    SIEVE_ASSIGN_OR_RETURN(identity, options_.binding.current());
  }
  SIEVE_RETURN_IF_ERROR(
      WriteFileAtomic(dir_ / kVectorManifestFile,
                      staged->ManifestLocked(kVectorStagedFile, identity).dump(2) + "\n"));
  // 3. The old vectors and the staging folder are not needed any more.
  fs::remove(dir_ / kVectorIndexFile, ec);
  fs::remove_all(staged->dir_, ec);
  model_ = staged->model_;
  index_ = std::move(staged->index_);
  staged->model_.reset();
  damage_.clear();
  return Status::Ok();
}

Result<ReconcileReport> Reconcile(VectorStore& vectors, const std::vector<std::int64_t>& store_ids,
                                  const EmbedChunks& embed, const ReconcileOptions& options) {
  if (!vectors.model()) {
    return Status::Internal("Reconcile: no embedding model bound to the vector store");
  }
  ReconcileReport report;
  const std::unordered_set<std::int64_t> wanted(store_ids.begin(), store_ids.end());
  SIEVE_ASSIGN_OR_RETURN(const auto have_ids, vectors.Ids());
  const std::unordered_set<std::int64_t> have(have_ids.begin(), have_ids.end());
  std::vector<std::int64_t> stale;
  for (std::int64_t id : have_ids) {
    if (wanted.count(id) == 0) stale.push_back(id);
  }
  std::vector<std::int64_t> missing;
  for (std::int64_t id : wanted) {
    if (have.count(id) == 0) missing.push_back(id);
  }
  std::sort(missing.begin(), missing.end());
  const bool needs_save = !vectors.damage().empty();
  if (!stale.empty()) {
    SIEVE_RETURN_IF_ERROR(vectors.Remove(stale));
    report.stale_removed = stale.size();
  }
  const std::size_t batch = std::max<std::size_t>(1, options.batch_size);
  std::size_t since_save = 0;
  for (std::size_t start = 0; start < missing.size(); start += batch) {
    const std::vector<std::int64_t> ids(
        missing.begin() + static_cast<std::ptrdiff_t>(start),
        missing.begin() + static_cast<std::ptrdiff_t>(std::min(missing.size(), start + batch)));
    auto records = embed(ids);
    Status status = records.ok() ? Status::Ok() : records.status();
    if (status.ok() && records->size() > ids.size()) {
      status = Status::Internal("embedding returned " + std::to_string(records->size()) +
                                " vectors for " + std::to_string(ids.size()) + " chunks");
    }
    // Records come in the order of `ids`; ids without one were deleted meanwhile.
    for (std::size_t i = 0, r = 0; status.ok() && r < records->size(); ++r) {
      while (i < ids.size() && ids[i] != (*records)[r].chunk_id) ++i;
      if (i == ids.size()) status = Status::Internal("embedding returned records out of order");
      ++i;
    }
    if (status.ok()) status = vectors.Upsert(*records);
    if (!status.ok()) {
      // Keep what was embedded so far; a rerun continues from there.
      if (report.missing_embedded > 0 || report.stale_removed > 0) (void)vectors.Flush();
      return status;
    }
    report.missing_embedded += records->size();
    report.vanished += ids.size() - records->size();
    since_save += records->size();
    const std::size_t handled = report.missing_embedded + report.vanished;
    if (options.progress) options.progress(handled, missing.size());
    if (since_save >= options.save_every && handled < missing.size()) {
      SIEVE_RETURN_IF_ERROR(vectors.Flush());
      since_save = 0;
    }
  }
  if (needs_save || report.stale_removed > 0 || report.missing_embedded > 0) {
    SIEVE_RETURN_IF_ERROR(vectors.Flush());
    report.saved = true;
  }
  return report;
}

}  // namespace sieve::store
