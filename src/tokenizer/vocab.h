// The vocabulary of a SentencePiece (LLaMA-style BPE) tokenizer, however it was loaded: from a
// tokenizer.model protobuf (sp_model_file.h) or from GGUF metadata (gguf_vocab.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace yopo {

// Piece types; the values are those of SentencePiece's ModelProto.SentencePiece.Type and of
// GGUF's tokenizer.ggml.token_type.
enum class TokenType : int32_t {
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6
};

// Name of a token type ("normal", "byte", ...); "invalid" for values outside the enum.
const char* token_type_name(TokenType t);
// True when v is one of the TokenType values.
bool is_valid_token_type(int64_t v);
// The byte a byte-fallback piece stands for ("<0x0A>" -> 10), or -1 when `piece` is not spelled
// exactly "<0x" + two upper-case hex digits + ">".
int parse_byte_piece(std::string_view piece);
// The piece of a byte ("<0x0A>" for 10).
std::string byte_piece(uint8_t byte);

struct Vocab {
  std::vector<std::string> pieces;  // id -> piece text, spaces escaped as U+2581 "▁"
  std::vector<float> scores;        // id -> merge priority (higher merges first)
  std::vector<TokenType> types;     // id -> type
  int32_t bos_id = 1, eos_id = 2, unk_id = 0, pad_id = -1;  // -1: none
  bool add_bos = true, add_eos = false, add_space_prefix = true, byte_fallback = true;

  // Normalizer settings beyond the dummy prefix (SentencePiece's NormalizerSpec); the LLaMA
  // tokenizer keeps whitespace as it is and escapes spaces.
  bool remove_extra_whitespaces = false;  // strip leading/trailing spaces, collapse runs
  bool escape_whitespaces = true;         // ' ' -> "▁"
  // What decode() writes for the unknown token (SentencePiece's TrainerSpec.unk_surface).
  std::string unk_surface = " \xE2\x81\x87 ";

  int32_t size() const { return int32_t(pieces.size()); }
};

// Checks that the vocabulary is usable (non-empty, parallel arrays of equal length, special ids
// in range or -1, byte pieces spelled <0xAB>); throws yopo::Error naming `source` otherwise.
void validate_vocab(const Vocab& v, const std::string& source);

}  // namespace yopo
