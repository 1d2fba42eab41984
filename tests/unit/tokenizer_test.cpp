// SpmTokenizer on small hand-made vocabularies (expected ids worked out by hand from the
// SentencePiece BPE rules), Vocab from GGUF metadata, and the llama.cpp golden tokenizations.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "io/gguf.h"
#include "support/gguf_builder.h"
#include "support/test_paths.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/sp_model_file.h"
#include "tokenizer/spm_tokenizer.h"

namespace yopo {
namespace {

using Ids = std::vector<int32_t>;

// Ids of the hand-made vocabulary.
enum : int32_t {
  kUnk = 0,
  kBos,
  kEos,
  kNewline,
  kC3,
  kA9,
  kSpace,
  kA,
  kB,
  kC,
  kAb,
  kBc,
  kSpaceA,
  kAbc,
  kSep,
  kSpaceB,
  kD,
  kBa,
  kCount
};

// A small vocabulary: scores chosen so that the merge order can be worked out by hand.
Vocab small_vocab() {
  Vocab v;
  const auto add = [&](const std::string& piece, float score, TokenType type) {
    v.pieces.push_back(piece);
    v.scores.push_back(score);
    v.types.push_back(type);
  };
  add("<unk>", 0, TokenType::Unknown);
  add("<s>", 0, TokenType::Control);
  add("</s>", 0, TokenType::Control);
  add("<0x0A>", 0, TokenType::Byte);
  add("<0xC3>", 0, TokenType::Byte);
  add("<0xA9>", 0, TokenType::Byte);
  add("\xE2\x96\x81", -1, TokenType::Normal);  // "▁"
  add("a", -2, TokenType::Normal);
  add("b", -3, TokenType::Normal);
  add("c", -4, TokenType::Normal);
  add("ab", -1.5f, TokenType::Normal);
  add("bc", -1, TokenType::Normal);
  add("\xE2\x96\x81"
      "a",
      -2.5f, TokenType::Normal);
  add("abc", -0.5f, TokenType::Normal);
  add("<sep>", 0, TokenType::UserDefined);
  add("\xE2\x96\x81"
      "b",
      -0.1f, TokenType::Unused);
  add("d", -5, TokenType::Normal);
  add("ba", -1.5f, TokenType::Normal);
  EXPECT_EQ(v.size(), kCount);
  return v;
}

TEST(SpmTokenizer, EmptyTextAndBos) {
  const SpmTokenizer t(small_vocab());
  EXPECT_EQ(t.encode("", false), Ids{});
  EXPECT_EQ(t.encode("", true), Ids{kBos});
  EXPECT_EQ(t.encode("a", true), (Ids{kBos, kSpaceA}));
  EXPECT_EQ(t.n_vocab(), kCount);
  EXPECT_EQ(t.bos_id(), kBos);
  EXPECT_EQ(t.eos_id(), kEos);
}

TEST(SpmTokenizer, MergesBestScoreFirst) {
  const SpmTokenizer t(small_vocab());
  // ▁ a b c: bc (-1) beats ab (-1.5) and ▁a (-2.5); then a+bc = abc (-0.5); ▁abc is unknown.
  EXPECT_EQ(t.encode("abc", false), (Ids{kSpace, kAbc}));
  // ▁ c a b: only a+b merges.
  EXPECT_EQ(t.encode("cab", false), (Ids{kSpace, kC, kAb}));
  // ▁ a b c d: bc, then abc; c+d is stale, d stays alone.
  EXPECT_EQ(t.encode("abcd", false), (Ids{kSpace, kAbc, kD}));
}

TEST(SpmTokenizer, EqualScoresMergeLeftmostFirst) {
  const SpmTokenizer t(small_vocab());
  // ▁ a b a: ab and ba both score -1.5; the left one wins, which makes ▁+a stale.
  EXPECT_EQ(t.encode("aba", false), (Ids{kSpace, kAb, kA}));
}

TEST(SpmTokenizer, UnusedPiecesAreSplitBack) {
  const SpmTokenizer t(small_vocab());
  // ▁ b c: ▁b (unused, -0.1) merges before bc, then is split back into ▁ and b.
  EXPECT_EQ(t.encode("bc", false), (Ids{kSpace, kB, kC}));
  // ▁ a ▁ b: ▁b first (split back at the end), then ▁a.
  EXPECT_EQ(t.encode("a b", false), (Ids{kSpaceA, kSpace, kB}));
}

TEST(SpmTokenizer, ByteFallbackAndUnknown) {
  const SpmTokenizer t(small_vocab());
  EXPECT_EQ(t.encode("\xC3\xA9", false), (Ids{kSpace, kC3, kA9}));  // é -> <0xC3> <0xA9>
  EXPECT_EQ(t.encode("\n", false), (Ids{kSpace, kNewline}));
  EXPECT_EQ(t.encode("x", false), (Ids{kSpace, kUnk}));  // no <0x78> piece
  // An invalid byte reads as U+FFFD (EF BF BD), whose bytes have no pieces here.
  EXPECT_EQ(t.encode("\xFF", false), (Ids{kSpace, kUnk, kUnk, kUnk}));

  Vocab v = small_vocab();
  v.byte_fallback = false;
  const SpmTokenizer no_fallback(v);
  EXPECT_EQ(no_fallback.encode("\xC3\xA9", false), (Ids{kSpace, kUnk}));
  // A run of unknown pieces gives one unknown token.
  EXPECT_EQ(no_fallback.encode("x\nya", false), (Ids{kSpace, kUnk, kA}));
  EXPECT_EQ(no_fallback.encode("x a", false), (Ids{kSpace, kUnk, kSpaceA}));
}

TEST(SpmTokenizer, UserDefinedPiecesAreMatchedFirstAndNeverMerged) {
  const SpmTokenizer t(small_vocab());
  EXPECT_EQ(t.encode("a<sep>b", false), (Ids{kSpaceA, kSep, kB}));
  EXPECT_EQ(t.encode("<sep>", false), (Ids{kSpace, kSep}));
  EXPECT_EQ(t.encode("<sep", false), (Ids{kSpace, kUnk, kUnk, kUnk, kUnk}));
}

TEST(SpmTokenizer, NormalizerSettings) {
  Vocab v = small_vocab();
  v.add_space_prefix = false;
  EXPECT_EQ(SpmTokenizer(v).encode("a", false), Ids{kA});
  EXPECT_EQ(SpmTokenizer(v).encode(" a", false), Ids{kSpaceA});

  v = small_vocab();
  v.remove_extra_whitespaces = true;
  const SpmTokenizer squeeze(v);
  EXPECT_EQ(squeeze.encode("  a   b  ", false), (Ids{kSpaceA, kSpace, kB}));
  EXPECT_EQ(squeeze.encode("   ", false), Ids{});

  // Kept as they are by default: "  a" is ▁ ▁ ▁ a -> ▁ ▁ ▁a.
  EXPECT_EQ(SpmTokenizer(small_vocab()).encode("  a", false), (Ids{kSpace, kSpace, kSpaceA}));
}

TEST(SpmTokenizer, DecodeFollowsSentencePiece) {
  const SpmTokenizer t(small_vocab());
  EXPECT_EQ(t.decode({}), "");
  EXPECT_EQ(t.decode({kBos, kSpaceA, kSpace, kB, kEos}), "a b");
  EXPECT_EQ(t.decode({kSpace, kA}), "a");  // the dummy prefix goes
  EXPECT_EQ(t.decode({kSpace, kC3, kA9}), "\xC3\xA9");
  EXPECT_EQ(t.decode({kC3, kA9, kSpaceA}), "\xC3\xA9 a");  // not at the start any more
  EXPECT_EQ(t.decode({kNewline, kSpaceA}), "\n a");
  EXPECT_EQ(t.decode({kC3}), "\xEF\xBF\xBD");  // lone lead byte -> U+FFFD
  EXPECT_EQ(t.decode({kA9, kC3, kA}),
            "\xEF\xBF\xBD\xEF\xBF\xBD"
            "a");
  EXPECT_EQ(t.decode({kUnk, kSpaceA}), " \xE2\x81\x87  a");  // " ⁇ " then " a"
  EXPECT_EQ(t.decode({kSep}), "<sep>");
  EXPECT_THROW(t.decode({kCount}), Error);
  EXPECT_THROW(t.decode({-1}), Error);
}

TEST(SpmTokenizer, TokenToPiece) {
  const SpmTokenizer t(small_vocab());
  EXPECT_EQ(t.token_to_piece(kSpaceA), " a");
  EXPECT_EQ(t.token_to_piece(kSpace), " ");
  EXPECT_EQ(t.token_to_piece(kC3), "\xC3");
  EXPECT_EQ(t.token_to_piece(kNewline), "\n");
  EXPECT_EQ(t.token_to_piece(kBos), "");
  EXPECT_EQ(t.token_to_piece(kUnk), " \xE2\x81\x87 ");
  EXPECT_THROW(t.token_to_piece(kCount), Error);
  EXPECT_EQ(t.piece_to_id("abc"), kAbc);
  EXPECT_EQ(t.piece_to_id("<s>"), kBos);
  EXPECT_EQ(t.piece_to_id("zz"), -1);
}

TEST(SpmTokenizer, RejectsBrokenVocabularies) {
  Vocab v = small_vocab();
  v.scores.pop_back();
  EXPECT_THROW(SpmTokenizer{v}, Error);
  v = small_vocab();
  v.pieces[kC3] = "<0xc3>";  // byte pieces are upper-case hex
  EXPECT_THROW(SpmTokenizer{v}, Error);
  v = small_vocab();
  v.bos_id = kCount;
  EXPECT_THROW(SpmTokenizer{v}, Error);
  v = small_vocab();
  v.types[3] = TokenType(9);
  EXPECT_THROW(SpmTokenizer{v}, Error);
  EXPECT_THROW(SpmTokenizer{Vocab{}}, Error);
}

TEST(SpmTokenizer, LongInputIsLinearEnough) {
  // 200k characters: a quadratic merge loop would take minutes; this must finish quickly
  // (no timing assertion, a hang shows up as a test timeout).
  const SpmTokenizer t(small_vocab());
  std::string text;
  for (int i = 0; i < 40000; ++i) text += "abcd ";
  // "▁abcd▁abcd...▁": each word is ▁ abc d, and the trailing space is one more ▁.
  const Ids ids = t.encode(text, false);
  ASSERT_EQ(ids.size(), 40000u * 3 + 1);
  EXPECT_EQ((Ids(ids.begin(), ids.begin() + 4)), (Ids{kSpace, kAbc, kD, kSpace}));
  EXPECT_EQ(ids.back(), kSpace);
  EXPECT_EQ(t.decode(ids), text);
}

// ---------------------------------------------------------------------------------------------
// Vocab from GGUF metadata.

test::GgufBuilder small_vocab_gguf(const Vocab& v) {
  std::vector<int32_t> types;
  for (const TokenType t : v.types) types.push_back(int32_t(t));
  test::GgufBuilder b;
  b.kv_string("general.architecture", "llama")
      .kv_string("tokenizer.ggml.model", "llama")
      .kv_strings("tokenizer.ggml.tokens", v.pieces)
      .kv_f32s("tokenizer.ggml.scores", v.scores)
      .kv_i32s("tokenizer.ggml.token_type", types);
  return b;
}

TEST(GgufVocab, ReadsTokenizerMetadata) {
  const Vocab ref = small_vocab();
  const std::string path = test::temp_dir() + "/vocab.gguf";
  small_vocab_gguf(ref)
      .kv_u32("tokenizer.ggml.bos_token_id", 2)
      .kv_u32("tokenizer.ggml.eos_token_id", 1)
      .kv_u32("tokenizer.ggml.unknown_token_id", 0)
      .kv_i32("tokenizer.ggml.padding_token_id", 3)
      .kv_bool("tokenizer.ggml.add_bos_token", false)
      .kv_bool("tokenizer.ggml.add_eos_token", true)
      .kv_bool("tokenizer.ggml.add_space_prefix", false)
      .write(path);
  const Vocab v = vocab_from_gguf(GgufFile(path));
  EXPECT_EQ(v.pieces, ref.pieces);
  EXPECT_EQ(v.scores, ref.scores);
  EXPECT_EQ(v.types, ref.types);
  EXPECT_EQ(v.bos_id, 2);
  EXPECT_EQ(v.eos_id, 1);
  EXPECT_EQ(v.unk_id, 0);
  EXPECT_EQ(v.pad_id, 3);
  EXPECT_FALSE(v.add_bos);
  EXPECT_TRUE(v.add_eos);
  EXPECT_FALSE(v.add_space_prefix);
  EXPECT_TRUE(v.byte_fallback);  // it has byte tokens
  EXPECT_EQ(SpmTokenizer(v).encode("a", false), Ids{kA});
}

TEST(GgufVocab, DefaultsForAbsentKeys) {
  const std::string path = test::temp_dir() + "/vocab.gguf";
  test::GgufBuilder()
      .kv_string("tokenizer.ggml.model", "llama")
      .kv_strings("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"})
      .write(path);
  const Vocab v = vocab_from_gguf(GgufFile(path));
  EXPECT_EQ(v.scores, (std::vector<float>{0, 0, 0, 0}));
  EXPECT_EQ(v.types, std::vector<TokenType>(4, TokenType::Normal));
  EXPECT_EQ(v.bos_id, 1);
  EXPECT_EQ(v.eos_id, 2);
  EXPECT_EQ(v.unk_id, 0);
  EXPECT_EQ(v.pad_id, -1);
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_eos);
  EXPECT_TRUE(v.add_space_prefix);
  EXPECT_FALSE(v.remove_extra_whitespaces);
  EXPECT_FALSE(v.byte_fallback);
}

