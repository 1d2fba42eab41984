#include "server/openai_server.h"

#include <httplib.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace yopo::server {

namespace {

using nlohmann::json;

// Invalid UTF-8 in generated text is replaced, not thrown on.
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json error_body(const std::string& message, const char* type) {
  return {{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}}}};
}

void send_error(httplib::Response& res, int status, const std::string& message, const char* type) {
  res.status = status;
  res.set_content(dump(error_body(message, type)), "application/json");
}

std::string next_id(const char* prefix) {
  static std::atomic<uint64_t> counter{0};
  const uint64_t n = counter.fetch_add(1) + 1;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s%08llx%08llx", prefix, (unsigned long long)std::time(nullptr),
                (unsigned long long)n);
  return buf;
}

json usage_of(const CompletionResult& c) {
  return {{"prompt_tokens", c.prompt_tokens},
          {"completion_tokens", c.completion_tokens},
          {"total_tokens", c.prompt_tokens + c.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", c.cached_tokens}}}};
}

// What yopo adds to a response: the plan and what the decoder executed.
json yopo_stats(const CompletionResult& c) {
  return {{"plan", c.plan},
          {"semantics", c.semantics},
          {"visual_tokens", c.visual_tokens},
          {"cached_images", c.cached_images},
          {"executed_flops", c.executed_flops},
          {"visual_flops", c.visual_flops},
          {"encode_ms", c.encode_ms},
          {"prefill_ms", c.prefill_ms},
          {"decode_ms", c.decode_ms}};
}

// The fields every response and chunk of one completion share.
struct Envelope {
  std::string id, model;
  bool chat = true;
  std::time_t created = 0;

  json head(const char* object) const {
    return {{"id", id}, {"object", object}, {"created", created}, {"model", model}};
  }
  json response(const CompletionResult& c) const {
    json r = head(chat ? "chat.completion" : "text_completion");
    json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", c.finish_reason}};
    if (chat)
      choice["message"] = {{"role", "assistant"}, {"content", c.text}};
    else
      choice["text"] = c.text;
    r["choices"] = json::array({choice});
    r["usage"] = usage_of(c);
    r["yopo"] = yopo_stats(c);
    return r;
  }
  const char* chunk_object() const { return chat ? "chat.completion.chunk" : "text_completion"; }
  // A streamed piece of text (chat: as a delta); the first chat chunk also names the role.
  json chunk(const std::string& text, const json& finish_reason, bool first = false) const {
    json r = head(chunk_object());
    json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish_reason}};
    if (!chat)
      choice["text"] = text;
    else if (first)
      choice["delta"] = {{"role", "assistant"}, {"content", text}};
    else
      choice["delta"] = text.empty() ? json::object() : json{{"content", text}};
    r["choices"] = json::array({choice});
    return r;
  }
};

void handle_completion(ServeEngine& engine, const httplib::Request& req, httplib::Response& res,
                       bool chat) {
  json body;
  try {
    body = json::parse(req.body);
  } catch (const json::exception& e) {
    return send_error(res, 400, std::string("the request body is not valid JSON: ") + e.what(),
                      "invalid_request_error");
  }
  auto prepared = std::make_shared<PreparedRequest>();
  bool stream = false, stream_usage = false;
  try {
    const CompletionRequest r = chat ? parse_chat_request(body) : parse_completion_request(body);
    stream = r.stream;
    stream_usage = r.stream_usage;
    *prepared = engine.prepare(r);
  } catch (const Error& e) {
    return send_error(res, 400, e.what(), "invalid_request_error");
  }
  Envelope env{next_id(chat ? "chatcmpl-" : "cmpl-"), engine.model_name(), chat,
               std::time(nullptr)};
  if (!stream) {
    const CompletionResult c = engine.complete(*prepared);
    res.set_content(dump(env.response(c)), "application/json");
    return;
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream", [&engine, prepared, env, stream_usage](size_t, httplib::DataSink& sink) {
        auto send = [&sink](const std::string& payload) {
          const std::string event = "data: " + payload + "\n\n";
          return sink.write(event.data(), event.size());
        };
        try {
          bool open = !env.chat || send(dump(env.chunk("", nullptr, true)));
          CompletionResult c;
          if (open) {
            c = engine.complete(*prepared, [&](const std::string& piece) {
              return send(dump(env.chunk(piece, nullptr)));
            });
            open = !c.aborted;
          }
          if (open) {
            json last = env.chunk("", c.finish_reason);
            last["yopo"] = yopo_stats(c);
            open = send(dump(last));
          }
          if (open && stream_usage) {
            json u = env.head(env.chunk_object());
            u["choices"] = json::array();
            u["usage"] = usage_of(c);
            open = send(dump(u));
          }
          if (open) send("[DONE]");
        } catch (const std::exception& e) {
          send(dump(error_body(e.what(), "server_error")));
        }
        sink.done();
        return true;
      });
}

}  // namespace

OpenAiServer::OpenAiServer(ServeEngine& engine, const HttpOptions& options)
    : engine_(engine), http_(std::make_unique<httplib::Server>()) {
  httplib::Server& s = *http_;
  s.set_payload_max_length(size_t{64} << 20);  // a few images as data: URLs
  if (!options.api_key.empty()) {
    s.set_pre_routing_handler(
        [key = "Bearer " + options.api_key](const httplib::Request& req, httplib::Response& res) {
          if (req.path == "/health" || req.get_header_value("Authorization") == key)
            return httplib::Server::HandlerResponse::Unhandled;
          res.status = 401;
          json e = error_body("a missing or wrong API key (send \"Authorization: Bearer <key>\")",
                              "invalid_request_error");
          e["error"]["code"] = "invalid_api_key";
          res.set_content(dump(e), "application/json");
          return httplib::Server::HandlerResponse::Handled;
        });
  }
  if (options.log_requests) {
    s.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      std::fprintf(stderr, "%s %s -> %d\n", req.method.c_str(), req.path.c_str(), res.status);
    });
  }
  s.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  s.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    const json m = {{"id", engine_.model_name()},
                    {"object", "model"},
                    {"created", 0},
                    {"owned_by", "yopo"},
                    {"max_model_len", engine_.context_length()}};
    res.set_content(dump({{"object", "list"}, {"data", json::array({m})}}), "application/json");
  });
  s.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_completion(engine_, req, res, true);
  });
  s.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_completion(engine_, req, res, false);
  });
  // Statuses httplib sets itself (404 for an unknown path, 413 for a body over the limit)
  // get an error object too; the handlers' own errors already have one.
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const bool missing = res.status == 404;
    std::string message = "the request failed with HTTP status " + std::to_string(res.status);
    if (missing) message = "no route for " + req.method + " " + req.path;
    if (res.status == 413)
      message =
          "the request body is too large (over 64 MiB; over 8 KiB unless it is sent as "
          "Content-Type: application/json)";
    send_error(res, res.status, message, missing ? "not_found_error" : "invalid_request_error");
  });
  s.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        send_error(res, 500, what, "server_error");
      });
}

OpenAiServer::~OpenAiServer() = default;

int OpenAiServer::bind(const std::string& host, int port) {
  if (port == 0) {
    const int got = http_->bind_to_any_port(host);
    check(got > 0, "cannot bind to ", host, " on any port");
    return got;
  }
  check(http_->bind_to_port(host, port), "cannot bind to ", host, ":", port,
        " (in use, or not an address of this machine)");
  return port;
}

void OpenAiServer::serve() {
  http_->listen_after_bind();
}

void OpenAiServer::stop() {
  http_->stop();
}

}  // namespace yopo::server
