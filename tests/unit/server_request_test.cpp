// The server's request side: data: URLs, and the parsing and checking of OpenAI-style request
// bodies.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "server/completion_request.h"
#include "server/data_url.h"

namespace yopo::server {
namespace {

using nlohmann::json;

std::string as_string(const std::vector<uint8_t>& v) {
  return std::string(v.begin(), v.end());
}

TEST(DataUrl, ParsesBase64DataUrls) {
  const DataUrl d = parse_data_url("data:image/png;base64,Zm9vYmFy");
  EXPECT_EQ(d.media_type, "image/png");
  EXPECT_EQ(as_string(d.bytes), "foobar");
  const DataUrl p = parse_data_url("data:image/jpeg;name=a.jpg;base64,Zm8=");
  EXPECT_EQ(p.media_type, "image/jpeg");
  EXPECT_EQ(as_string(p.bytes), "fo");
  EXPECT_EQ(parse_data_url("data:;base64,Zg==").media_type, "");
  EXPECT_EQ(as_string(parse_data_url("data:image/png;base64,Zm9v\nYmFy").bytes), "foobar");
}

TEST(DataUrl, RejectsOtherUrls) {
  EXPECT_THROW(parse_data_url("https://example.com/cat.png"), Error);
  EXPECT_THROW(parse_data_url("file:///etc/passwd"), Error);
  EXPECT_THROW(parse_data_url("data:image/png,rawbytes"), Error);  // not base64
  EXPECT_THROW(parse_data_url("data:image/png;base64"), Error);    // no data
  EXPECT_THROW(parse_data_url("data:image/png;base64,@@@@"), Error);
}

json user(const json& content) {
  return {{"role", "user"}, {"content", content}};
}

TEST(ChatRequest, ReadsMessagesAndDefaults) {
  json messages = json::array();
  messages.push_back({{"role", "system"}, {"content", "Be brief."}});
  messages.push_back(user("Hi"));
  messages.push_back({{"role", "assistant"}, {"content", "Hello."}});
  messages.push_back(user(
      json::array({{{"type", "text"}, {"text", "What"}}, {{"type", "text"}, {"text", "now?"}}})));
  messages.push_back(user("And?"));
  const CompletionRequest r = parse_chat_request({{"model", "m"}, {"messages", messages}});
  EXPECT_TRUE(r.chat);
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.system, "Be brief.");
  ASSERT_EQ(r.turns.size(), 3u);  // consecutive user messages are one turn
  EXPECT_EQ(r.turns[0].text, "Hi");
  EXPECT_EQ(r.turns[1].role, ChatTurn::Role::Assistant);
  EXPECT_EQ(r.turns[2].text, "What\nnow?\nAnd?");
  EXPECT_TRUE(r.images.empty());
  // OpenAI's defaults: temperature 1, top_p 1, no top-k, min-p or penalty.
  EXPECT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_EQ(r.sampling.top_p, 1.0f);
  EXPECT_LE(r.sampling.top_k, 0);
  EXPECT_EQ(r.sampling.min_p, 0.0f);
  EXPECT_EQ(r.sampling.repeat_penalty, 1.0f);
  EXPECT_EQ(r.max_tokens, 0);
  EXPECT_FALSE(r.stream);
  EXPECT_TRUE(r.prune.empty());
}

TEST(ChatRequest, ReadsSamplingStopStreamAndPlan) {
  const CompletionRequest r =
      parse_chat_request({{"messages", {user("q")}},
                          {"temperature", 0},
                          {"top_p", 0.5},
                          {"top_k", 5},
                          {"min_p", 0.1},
                          {"repetition_penalty", 1.1},
                          {"seed", 42},
                          {"max_completion_tokens", 9},
                          {"stop", "END"},
                          {"stream", true},
                          {"stream_options", {{"include_usage", true}}},
                          {"presence_penalty", 0},
                          {"user", "ignored"},
                          {"yopo", {{"prune", "yopo-25+ffn:ratio=4"}, {"semantics", "fast"}}}});
  EXPECT_EQ(r.sampling.temperature, 0.0f);
  EXPECT_EQ(r.sampling.top_p, 0.5f);
  EXPECT_EQ(r.sampling.top_k, 5);
  EXPECT_FLOAT_EQ(r.sampling.min_p, 0.1f);
  EXPECT_FLOAT_EQ(r.sampling.repeat_penalty, 1.1f);
  EXPECT_EQ(r.sampling.seed, 42u);
  EXPECT_EQ(r.max_tokens, 9);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"END"}));
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.stream_usage);
  EXPECT_EQ(r.prune, "yopo-25+ffn:ratio=4");
  EXPECT_EQ(r.semantics, "fast");
}

