// Our tokenizer.model reader and SpmTokenizer against the real SentencePiece library: the same
// model bytes are loaded into both, and ids and decoded text must agree exactly. Also the
// protobuf reader on hand-written and malformed model files.
#include <gtest/gtest.h>
#include <sentencepiece_processor.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "core/error.h"
#include "support/test_paths.h"
#include "tokenizer/sp_model_file.h"
#include "tokenizer/spm_tokenizer.h"

namespace yopo {
namespace {

using Ids = std::vector<int32_t>;

// ---------------------------------------------------------------------------------------------
// A protobuf writer (wire format as the protobuf encoding guide defines it) for model files.

class Pb {
 public:
  Pb& varint(uint32_t field, uint64_t v) {
    key(field, 0);
    put_varint(v);
    return *this;
  }
  Pb& int32(uint32_t field, int32_t v) { return varint(field, uint64_t(int64_t(v))); }
  Pb& fixed32(uint32_t field, uint32_t v) {
    key(field, 5);
    for (int i = 0; i < 4; ++i) s_.push_back(char((v >> (8 * i)) & 0xFF));
    return *this;
  }
  Pb& float32(uint32_t field, float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    return fixed32(field, bits);
  }
  Pb& fixed64(uint32_t field, uint64_t v) {
    key(field, 1);
    for (int i = 0; i < 8; ++i) s_.push_back(char((v >> (8 * i)) & 0xFF));
    return *this;
  }
  Pb& bytes(uint32_t field, std::string_view b) {
    key(field, 2);
    put_varint(b.size());
    s_.append(b);
    return *this;
  }
  Pb& message(uint32_t field, const Pb& m) { return bytes(field, m.str()); }
  Pb& raw(std::string_view b) {
    s_.append(b);
    return *this;
  }
  const std::string& str() const { return s_; }

