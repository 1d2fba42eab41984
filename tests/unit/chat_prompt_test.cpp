// Multi-turn prompts (format_chat, tokenize_chat) against LLaVA's templates and HF transformers'
// tokenization (tests/fixtures/chat, tools/make_chat_fixture.py), and the streaming
// detokenizer (TextStream).
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "io/json_file.h"
#include "models/llava.h"
#include "runtime/model_loader.h"
#include "runtime/prompt.h"
#include "runtime/text_stream.h"
#include "support/test_paths.h"

namespace yopo {
namespace {

ChatTurn turn(ChatTurn::Role role, const std::string& text, int images = 0) {
  ChatTurn t;
  t.role = role;
  t.text = text;
  t.images = images;
  return t;
}
constexpr auto kUser = ChatTurn::Role::User;
constexpr auto kAssistant = ChatTurn::Role::Assistant;

TEST(ChatPrompt, MatchesLlavaTemplatesAndHfTokenization) {
  const std::string ref_path = test::fixture("chat/reference.json");
  ASSERT_TRUE(std::filesystem::exists(ref_path));
  YOPO_REQUIRE_ASSET(tok_path, "tokenizer/llama2-tokenizer.model");
  const auto tok = load_tokenizer(tok_path);
  const nlohmann::json ref = read_json_file(ref_path);
  ASSERT_EQ(ref["cases"].size(), 4u);
  for (const nlohmann::json& c : ref["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    std::vector<ChatTurn> turns;
    for (const nlohmann::json& t : c["turns"])
      turns.push_back(turn(t["role"] == "user" ? kUser : kAssistant, t["text"], t["images"]));
    const std::string prompt =
        format_chat(parse_chat_template(c["template"]), turns, c["system"].get<std::string>());
    EXPECT_EQ(prompt, c["prompt"].get<std::string>());
    std::vector<int32_t> want = c["ids"].get<std::vector<int32_t>>();
    std::replace(want.begin(), want.end(), -200, kImageMarker);
    EXPECT_EQ(tokenize_chat(*tok, prompt, true), want);
  }
}

TEST(ChatPrompt, OneTurnIsFormatPrompt) {
  for (ChatTemplate t : {ChatTemplate::VicunaV1, ChatTemplate::LlavaHf, ChatTemplate::Raw}) {
    EXPECT_EQ(format_chat(t, {turn(kUser, "Why?", 1)}), format_prompt(t, "Why?", true));
    EXPECT_EQ(format_chat(t, {turn(kUser, "Why?")}), format_prompt(t, "Why?", false));
  }
  EXPECT_EQ(format_chat(ChatTemplate::Raw,
                        {turn(kUser, "a"), turn(kAssistant, "b"), turn(kUser, "c")}, "s"),
            "s\na\nb\nc");
}

TEST(ChatPrompt, RejectsConversationsTheTemplatesCannotHold) {
  const ChatTemplate v = ChatTemplate::VicunaV1;
  EXPECT_THROW(format_chat(v, {}), Error);
  EXPECT_THROW(format_chat(v, {turn(kAssistant, "a"), turn(kUser, "q")}), Error);
  EXPECT_THROW(format_chat(v, {turn(kUser, "q"), turn(kAssistant, "a")}), Error);
  EXPECT_THROW(format_chat(v, {turn(kUser, "q"), turn(kUser, "q")}), Error);
  EXPECT_THROW(format_chat(v, {turn(kUser, "<image>\nq")}), Error);
  EXPECT_THROW(format_chat(v, {turn(kUser, "q"), turn(kAssistant, "a", 1), turn(kUser, "q")}),
               Error);
}

class TextStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = test::asset("tokenizer/llama2-tokenizer.model");
    if (path.empty()) GTEST_SKIP() << "asset tokenizer/llama2-tokenizer.model not found";
    tok_ = load_tokenizer(path);
  }
  // Streams the tokens of `text` (encoded after `prompt`) through a TextStream one by one.
  std::pair<std::vector<std::string>, std::string> stream(const std::string& prompt,
                                                          const std::string& text,
                                                          std::vector<std::string> stops = {}) {
    std::vector<int32_t> p = tok_->encode(prompt, true);
    TextStream s(*tok_, p, std::move(stops));
    std::vector<int32_t> all = p;
    const std::vector<int32_t> both = tok_->encode(prompt + text, true);
    std::vector<std::string> pieces;
    for (size_t i = p.size(); i < both.size() && !s.stopped(); ++i)
      pieces.push_back(s.push(both[i]));
    pieces.push_back(s.finish());
    return {pieces, s.text()};
  }
  std::unique_ptr<SpmTokenizer> tok_;
};

TEST_F(TextStreamTest, PiecesJoinToTheWholeDecode) {
  const auto [pieces, text] = stream("Q: say it. A:", " Grüße, 東京 🙂 done");
  std::string joined;
  for (const std::string& p : pieces) {
    joined += p;
    EXPECT_EQ(complete_utf8_prefix(p), p.size()) << "a piece ends inside a character";
  }
  EXPECT_EQ(joined, " Grüße, 東京 🙂 done");
  EXPECT_EQ(text, joined);
}

TEST_F(TextStreamTest, StopStringCutsAndHoldsBack) {
  const auto [pieces, text] = stream("Q:", " one two END three", {"END", "xyz"});
  std::string joined;
  for (const std::string& p : pieces) joined += p;
  EXPECT_EQ(joined, " one two ");
  EXPECT_EQ(text, " one two ");
}

TEST(Utf8, CompletePrefix) {
  EXPECT_EQ(complete_utf8_prefix("abc"), 3u);
  EXPECT_EQ(complete_utf8_prefix("a\xC3"), 1u);         // lead byte of a 2-byte character
  EXPECT_EQ(complete_utf8_prefix("a\xC3\xA9"), 3u);     // é
  EXPECT_EQ(complete_utf8_prefix("\xF0\x9F\x99"), 0u);  // 3 of 🙂's 4 bytes
  EXPECT_EQ(complete_utf8_prefix("\xF0\x9F\x99\x82"), 4u);
}

}  // namespace
}  // namespace yopo
