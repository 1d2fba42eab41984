#include "models/llama_weights.h"

#include <algorithm>
#include <sstream>

#include "core/error.h"

namespace yopo {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

// GGUF stores Q and K with rows of each head reordered for interleaved-pair RoPE:
// stored row h*D + 2j + s holds HF row h*D + s*D/2 + j. This puts them back.
std::vector<float> unpermute_rope_rows(const std::vector<float>& w, int64_t n_heads,
                                       int64_t head_dim, int64_t cols) {
  std::vector<float> out(w.size());
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t j = 0; j < half; ++j)
      for (int64_t s = 0; s < 2; ++s) {
        const float* from = &w[size_t((h * head_dim + 2 * j + s) * cols)];
        float* to = &out[size_t((h * head_dim + s * half + j) * cols)];
        std::copy(from, from + cols, to);
      }
  return out;
}

}  // namespace

std::string LlamaTensorNames::embedding() const {
  return scheme == Scheme::GGUF ? "token_embd.weight" : prefix + "embed_tokens.weight";
}
std::string LlamaTensorNames::output_norm() const {
  return scheme == Scheme::GGUF ? "output_norm.weight" : prefix + "norm.weight";
}
std::string LlamaTensorNames::output() const {
  return scheme == Scheme::GGUF ? "output.weight" : head_prefix + "lm_head.weight";
}

std::string LlamaTensorNames::layer(int64_t layer, const std::string& role) const {
  static const std::pair<const char*, const char*> kRoles[] = {
      {"attn_norm", "input_layernorm"}, {"q", "self_attn.q_proj"},
      {"k", "self_attn.k_proj"},        {"v", "self_attn.v_proj"},
      {"o", "self_attn.o_proj"},        {"ffn_norm", "post_attention_layernorm"},
      {"gate", "mlp.gate_proj"},        {"up", "mlp.up_proj"},
      {"down", "mlp.down_proj"}};
  static const std::pair<const char*, const char*> kGguf[] = {
      {"attn_norm", "attn_norm"}, {"q", "attn_q"},          {"k", "attn_k"},      {"v", "attn_v"},
      {"o", "attn_output"},       {"ffn_norm", "ffn_norm"}, {"gate", "ffn_gate"}, {"up", "ffn_up"},
      {"down", "ffn_down"}};
  const auto& table = scheme == Scheme::GGUF ? kGguf : kRoles;
  for (const auto& [r, n] : table)
    if (role == r) {
      return scheme == Scheme::GGUF
                 ? "blk." + std::to_string(layer) + "." + n + ".weight"
                 : prefix + "layers." + std::to_string(layer) + "." + n + ".weight";
    }
  fail("unknown LLaMA tensor role '", role, "'");
}

DType auto_weight_dtype(const TensorSource& src, const std::string& probe) {
  const RawTensor* t = src.find(probe);
  check(t != nullptr, "tensor '", probe, "' is missing from the model file");
  return t->dtype == DType::F32 ? DType::F32 : DType::BF16;
}

std::vector<float> read_tensor_f32(const TensorSource& src, const std::string& name,
                                   const std::vector<int64_t>& shape) {
  const RawTensor* t = src.find(name);
  if (!t) {
    const std::string* type = src.unsupported_type(name);
    if (type) fail("tensor '", name, "' has type ", *type, ", which yopo does not support");
    fail("tensor '", name, "' is missing from the model file");
  }
  check(t->shape == shape, "tensor '", name, "' has shape ", shape_str(t->shape), ", expected ",
        shape_str(shape));
  std::vector<float> out(size_t(t->numel()));
  convert_to_f32(*t, out.data());
  return out;
}

