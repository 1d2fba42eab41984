#include "runtime/model_loader.h"

#include <chrono>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/gguf.h"
#include "io/json_file.h"
#include "io/safetensors.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/sp_model_file.h"

namespace yopo {

namespace fs = std::filesystem;

bool is_gguf_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[4] = {};
  return f.read(magic, 4) && std::string(magic, 4) == "GGUF";
}

namespace {

// The HF prefix under which the decoder's tensors live ("model.", "language_model.model.").
LlamaTensorNames detect_hf_names(const TensorSource& src) {
  for (const char* prefix : {"model.", "language_model.model."}) {
    if (src.find(std::string(prefix) + "embed_tokens.weight")) {
      const std::string p(prefix);
      return LlamaTensorNames::hf(p, p.substr(0, p.size() - std::string("model.").size()));
    }
  }
  fail("no LLaMA embedding tensor (model.embed_tokens.weight) in the safetensors files");
}

}  // namespace

LoadedModel load_llama_model(const std::string& path, std::optional<DType> dtype) {
  const auto t0 = std::chrono::steady_clock::now();
  check(fs::exists(path), "model path '", path, "' does not exist");
  LoadedModel out;
  if (fs::is_regular_file(path) && is_gguf_file(path)) {
    GgufFile f(path);
    LlamaConfig cfg = llama_config_from_gguf(f);
    const LlamaTensorNames names = LlamaTensorNames::gguf();
    out.dtype = dtype.value_or(auto_weight_dtype(f, names.embedding()));
    LlamaWeights w = load_llama_weights(f, cfg, names, out.dtype);
    out.model = std::make_unique<LlamaModel>(std::move(cfg), std::move(w));
    if (f.has("tokenizer.ggml.model"))
      out.tokenizer = std::make_unique<SpmTokenizer>(vocab_from_gguf(f));
    out.format = "gguf";
  } else {
    const fs::path dir = fs::is_directory(path) ? fs::path(path) : fs::path(path).parent_path();
    const fs::path config = dir / "config.json";
    check(fs::exists(config), "no config.json next to '", path,
          "' (a safetensors model needs its HF config.json)");
    LlamaConfig cfg = llama_config_from_hf(read_json_file(config.string()));
    SafetensorsModel st(path);
    const LlamaTensorNames names = detect_hf_names(st);
    out.dtype = dtype.value_or(auto_weight_dtype(st, names.embedding()));
    LlamaWeights w = load_llama_weights(st, cfg, names, out.dtype);
    out.model = std::make_unique<LlamaModel>(std::move(cfg), std::move(w));
    if (fs::exists(dir / "tokenizer.model"))
      out.tokenizer = std::make_unique<SpmTokenizer>(
          load_sp_model_vocab((dir / "tokenizer.model").string()));
    out.format = "safetensors";
  }
  out.load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

std::unique_ptr<SpmTokenizer> load_tokenizer(const std::string& path) {
  check(fs::exists(path), "tokenizer path '", path, "' does not exist");
  if (fs::is_directory(path)) {
    const fs::path m = fs::path(path) / "tokenizer.model";
    check(fs::exists(m), "no tokenizer.model in '", path, "'");
    return std::make_unique<SpmTokenizer>(load_sp_model_vocab(m.string()));
  }
  if (is_gguf_file(path)) return std::make_unique<SpmTokenizer>(vocab_from_gguf(GgufFile(path)));
  return std::make_unique<SpmTokenizer>(load_sp_model_vocab(path));
}

}  // namespace yopo