 private:
  void key(uint32_t field, uint32_t wire) { put_varint((uint64_t(field) << 3) | wire); }
  void put_varint(uint64_t v) {
    while (v >= 0x80) {
      s_.push_back(char(0x80 | (v & 0x7F)));
      v >>= 7;
    }
    s_.push_back(char(v));
  }
  std::string s_;
};

struct PieceSpec {
  std::string piece;
  float score;
  int type;  // SentencePiece's enum: 1 normal ... 6 byte
};

struct ModelSpec {
  std::vector<PieceSpec> pieces;
  bool byte_fallback = true;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = false;
  bool escape_whitespaces = true;
};

Pb piece_message(const PieceSpec& p) {
  return Pb().bytes(1, p.piece).float32(2, p.score).varint(3, uint64_t(p.type));
}

std::string serialize(const ModelSpec& m) {
  Pb model;
  for (const PieceSpec& p : m.pieces) model.message(1, piece_message(p));
  model.message(2, Pb().varint(3, 2).varint(35, m.byte_fallback));  // model_type BPE
  model.message(3, Pb().bytes(1, "identity")
                       .varint(3, m.add_dummy_prefix)
                       .varint(4, m.remove_extra_whitespaces)
                       .varint(5, m.escape_whitespaces));
  return model.str();
}

constexpr const char* kSp = "\xE2\x96\x81";  // "▁"

// A small BPE model (as tokenizer_test.cpp's, here for both libraries): an unused piece that
// outranks others, a user-defined piece, equal scores, pieces with "▁" inside.
ModelSpec small_model(bool byte_fallback) {
  ModelSpec m;
  m.byte_fallback = byte_fallback;
  m.pieces = {{"<unk>", 0, 2}, {"<s>", 0, 3}, {"</s>", 0, 3}};
  if (byte_fallback) {
    static const char* hex = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) {
      m.pieces.push_back({std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">", 0, 6});
    }
  }
  const std::string sp = kSp;
  const std::vector<PieceSpec> normal = {
      {sp, -1, 1},         {"a", -2, 1},         {"b", -3, 1},          {"c", -4, 1},
      {"ab", -1.5f, 1},    {"bc", -1, 1},        {sp + "a", -2.5f, 1},  {"abc", -0.5f, 1},
      {"<sep>", 0, 4},     {sp + "b", -0.1f, 5}, {"d", -5, 1},          {"ba", -1.5f, 1},
      {sp + sp, -0.7f, 1}, {"a" + sp, -0.9f, 1}, {sp + "ab", -0.2f, 1}, {"cd", -1.5f, 1},
      {"dd", -0.3f, 5},    {"ddd", -0.2f, 1},    {"\t", -6, 1},         {"\xC3\xA9", -6, 1}};
  m.pieces.insert(m.pieces.end(), normal.begin(), normal.end());
  return m;
}

// ---------------------------------------------------------------------------------------------
// Random text.

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else if (cp < 0x800) {
    out.push_back(char(0xC0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(char(0xE0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (cp >> 18)));
    out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}

class TextGen {
 public:
  explicit TextGen(uint32_t seed) : rng_(seed) {}

  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[size_t(uniform(0, int(v.size()) - 1))];
  }
  void code_points(std::string& out, uint32_t lo, uint32_t hi, int n) {
    for (int i = 0; i < n; ++i) append_utf8(out, uint32_t(uniform(int(lo), int(hi))));
  }

  // A mixture of scripts, emoji, digits, whitespace runs and rare code points (valid UTF-8).
  std::string text() {
    static const std::vector<std::string> words = {
        "the",        "Hello",     "world",     "image",   "USER:",
        "ASSISTANT:", "describe",  "don't",     "I'm",     "it's",
        "we'll",      "LLaVA",     "tokenizer", "a",       "I",
        "cat",        "sat",       "on",        "mat",     "<s>",
        "</s>",       "<unk>",     "<0x41>",    "<image>", "http://example.com/x?y=1",
        "snake_case", "CamelCase", "x86_64",    "3.14159", "1,000,000",
        "2024-01-01"};
    static const std::vector<std::string> accented = {
        "café",         "naïve",     "résumé",     "Äpfel",    "über",  "Straße",
        "mañana",       "façade",    "smørrebrød", "Ångström", "œuvre", "déjà",
        "crème brûlée", "São Paulo", "İstanbul",   "Łódź"};
    static const std::vector<std::string> emoji = {"😀",
                                                   "🦙",
                                                   "👍🏽",
                                                   "👨‍👩‍👧‍👦",
                                                   "🏳️‍🌈",
                                                   "❤️",
                                                   "🇫🇷",
                                                   "1️⃣",
                                                   "🧑🏿‍💻",
                                                   "✅",
                                                   "🤷‍♀️",
                                                   "👁‍🗨",
                                                   "☺"};
    static const std::vector<std::string> spaces = {" ",    "  ",   "   ",  "\t",   "\n", "\n\n",
                                                    "\r\n", " \n ", "\t\t", "    ", " \t"};
    static const std::vector<std::string> punct = {".", ",", "!",  "?", "...", "(",  ")", "\"",
                                                   "'", "-", "--", ":", ";",   "[",  "]", "{}",
                                                   "#", "@", "&",  "*", "/",   "\\", "|", "~"};
    std::string out;
    if (uniform(0, 4) == 0) out += pick(spaces);
    const int chunks = uniform(1, 12);
    for (int c = 0; c < chunks; ++c) {
      switch (uniform(0, 15)) {
        case 0:
        case 1:
          out += pick(words);
          break;
        case 2: {  // random ASCII letters
          const int n = uniform(1, 10);
          for (int i = 0; i < n; ++i)
            out.push_back(char(uniform(0, 1) ? 'a' + uniform(0, 25) : 'A' + uniform(0, 25)));
          break;
        }
        case 3:
          code_points(out, '0', '9', uniform(1, 9));
          break;
        case 4:
          out += pick(punct);
          break;
        case 5:
          out += pick(spaces);
          break;
        case 6:
          out += pick(accented);
          break;
        case 7:
          code_points(out, 0x4E00, 0x9FFF, uniform(1, 6));
          break;  // CJK
        case 8:
          code_points(out, 0x3041, 0x3096, uniform(1, 5));
          break;  // Hiragana
        case 9:
          code_points(out, 0x0410, 0x044F, uniform(2, 9));
          break;  // Cyrillic
        case 10:
          code_points(out, 0xAC00, 0xD7A3, uniform(1, 4));
          break;  // Hangul
        case 11:
          out += pick(emoji);
          break;
        case 12: {  // other scripts: Greek, Arabic, Devanagari, Thai
          static const std::vector<std::pair<uint32_t, uint32_t>> ranges = {
              {0x0391, 0x03C9}, {0x0621, 0x064A}, {0x0905, 0x0939}, {0x0E01, 0x0E3A}};
          const auto r = pick(ranges);
          code_points(out, r.first, r.second, uniform(1, 6));
          break;
        }
        case 13: {  // rare code points: byte fallback territory
          uint32_t cp;
          do {
            cp = uint32_t(uniform(0x80, 0x10FFFF));
          } while (cp >= 0xD800 && cp <= 0xDFFF);
          append_utf8(out, cp);
          break;
        }
        case 14: {  // special characters
          static const std::vector<uint32_t> special = {
              0x0,    0x1,    0x1F,   0x7F,   0xA0,   0xAD,   0x200B,   0x200D,  0xFEFF, 0x2581,
              0xFFFD, 0x3000, 0x0301, 0x0308, 0xE000, 0xF8FF, 0x10FFFF, 0x1D11E, 0x2028, 0x85};
          append_utf8(out, pick(special));
          break;
        }
        default:
          code_points(out, 0x0300, 0x036F, 1);
          break;  // combining marks
      }
      if (uniform(0, 2) != 0) out += ' ';
    }
    if (uniform(0, 4) == 0) out += pick(spaces);
    return out;
  }

  // Text with invalid UTF-8: stray continuation bytes, truncated sequences, overlong forms,
  // surrogates and code points above U+10FFFF.
  std::string broken_text() {
    static const std::vector<std::string> bad = {"\x80",
                                                 "\xBF",
                                                 "\xC3",
                                                 "\xE2\x96",
                                                 "\xF0\x9F\x98",
                                                 "\xC0\x80",
                                                 "\xC1\xBF",
                                                 "\xE0\x80\x80",
                                                 "\xED\xA0\x80",
                                                 "\xED\xBF\xBF",
                                                 "\xF4\x90\x80\x80",
                                                 "\xF8\x88\x80\x80\x80",
                                                 "\xFE",
                                                 "\xFF",
                                                 "\xC3\x28",
                                                 "\xE2\x28\xA1"};
    std::string out;
    const int chunks = uniform(1, 8);
    for (int c = 0; c < chunks; ++c) {
      if (uniform(0, 1)) {
        out += pick(bad);
      } else if (uniform(0, 1)) {
        out += text();
      } else {
        const int n = uniform(1, 6);
        for (int i = 0; i < n; ++i) out.push_back(char(uniform(0, 255)));
      }
    }
    return out;
  }

  // Text over a small alphabet that exercises the small model's merges.
  std::string small_text() {
    static const std::vector<std::string> units = {
        "a",    "b", "c",        "d",  "a",  "b", "d",    " ",  " ",  "  ", "<sep>",
        "<sep", "x", "\xC3\xA9", "\t", "\n", kSp, "\xFF", "ab", "dd", "ddd"};
    std::string out;
    const int n = uniform(0, 14);
    for (int i = 0; i < n; ++i) out += pick(units);
    return out;
  }

 private:
  std::mt19937 rng_;
};

// ---------------------------------------------------------------------------------------------
// Comparison harness.

struct Agreement {
  int cases = 0;
  int same_ids = 0;
  int same_decode = 0;
  int sp_round_trips = 0;
  int our_round_trips = 0;
};

std::ostream& operator<<(std::ostream& os, const Agreement& a) {
  return os << a.same_ids << "/" << a.cases << " identical ids, " << a.same_decode << "/" << a.cases
            << " identical decodes, round trip: sentencepiece " << a.sp_round_trips << ", ours "
            << a.our_round_trips;
}

std::string printable(const std::string& s) {
  std::ostringstream os;
  for (const unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      os << c;
    } else {
      static const char* hex = "0123456789abcdef";
      os << "\\x" << hex[c >> 4] << hex[c & 15];
    }
  }
  return os.str();
}

class Pair {
 public:
  Pair(const std::string& serialized, const Vocab& vocab) : ours_(vocab) {
    const auto status = sp_.LoadFromSerializedProto(serialized);
    if (!status.ok()) ADD_FAILURE() << "sentencepiece refused the model: " << status.ToString();
  }

