// OpenAI-style completion requests (/v1/chat/completions and /v1/completions), parsed and
// checked. Field names and defaults follow OpenAI's API; the extensions are those of vLLM and
// llama.cpp's server (top_k, min_p, repetition_penalty) and a "yopo" object for the pruning
// plan. Fields that only change what OpenAI bills or logs (user, metadata, ...) are ignored;
// fields that would change the output and that yopo does not implement are rejected.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/prompt.h"
#include "runtime/sampler.h"
#include "vision/image.h"

namespace yopo::server {

struct CompletionRequest {
  bool chat = true;
  std::string model;  // as the client named it ("" when absent)
  // chat: the conversation (a system message, if any, in `system`) and its images in order
  std::vector<ChatTurn> turns;
  std::string system;
  std::vector<Image> images;
  // completions: the prompt text, encoded with BOS
  std::string prompt;
  int64_t max_tokens = 0;  // 0: the server's default (bounded by the context)
  SamplingParams sampling;
  std::vector<std::string> stop;
  bool stream = false;
  bool stream_usage = false;  // stream_options.include_usage
  // "yopo": {"prune": spec, "semantics": "exact" | "fast"}; empty: the server's
  std::string prune, semantics;
};

// Both throw yopo::Error with a message for the client when the body is not a valid request.
// The image bytes of "image_url" parts (data: URLs only) are decoded here.
CompletionRequest parse_chat_request(const nlohmann::json& body);
CompletionRequest parse_completion_request(const nlohmann::json& body);

}  // namespace yopo::server
