#include "tokenizer/spm_tokenizer.h"

#include <algorithm>
#include <queue>
#include <utility>

#include "core/error.h"

namespace yopo {
namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";      // U+2581 "▁"
constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed UTF-8 character at the start of `s` (1..4), or 0 when the bytes
// there are not one (stray continuation byte, overlong form, surrogate, beyond U+10FFFF,
// truncated sequence).
size_t valid_utf8_char_len(std::string_view s) {
  if (s.empty()) return 0;
  const auto b = [&](size_t i) { return uint32_t(uint8_t(s[i])); };
  const auto cont = [&](size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  const uint32_t b0 = b(0);
  if (b0 < 0x80) return 1;
  if ((b0 & 0xE0) == 0xC0) {
    if (!cont(1)) return 0;
    const uint32_t cp = ((b0 & 0x1F) << 6) | (b(1) & 0x3F);
    return cp >= 0x80 ? 2 : 0;
  }
  if ((b0 & 0xF0) == 0xE0) {
    if (!cont(1) || !cont(2)) return 0;
    const uint32_t cp = ((b0 & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    return cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF) ? 3 : 0;
  }
  if ((b0 & 0xF8) == 0xF0) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const uint32_t cp =
        ((b0 & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
    return cp >= 0x10000 && cp <= 0x10FFFF ? 4 : 0;
  }
  return 0;
}

// Length of the character starting with byte `c` judged by that byte alone (normalized text is
// valid UTF-8, so this is exact there).
size_t utf8_len_from_lead(char c) {
  const uint8_t u = uint8_t(c);
  if (u < 0xC0) return 1;
  if (u < 0xE0) return 2;
  if (u < 0xF0) return 3;
  return 4;
}

void replace_space_symbols(std::string_view piece, std::string& out) {
  size_t pos = 0;
  while (true) {
    const size_t hit = piece.find(kSpaceSymbol, pos);
    if (hit == std::string_view::npos) break;
    out.append(piece.substr(pos, hit - pos));
    out.push_back(' ');
    pos = hit + kSpaceSymbol.size();
  }
  out.append(piece.substr(pos));
}

// Appends accumulated byte-token bytes as text: well-formed UTF-8 characters as they are, each
// other byte as U+FFFD (what SentencePiece's decoder does).
void flush_bytes(std::string& bytes, std::string& out) {
  std::string_view rest(bytes);
  while (!rest.empty()) {
    const size_t len = valid_utf8_char_len(rest);
    if (len == 0) {
      out.append(kReplacementChar);
      rest.remove_prefix(1);
    } else {
      out.append(rest.substr(0, len));
      rest.remove_prefix(len);
    }
  }
  bytes.clear();
}

// A symbol of the text being encoded: a span of the normalized text in a doubly linked list.
struct Symbol {
  int32_t prev;
  int32_t next;
  uint32_t begin;
  uint32_t len;  // 0 once merged into its left neighbour
  bool frozen;   // a user-defined piece: never merged
};

// A candidate merge of two adjacent symbols; stale once either side has changed.
struct Candidate {
  float score;
  int32_t left;
  int32_t right;
  uint32_t len;  // length of the merged piece when it was queued
};

// Orders the queue: best score first, then the leftmost pair.
struct CandidateLess {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

SpmTokenizer::SpmTokenizer(Vocab v) : vocab_(std::move(v)) {
  validate_vocab(vocab_, "tokenizer vocabulary");
  check(vocab_.unk_id >= 0, "tokenizer vocabulary: an unknown-token id is required");
  const int32_t n = vocab_.size();
  byte_ids_.fill(-1);
  byte_of_id_.assign(size_t(n), -1);
  user_trie_.emplace_back();
  mergeable_.reserve(size_t(n));
  for (int32_t id = 0; id < n; ++id) {
    const std::string& piece = vocab_.pieces[size_t(id)];
    const TokenType type = vocab_.types[size_t(id)];
    const bool mergeable =
        type == TokenType::Normal || type == TokenType::UserDefined || type == TokenType::Unused;
    // The first of duplicated pieces wins.
    (mergeable ? mergeable_ : reserved_).emplace(piece, id);
    if (type == TokenType::Unused) has_unused_ = true;
    if (type == TokenType::Byte) {
      const int byte = parse_byte_piece(piece);  // validated above
      byte_of_id_[size_t(id)] = int16_t(byte);
      if (byte_ids_[size_t(byte)] < 0) byte_ids_[size_t(byte)] = id;
    }
    if (type == TokenType::UserDefined) {
      int32_t node = 0;
      for (const char c : piece) {
        const auto it = user_trie_[size_t(node)].next.find(uint8_t(c));
        if (it != user_trie_[size_t(node)].next.end()) {
          node = it->second;
        } else {
          const int32_t child = int32_t(user_trie_.size());
          user_trie_[size_t(node)].next.emplace(uint8_t(c), child);
          user_trie_.emplace_back();
          node = child;
        }
      }
      user_trie_[size_t(node)].terminal = true;
    }
  }
}

int32_t SpmTokenizer::piece_to_id(std::string_view piece) const {
  if (const auto it = reserved_.find(piece); it != reserved_.end()) return it->second;
  if (const auto it = mergeable_.find(piece); it != mergeable_.end()) return it->second;
  return -1;
}

int32_t SpmTokenizer::resolve(std::string_view piece, bool* found) const {
  const int32_t id = piece_to_id(piece);
  *found = id >= 0;
  return id >= 0 ? id : vocab_.unk_id;
}

void SpmTokenizer::check_id(int32_t id) const {
  check(id >= 0 && id < n_vocab(), "token id ", id, " is outside the vocabulary of ", n_vocab(),
        " pieces");
}

size_t SpmTokenizer::match_user_defined(std::string_view text) const {
  if (user_trie_[0].next.empty()) return 0;
  size_t best = 0;
  int32_t node = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto& next = user_trie_[size_t(node)].next;
    const auto it = next.find(uint8_t(text[i]));
    if (it == next.end()) break;
    node = it->second;
    if (user_trie_[size_t(node)].terminal) best = i + 1;
  }
  return best;
}

// SentencePiece's normalizer without a character map: invalid UTF-8 bytes become U+FFFD, spaces
// become "▁", a "▁" is put in front, and with remove_extra_whitespaces leading, trailing and
// repeated spaces are dropped.
std::string SpmTokenizer::normalize(std::string_view text) const {
  std::string out;
  const bool squeeze = vocab_.remove_extra_whitespaces;
  if (squeeze) {
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  }
  if (text.empty()) return out;
  out.reserve(text.size() + text.size() / 2 + 3);
  const std::string_view space = vocab_.escape_whitespaces ? kSpaceSymbol : " ";
  if (vocab_.add_space_prefix) out.append(space);
  bool prev_space = squeeze;
  while (!text.empty()) {
    // One unit: a user-defined piece, a character, or one invalid byte read as U+FFFD.
    size_t consumed = match_user_defined(text);
    std::string_view unit;
    if (consumed == 0) consumed = valid_utf8_char_len(text);
    if (consumed == 0) {
      unit = kReplacementChar;
      consumed = 1;
    } else {
      unit = text.substr(0, consumed);
    }
    if (prev_space) {
      while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
    }
    if (!unit.empty()) {
      for (const char c : unit) {
        if (c == ' ' && vocab_.escape_whitespaces) {
          out.append(kSpaceSymbol);
        } else {
          out.push_back(c);
        }
      }
      prev_space = unit.back() == ' ';
    }
    text.remove_prefix(consumed);
    if (!squeeze) prev_space = false;
  }
  if (squeeze) {
    std::string_view kept(out);
    while (kept.ends_with(space)) kept.remove_suffix(space.size());
    out.erase(kept.size());
  }
  return out;
}

std::vector<int32_t> SpmTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> ids;
  if (add_bos && vocab_.bos_id >= 0) ids.push_back(vocab_.bos_id);
  const std::string norm = normalize(text);
  if (norm.empty()) return ids;
  check(norm.size() < (size_t(1) << 31), "text to tokenize is too long (", text.size(), " bytes)");
  const std::string_view nv(norm);

  // Split into user-defined pieces and characters.
  std::vector<Symbol> sym;
  sym.reserve(norm.size());
  for (size_t pos = 0; pos < norm.size();) {
    size_t len = match_user_defined(nv.substr(pos));
    const bool frozen = len > 0;
    if (!frozen) len = std::min(norm.size() - pos, utf8_len_from_lead(norm[pos]));
    const int32_t i = int32_t(sym.size());
    sym.push_back(Symbol{i - 1, i + 1, uint32_t(pos), uint32_t(len), frozen});
    pos += len;
  }
  sym.back().next = -1;

  // For unused pieces: how the last queued merge that made each of them was split.
  std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> rev_merge;
  const auto span = [&](int32_t i) { return nv.substr(sym[size_t(i)].begin, sym[size_t(i)].len); };

  std::priority_queue<Candidate, std::vector<Candidate>, CandidateLess> queue;
  const auto consider = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0 || sym[size_t(left)].frozen || sym[size_t(right)].frozen) return;
    const uint32_t len = sym[size_t(left)].len + sym[size_t(right)].len;
    const std::string_view merged = nv.substr(sym[size_t(left)].begin, len);
    const auto it = mergeable_.find(merged);
    if (it == mergeable_.end()) return;
    queue.push(Candidate{vocab_.scores[size_t(it->second)], left, right, len});
    if (vocab_.types[size_t(it->second)] == TokenType::Unused) {
      rev_merge[merged] = {span(left), span(right)};
    }
  };
  for (int32_t i = 1; i < int32_t(sym.size()); ++i) consider(i - 1, i);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& l = sym[size_t(c.left)];
    Symbol& r = sym[size_t(c.right)];
    if (l.len == 0 || r.len == 0 || l.len + r.len != c.len) continue;  // stale
    l.len += r.len;
    l.next = r.next;
    if (r.next >= 0) sym[size_t(r.next)].prev = c.left;
    r.len = 0;
    consider(l.prev, c.left);
    consider(c.left, l.next);
  }