TEST(GgufVocab, RejectsMissingOrForeignTokenizers) {
  const std::string dir = test::temp_dir();
  test::GgufBuilder().kv_string("general.architecture", "llama").write(dir + "/none.gguf");
  EXPECT_THROW(vocab_from_gguf(GgufFile(dir + "/none.gguf")), Error);

  test::GgufBuilder()
      .kv_string("tokenizer.ggml.model", "gpt2")
      .kv_strings("tokenizer.ggml.tokens", {"a"})
      .write(dir + "/gpt2.gguf");
  try {
    vocab_from_gguf(GgufFile(dir + "/gpt2.gguf"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gpt2"), std::string::npos) << e.what();
  }

  Vocab v = small_vocab();
  v.scores.pop_back();
  v.scores.push_back(0);
  v.scores.push_back(0);  // one score too many
  small_vocab_gguf(v).write(dir + "/scores.gguf");
  EXPECT_THROW(vocab_from_gguf(GgufFile(dir + "/scores.gguf")), Error);

  v = small_vocab();
  v.types[7] = TokenType(7);
  small_vocab_gguf(v).write(dir + "/types.gguf");
  EXPECT_THROW(vocab_from_gguf(GgufFile(dir + "/types.gguf")), Error);

  small_vocab_gguf(small_vocab())
      .kv_u32("tokenizer.ggml.bos_token_id", 1000)
      .write(dir + "/bos.gguf");
  EXPECT_THROW(vocab_from_gguf(GgufFile(dir + "/bos.gguf")), Error);

  test::GgufBuilder()
      .kv_string("tokenizer.ggml.model", "llama")
      .kv_f32s("tokenizer.ggml.tokens", {1.0f})  // not strings
      .write(dir + "/tokens.gguf");
  EXPECT_THROW(vocab_from_gguf(GgufFile(dir + "/tokens.gguf")), Error);
}

// ---------------------------------------------------------------------------------------------
// The golden tokenizations that ship with llama.cpp (generated there with the reference
// tokenizer): every case must come out the same from both vocabulary sources.

struct GoldenCase {
  std::string text;
  Ids ids;
};

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// .inp: each case is its text followed by "\n__ggml_vocab_test__\n" (so the text itself never
// has the newline before the marker); .out: one line of ids per case.
std::vector<GoldenCase> read_golden(const std::string& inp, const std::string& out) {
  const std::string text = read_all(inp);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<GoldenCase> cases;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = text.find(sep, pos);
    if (end == std::string::npos) {
      ADD_FAILURE() << "unterminated case at byte " << pos << " of " << inp;
      break;
    }
    cases.push_back({text.substr(pos, end - pos), {}});
    pos = end + sep.size();
  }
  std::istringstream lines(read_all(out));
  std::string line;
  size_t i = 0;
  while (std::getline(lines, line)) {
    if (i < cases.size()) {
      std::istringstream nums(line);
      int32_t id;
      while (nums >> id) cases[i].ids.push_back(id);
    }
    ++i;
  }
  EXPECT_EQ(i, cases.size()) << "cases in " << inp << " vs lines in " << out;
  return cases;
}

void expect_golden(const SpmTokenizer& t, const std::vector<GoldenCase>& cases) {
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(t.encode(cases[i].text, false), cases[i].ids)
        << "case " << i << ": '" << cases[i].text << "'";
  }
}