  Ids sp_encode(const std::string& text) const {
    std::vector<int> ids;
    const auto status = sp_.Encode(text, &ids);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return Ids(ids.begin(), ids.end());
  }
  std::string sp_decode(const Ids& ids) const {
    std::string text;
    const auto status = sp_.Decode(std::vector<int>(ids.begin(), ids.end()), &text);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return text;
  }

  // Encodes and decodes `text` with both; failures are reported (at most a few per run).
  void compare(const std::string& text, Agreement& a, bool check_round_trip) const {
    ++a.cases;
    const Ids want = sp_encode(text);
    const Ids got = ours_.encode(text, false);
    if (got == want) {
      ++a.same_ids;
    } else if (reported_++ < 10) {
      ADD_FAILURE() << "ids differ for '" << printable(text) << "': ours "
                    << testing::PrintToString(got) << ", sentencepiece "
                    << testing::PrintToString(want);
    }
    const std::string sp_text = sp_decode(want);
    const std::string our_text = ours_.decode(want);
    if (our_text == sp_text) {
      ++a.same_decode;
    } else if (reported_++ < 10) {
      ADD_FAILURE() << "decode differs for " << testing::PrintToString(want) << ": ours '"
                    << printable(our_text) << "', sentencepiece '" << printable(sp_text) << "'";
    }
    if (sp_text == text) ++a.sp_round_trips;
    if (ours_.decode(got) == text) ++a.our_round_trips;
    if (check_round_trip && sp_text == text && ours_.decode(got) != text && reported_++ < 10) {
      ADD_FAILURE() << "no round trip for '" << printable(text) << "'";
    }
  }

