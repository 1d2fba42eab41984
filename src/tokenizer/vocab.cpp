#include "tokenizer/vocab.h"

#include "core/error.h"

namespace yopo {

const char* token_type_name(TokenType t) {
  switch (t) {
    case TokenType::Normal:
      return "normal";
    case TokenType::Unknown:
      return "unknown";
    case TokenType::Control:
      return "control";
    case TokenType::UserDefined:
      return "user-defined";
    case TokenType::Unused:
      return "unused";
    case TokenType::Byte:
      return "byte";
  }
  return "invalid";
}

bool is_valid_token_type(int64_t v) {
  return v >= 1 && v <= 6;
}

namespace {
constexpr char kHexDigits[] = "0123456789ABCDEF";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

int parse_byte_piece(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  const int hi = hex_value(piece[3]), lo = hex_value(piece[4]);
  if (hi < 0 || lo < 0) return -1;
  return hi * 16 + lo;
}

std::string byte_piece(uint8_t byte) {
  return std::string{'<', '0', 'x', kHexDigits[byte >> 4], kHexDigits[byte & 15], '>'};
}

void validate_vocab(const Vocab& v, const std::string& source) {
  const size_t n = v.pieces.size();
  check(n > 0, source, ": the vocabulary has no pieces");
  check(n <= size_t(INT32_MAX), source, ": the vocabulary has too many pieces (", n, ")");
  check(v.scores.size() == n, source, ": ", v.scores.size(), " scores for ", n, " pieces");
  check(v.types.size() == n, source, ": ", v.types.size(), " token types for ", n, " pieces");
  const auto check_id = [&](int32_t id, const char* what) {
    check(id >= -1 && id < int32_t(n), source, ": ", what, " id ", id, " is outside the vocabulary",
          " of ", n, " pieces");
  };
  check_id(v.bos_id, "BOS");
  check_id(v.eos_id, "EOS");
  check_id(v.unk_id, "unknown-token");
  check_id(v.pad_id, "padding");
  for (size_t i = 0; i < n; ++i) {
    check(is_valid_token_type(int64_t(v.types[i])), source, ": token ", i, " has invalid type ",
          int32_t(v.types[i]));
    if (v.types[i] == TokenType::Byte) {
      check(parse_byte_piece(v.pieces[i]) >= 0, source, ": token ", i, " has type byte but its",
            " piece '", v.pieces[i], "' is not of the form <0xAB>");
    }
  }
}

}  // namespace yopo
