// The weights of a LLaMA decoder in the engine's compute format, loaded from HF safetensors
// or GGUF tensor names.
#pragma once

#include <string>
#include <vector>

#include "io/tensor_source.h"
#include "models/llama_config.h"
#include "ops/weights.h"

namespace yopo {

// How a file names the decoder's tensors.
struct LlamaTensorNames {
  enum class Scheme { HF, GGUF };
  Scheme scheme = Scheme::HF;
  std::string prefix = "model.";  // HF: before "embed_tokens", "layers.N", "norm"
  std::string head_prefix;        // HF: before "lm_head.weight"

  static LlamaTensorNames hf(std::string prefix = "model.", std::string head_prefix = "") {
    return {Scheme::HF, std::move(prefix), std::move(head_prefix)};
  }
  static LlamaTensorNames gguf() { return {Scheme::GGUF, "", ""}; }

  std::string embedding() const;
  std::string output_norm() const;
  std::string output() const;
  // role: attn_norm, q, k, v, o, ffn_norm, gate, up, down
  std::string layer(int64_t layer, const std::string& role) const;
};

struct LlamaLayerWeights {
  std::vector<float> attn_norm, ffn_norm;
  ops::WeightMatrix wq, wk, wv, wo;  // [H*D, dim], [KV*D, dim], [KV*D, dim], [dim, H*D]
  ops::WeightMatrix w_gate, w_up;    // [ffn, dim]
  ops::WeightMatrix w_down;          // [dim, ffn]
};

struct LlamaWeights {
  ops::WeightMatrix embedding;  // [vocab, dim]
  std::vector<float> output_norm;
  ops::WeightMatrix output;  // [vocab, dim]; empty when tied to the embedding
  std::vector<LlamaLayerWeights> layers;

  const ops::WeightMatrix& output_matrix() const { return output.rows ? output : embedding; }
};

// Loads and converts every decoder tensor (dequantizing quantized ones) to dtype: F32 or BF16,
// or I8 (the int8 weight mode): the seven projection matrices of every layer in per-row
// symmetric int8 (ops::WeightMatrix::quantize_int8), the embedding and the output head in BF16
// (llama_table_dtype), norms in F32 as always.
// GGUF Q/K rows, stored permuted for interleaved-pair RoPE, are put back in HF order.
// Missing tensors and wrong shapes throw yopo::Error naming the tensor.
LlamaWeights load_llama_weights(const TensorSource& src, const LlamaConfig& cfg,
                                const LlamaTensorNames& names, DType dtype);

// The dtype of the embedding and output-head matrices for a model dtype: BF16 for I8, else the
// same.
inline DType llama_table_dtype(DType model_dtype) {
  return model_dtype == DType::I8 ? DType::BF16 : model_dtype;
}

// The int8 weight mode of loaded weights: projections quantized to I8 from their current values
// (F32, BF16 or already I8: kept), embedding and head as BF16, norms copied.
LlamaWeights llama_weights_to_int8(const LlamaWeights& w);

// The compute format for weights stored like `probe`: F32 stays F32, anything else (F16, BF16,
// quantized) runs in BF16. Throws when the probe tensor is missing.
DType auto_weight_dtype(const TensorSource& src, const std::string& probe);

// Reads a tensor as float32 after checking its shape (row-major); throws naming the tensor.
std::vector<float> read_tensor_f32(const TensorSource& src, const std::string& name,
                                   const std::vector<int64_t>& shape);

}  // namespace yopo