  // Decodes an arbitrary id sequence with both.
  bool compare_decode(const Ids& ids) const {
    const std::string want = sp_decode(ids);
    const std::string got = ours_.decode(ids);
    if (got != want && reported_++ < 10) {
      ADD_FAILURE() << "decode differs for " << testing::PrintToString(ids) << ": ours '"
                    << printable(got) << "', sentencepiece '" << printable(want) << "'";
    }
    return got == want;
  }

  const SpmTokenizer& ours() const { return ours_; }

 private:
  sentencepiece::SentencePieceProcessor sp_;
  SpmTokenizer ours_;
  mutable int reported_ = 0;
};

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> golden_texts(const std::string& inp) {
  const std::string text = read_all(inp);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  for (size_t pos = 0, end; (end = text.find(sep, pos)) != std::string::npos;
       pos = end + sep.size()) {
    out.push_back(text.substr(pos, end - pos));
  }
  return out;
}

// Random id sequences: bytes (forming valid and invalid UTF-8), control and unknown tokens,
// pieces with leading "▁", anything.
Ids random_ids(TextGen& g, const SpmTokenizer& t) {
  const Vocab& v = t.vocab();
  std::vector<int32_t> bytes, marked;
  for (int32_t id = 0; id < v.size(); ++id) {
    if (v.types[size_t(id)] == TokenType::Byte) bytes.push_back(id);
    if (v.pieces[size_t(id)].rfind(kSp, 0) == 0) marked.push_back(id);
  }
  Ids ids;
  const int n = g.uniform(0, 12);
  for (int i = 0; i < n; ++i) {
    switch (g.uniform(0, 4)) {
      case 0:
        if (!bytes.empty()) ids.push_back(g.pick(bytes));
        break;
      case 1:
        ids.push_back(g.pick(std::vector<int32_t>{v.unk_id, v.bos_id, v.eos_id}));
        break;
      case 2:
        if (!marked.empty()) ids.push_back(g.pick(marked));
        break;
      default:
        ids.push_back(g.uniform(0, v.size() - 1));
        break;
    }
  }
  return ids;
}

void compare_real_model(const std::string& model_path, const std::string& inp, int n_random,
                        uint32_t seed) {
  const Pair pair(read_all(model_path), load_sp_model_vocab(model_path));
  Agreement golden, random, broken;
  for (const std::string& s : golden_texts(inp)) pair.compare(s, golden, true);
  TextGen g(seed);
  for (int i = 0; i < n_random; ++i) pair.compare(g.text(), random, true);
  for (int i = 0; i < n_random / 4; ++i) pair.compare(g.broken_text(), broken, false);
  int decodes = 0, same = 0;
  for (int i = 0; i < n_random; ++i, ++decodes) {
    same += pair.compare_decode(random_ids(g, pair.ours()));
  }
  // Every sequence of up to three tokens from a set that matters for the leading-space rule.
  const SpmTokenizer& t = pair.ours();
  std::vector<int32_t> set = {t.bos_id(), t.eos_id(), t.vocab().unk_id};
  for (const char* piece :
       {kSp, "\xE2\x96\x81\xE2\x96\x81", "<0x0A>", "<0xC3>", "<0xA9>", "\xE2\x96\x81t", "t"}) {
    if (t.piece_to_id(piece) >= 0) set.push_back(t.piece_to_id(piece));
  }
  std::vector<Ids> seqs = {{}};
  for (int len = 1; len <= 3; ++len) {
    std::vector<Ids> longer;
    for (const Ids& s : seqs) {
      if (int(s.size()) != len - 1) continue;
      for (const int32_t id : set) {
        longer.push_back(s);
        longer.back().push_back(id);
      }
    }
    seqs.insert(seqs.end(), longer.begin(), longer.end());
  }
  for (const Ids& s : seqs) {
    same += pair.compare_decode(s);
    ++decodes;
  }

  // A long prompt (about 30k characters) in one piece.
  Agreement long_text;
  std::string text;
  while (text.size() < 30000) text += g.text() + " ";
  pair.compare(text, long_text, true);

  std::cout << "[ agreement ] " << model_path << "\n  golden strings: " << golden
            << "\n  random strings: " << random << "\n  invalid UTF-8:  " << broken
            << "\n  random id sequences: " << same << "/" << decodes << " identical decodes"
            << "\n  long text (" << text.size() << " bytes): " << long_text << "\n";
  EXPECT_EQ(golden.same_ids, golden.cases);
  EXPECT_EQ(random.same_ids, random.cases);
  EXPECT_EQ(random.same_decode, random.cases);
  EXPECT_EQ(random.our_round_trips, random.sp_round_trips);
  EXPECT_EQ(broken.same_ids, broken.cases);
  EXPECT_EQ(same, decodes);
  EXPECT_EQ(long_text.same_ids, 1);
}

TEST(SpmVsSentencePiece, Llama2Tokenizer) {
  YOPO_REQUIRE_ASSET(model, "tokenizer/llama2-tokenizer.model");
  YOPO_REQUIRE_ASSET(inp, "tokenizer/ggml-vocab-llama-spm.gguf.inp");
  compare_real_model(model, inp, 3000, 20240611);
}

TEST(SpmVsSentencePiece, Stories260KTokenizer) {
  YOPO_REQUIRE_ASSET(model, "tokenizer/stories260K-tok512.model");
  YOPO_REQUIRE_ASSET(inp, "tokenizer/ggml-vocab-llama-spm.gguf.inp");
  compare_real_model(model, inp, 2000, 7);
}

TEST(SpmVsSentencePiece, BosIsPrepended) {
  YOPO_REQUIRE_ASSET(model, "tokenizer/llama2-tokenizer.model");
  const SpmTokenizer t(load_sp_model_vocab(model));
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load(model).ok());
  EXPECT_EQ(sp.bos_id(), t.bos_id());
  EXPECT_EQ(sp.eos_id(), t.eos_id());
  EXPECT_EQ(sp.unk_id(), t.vocab().unk_id);
  EXPECT_EQ(sp.GetPieceSize(), t.n_vocab());
  std::vector<int> ids;
  ASSERT_TRUE(sp.Encode("Hello world", &ids).ok());
  ids.insert(ids.begin(), sp.bos_id());
  EXPECT_EQ(t.encode("Hello world", true), Ids(ids.begin(), ids.end()));
}