  // Emit the pieces; unused pieces are split back, unknown ones become bytes, or without byte
  // fallback the unknown id, once for a whole run of unknown pieces.
  bool prev_unknown = false;
  const auto emit = [&](std::string_view w, auto&& self) -> void {
    bool found = false;
    const int32_t id = resolve(w, &found);
    const TokenType type = vocab_.types[size_t(id)];
    if (found && type == TokenType::Unused) {
      const auto it = rev_merge.find(w);
      if (it != rev_merge.end()) {
        self(it->second.first, self);
        self(it->second.second, self);
        return;
      }
    }
    const bool unknown = !found || type == TokenType::Unknown;
    if (unknown && vocab_.byte_fallback) {
      for (const char b : w) {
        const int32_t bid = byte_ids_[size_t(uint8_t(b))];
        ids.push_back(bid >= 0 ? bid : vocab_.unk_id);
      }
    } else if (!(unknown && prev_unknown)) {
      ids.push_back(id);
    }
    prev_unknown = unknown;
  };
  for (int32_t i = 0; i >= 0; i = sym[size_t(i)].next) emit(span(i), emit);
  return ids;
}

std::string SpmTokenizer::decode(const std::vector<int32_t>& ids) const {
  for (const int32_t id : ids) check_id(id);
  std::string text;
  std::string bytes;
  // The first visible piece loses the space that the dummy prefix put in front of the text.
  const bool strip_prefix = vocab_.add_space_prefix || vocab_.remove_extra_whitespaces;
  bool at_start = true;
  bool prefix_consumed = false;
  for (const int32_t id : ids) {
    const TokenType type = vocab_.types[size_t(id)];
    if (type == TokenType::Byte) {
      bytes.push_back(char(uint8_t(byte_of_id_[size_t(id)])));
      continue;
    }
    flush_bytes(bytes, text);
    if (prefix_consumed || !text.empty()) at_start = false;
    prefix_consumed = false;
    if (type == TokenType::Control) continue;
    if (type == TokenType::Unknown) {
      text.append(vocab_.unk_surface);
      continue;
    }
    std::string_view piece = vocab_.pieces[size_t(id)];
    if (at_start && strip_prefix && piece.starts_with(kSpaceSymbol)) {
      piece.remove_prefix(kSpaceSymbol.size());
      // With remove_extra_whitespaces every leading space goes, so keep looking.
      prefix_consumed = !vocab_.remove_extra_whitespaces;
    }
    replace_space_symbols(piece, text);
  }
  flush_bytes(bytes, text);
  return text;
}

std::string SpmTokenizer::token_to_piece(int32_t id) const {
  check_id(id);
  const TokenType type = vocab_.types[size_t(id)];
  switch (type) {
    case TokenType::Control:
      return "";
    case TokenType::Unknown:
      return vocab_.unk_surface;
    case TokenType::Byte:
      return std::string(1, char(uint8_t(byte_of_id_[size_t(id)])));
    default:
      break;
  }
  std::string out;
  replace_space_symbols(vocab_.pieces[size_t(id)], out);
  return out;
}

}  // namespace yopo
