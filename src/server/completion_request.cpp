#include "server/completion_request.h"

#include <random>
#include <type_traits>

#include "core/error.h"
#include "prune/plan_spec.h"
#include "prune/token_spec.h"
#include "server/data_url.h"

namespace yopo::server {

namespace {

using nlohmann::json;

const json* field(const json& body, const char* key) {
  const auto it = body.find(key);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

// A number (T = double) or an integer (T = int64_t) in [lo, hi]; dflt when absent.
template <typename T>
T number_in(const json& body, const char* key, T lo, T hi, T dflt) {
  const json* v = field(body, key);
  if (v == nullptr) return dflt;
  constexpr bool integer = std::is_integral_v<T>;
  check(integer ? v->is_number_integer() : v->is_number(), "'", key, "' must be ",
        integer ? "an integer" : "a number");
  const T x = v->get<T>();
  check(x >= lo && x <= hi, "'", key, "' must be in [", lo, ", ", hi, "], got ", x);
  return x;
}

int64_t integer_in(const json& body, const char* key, int64_t lo, int64_t hi, int64_t dflt) {
  return number_in<int64_t>(body, key, lo, hi, dflt);
}

bool boolean(const json& body, const char* key) {
  const json* v = field(body, key);
  if (v == nullptr) return false;
  check(v->is_boolean(), "'", key, "' must be true or false");
  return v->get<bool>();
}

std::string string_field(const json& body, const char* key) {
  const json* v = field(body, key);
  if (v == nullptr) return "";
  check(v->is_string(), "'", key, "' must be a string");
  return v->get<std::string>();
}

void reject_nonzero(const json& body, const char* key) {
  const json* v = field(body, key);
  check(v == nullptr || (v->is_number() && v->get<double>() == 0), "'", key,
        "' is not supported (only 0)");
}

void reject_present(const json& body, const char* key, const char* why) {
  const json* v = field(body, key);
  check(v == nullptr || (v->is_boolean() && !v->get<bool>()) || (v->is_array() && v->empty()) ||
            (v->is_object() && v->empty()),
        "'", key, "' is not supported", why);
}

// A pruning spec from a request names no file: presets, techniques and token-pruning baselines
// only (prune/plan_spec.h, prune/token_spec.h).
bool request_plan_spec_ok(const std::string& spec) {
  if (is_token_spec(spec)) return true;
  for (const std::string& part : plan_spec_parts(spec)) {
    const bool ok = part == "dense" || part == "yopo-25" || part == "yopo-12" || part == "heads" ||
                    part == "window" || part == "ffn" || part.starts_with("window:") ||
                    part.starts_with("ffn:") || part.starts_with("heads:keep=") ||
                    part.starts_with("layercut:");
    if (!ok) return false;
  }
  return true;
}

// The fields both endpoints share: lengths, sampling, stop strings, streaming, pruning.
CompletionRequest parse_common(const json& body, bool chat) {
  check(body.is_object(), "the request body must be a JSON object");
  CompletionRequest r;
  r.chat = chat;
  r.model = string_field(body, "model");
  const int64_t kMax = int64_t{1} << 30;
  r.max_tokens = integer_in(body, "max_tokens", 1, kMax, 0);
  r.max_tokens = integer_in(body, "max_completion_tokens", 1, kMax, r.max_tokens);
  check(integer_in(body, "n", 1, 1 << 30, 1) == 1, "'n' must be 1: one choice per request");
  SamplingParams& s = r.sampling;
  s.temperature = float(number_in<double>(body, "temperature", 0, 2, 1));
  s.top_p = float(number_in<double>(body, "top_p", 0, 1, 1));
  s.top_k = int32_t(integer_in(body, "top_k", -1, 1 << 30, 0));
  s.min_p = float(number_in<double>(body, "min_p", 0, 1, 0));
  s.repeat_penalty = float(number_in<double>(body, "repetition_penalty", 1e-3, 100, 1));
  s.repeat_last_n = int32_t(integer_in(body, "repeat_last_n", 0, 1 << 30, 64));
  const json* seed = field(body, "seed");
  if (seed != nullptr) {
    check(seed->is_number_integer(), "'seed' must be an integer");
    s.seed = seed->is_number_unsigned() ? seed->get<uint64_t>() : uint64_t(seed->get<int64_t>());
  } else {
    s.seed = (uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
  }
  reject_nonzero(body, "presence_penalty");
  reject_nonzero(body, "frequency_penalty");
  reject_present(body, "logit_bias", "");
  reject_present(body, "logprobs", " (no log-probabilities are returned)");
  reject_present(body, "tools", " (no tool calls)");
  reject_present(body, "functions", " (no function calls)");
  if (const json* f = field(body, "response_format")) {
    check(f->is_object() && f->value("type", "") == "text",
          "'response_format' must be {\"type\": \"text\"} (no JSON mode)");
  }
  if (const json* stop = field(body, "stop")) {
    if (stop->is_string()) {
      r.stop.push_back(stop->get<std::string>());
    } else {
      check(stop->is_array() && stop->size() <= 4,
            "'stop' must be a string or an array of at most 4 strings");
      for (const json& s1 : *stop) {
        check(s1.is_string(), "'stop' must be a string or an array of at most 4 strings");
        r.stop.push_back(s1.get<std::string>());
      }
    }
  }
  r.stream = boolean(body, "stream");
  if (const json* so = field(body, "stream_options")) {
    check(so->is_object(), "'stream_options' must be an object");
    check(r.stream, "'stream_options' needs \"stream\": true");
    r.stream_usage = boolean(*so, "include_usage");
  }
  if (const json* y = field(body, "yopo")) {
    check(y->is_object(), "'yopo' must be an object: {\"prune\": ..., \"semantics\": ...}");
    for (const auto& [k, v] : y->items())
      check(k == "prune" || k == "semantics", "'yopo' has an unknown field '", k,
            "' (prune, semantics)");
    r.prune = string_field(*y, "prune");
    r.semantics = string_field(*y, "semantics");
    check(r.prune.empty() || request_plan_spec_ok(r.prune),
          "'yopo.prune' must be dense, a preset (yopo-25, "
          "yopo-12), techniques joined by '+' (window:r=2, ffn:ratio=2, heads:keep=16, heads, "
          "layercut:keep=16) or a token-pruning baseline (fastv:K=2,R=0.5, pdrop, sparsevlm); "
          "plan and mask files are given to the server with --prune and --head-mask");
  }
  return r;
}

std::string image_url_of(const json& part) {
  const json* u = field(part, "image_url");
  check(u != nullptr, "an image_url part has no 'image_url'");
  if (u->is_string()) return u->get<std::string>();
  check(u->is_object(), "'image_url' must be an object with a 'url' (or a string)");
  const std::string url = string_field(*u, "url");
  check(!url.empty(), "'image_url' has no 'url'");
  return url;
}

// One message's content: its text and, for user messages, its images (appended to r.images).
ChatTurn parse_message(const json& m, size_t index, CompletionRequest& r) {
  check(m.is_object(), "message ", index + 1, " must be an object");
  const std::string role = string_field(m, "role");
  ChatTurn turn;
  if (role == "user")
    turn.role = ChatTurn::Role::User;
  else if (role == "assistant")
    turn.role = ChatTurn::Role::Assistant;
  else
    fail("message ", index + 1, " has role '", role,
         "' (system and developer messages come first; then user and assistant)");
  const json* content = field(m, "content");
  check(content != nullptr || turn.role == ChatTurn::Role::Assistant, "message ", index + 1,
        " has no 'content'");
  if (content == nullptr) return turn;
  if (content->is_string()) {
    turn.text = content->get<std::string>();
    return turn;
  }
  check(content->is_array(), "message ", index + 1,
        ": 'content' must be a string or an array of parts");
  for (const json& part : *content) {
    check(part.is_object(), "message ", index + 1, ": each content part must be an object");
    const std::string type = string_field(part, "type");
    if (type == "text") {
      if (!turn.text.empty()) turn.text += "\n";
      turn.text += string_field(part, "text");
    } else if (type == "image_url") {
      check(turn.role == ChatTurn::Role::User, "message ", index + 1,
            ": only user messages may hold images");
      const DataUrl d = parse_data_url(image_url_of(part));
      r.images.push_back(decode_image(d.bytes.data(), d.bytes.size(),
                                      "the image of message " + std::to_string(index + 1)));
      ++turn.images;
    } else {
      fail("message ", index + 1, ": content part type '", type,
           "' is not supported (text, image_url)");
    }
  }
  return turn;
}

}  // namespace

CompletionRequest parse_chat_request(const json& body) {
  CompletionRequest r = parse_common(body, true);
  const json* msgs = field(body, "messages");
  check(msgs != nullptr && msgs->is_array() && !msgs->empty(),
        "'messages' must be a non-empty array");
  size_t i = 0;
  for (; i < msgs->size(); ++i) {  // leading system (or developer) messages
    const json& m = (*msgs)[i];
    const std::string role = m.is_object() ? string_field(m, "role") : "";
    if (role != "system" && role != "developer") break;
    const json* c = field(m, "content");
    check(c != nullptr && c->is_string(), "message ", i + 1,
          ": a system message's 'content' must be a string");
    if (!r.system.empty()) r.system += "\n";
    r.system += c->get<std::string>();
  }
  for (; i < msgs->size(); ++i) {
    ChatTurn t = parse_message((*msgs)[i], i, r);
    if (!r.turns.empty() && r.turns.back().role == t.role) {  // one turn per speaker change
      ChatTurn& last = r.turns.back();
      if (!last.text.empty() && !t.text.empty()) last.text += "\n";
      last.text += t.text;
      last.images += t.images;
    } else {
      r.turns.push_back(std::move(t));
    }
  }
  check(!r.turns.empty(), "'messages' holds no user message");
  return r;
}

CompletionRequest parse_completion_request(const json& body) {
  CompletionRequest r = parse_common(body, false);
  const json* p = field(body, "prompt");
  if (p != nullptr && p->is_array()) {
    check(p->size() == 1 && (*p)[0].is_string(),
          "'prompt' must be a string (or an array of one string)");
    p = &(*p)[0];
  }
  check(p == nullptr || p->is_string(), "'prompt' must be a string");
  r.prompt = p != nullptr ? p->get<std::string>() : "";
  reject_present(body, "echo", "");
  reject_present(body, "suffix", "");
  check(integer_in(body, "best_of", 1, 1 << 30, 1) == 1, "'best_of' must be 1");
  return r;
}

}  // namespace yopo::server