// Hand-made models exercise what the LLaMA model lacks: unused and user-defined pieces, no
// byte fallback, removal of extra whitespace, no dummy prefix, unescaped spaces.
void compare_small_model(const ModelSpec& m, uint32_t seed) {
  const std::string bytes = serialize(m);
  const Pair pair(bytes, parse_sp_model_vocab(bytes, "small model"));
  TextGen g(seed);
  Agreement a;
  for (int i = 0; i < 3000; ++i) pair.compare(g.small_text(), a, true);
  int same = 0;
  for (int i = 0; i < 1000; ++i) same += pair.compare_decode(random_ids(g, pair.ours()));
  EXPECT_EQ(a.same_ids, a.cases);
  EXPECT_EQ(a.same_decode, a.cases);
  EXPECT_EQ(same, 1000);
}

TEST(SpmVsSentencePiece, SmallModelWithByteFallback) {
  compare_small_model(small_model(true), 1);
}

TEST(SpmVsSentencePiece, SmallModelWithoutByteFallback) {
  compare_small_model(small_model(false), 2);
}

TEST(SpmVsSentencePiece, SmallModelRemovingExtraWhitespace) {
  ModelSpec m = small_model(true);
  m.remove_extra_whitespaces = true;
  compare_small_model(m, 3);
  m = small_model(false);
  m.remove_extra_whitespaces = true;
  compare_small_model(m, 4);
}

