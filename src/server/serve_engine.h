// The model behind `yopo serve`: one LLaVA (or text-only LLaMA) checkpoint, requests turned
// into prompts (chat template, images encoded), generation with the request's sampling, stop
// strings and pruning plan, one request at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "models/pruning_plan.h"
#include "ops/context.h"
#include "runtime/model_loader.h"
#include "runtime/prompt.h"
#include "server/completion_request.h"

namespace yopo::server {

struct ServeOptions {
  std::string model_path;
  LlavaLoadOptions load;      // LLaVA layouts; load.dtype and load.tokenizer also for text models
  int threads = 0;            // 0: all cores
  std::string chat_template;  // empty: llava_hf for llava-hf checkpoints, else vicuna_v1
  std::string prune = "dense", semantics = "exact", head_mask;  // the default plan
  int64_t max_tokens = 256;  // a request's default (bounded by the context)
  int64_t image_cache = 8;   // encoded images kept for reuse (multi-turn chats resend them)
  std::string model_name;    // the id clients see; empty: the checkpoint's name
  // Keep the last request's KV cache (context-sized) and reuse its longest common prefix with
  // the next prompt (same plan, same images): a chat's earlier turns, or a system prompt and an
  // image asked about again, are not prefilled again.
  bool prompt_cache = true;
};

// A request made ready to run: everything that can be wrong with it has been found.
struct PreparedRequest {
  std::vector<int32_t> prompt;  // BOS and image markers included
  std::vector<std::shared_ptr<const std::vector<float>>> image_rows;  // [rows_per_image, dim] each
  int64_t cached_images = 0;  // images taken from the cache, not encoded
  PruningPlan plan;
  std::string
      plan_key;  // spec and semantics (the head mask is the server's): equal keys, equal plans
  int64_t max_tokens = 0;
  SamplingParams sampling;
  std::vector<std::string> stop;
  bool trim_leading = false;  // chat: the reply starts at its first non-space character
  double encode_ms = 0;
};

struct CompletionResult {
  std::string text;
  std::string finish_reason;  // "stop" (EOS or a stop string) or "length"
  int64_t prompt_tokens = 0;  // decoder rows of the prompt, image rows included
  int64_t visual_tokens = 0, completion_tokens = 0, cached_images = 0;
  int64_t cached_tokens = 0;  // prompt rows whose keys and values were reused, not computed
  double encode_ms = 0, prefill_ms = 0, decode_ms = 0;
  double executed_flops = 0, visual_flops = 0;  // what the decoder executed
  std::string plan, semantics;
  bool aborted = false;  // on_text asked to stop (the client went away)
};

class ServeEngine {
 public:
  // Loads the model; throws yopo::Error when it cannot.
  explicit ServeEngine(const ServeOptions& o);
  ~ServeEngine();

  const std::string& model_name() const { return name_; }
  bool multimodal() const;
  int64_t context_length() const;
  const std::string& default_plan() const { return opts_.prune; }

  // Throws yopo::Error (the client's mistake) for images sent to a text-only model, a plan that
  // does not resolve for this model, or a prompt that leaves no room in the context.
  PreparedRequest prepare(const CompletionRequest& r);
  // Generates; on_text receives each piece of text as it is released and returns false to
  // stop. Runs one request at a time.
  CompletionResult complete(const PreparedRequest& p,
                            const std::function<bool(const std::string&)>& on_text = {});

 private:
  const LlamaModel& llm() const;
  // How many ids of p.prompt have their rows in kv_ and can be kept; caller holds mu_.
  size_t reusable_prefix(const PreparedRequest& p) const;
  // The decoder rows of one image, from the cache or encoded (and cached); holds mu_.
  std::shared_ptr<const std::vector<float>> image_rows(const Image& image, bool* cached);
  const SpmTokenizer& tokenizer() const;

  ServeOptions opts_;
  LoadedLlava llava_;  // a LLaVA checkpoint, or
  LoadedModel text_;   // a text-only one
  std::unique_ptr<ops::Context> ctx_;
  ChatTemplate template_ = ChatTemplate::VicunaV1;
  std::string name_;
  std::mutex mu_;
  // Most recently used first: (a 128-bit hash of the image's size and pixels, its rows).
  std::list<std::pair<std::pair<uint64_t, uint64_t>, std::shared_ptr<const std::vector<float>>>>
      image_cache_;
  // The prompt cache: the KV cache of the last request, the ids it holds rows for (image
  // markers included), their images and the plan they were computed with.
  std::unique_ptr<KvCache> kv_;
  std::vector<int32_t> kv_ids_;
  std::vector<std::shared_ptr<const std::vector<float>>> kv_images_;
  std::string kv_plan_;
};

}  // namespace yopo::server
