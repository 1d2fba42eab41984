#include "models/llama_config.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/gguf.h"

namespace yopo {

void LlamaConfig::validate() const {
  check(vocab_size > 0 && dim > 0 && n_layers > 0 && n_heads > 0 && n_kv_heads > 0 &&
            head_dim > 0 && ffn_dim > 0,
        "LLaMA config has a missing or non-positive size (vocab ", vocab_size, ", hidden ", dim,
        ", layers ", n_layers, ", heads ", n_heads, ", kv heads ", n_kv_heads, ", head dim ",
        head_dim, ", ffn ", ffn_dim, ")");
  check(n_heads % n_kv_heads == 0, "LLaMA config: ", n_heads,
        " attention heads are not a multiple of ", n_kv_heads, " KV heads");
  check(head_dim % 2 == 0, "LLaMA config: head dim ", head_dim, " must be even for RoPE");
  check(dim <= (1 << 16) && n_layers <= 1024 && vocab_size <= (1 << 22) && ffn_dim <= (1 << 18),
        "LLaMA config sizes are implausibly large");
  check(norm_eps > 0 && rope_theta > 0, "LLaMA config: norm eps and rope theta must be positive");
  check(max_position > 0, "LLaMA config: max_position_embeddings must be positive");
}

namespace {

template <class T>
T get_or(const nlohmann::json& j, const char* key, T def) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    fail("config.json: '", key, "' has the wrong type (", it->type_name(), ")");
  }
}

ops::RopeScaling rope_scaling_from_hf(const nlohmann::json& j) {
  ops::RopeScaling s;
  auto it = j.find("rope_scaling");
  if (it == j.end() || it->is_null()) return s;
  check(it->is_object(), "config.json: 'rope_scaling' must be an object");
  std::string type = get_or<std::string>(*it, "type", "");
  if (type.empty()) type = get_or<std::string>(*it, "rope_type", "none");
  check(type == "linear" || type == "dynamic" || type == "llama3" || type == "default" ||
            type == "none",
        "config.json: rope_scaling type '", type, "' is not supported (linear, dynamic, llama3)");
  s.type = type == "default" ? "none" : type;
  s.factor = get_or<double>(*it, "factor", 1.0);
  s.low_freq_factor = get_or<double>(*it, "low_freq_factor", 1.0);
  s.high_freq_factor = get_or<double>(*it, "high_freq_factor", 4.0);
  s.original_max_position = get_or<int64_t>(*it, "original_max_position_embeddings", 8192);
  check(s.factor > 0, "config.json: rope_scaling factor must be positive");
  return s;
}

}  // namespace

LlamaConfig llama_config_from_hf(const nlohmann::json& j) {
  check(j.is_object(), "config.json is not a JSON object");
  LlamaConfig c;
  c.vocab_size = get_or<int64_t>(j, "vocab_size", 32000);
  c.dim = get_or<int64_t>(j, "hidden_size", 4096);
  c.n_layers = get_or<int64_t>(j, "num_hidden_layers", 32);
  c.n_heads = get_or<int64_t>(j, "num_attention_heads", 32);
  c.n_kv_heads = get_or<int64_t>(j, "num_key_value_heads", c.n_heads);
  c.head_dim = c.n_heads > 0 ? get_or<int64_t>(j, "head_dim", c.dim / c.n_heads) : 0;
  c.ffn_dim = get_or<int64_t>(j, "intermediate_size", 11008);
  c.max_position = get_or<int64_t>(j, "max_position_embeddings", 2048);
  c.norm_eps = get_or<float>(j, "rms_norm_eps", 1e-6f);
  c.rope_theta = get_or<double>(j, "rope_theta", 10000.0);
  c.rope_scaling = rope_scaling_from_hf(j);
  c.tied_embeddings = get_or<bool>(j, "tie_word_embeddings", false);
  c.bos_id = get_or<int32_t>(j, "bos_token_id", 1);
  auto eos = j.find("eos_token_id");
  if (eos != j.end() && eos->is_array() && !eos->empty()) {
    c.eos_id = (*eos)[0].get<int32_t>();
  } else {
    c.eos_id = get_or<int32_t>(j, "eos_token_id", 2);
  }
  const std::string act = get_or<std::string>(j, "hidden_act", "silu");
  check(act == "silu", "config.json: hidden_act '", act, "' is not supported (silu)");
  c.validate();
  return c;
}

LlamaConfig llama_config_from_gguf(const GgufFile& f) {
  const std::string arch = f.get_string("general.architecture");
  check(arch == "llama", f.path(), ": architecture '", arch, "' is not supported (llama)");
  const std::string p = arch + ".";
  LlamaConfig c;
  c.dim = f.get_int(p + "embedding_length");
  c.n_layers = f.get_int(p + "block_count");
  c.n_heads = f.get_int(p + "attention.head_count");
  c.n_kv_heads = f.get_int(p + "attention.head_count_kv", c.n_heads);
  c.head_dim = c.n_heads > 0 ? f.get_int(p + "attention.key_length", c.dim / c.n_heads) : 0;
  c.ffn_dim = f.get_int(p + "feed_forward_length");
  c.max_position = f.get_int(p + "context_length", 2048);
  c.norm_eps = float(f.get_float(p + "attention.layer_norm_rms_epsilon", 1e-5));
  c.rope_theta = f.get_float(p + "rope.freq_base", 10000.0);
  const int64_t rope_dims = f.get_int(p + "rope.dimension_count", c.head_dim);
  check(rope_dims == c.head_dim, f.path(), ": partial RoPE (", rope_dims, " of ", c.head_dim,
        " dims) is not supported");
  if (f.has(p + "rope.scaling.type")) {
    const std::string type = f.get_string(p + "rope.scaling.type");
    if (type == "linear") {
      c.rope_scaling.type = "linear";
      c.rope_scaling.factor = f.get_float(p + "rope.scaling.factor", 1.0);
    } else {
      check(type == "none", f.path(), ": rope scaling '", type,
            "' is not supported in GGUF files (none, linear)");
    }
  } else if (f.has(p + "rope.scale_linear")) {
    c.rope_scaling.type = "linear";
    c.rope_scaling.factor = f.get_float(p + "rope.scale_linear");
  }
  const RawTensor* emb = f.find("token_embd.weight");
  check(emb != nullptr, f.path(), ": tensor 'token_embd.weight' is missing");
  check(emb->shape.size() == 2, f.path(), ": token_embd.weight must be 2-D");
  c.vocab_size = f.get_int(p + "vocab_size", emb->shape[0]);
  c.tied_embeddings = f.find("output.weight") == nullptr;
  c.bos_id = int32_t(f.get_int("tokenizer.ggml.bos_token_id", 1));
  c.eos_id = int32_t(f.get_int("tokenizer.ggml.eos_token_id", 2));
  c.validate();
  return c;
}

}  // namespace yopo