TEST(SpmVsSentencePiece, SmallModelWithoutDummyPrefix) {
  ModelSpec m = small_model(true);
  m.add_dummy_prefix = false;
  compare_small_model(m, 5);
  m.remove_extra_whitespaces = true;
  compare_small_model(m, 6);
}

TEST(SpmVsSentencePiece, SmallModelWithoutSpaceEscaping) {
  ModelSpec m = small_model(true);
  m.escape_whitespaces = false;
  m.pieces.push_back({" a", -0.05f, 1});
  compare_small_model(m, 8);
}

// ---------------------------------------------------------------------------------------------
// The tokenizer.model reader.

TEST(SpModelFile, ReadsEveryField) {
  Pb unknown;  // fields the reader must skip, one of each wire type
  unknown.varint(99, 5).fixed64(100, 7).fixed32(101, 9).bytes(102, "skip me");
  Pb model;
  model.message(1, Pb().bytes(1, "<unk>").float32(2, 0).varint(3, 2).raw(unknown.str()));
  model.raw(unknown.str());
  model.message(1, Pb().bytes(1, "<0x41>").float32(2, -1.25f).varint(3, 6));
  model.message(1, Pb().bytes(1, "hi").float32(2, -2.5f));               // type absent: normal
  model.message(1, Pb().varint(3, 4).bytes(1, "<x>").float32(2, 3.0f));  // any field order
  model.message(1, Pb().bytes(1, "</s>").varint(3, 3));
  model.message(2, Pb().bytes(1, "corpus.txt")
                       .varint(3, 2)
                       .int32(40, 0)
                       .int32(41, -1)  // ten-byte varint
                       .int32(42, 4)
                       .int32(43, 2)
                       .varint(35, 1)
                       .bytes(44, "??")
                       .raw(unknown.str()));
  model.message(3, Pb().bytes(1, "identity").varint(3, 0).varint(4, 0).varint(5, 1));
  const Vocab v = parse_sp_model_vocab(model.str(), "hand-made");
  EXPECT_EQ(v.pieces, (std::vector<std::string>{"<unk>", "<0x41>", "hi", "<x>", "</s>"}));
  EXPECT_EQ(v.scores, (std::vector<float>{0, -1.25f, -2.5f, 3.0f, 0}));
  EXPECT_EQ(v.types, (std::vector<TokenType>{TokenType::Unknown, TokenType::Byte, TokenType::Normal,
                                             TokenType::UserDefined, TokenType::Control}));
  EXPECT_EQ(v.unk_id, 0);
  EXPECT_EQ(v.bos_id, -1);
  EXPECT_EQ(v.eos_id, 4);
  EXPECT_EQ(v.pad_id, 2);
  EXPECT_TRUE(v.byte_fallback);
  EXPECT_EQ(v.unk_surface, "??");
  EXPECT_FALSE(v.add_space_prefix);
  EXPECT_FALSE(v.remove_extra_whitespaces);
  EXPECT_TRUE(v.escape_whitespaces);
}

