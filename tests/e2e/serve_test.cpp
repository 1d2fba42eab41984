// `yopo serve`'s HTTP API end to end, in process: a server on a free local port, requests from
// cpp-httplib's client. Answers are checked against references someone else wrote: llama2.c's
// greedy text of stories260K (shared assets) and the PyTorch / HF transformers greedy answers of
// the shipped shapes models (tests/fixtures/yopo_shapes, tools/make_shapes_fixture.py).
#include <gtest/gtest.h>
#include <httplib.h>
#include <stb/stb_image_write.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "io/json_file.h"
#include "io/npy.h"
#include "server/openai_server.h"
#include "support/test_paths.h"

namespace yopo::server {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::read_text;

// A server on 127.0.0.1:<free port>, serving until destroyed.
class LiveServer {
 public:
  explicit LiveServer(const ServeOptions& o, const HttpOptions& h = {})
      : engine_(std::make_unique<ServeEngine>(o)),
        http_(std::make_unique<OpenAiServer>(*engine_, h)) {
    port_ = http_->bind("127.0.0.1", 0);
    thread_ = std::thread([this] { http_->serve(); });
    for (int i = 0; i < 500; ++i) {  // until it answers (stop() before listening would hang)
      if (auto r = client().Get("/health"); r && r->status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "the server did not come up";
  }
  ~LiveServer() {
    http_->stop();
    thread_.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(300, 0);
    return c;
  }
  // POSTs body as JSON; returns (status, parsed body); the body must be JSON.
  std::pair<int, json> post(const std::string& path, const json& body) const {
    return post_raw(path, body.dump());
  }
  std::pair<int, json> post_raw(const std::string& path, const std::string& body) const {
    auto r = client().Post(path.c_str(), body, "application/json");
    if (!r) {
      ADD_FAILURE() << "no response from " << path;
      return {0, json()};
    }
    return {r->status, json::parse(r->body)};
  }
  // POSTs a streaming request; returns the payloads of its "data: " events, in order.
  std::vector<std::string> stream(const std::string& path, const json& body) const {
    auto r = client().Post(path.c_str(), body.dump(), "application/json");
    std::vector<std::string> events;
    if (!r) {
      ADD_FAILURE() << "no response from " << path;
      return events;
    }
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
    std::istringstream in(r->body);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("data: ", 0) == 0)
        events.push_back(line.substr(6));
      else
        EXPECT_TRUE(line.empty()) << "unexpected line in the event stream: " << line;
    }
    return events;
  }
  ServeEngine& engine() { return *engine_; }

 private:
  std::unique_ptr<ServeEngine> engine_;
  std::unique_ptr<OpenAiServer> http_;
  std::thread thread_;
  int port_ = 0;
};

// ---- stories260K: a real text model, /v1/completions --------------------------------------

#define REQUIRE_STORIES()                                       \
  YOPO_REQUIRE_ASSET(stories_model, "models/stories260K.gguf"); \
  YOPO_REQUIRE_ASSET(stories_golden, "models/stories260K.greedy200.txt");

ServeOptions stories_options(const std::string& model) {
  ServeOptions o;
  o.model_path = model;
  o.load.dtype = DType::F32;
  o.threads = 2;
  return o;
}

TEST(Serve, CompletionReproducesLlama2cGreedyText) {
  REQUIRE_STORIES();
  LiveServer s(stories_options(stories_model));
  const auto [status, r] =
      s.post("/v1/completions", {{"prompt", ""}, {"max_tokens", 200}, {"temperature", 0}});
  ASSERT_EQ(status, 200) << r.dump();
  EXPECT_EQ(r["object"], "text_completion");
  EXPECT_EQ(r["model"], "stories260K.gguf");
  EXPECT_EQ(r["choices"][0]["text"], read_text(stories_golden));
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r["usage"]["prompt_tokens"], 1);
  EXPECT_EQ(r["usage"]["completion_tokens"], 200);
  EXPECT_EQ(r["usage"]["total_tokens"], 201);
  EXPECT_EQ(r["yopo"]["plan"], "dense");
  EXPECT_EQ(r["yopo"]["visual_tokens"], 0);
}

