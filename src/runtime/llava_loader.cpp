// Loading LLaVA-1.5 checkpoints in the llava-hf, original LLaVA and llama.cpp GGUF layouts.
#include <chrono>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/gguf.h"
#include "io/json_file.h"
#include "io/safetensors.h"
#include "models/llava.h"
#include "runtime/model_loader.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/sp_model_file.h"

namespace yopo {

namespace fs = std::filesystem;

namespace {

// The vision tower and projector stay in bf16 when the decoder is int8 (its projections are
// quantized; a 300M-parameter tower gains little and its patch features are what every pruned
// and dense plan share).
DType vision_dtype(DType decoder) {
  return decoder == DType::I8 ? DType::BF16 : decoder;
}

nlohmann::json config_of(const std::string& path) {
  const fs::path dir = fs::is_directory(path) ? fs::path(path) : fs::path(path).parent_path();
  const fs::path cfg = dir / "config.json";
  return fs::exists(cfg) ? read_json_file(cfg.string()) : nlohmann::json();
}

fs::path dir_of(const std::string& path) {
  return fs::is_directory(path) ? fs::path(path) : fs::path(path).parent_path();
}

template <class T>
T json_or(const nlohmann::json& j, const char* key, T def) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    fail("config.json: '", key, "' has the wrong type (", it->type_name(), ")");
  }
}

// CLIP preprocessing from a HF preprocessor_config.json when there is one.
void read_preprocessor_config(const fs::path& dir, PreprocessConfig& p) {
  const fs::path f = dir / "preprocessor_config.json";
  if (!fs::exists(f)) return;
  const nlohmann::json j = read_json_file(f.string());
  if (j.contains("crop_size")) {
    const auto& c = j["crop_size"];
    p.crop = c.is_object() ? json_or<int>(c, "height", p.crop) : c.get<int>();
  }
  if (j.contains("size")) {
    const auto& s = j["size"];
    p.size = s.is_object() ? json_or<int>(s, "shortest_edge", p.size) : s.get<int>();
  }
  if (j.contains("image_mean")) {
    const auto v = j["image_mean"].get<std::vector<float>>();
    check(v.size() == 3, f.string(), ": image_mean must have 3 values");
    std::copy(v.begin(), v.end(), p.mean.begin());
  }
  if (j.contains("image_std")) {
    const auto v = j["image_std"].get<std::vector<float>>();
    check(v.size() == 3, f.string(), ": image_std must have 3 values");
    std::copy(v.begin(), v.end(), p.std.begin());
  }
}

std::unique_ptr<SpmTokenizer> tokenizer_from(const fs::path& dir, const LlavaLoadOptions& o) {
  if (!o.tokenizer.empty()) return load_tokenizer(o.tokenizer);
  if (fs::exists(dir / "tokenizer.model"))
    return std::make_unique<SpmTokenizer>(load_sp_model_vocab((dir / "tokenizer.model").string()));
  return nullptr;
}

void finish(LlavaModel& m, const LlavaLoadOptions& o, const std::string& default_mode) {
  m.preprocess.mode = o.image_mode.empty() ? default_mode : o.image_mode;
  check(m.preprocess.mode == "pad" || m.preprocess.mode == "crop", "image mode '",
        m.preprocess.mode, "' is not pad or crop");
  m.preprocess.size = m.preprocess.crop = int(m.vision->config().image_size);
}