TEST(SpModelFile, ProtoDefaults) {
  Pb model;
  model.message(1, Pb().bytes(1, "<unk>").varint(3, 2));
  model.message(1, Pb().bytes(1, "<s>").varint(3, 3));
  model.message(1, Pb().bytes(1, "</s>").varint(3, 3));
  model.message(2, Pb().varint(3, 2));
  const Vocab v = parse_sp_model_vocab(model.str(), "hand-made");
  EXPECT_EQ(v.unk_id, 0);
  EXPECT_EQ(v.bos_id, 1);
  EXPECT_EQ(v.eos_id, 2);
  EXPECT_EQ(v.pad_id, -1);
  EXPECT_FALSE(v.byte_fallback);
  EXPECT_TRUE(v.add_space_prefix);
  EXPECT_TRUE(v.remove_extra_whitespaces);
  EXPECT_TRUE(v.escape_whitespaces);
  EXPECT_EQ(v.unk_surface, " \xE2\x81\x87 ");
}

TEST(SpModelFile, ReadsTheLlamaModel) {
  YOPO_REQUIRE_ASSET(model, "tokenizer/llama2-tokenizer.model");
  const Vocab v = load_sp_model_vocab(model);
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load(model).ok());
  ASSERT_EQ(v.size(), sp.GetPieceSize());
  for (int id = 0; id < v.size(); ++id) {
    ASSERT_EQ(v.pieces[size_t(id)], sp.IdToPiece(id)) << id;
    ASSERT_EQ(v.scores[size_t(id)], sp.GetScore(id)) << id;
    ASSERT_EQ(v.types[size_t(id)] == TokenType::Control, sp.IsControl(id)) << id;
    ASSERT_EQ(v.types[size_t(id)] == TokenType::Byte, sp.IsByte(id)) << id;
    ASSERT_EQ(v.types[size_t(id)] == TokenType::Unknown, sp.IsUnknown(id)) << id;
  }
  EXPECT_TRUE(v.byte_fallback);
  EXPECT_TRUE(v.add_space_prefix);
  EXPECT_FALSE(v.remove_extra_whitespaces);
}

