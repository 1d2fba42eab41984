#include "tokenizer/gguf_vocab.h"

#include <cstdint>
#include <string>

#include "core/error.h"
#include "io/gguf.h"

namespace yopo {
namespace {

int32_t special_id(const GgufFile& f, const std::string& key, int32_t def) {
  const int64_t v = f.get_int(key, def);
  // Converters write "none" as -1, also in an unsigned field (0xFFFFFFFF; llama2.c's
  // stories260K.gguf has padding_token_id so).
  if (v == -1 || v == int64_t(UINT32_MAX)) return -1;
  check(v >= -1 && v <= INT32_MAX, f.path(), ": ", key, " = ", v, " is not a token id");
  return int32_t(v);
}

}  // namespace

Vocab vocab_from_gguf(const GgufFile& f) {
  const std::string model_key = "tokenizer.ggml.model";
  check(f.has(model_key), f.path(), ": no tokenizer in this GGUF file (", model_key, " is absent)");
  const std::string model = f.get_string(model_key);
  check(model == "llama", f.path(), ": ", model_key, " is '", model,
        "'; only SentencePiece vocabularies ('llama') are supported");

  Vocab v;
  const std::string tokens_key = "tokenizer.ggml.tokens";
  check(f.has(tokens_key), f.path(), ": ", tokens_key, " is absent");
  v.pieces = f.get_string_array(tokens_key);
  const size_t n = v.pieces.size();

  const std::string scores_key = "tokenizer.ggml.scores";
  if (f.has(scores_key)) {
    const std::vector<double> scores = f.get_float_array(scores_key);
    check(scores.size() == n, f.path(), ": ", scores_key, " has ", scores.size(),
          " entries but there are ", n, " tokens");
    v.scores.assign(scores.begin(), scores.end());
  } else {
    v.scores.assign(n, 0.0f);
  }

  const std::string types_key = "tokenizer.ggml.token_type";
  v.types.assign(n, TokenType::Normal);
  if (f.has(types_key)) {
    const std::vector<int64_t> types = f.get_int_array(types_key);
    check(types.size() == n, f.path(), ": ", types_key, " has ", types.size(),
          " entries but there are ", n, " tokens");
    for (size_t i = 0; i < n; ++i) {
      check(is_valid_token_type(types[i]), f.path(), ": ", types_key, "[", i, "] = ", types[i],
            " is not a token type (1..6)");
      v.types[i] = TokenType(types[i]);
    }
  }

  v.bos_id = special_id(f, "tokenizer.ggml.bos_token_id", 1);
  v.eos_id = special_id(f, "tokenizer.ggml.eos_token_id", 2);
  v.unk_id = special_id(f, "tokenizer.ggml.unknown_token_id", 0);
  v.pad_id = special_id(f, "tokenizer.ggml.padding_token_id", -1);
  v.add_bos = f.get_bool("tokenizer.ggml.add_bos_token", true);
  v.add_eos = f.get_bool("tokenizer.ggml.add_eos_token", false);
  v.add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix", true);
  v.remove_extra_whitespaces = f.get_bool("tokenizer.ggml.remove_extra_whitespaces", false);
  v.byte_fallback = false;
  for (const TokenType t : v.types) v.byte_fallback = v.byte_fallback || t == TokenType::Byte;

  validate_vocab(v, f.path());
  return v;
}

}  // namespace yopo
