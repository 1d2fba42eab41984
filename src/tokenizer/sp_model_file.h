// Reads a SentencePiece `tokenizer.model` file (a serialized protobuf ModelProto) into a Vocab,
// with our own minimal protobuf wire-format reader.
#pragma once

#include <string>
#include <string_view>

#include "tokenizer/vocab.h"

namespace yopo {

// Loads the pieces, scores and types, the special ids of the TrainerSpec and the normalizer
// settings. Only BPE models with the identity normalizer (no precompiled character map) are
// accepted, as LLaMA uses. Throws yopo::Error naming the file for unreadable, malformed or
// unsupported files.
Vocab load_sp_model_vocab(const std::string& tokenizer_model_path);

// The same from the bytes of a serialized ModelProto; `source` names it in error messages.
Vocab parse_sp_model_vocab(std::string_view bytes, const std::string& source);

}  // namespace yopo