TEST(Serve, StreamedCompletionIsTheSameTextInPieces) {
  REQUIRE_STORIES();
  LiveServer s(stories_options(stories_model));
  const std::string golden = read_text(stories_golden);
  const std::vector<std::string> ev =
      s.stream("/v1/completions", {{"prompt", ""},
                                   {"max_tokens", 200},
                                   {"temperature", 0},
                                   {"stream", true},
                                   {"stream_options", {{"include_usage", true}}}});
  ASSERT_GE(ev.size(), 4u);
  EXPECT_EQ(ev.back(), "[DONE]");
  std::string text;
  for (size_t i = 0; i + 3 < ev.size(); ++i) {
    const json c = json::parse(ev[i]);
    EXPECT_EQ(c["object"], "text_completion");
    EXPECT_TRUE(c["choices"][0]["finish_reason"].is_null());
    text += c["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(text, golden);
  EXPECT_GT(ev.size(), 20u) << "the text should come in many pieces";
  const json last = json::parse(ev[ev.size() - 3]);
  EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
  const json usage = json::parse(ev[ev.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 200);
}

TEST(Serve, StopStringEndsTheTextBeforeIt) {
  REQUIRE_STORIES();
  LiveServer s(stories_options(stories_model));
  const std::string golden = read_text(stories_golden);
  const size_t dot = golden.find('.');
  ASSERT_NE(dot, std::string::npos);
  const json req = {
      {"prompt", ""}, {"max_tokens", 200}, {"temperature", 0}, {"stop", {"zzz", "."}}};
  const auto [status, r] = s.post("/v1/completions", req);
  ASSERT_EQ(status, 200) << r.dump();
  EXPECT_EQ(r["choices"][0]["text"], golden.substr(0, dot));
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
  EXPECT_LT(r["usage"]["completion_tokens"].get<int>(), 200);
  // Streamed, nothing of the stop string or after it is sent.
  json sreq = req;
  sreq["stream"] = true;
  std::string text;
  for (const std::string& e : s.stream("/v1/completions", sreq))
    if (e != "[DONE]") text += json::parse(e)["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(text, golden.substr(0, dot));
}

TEST(Serve, MaxTokensEndsWithLength) {
  REQUIRE_STORIES();
  LiveServer s(stories_options(stories_model));
  const auto [status, r] =
      s.post("/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 5}});
  ASSERT_EQ(status, 200) << r.dump();
  EXPECT_EQ(r["usage"]["completion_tokens"], 5);
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
}

TEST(Serve, SeededSamplingRepeatsAndSeedsDiffer) {
  REQUIRE_STORIES();
  LiveServer s(stories_options(stories_model));
  auto sample = [&](int seed) {
    const auto [status, r] = s.post(
        "/v1/completions",
        {{"prompt", "Once upon a time"}, {"max_tokens", 40}, {"temperature", 1.0}, {"seed", seed}});
    EXPECT_EQ(status, 200) << r.dump();
    return r["choices"][0]["text"].get<std::string>();
  };
  const std::string a = sample(7);
  EXPECT_EQ(sample(7), a);
  EXPECT_NE(sample(8), a);  // 40 tokens at temperature 1: different seeds differ
}

TEST(Serve, ConcurrentRequestsAreServedOneAtATime) {
  REQUIRE_STORIES();
  LiveServer s(stories_options(stories_model));
  const std::string golden = read_text(stories_golden);
  std::vector<std::string> got(4);
  std::vector<std::thread> clients;
  for (size_t i = 0; i < got.size(); ++i)
    clients.emplace_back([&, i] {
      const auto [status, r] =
          s.post("/v1/completions", {{"prompt", ""}, {"max_tokens", 200}, {"temperature", 0}});
      if (status == 200) got[i] = r["choices"][0]["text"].get<std::string>();
    });
  for (auto& t : clients) t.join();
  for (const std::string& g : got) EXPECT_EQ(g, golden);
}

TEST(Serve, TextModelRejectsImagesAndPlans) {
  REQUIRE_STORIES();
  LiveServer s(stories_options(stories_model));
  const auto [st1, r1] = s.post(
      "/v1/chat/completions",
      {{"messages",
        {{{"role", "user"},
          {"content",
           {{{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,AAAA"}}}}}}}}}});
  EXPECT_EQ(st1, 400);
  const auto [st2, r2] =
      s.post("/v1/completions", {{"prompt", "a"}, {"yopo", {{"prune", "yopo-12"}}}});
  EXPECT_EQ(st2, 400);
  EXPECT_NE(r2["error"]["message"].get<std::string>().find("text-only"), std::string::npos);
}

// Every malformed request gets status 400 (404 for an unknown path) and an OpenAI error object,
// and the server keeps serving.
TEST(Serve, BadRequestsGetErrorObjects) {
  REQUIRE_STORIES();
  LiveServer s(stories_options(stories_model));
  const json user_hi = {{{"role", "user"}, {"content", "hi"}}};
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/v1/chat/completions", "{\"messages\": "},
      {"/v1/chat/completions", "[1, 2]"},
      {"/v1/chat/completions", json{{"messages", json::array()}}.dump()},
      {"/v1/chat/completions",
       json{{"messages", {{{"role", "assistant"}, {"content", "x"}}}}}.dump()},
      {"/v1/chat/completions", json{{"messages", {{{"role", "tool"}, {"content", "x"}}}}}.dump()},
      {"/v1/chat/completions", json{{"messages", user_hi}, {"n", 2}}.dump()},
      {"/v1/chat/completions", json{{"messages", user_hi}, {"logprobs", true}}.dump()},
      {"/v1/chat/completions", json{{"messages", user_hi}, {"temperature", "hot"}}.dump()},
      {"/v1/chat/completions", json{{"messages", user_hi}, {"top_p", 2}}.dump()},
      {"/v1/chat/completions", json{{"messages", user_hi}, {"max_tokens", 0}}.dump()},
      {"/v1/chat/completions", json{{"messages", user_hi}, {"max_tokens", 100000}}.dump()},
      {"/v1/chat/completions",
       json{{"messages", user_hi}, {"stop", {"a", "b", "c", "d", "e"}}}.dump()},
      {"/v1/chat/completions",
       json{{"messages", user_hi}, {"stream_options", json::object()}}.dump()},
      {"/v1/chat/completions",
       json{{"messages", user_hi}, {"yopo", {{"prune", "/etc/plan.json"}}}}.dump()},
      {"/v1/chat/completions", json{{"messages", user_hi}, {"yopo", {{"window", 2}}}}.dump()},
      {"/v1/chat/completions",
       json{{"messages", {{{"role", "user"}, {"content", {{{"type", "audio"}}}}}}}}.dump()},
      {"/v1/completions", json{{"prompt", 5}}.dump()},
      {"/v1/completions", json{{"prompt", "a"}, {"echo", true}}.dump()},
  };
  for (const auto& [path, body] : cases) {
    const auto [status, r] = s.post_raw(path, body);
    EXPECT_EQ(status, 400) << body;
    ASSERT_TRUE(r.contains("error")) << body;
    EXPECT_EQ(r["error"]["type"], "invalid_request_error") << body;
    EXPECT_FALSE(r["error"]["message"].get<std::string>().empty()) << body;
  }
  auto r404 = s.client().Get("/v1/nothing");
  ASSERT_TRUE(r404);
  EXPECT_EQ(r404->status, 404);
  EXPECT_EQ(json::parse(r404->body)["error"]["type"], "not_found_error");
  const auto [status, r] = s.post("/v1/completions", {{"prompt", ""}, {"max_tokens", 3}});
  EXPECT_EQ(status, 200) << r.dump();  // still serving
}

TEST(Serve, ApiKeyIsRequiredWhenSet) {
  REQUIRE_STORIES();
  HttpOptions h;
  h.api_key = "sesame";
  LiveServer s(stories_options(stories_model), h);  // /health answers without the key
  const json body = {{"prompt", ""}, {"max_tokens", 2}};
  const auto [status, r] = s.post("/v1/completions", body);
  EXPECT_EQ(status, 401);
  EXPECT_EQ(r["error"]["code"], "invalid_api_key");
  httplib::Client c = s.client();
  c.set_bearer_token_auth("wrong");
  auto wrong = c.Get("/v1/models");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  c.set_bearer_token_auth("sesame");
  auto ok = c.Post("/v1/completions", body.dump(), "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST(Serve, ModelsListsTheModel) {
  REQUIRE_STORIES();
  ServeOptions o = stories_options(stories_model);
  o.model_name = "stories";
  LiveServer s(o);
  auto r = s.client().Get("/v1/models");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const json m = json::parse(r->body);
  EXPECT_EQ(m["object"], "list");
  ASSERT_EQ(m["data"].size(), 1u);
  EXPECT_EQ(m["data"][0]["id"], "stories");
  EXPECT_EQ(m["data"][0]["max_model_len"], s.engine().context_length());
}

// ---- the shipped shapes models: chat with an image, against PyTorch -----------------------

std::string fix(const std::string& name) {
  return test::fixture("yopo_shapes/" + name);
}
std::string repo_path(const std::string& rel) {
  return test::fixture("../../" + rel);
}

// The fixture's sample image [336, 336, 3] as a PNG data: URL.
std::string sample_png_url(size_t i) {
  const NpyArray img = read_npy(fix("sample" + std::to_string(i) + "_image.npy"));
  EXPECT_EQ(img.shape, (std::vector<int64_t>{336, 336, 3}));
  std::vector<uint8_t> rgb(img.values.size());
  for (size_t k = 0; k < rgb.size(); ++k) rgb[k] = uint8_t(img.values[k]);
  std::string png;
  stbi_write_png_to_func(
      [](void* ctx, void* data, int size) {
        static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), size_t(size));
      },
      &png, 336, 336, 3, rgb.data(), 336 * 3);
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string b64;
  for (size_t k = 0; k < png.size(); k += 3) {  // base64 by hand, so the test does not use ours
    uint32_t v = uint32_t(uint8_t(png[k])) << 16;
    if (k + 1 < png.size()) v |= uint32_t(uint8_t(png[k + 1])) << 8;
    if (k + 2 < png.size()) v |= uint32_t(uint8_t(png[k + 2]));
    b64 += abc[(v >> 18) & 63];
    b64 += abc[(v >> 12) & 63];
    b64 += k + 1 < png.size() ? abc[(v >> 6) & 63] : '=';
    b64 += k + 2 < png.size() ? abc[v & 63] : '=';
  }
  return "data:image/png;base64," + b64;
}

json image_question(const std::string& url, const std::string& question) {
  return {{"messages",
           {{{"role", "user"},
             {"content",
              {{{"type", "image_url"}, {"image_url", {{"url", url}}}},
               {{"type", "text"}, {"text", question}}}}}}},
          {"temperature", 0},
          {"max_tokens", 8}};
}

// Each fixture case (dense; the dense model under a mixed YOPO plan; the prune-aware model under
// its plan) through the server, its plan set with --prune (a plan file) at server start: the
// answer must be the reference's greedy answer.
TEST(Serve, ChatWithImageGivesThePyTorchGreedyAnswers) {
  if (!fs::exists(fix("reference.json")))
    GTEST_SKIP() << "tests/fixtures/yopo_shapes/reference.json not found";
  YOPO_REQUIRE_ASSET(tokenizer, "tokenizer/llama2-tokenizer.model");
  const json ref = read_json_file(fix("reference.json"));
  for (const json& c : ref["cases"]) {
    const std::string dir = ref["models"][c["model"].get<std::string>()]["dir"];
    if (!fs::exists(repo_path(dir + "/model.safetensors"))) GTEST_SKIP() << dir << " is not here";
    ServeOptions o;
    o.model_path = repo_path(dir);
    o.load.tokenizer = tokenizer;
    o.load.dtype = DType::F32;  // bf16 -> f32 exactly, as the reference did
    o.threads = 2;
    o.chat_template = "vicuna_v1";  // the fixture's prompts
    if (!c["plan"].is_null()) o.prune = repo_path(c["plan"].get<std::string>());
    LiveServer s(o);
    for (size_t i = 0; i < c["samples"].size(); ++i) {
      const json& want = c["samples"][i];
      const std::string q = ref["samples"][i]["question"];
      const auto [status, r] = s.post("/v1/chat/completions", image_question(sample_png_url(i), q));
      ASSERT_EQ(status, 200) << r.dump();
      EXPECT_EQ(r["choices"][0]["message"]["content"], want["answer_text"])
          << c["name"] << " sample " << i;
      EXPECT_EQ(r["choices"][0]["message"]["role"], "assistant");
      EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
      EXPECT_EQ(r["usage"]["prompt_tokens"], ref["samples"][i]["decoder_rows"]);
      EXPECT_EQ(r["usage"]["completion_tokens"], want["answer_ids"].size());
      EXPECT_EQ(r["yopo"]["visual_tokens"], 576);
      // The prompt cache kept the text before the image from the previous sample (the images
      // differ), so this also checks a prefill split there under each plan.
      EXPECT_EQ(r["usage"]["prompt_tokens_details"]["cached_tokens"],
                i == 0 ? 0 : ref["samples"][i]["image_token_pos"].get<int>());
      EXPECT_EQ(r["yopo"]["plan"] == "dense", c["plan"].is_null()) << r["yopo"].dump();
    }
  }
}

// The fixture, the tokenizer and the shipped dense model, or a skip; binds ref and o (a server
// of that model, 2 threads).
#define REQUIRE_SHAPES_DENSE()                                              \
  if (!fs::exists(fix("reference.json")))                                   \
    GTEST_SKIP() << "tests/fixtures/yopo_shapes/reference.json not found";  \
  YOPO_REQUIRE_ASSET(tokenizer, "tokenizer/llama2-tokenizer.model");        \
  if (!fs::exists(repo_path("models/yopo-shapes-dense/model.safetensors"))) \
    GTEST_SKIP() << "models/yopo-shapes-dense is not here";                 \
  const json ref = read_json_file(fix("reference.json"));                   \
  ServeOptions o;                                                           \
  o.model_path = repo_path("models/yopo-shapes-dense");                     \
  o.load.tokenizer = tokenizer;                                             \
  o.threads = 2;

// A request's own plan (a preset) cuts the executed visual FLOPs; an image sent again is not
// encoded again; the streamed reply is the same text.
TEST(Serve, RequestPlanPrunesAndStreams) {
  REQUIRE_SHAPES_DENSE();
  LiveServer s(o);
  const json q = image_question(sample_png_url(0), ref["samples"][0]["question"]);
  const auto [st_dense, dense] = s.post("/v1/chat/completions", q);
  ASSERT_EQ(st_dense, 200) << dense.dump();
  json pq = q;
  pq["yopo"] = {{"prune", "yopo-12"}, {"semantics", "fast"}};
  const auto [st_pruned, pruned] = s.post("/v1/chat/completions", pq);
  ASSERT_EQ(st_pruned, 200) << pruned.dump();
  // The image was encoded for the first request and is reused for the second.
  EXPECT_EQ(dense["yopo"]["cached_images"], 0);
  EXPECT_EQ(pruned["yopo"]["cached_images"], 1);
  EXPECT_EQ(pruned["yopo"]["plan"], "yopo-12");
  json tq = q;  // a token-pruning baseline, chosen by the request too
  tq["yopo"] = {{"prune", "fastv:K=2,R=0.5"}};
  const auto [st_fastv, fastv] = s.post("/v1/chat/completions", tq);
  ASSERT_EQ(st_fastv, 200) << fastv.dump();
  EXPECT_LT(fastv["yopo"]["visual_flops"].get<double>(),
            dense["yopo"]["visual_flops"].get<double>());
  EXPECT_EQ(pruned["yopo"]["semantics"], "fast");
  EXPECT_LT(pruned["yopo"]["visual_flops"].get<double>(),
            0.5 * dense["yopo"]["visual_flops"].get<double>());
  json sq = q;
  sq["stream"] = true;
  const std::vector<std::string> ev = s.stream("/v1/chat/completions", sq);
  ASSERT_GE(ev.size(), 3u);
  EXPECT_EQ(ev.back(), "[DONE]");
  EXPECT_EQ(json::parse(ev[0])["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  for (size_t i = 0; i + 1 < ev.size(); ++i) {
    const json d = json::parse(ev[i])["choices"][0]["delta"];
    if (d.contains("content")) text += d["content"].get<std::string>();
  }
  EXPECT_EQ(text, dense["choices"][0]["message"]["content"]);
  // Bad images are the client's mistake.
  const auto [st_bad, bad] =
      s.post("/v1/chat/completions", image_question("data:image/png;base64,iVBORw0KGgoAAAA=", "x"));
  EXPECT_EQ(st_bad, 400) << bad.dump();
  const auto [st_url, url] =
      s.post("/v1/chat/completions", image_question("https://example.com/a.png", "x"));
  EXPECT_EQ(st_url, 400) << url.dump();
}

// The prompt cache: a second turn reuses the first turn's prompt and reply, another question
// about the same image reuses the text and image before it; the answers are those of a server
// that prefills every prompt whole. Under fast semantics a layer cut leaves the late layers
// without visual rows, so a prefix cannot be cut out and nothing is reused.
TEST(Serve, PromptCacheReusesPrefixesWithTheSameAnswers) {
  REQUIRE_SHAPES_DENSE();
  o.chat_template = "vicuna_v1";
  LiveServer cached(o);
  o.prompt_cache = false;
  LiveServer whole(o);
  const std::string url = sample_png_url(0);
  const std::string q0 = ref["samples"][0]["question"], q1 = ref["samples"][1]["question"];
  auto ask = [](const LiveServer& s, const json& body) {
    const auto [status, r] = s.post("/v1/chat/completions", body);
    EXPECT_EQ(status, 200) << r.dump();
    return r;
  };
  const json first = image_question(url, q0);
  const json a1 = ask(cached, first);
  EXPECT_EQ(a1["choices"][0]["message"]["content"],
            ask(whole, first)["choices"][0]["message"]["content"]);
  ASSERT_EQ(a1["choices"][0]["finish_reason"], "stop");  // EOS: every reply token was fed back

  json second = first;
  second["messages"].push_back(
      {{"role", "assistant"}, {"content", a1["choices"][0]["message"]["content"]}});
  second["messages"].push_back({{"role", "user"}, {"content", "And the other objects?"}});
  const json a2 = ask(cached, second);
  EXPECT_EQ(a2["usage"]["prompt_tokens_details"]["cached_tokens"],
            a1["usage"]["prompt_tokens"].get<int>() + a1["usage"]["completion_tokens"].get<int>());
  EXPECT_EQ(a2["choices"][0]["message"]["content"],
            ask(whole, second)["choices"][0]["message"]["content"]);
  EXPECT_EQ(a2["yopo"]["visual_flops"], 0.0);  // no visual row was computed again

  const json other = image_question(url, q1);  // same image, another question
  const json a3 = ask(cached, other);
  EXPECT_GE(a3["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>(),
            ref["samples"][0]["image_token_pos"].get<int>() + 576);
  EXPECT_EQ(a3["choices"][0]["message"]["content"],
            ask(whole, other)["choices"][0]["message"]["content"]);

  json fast = other;
  fast["yopo"] = {{"prune", "yopo-12"}, {"semantics", "fast"}};
  const json f1 = ask(cached, fast);
  EXPECT_EQ(f1["usage"]["prompt_tokens_details"]["cached_tokens"], 0);  // another plan
  json fast2 = image_question(url, q0);
  fast2["yopo"] = fast["yopo"];
  const json f2 = ask(cached, fast2);
  EXPECT_EQ(f2["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  EXPECT_EQ(f2["choices"][0]["message"]["content"],
            ask(whole, fast2)["choices"][0]["message"]["content"]);
}

}  // namespace
}  // namespace yopo::server