LlamaWeights load_llama_weights(const TensorSource& src, const LlamaConfig& cfg,
                                const LlamaTensorNames& names, DType dtype) {
  check(dtype == DType::F32 || dtype == DType::BF16 || dtype == DType::I8,
        "weights can be held in F32, BF16 or I8, not ", dtype_name(dtype));
  const int64_t d = cfg.dim, hd = cfg.head_dim, q_rows = cfg.n_heads * hd,
                kv_rows = cfg.n_kv_heads * hd, m = cfg.ffn_dim;
  const bool gguf = names.scheme == LlamaTensorNames::Scheme::GGUF;
  auto convert = [&](const std::string& name, int64_t rows, int64_t cols, DType target,
                     int64_t rope_heads) {
    std::vector<float> w = read_tensor_f32(src, name, {rows, cols});
    if (gguf && rope_heads > 0) w = unpermute_rope_rows(w, rope_heads, hd, cols);
    try {
      return ops::WeightMatrix::from_f32(w.data(), rows, cols, target);
    } catch (const Error& e) {
      fail("tensor '", name, "': ", e.what());
    }
  };
  // The per-layer projections, in dtype.
  auto matrix = [&](const std::string& name, int64_t rows, int64_t cols, int64_t rope_heads = 0) {
    return convert(name, rows, cols, dtype, rope_heads);
  };
  const DType table = llama_table_dtype(dtype);

  LlamaWeights lw;
  lw.embedding = convert(names.embedding(), cfg.vocab_size, d, table, 0);
  lw.output_norm = read_tensor_f32(src, names.output_norm(), {d});
  if (!cfg.tied_embeddings) lw.output = convert(names.output(), cfg.vocab_size, d, table, 0);
  lw.layers.resize(size_t(cfg.n_layers));
  for (int64_t l = 0; l < cfg.n_layers; ++l) {
    LlamaLayerWeights& L = lw.layers[size_t(l)];
    L.attn_norm = read_tensor_f32(src, names.layer(l, "attn_norm"), {d});
    L.ffn_norm = read_tensor_f32(src, names.layer(l, "ffn_norm"), {d});
    L.wq = matrix(names.layer(l, "q"), q_rows, d, cfg.n_heads);
    L.wk = matrix(names.layer(l, "k"), kv_rows, d, cfg.n_kv_heads);
    L.wv = matrix(names.layer(l, "v"), kv_rows, d);
    L.wo = matrix(names.layer(l, "o"), d, q_rows);
    L.w_gate = matrix(names.layer(l, "gate"), m, d);
    L.w_up = matrix(names.layer(l, "up"), m, d);
    L.w_down = matrix(names.layer(l, "down"), d, m);
  }
  return lw;
}

namespace {

// m's values as float32, row by row.
std::vector<float> matrix_f32(const ops::WeightMatrix& m) {
  std::vector<float> out(size_t(m.rows * m.cols));
  for (int64_t r = 0; r < m.rows; ++r) m.row_to_f32(r, out.data() + r * m.cols);
  return out;
}

ops::WeightMatrix converted(const ops::WeightMatrix& m, DType target) {
  if (m.empty()) {
    ops::WeightMatrix e;
    e.dtype = target;
    e.rows = m.rows;
    e.cols = m.cols;
    return e;
  }
  if (m.dtype == target && target == DType::BF16)
    return ops::WeightMatrix::from_bf16(m.data.as<uint16_t>(), m.rows, m.cols);
  if (m.dtype == target && target == DType::I8) {
    ops::WeightMatrix c;
    c.dtype = DType::I8;
    c.rows = m.rows;
    c.cols = m.cols;
    c.data = AlignedBuffer(m.data.size());  // the values and the row sums
    std::copy(m.data.data(), m.data.data() + m.data.size(), c.data.data());
    c.scales = m.scales;
    return c;
  }
  const std::vector<float> v = matrix_f32(m);
  return ops::WeightMatrix::from_f32(v.data(), m.rows, m.cols, target);
}

}  // namespace

LlamaWeights llama_weights_to_int8(const LlamaWeights& w) {
  LlamaWeights out;
  out.embedding = converted(w.embedding, DType::BF16);
  out.output_norm = w.output_norm;
  out.output = converted(w.output, DType::BF16);
  for (const LlamaLayerWeights& L : w.layers) {
    LlamaLayerWeights q;
    q.attn_norm = L.attn_norm;
    q.ffn_norm = L.ffn_norm;
    q.wq = converted(L.wq, DType::I8);
    q.wk = converted(L.wk, DType::I8);
    q.wv = converted(L.wv, DType::I8);
    q.wo = converted(L.wo, DType::I8);
    q.w_gate = converted(L.w_gate, DType::I8);
    q.w_up = converted(L.w_up, DType::I8);
    q.w_down = converted(L.w_down, DType::I8);
    out.layers.push_back(std::move(q));
  }
  return out;
}

}  // namespace yopo