TEST(SpmGolden, GgufVocabReproducesLlamaCppCases) {
  YOPO_REQUIRE_ASSET(gguf, "tokenizer/ggml-vocab-llama-spm.gguf");
  YOPO_REQUIRE_ASSET(inp, "tokenizer/ggml-vocab-llama-spm.gguf.inp");
  YOPO_REQUIRE_ASSET(out, "tokenizer/ggml-vocab-llama-spm.gguf.out");
  const auto cases = read_golden(inp, out);
  ASSERT_EQ(cases.size(), 46u);
  EXPECT_EQ(cases[2].text, "");
  EXPECT_EQ(cases[3].text, " ");
  const SpmTokenizer t(vocab_from_gguf(GgufFile(gguf)));
  EXPECT_EQ(t.n_vocab(), 32000);
  EXPECT_EQ(t.bos_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  expect_golden(t, cases);
}

TEST(SpmGolden, TokenizerModelReproducesLlamaCppCases) {
  YOPO_REQUIRE_ASSET(model, "tokenizer/llama2-tokenizer.model");
  YOPO_REQUIRE_ASSET(inp, "tokenizer/ggml-vocab-llama-spm.gguf.inp");
  YOPO_REQUIRE_ASSET(out, "tokenizer/ggml-vocab-llama-spm.gguf.out");
  const SpmTokenizer t(load_sp_model_vocab(model));
  expect_golden(t, read_golden(inp, out));
}

TEST(SpmGolden, GgufAndTokenizerModelHoldTheSameVocab) {
  YOPO_REQUIRE_ASSET(gguf, "tokenizer/ggml-vocab-llama-spm.gguf");
  YOPO_REQUIRE_ASSET(model, "tokenizer/llama2-tokenizer.model");
  const Vocab a = vocab_from_gguf(GgufFile(gguf));
  const Vocab b = load_sp_model_vocab(model);
  EXPECT_EQ(a.pieces, b.pieces);
  EXPECT_EQ(a.scores, b.scores);
  EXPECT_EQ(a.types, b.types);
  EXPECT_EQ(a.bos_id, b.bos_id);
  EXPECT_EQ(a.eos_id, b.eos_id);
  EXPECT_EQ(a.unk_id, b.unk_id);
  EXPECT_EQ(a.byte_fallback, b.byte_fallback);
  EXPECT_EQ(a.add_space_prefix, b.add_space_prefix);
  EXPECT_EQ(a.remove_extra_whitespaces, b.remove_extra_whitespaces);
}

}  // namespace
}  // namespace yopo
