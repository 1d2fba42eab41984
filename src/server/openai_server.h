// `yopo serve`'s HTTP side: an OpenAI-compatible API over a ServeEngine.
//   GET  /health               {"status": "ok"}
//   GET  /v1/models            the one model
//   POST /v1/chat/completions  chat (images as data: URLs in image_url parts), stream or not
//   POST /v1/completions       plain text continuation, stream or not
// Errors are OpenAI's error objects: {"error": {"message", "type", "param", "code"}} with
// status 400 (invalid_request_error), 401 (a missing or wrong API key), 404 (not_found_error)
// or 500 (server_error).
// Responses carry a "yopo" object: the pruning plan, visual rows, executed FLOPs, timings.
#pragma once

#include <memory>
#include <string>

#include "server/serve_engine.h"

namespace httplib {
class Server;
}

namespace yopo::server {

struct HttpOptions {
  // Non-empty: every route but /health needs "Authorization: Bearer <api_key>" (else 401).
  std::string api_key;
  bool log_requests = false;  // one line per request on stderr
};

class OpenAiServer {
 public:
  explicit OpenAiServer(ServeEngine& engine, const HttpOptions& options = {});
  ~OpenAiServer();

  // Binds host:port (port 0: any free port); returns the port. Throws yopo::Error on failure.
  int bind(const std::string& host, int port);
  // Serves until stop() (from another thread or a signal handler's thread).
  void serve();
  void stop();

 private:
  ServeEngine& engine_;
  std::unique_ptr<httplib::Server> http_;
};

}  // namespace yopo::server