LoadedLlava load_hf(const std::string& path, const nlohmann::json& cfg, const LlavaLoadOptions& o) {
  const fs::path dir = dir_of(path);
  check(cfg.contains("text_config") && cfg.contains("vision_config"),
        "config.json of a llava-hf model needs text_config and vision_config");
  LlamaConfig tc = llama_config_from_hf(cfg["text_config"]);
  ClipVisionConfig vc = clip_config_from_hf(cfg["vision_config"]);
  const int64_t layer =
      o.feature_layer ? o.feature_layer : json_or<int64_t>(cfg, "vision_feature_layer", -2);
  const std::string strategy =
      json_or<std::string>(cfg, "vision_feature_select_strategy", "default");
  check(strategy == "default" || strategy == "full", "vision_feature_select_strategy '", strategy,
        "' is not supported (default, full)");
  SafetensorsModel st(path);
  LoadedLlava out;
  const DType dt = out.dtype =
      o.dtype.value_or(auto_weight_dtype(st, "language_model.model.embed_tokens.weight"));
  out.model = std::make_unique<LlavaModel>();
  LlavaModel& m = *out.model;
  m.vision = std::make_unique<ClipVisionTower>(
      vc, load_clip_weights(st, vc, {ClipTensorNames::Scheme::HF, "vision_tower.vision_model."},
                            clip_layers_for_feature(vc.n_layers, layer), vision_dtype(dt)));
  m.projector =
      load_mlp_projector(st, "multi_modal_projector.linear_1", "multi_modal_projector.linear_2",
                         vc.dim, tc.dim, vision_dtype(dt));
  LlamaWeights lw = load_llama_weights(
      st, tc, LlamaTensorNames::hf("language_model.model.", "language_model."), dt);
  m.llm = std::make_unique<LlamaModel>(std::move(tc), std::move(lw));
  m.drop_class_token = strategy == "default";
  m.image_token_id = json_or<int32_t>(cfg, "image_token_index", -1);
  read_preprocessor_config(dir, m.preprocess);
  finish(m, o, "crop");
  out.tokenizer = tokenizer_from(dir, o);
  out.layout = "llava-hf";
  return out;
}

LoadedLlava load_original(const std::string& path, const nlohmann::json& cfg,
                          const LlavaLoadOptions& o) {
  const fs::path dir = dir_of(path);
  const std::string proj = json_or<std::string>(cfg, "mm_projector_type", "linear");
  check(proj == "mlp2x_gelu", "mm_projector_type '", proj, "' is not supported (mlp2x_gelu)");
  fs::path tower = o.vision_tower;
  if (tower.empty()) {
    const std::string named = json_or<std::string>(cfg, "mm_vision_tower", "");
    tower = dir / named;
    check(!named.empty() && fs::is_directory(tower), "the CLIP vision tower '", named,
          "' named by config.json is not a directory here: give it with --vision-tower DIR");
  }
  const nlohmann::json vcfg = read_json_file((tower / "config.json").string());
  ClipVisionConfig vc = clip_config_from_hf(vcfg);
  LlamaConfig tc = llama_config_from_hf(cfg);
  const int64_t layer =
      o.feature_layer ? o.feature_layer : json_or<int64_t>(cfg, "mm_vision_select_layer", -2);
  const std::string select = json_or<std::string>(cfg, "mm_vision_select_feature", "patch");
  check(select == "patch" || select == "cls_patch", "mm_vision_select_feature '", select,
        "' is not supported (patch, cls_patch)");

  SafetensorsModel llm_st(path);
  SafetensorsModel clip_st(tower.string());
  const DType dt = o.dtype.value_or(auto_weight_dtype(llm_st, "model.embed_tokens.weight"));
  const std::string prefix =
      clip_st.find("vision_model.embeddings.class_embedding") ? "vision_model." : "";
  check(!prefix.empty(), tower.string(), ": no vision_model.* tensors in the CLIP checkpoint");
  LoadedLlava out;
  out.dtype = dt;
  out.model = std::make_unique<LlavaModel>();
  LlavaModel& m = *out.model;
  m.vision = std::make_unique<ClipVisionTower>(
      vc, load_clip_weights(clip_st, vc, {ClipTensorNames::Scheme::HF, prefix},
                            clip_layers_for_feature(vc.n_layers, layer), vision_dtype(dt)));
  m.projector = load_mlp_projector(llm_st, "model.mm_projector.0", "model.mm_projector.2", vc.dim,
                                   tc.dim, vision_dtype(dt));
  LlamaWeights lw = load_llama_weights(llm_st, tc, LlamaTensorNames::hf(), dt);
  m.llm = std::make_unique<LlamaModel>(std::move(tc), std::move(lw));
  m.drop_class_token = select == "patch";
  read_preprocessor_config(tower, m.preprocess);
  finish(m, o, json_or<std::string>(cfg, "image_aspect_ratio", "square") == "pad" ? "pad" : "crop");
  out.tokenizer = tokenizer_from(dir, o);
  out.layout = "llava";
  return out;
}

