// Opens a LLaMA model from a GGUF file, a safetensors file, or a HF model directory, with its
// tokenizer when the files carry one.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/dtype.h"
#include "models/llama.h"
#include "models/llava.h"
#include "tokenizer/spm_tokenizer.h"

namespace yopo {

struct LoadedModel {
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<SpmTokenizer> tokenizer;  // null when the files have none
  std::string format;                       // "gguf" or "safetensors"
  DType dtype = DType::BF16;                // weights in memory
  double load_ms = 0;
};

// Weights are held in dtype (BF16, F32, or I8: int8 projections with BF16 embedding and head,
// see load_llama_weights); nullopt: F32 for F32 files, else BF16.
// Throws yopo::Error with the path on any problem.
LoadedModel load_llama_model(const std::string& path, std::optional<DType> dtype = std::nullopt);

// A tokenizer alone: a tokenizer.model file, a GGUF file with tokenizer.ggml.* metadata, or a
// model directory holding tokenizer.model.
std::unique_ptr<SpmTokenizer> load_tokenizer(const std::string& path);

bool is_gguf_file(const std::string& path);

}  // namespace yopo

namespace yopo {

struct LlavaLoadOptions {
  std::string mmproj;          // llama.cpp layout: the vision/projector GGUF
  std::string vision_tower;    // original layout: the CLIP directory (default: from config.json)
  std::string tokenizer;       // overrides the checkpoint's tokenizer
  std::string image_mode;      // "pad" or "crop"; empty: from the checkpoint
  int64_t feature_layer = 0;   // 0: from the checkpoint
  std::optional<DType> dtype;  // nullopt: F32 for F32 files, else BF16
};

struct LoadedLlava {
  std::unique_ptr<LlavaModel> model;
  std::unique_ptr<SpmTokenizer> tokenizer;
  std::string layout;  // "llava-hf", "llava", "gguf"
  DType dtype = DType::BF16;
  double load_ms = 0;
};

// True when path (with the options) names a LLaVA checkpoint rather than a text-only model.
bool is_llava_checkpoint(const std::string& path, const LlavaLoadOptions& o);
// Loads any of the three layouts: llava-hf directory; original LLaVA directory (+ CLIP tower
// directory); llama.cpp text GGUF + mmproj GGUF.
LoadedLlava load_llava_model(const std::string& path, const LlavaLoadOptions& o);

}  // namespace yopo