void expect_malformed(const std::string& bytes, const std::string& what) {
  EXPECT_THROW(parse_sp_model_vocab(bytes, "bad.model"), Error) << what;
}

TEST(SpModelFile, RejectsMalformedFiles) {
  const std::string good = serialize(small_model(false));
  ASSERT_NO_THROW(parse_sp_model_vocab(good, "good"));
  expect_malformed("", "empty");
  expect_malformed(std::string("\x0a\x05\x0a\x03", 4), "piece message cut short");
  expect_malformed(std::string("\x0a\x80", 2), "truncated length varint");
  expect_malformed(std::string(11, '\xFF'), "varint longer than ten bytes");
  expect_malformed(std::string("\x0b\x0c", 2), "group wire type");
  expect_malformed(std::string("\x02\x00", 2), "field number 0");
  expect_malformed(std::string("\x0d\x00\x00", 3), "truncated 32-bit value");
  expect_malformed(std::string("\x09\x00\x00\x00", 4), "truncated 64-bit value");
  expect_malformed("not a tokenizer model at all, just text", "text");
  // Well-formed protobuf with wrong contents.
  expect_malformed(Pb().varint(1, 5).str() + good, "pieces as a varint");
  expect_malformed(good + Pb().message(1, Pb().varint(3, 1)).str(), "empty piece");
  expect_malformed(good + Pb().message(1, Pb().bytes(1, "q").varint(3, 9)).str(),
                   "invalid piece type");
  expect_malformed(good + Pb().message(1, Pb().bytes(1, "<0xZZ>").varint(3, 6)).str(),
                   "byte piece that names no byte");
  expect_malformed(good + Pb().message(2, Pb().varint(3, 1)).str(), "unigram model");
  expect_malformed(good + Pb().message(2, Pb().fixed32(41, 1)).str(), "bos_id as 32-bit");
  expect_malformed(good + Pb().message(2, Pb().int32(41, 99999)).str(), "bos_id out of range");
  expect_malformed(good + Pb().message(3, Pb().bytes(2, "charsmap")).str(), "charsmap");
  expect_malformed(Pb().message(2, Pb().varint(3, 2)).str(), "no pieces");

  // Truncations of a valid file never crash (most throw; a cut between fields may parse).
  for (size_t n = 1; n < good.size(); n += 7) {
    try {
      parse_sp_model_vocab(good.substr(0, n), "truncated");
    } catch (const Error&) {
    }
  }
  // Random garbage and random corruption never crash: an Error or (rarely) a valid vocab.
  std::mt19937 rng(99);
  for (int i = 0; i < 2000; ++i) {
    std::string bytes = good;
    const int flips = 1 + int(rng() % 4);
    for (int f = 0; f < flips; ++f) bytes[rng() % bytes.size()] = char(rng());
    if (i % 2) bytes = std::string(size_t(rng() % 64), '\0');
    if (i % 4 == 1) {
      for (char& c : bytes) c = char(rng());
    }
    try {
      const Vocab v = parse_sp_model_vocab(bytes, "fuzzed");
      SpmTokenizer t(v);
      (void)t.decode(t.encode("abc d", true));
    } catch (const Error&) {
    }
  }
}

TEST(SpModelFile, RejectsTruncatedLlamaModel) {
  YOPO_REQUIRE_ASSET(model, "tokenizer/llama2-tokenizer.model");
  const std::string bytes = read_all(model);
  for (const size_t n : {size_t(1), size_t(2), size_t(100), bytes.size() / 2, bytes.size() - 1}) {
    EXPECT_THROW(parse_sp_model_vocab(bytes.substr(0, n), "truncated"), Error) << n;
  }
  EXPECT_THROW(load_sp_model_vocab(test::temp_dir() + "/missing.model"), Error);
}

}  // namespace
}  // namespace yopo
