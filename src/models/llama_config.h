// Hyper-parameters of a LLaMA-architecture decoder, from HF config.json or GGUF metadata.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "ops/rope.h"

namespace yopo {

class GgufFile;

struct LlamaConfig {
  int64_t vocab_size = 0;
  int64_t dim = 0;         // hidden size
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t ffn_dim = 0;     // intermediate size
  int64_t max_position = 2048;
  float norm_eps = 1e-6f;
  double rope_theta = 10000.0;
  ops::RopeScaling rope_scaling;
  bool tied_embeddings = false;
  int32_t bos_id = 1;
  int32_t eos_id = 2;

  // Throws yopo::Error when sizes are missing or inconsistent.
  void validate() const;
};

// From a HF LlamaForCausalLM config.json object (also a LLaVA "text_config").
LlamaConfig llama_config_from_hf(const nlohmann::json& j);
// From GGUF metadata with general.architecture == "llama".
LlamaConfig llama_config_from_gguf(const GgufFile& f);

}  // namespace yopo
