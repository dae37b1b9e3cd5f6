#include "store/model_json.h"

namespace sieve::store {

nlohmann::json ModelToJson(const models::ModelInfo& m) {
  return {{"id", m.id},
          {"revision", m.revision},
          {"architecture", m.architecture},
          {"dimension", m.dimension},
          {"pooling", m.pooling},
          {"normalize", m.normalize},
          {"query_prompt", m.query_prompt},
          {"max_seq_length", m.max_seq_length},
          {"precision", m.precision}};
}

models::ModelInfo ModelFromJson(const nlohmann::json& j) {
  models::ModelInfo m;
  m.id = j.at("id").get<std::string>();
  m.revision = j.at("revision").get<std::string>();
  m.architecture = j.value("architecture", std::string());
  m.dimension = j.at("dimension").get<std::size_t>();
  m.pooling = j.at("pooling").get<std::string>();
  m.normalize = j.value("normalize", false);
  m.query_prompt = j.at("query_prompt").get<std::string>();
  m.max_seq_length = j.value("max_seq_length", std::size_t{512});
  // Manifests written before int8 existed hold float32 vectors.
  m.precision = j.value("precision", std::string("fp32"));
  return m;
}

}  // namespace sieve::store
