// Builds a tokenizer Vocab from a GGUF file's tokenizer.ggml.* metadata (SentencePiece / LLaMA
// vocabularies only).
#pragma once

#include "tokenizer/vocab.h"

namespace yopo {

class GgufFile;

// Reads tokenizer.ggml.tokens (required), .scores and .token_type (optional: 0 and normal when
// absent), the special ids bos_token_id / eos_token_id / unknown_token_id / padding_token_id
// (defaults 1, 2, 0, -1) and the flags add_bos_token / add_eos_token / add_space_prefix /
// remove_extra_whitespaces (defaults true, false, true, false). Byte fallback is on when the
// vocabulary has byte tokens. Throws yopo::Error naming the file and key when
// tokenizer.ggml.model is absent or not "llama", or the metadata is inconsistent.
Vocab vocab_from_gguf(const GgufFile& f);

}  // namespace yopo
