// SentencePiece BPE tokenizer as LLaMA uses it: identity normalization with a dummy-prefix space
// and spaces escaped as "▁", user-defined pieces matched first, then greedy merging of the
// adjacent pair with the best score, with byte fallback for characters outside the vocabulary.
// Encoding and decoding follow SentencePiece's SentencePieceProcessor::Encode / DecodeIds.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/vocab.h"

namespace yopo {

class SpmTokenizer {
 public:
  // Validates the vocabulary (throws yopo::Error when it is unusable) and builds the lookups.
  explicit SpmTokenizer(Vocab v);

  // Token ids of `text` as SentencePiece's EncodeAsIds gives them, with vocab().bos_id first
  // when add_bos is true and the vocabulary has one (callers usually pass vocab().add_bos).
  // Any bytes are accepted: invalid UTF-8 is read as U+FFFD per bad byte, as SentencePiece's
  // normalizer does. Characters outside the vocabulary become byte tokens (byte fallback) or
  // the unknown id (one for each run of unknown characters). EOS is never appended here.
  std::vector<int32_t> encode(std::string_view text, bool add_bos) const;

  // The text of `ids` as SentencePiece's DecodeIds gives it: pieces concatenated with "▁" turned
  // back into spaces, the dummy-prefix space of the first piece dropped, byte tokens joined into
  // UTF-8 (bytes that do not form valid UTF-8 become U+FFFD), control tokens invisible, the
  // unknown token as vocab().unk_surface. Throws yopo::Error for ids outside the vocabulary.
  std::string decode(const std::vector<int32_t>& ids) const;

  // The raw text of one token for streaming output: the piece with "▁" as a space (no leading
  // space is dropped), a byte token as its single raw byte, "" for control tokens and
  // vocab().unk_surface for unknown ones. Throws yopo::Error for ids outside the vocabulary.
  std::string token_to_piece(int32_t id) const;

  // The id of a piece, or -1 when it is not in the vocabulary.
  int32_t piece_to_id(std::string_view piece) const;

  int32_t n_vocab() const { return vocab_.size(); }
  int32_t bos_id() const { return vocab_.bos_id; }
  int32_t eos_id() const { return vocab_.eos_id; }
  const Vocab& vocab() const { return vocab_; }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using PieceMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

  std::string normalize(std::string_view text) const;
  size_t match_user_defined(std::string_view text) const;
  // SentencePiece's PieceToId: the id of `piece`, special pieces first, else unk_id.
  int32_t resolve(std::string_view piece, bool* found) const;
  void check_id(int32_t id) const;

  Vocab vocab_;
  // Pieces that may take part in merges: normal, user-defined and unused ones.
  PieceMap mergeable_;
  // Every other piece (control, unknown, byte): looked up first, as SentencePiece does.
  PieceMap reserved_;
  std::array<int32_t, 256> byte_ids_{};  // byte -> id of its <0xAB> piece, or -1
  std::vector<int16_t> byte_of_id_;      // id -> byte of a byte piece, or -1
  bool has_unused_ = false;

  // User-defined pieces, matched greedily (longest first) before merging: a byte trie.
  struct TrieNode {
    std::unordered_map<uint8_t, int32_t> next;
    bool terminal = false;
  };
  std::vector<TrieNode> user_trie_;
};

}  // namespace yopo