LoadedLlava load_gguf(const std::string& path, const LlavaLoadOptions& o) {
  GgufFile text(path);
  GgufFile proj(o.mmproj);
  check(proj.get_bool("clip.has_llava_projector", false), o.mmproj,
        ": not a LLaVA mmproj file (clip.has_llava_projector is not true)");
  const std::string ptype = proj.get_string("clip.projector_type");
  check(ptype == "mlp", o.mmproj, ": projector type '", ptype, "' is not supported (mlp)");
  ClipVisionConfig vc = clip_config_from_gguf(proj);
  LlamaConfig tc = llama_config_from_gguf(text);
  // llama.cpp's converter stores only the layers up to LLaVA's feature layer (the last one is
  // dropped), so the features are the output of the last stored layer.
  const int64_t n_run =
      o.feature_layer ? clip_layers_for_feature(vc.n_layers + 1, o.feature_layer) : vc.n_layers;
  LoadedLlava out;
  const DType dt = out.dtype = o.dtype.value_or(auto_weight_dtype(text, "token_embd.weight"));
  out.model = std::make_unique<LlavaModel>();
  LlavaModel& m = *out.model;
  m.vision = std::make_unique<ClipVisionTower>(
      vc,
      load_clip_weights(proj, vc, {ClipTensorNames::Scheme::GGUF, ""}, n_run, vision_dtype(dt)));
  m.projector = load_mlp_projector(proj, "mm.0", "mm.2", vc.dim, tc.dim, vision_dtype(dt));
  LlamaWeights lw = load_llama_weights(text, tc, LlamaTensorNames::gguf(), dt);
  m.llm = std::make_unique<LlamaModel>(std::move(tc), std::move(lw));
  if (proj.has("clip.vision.image_mean")) {
    const auto mean = proj.get_float_array("clip.vision.image_mean");
    const auto sd = proj.get_float_array("clip.vision.image_std");
    check(mean.size() == 3 && sd.size() == 3, o.mmproj, ": image mean/std need 3 values");
    for (int c = 0; c < 3; ++c) {
      m.preprocess.mean[size_t(c)] = float(mean[size_t(c)]);
      m.preprocess.std[size_t(c)] = float(sd[size_t(c)]);
    }
  }
  finish(m, o, "pad");
  if (!o.tokenizer.empty()) {
    out.tokenizer = load_tokenizer(o.tokenizer);
  } else if (text.has("tokenizer.ggml.model")) {
    out.tokenizer = std::make_unique<SpmTokenizer>(vocab_from_gguf(text));
  }
  out.layout = "gguf";
  return out;
}

}  // namespace

bool is_llava_checkpoint(const std::string& path, const LlavaLoadOptions& o) {
  if (!o.mmproj.empty()) return true;
  if (!fs::exists(path) || is_gguf_file(path)) return false;
  const nlohmann::json cfg = config_of(path);
  return cfg.is_object() && (cfg.contains("vision_config") || cfg.contains("mm_vision_tower"));
}

LoadedLlava load_llava_model(const std::string& path, const LlavaLoadOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  check(fs::exists(path), "model path '", path, "' does not exist");
  LoadedLlava out;
  if (!o.mmproj.empty()) {
    check(is_gguf_file(path), "'", path, "' is not a GGUF file (--mmproj goes with a GGUF model)");
    check(fs::exists(o.mmproj), "mmproj file '", o.mmproj, "' does not exist");
    out = load_gguf(path, o);
  } else {
    const nlohmann::json cfg = config_of(path);
    check(cfg.is_object(), "no config.json next to '", path, "'");
    if (cfg.contains("vision_config")) {
      out = load_hf(path, cfg, o);
    } else {
      check(cfg.contains("mm_vision_tower"), "'", path,
            "' is not a LLaVA checkpoint (no vision_config or mm_vision_tower in config.json)");
      out = load_original(path, cfg, o);
    }
  }
  out.load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace yopo