TEST(ChatRequest, RejectsWhatItCannotHonour) {
  const json ok = {user("q")};
  const std::vector<json> bad = {
      json::array(),
      {{"messages", "q"}},
      {{"messages", json::array()}},
      {{"messages", {{{"role", "system"}, {"content", "s"}}}}},  // no user message
      {{"messages", {{{"role", "tool"}, {"content", "x"}}}}},
      {{"messages", {user(5)}}},
      {{"messages", {user(json::array({{{"type", "input_audio"}}}))}}},
      {{"messages", {user(json::array({{{"type", "image_url"}}}))}}},
      {{"messages",
        {user(
            json::array({{{"type", "image_url"}, {"image_url", {{"url", "http://x/y.png"}}}}}))}}},
      {{"messages",
        {user(
            json::array({{{"type", "image_url"}, {"image_url", "data:image/png;base64,AAAA"}}}))}}},
      {{"messages", ok}, {"n", 3}},
      {{"messages", ok}, {"temperature", -1}},
      {{"messages", ok}, {"temperature", 2.5}},
      {{"messages", ok}, {"top_p", "x"}},
      {{"messages", ok}, {"max_tokens", 0}},
      {{"messages", ok}, {"max_tokens", 1.5}},
      {{"messages", ok}, {"seed", "s"}},
      {{"messages", ok}, {"stop", {1, 2}}},
      {{"messages", ok}, {"frequency_penalty", 0.5}},
      {{"messages", ok}, {"logit_bias", {{"42", 1}}}},
      {{"messages", ok}, {"logprobs", true}},
      {{"messages", ok}, {"tools", {{{"type", "function"}}}}},
      {{"messages", ok}, {"response_format", {{"type", "json_object"}}}},
      {{"messages", ok}, {"stream", "yes"}},
      {{"messages", ok}, {"yopo", "yopo-12"}},
      {{"messages", ok}, {"yopo", {{"prune", "plan.json"}}}},
      {{"messages", ok}, {"yopo", {{"prune", "heads:mask=m"}}}},
      {{"messages", ok}, {"yopo", {{"prune", "dense+../x"}}}},
      {{"messages", ok}, {"yopo", {{"budget", 1}}}},
  };
  for (const json& b : bad) EXPECT_THROW(parse_chat_request(b), Error) << b.dump();
}

TEST(ChatRequest, TakesPresetsTechniquesAndTokenBaselinesButNoFiles) {
  for (const std::string spec : {"dense", "yopo-12", "yopo-25+ffn:ratio=4", "window:r=2+heads",
                                 "layercut:keep=8", "fastv:K=2,R=0.5", "pdrop", "sparsevlm"})
    EXPECT_EQ(parse_chat_request({{"messages", {user("q")}}, {"yopo", {{"prune", spec}}}}).prune,
              spec);
}

TEST(CompletionRequest, ReadsPrompt) {
  EXPECT_EQ(parse_completion_request({{"prompt", "Once"}}).prompt, "Once");
  EXPECT_EQ(parse_completion_request({{"prompt", {"Once"}}}).prompt, "Once");
  EXPECT_EQ(parse_completion_request(json::object()).prompt, "");
  EXPECT_FALSE(parse_completion_request({{"prompt", "x"}}).chat);
  EXPECT_THROW(parse_completion_request({{"prompt", {"a", "b"}}}), Error);
  EXPECT_THROW(parse_completion_request({{"prompt", {1, 2}}}), Error);
  EXPECT_THROW(parse_completion_request({{"prompt", "a"}, {"echo", true}}), Error);
  EXPECT_THROW(parse_completion_request({{"prompt", "a"}, {"best_of", 2}}), Error);
  EXPECT_THROW(parse_completion_request({{"prompt", "a"}, {"logprobs", 2}}), Error);
}

}  // namespace
}  // namespace yopo::server
