// `yopo serve -m MODEL [--host H] [--port P] ...`: an OpenAI-compatible HTTP server
// (server/openai_server.h) for one model. Stops on SIGINT or SIGTERM.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "commands.h"
#include "core/error.h"
#include "load_options.h"
#include "server/openai_server.h"

namespace yopo::cli {

namespace {

struct ServeCliOptions {
  server::ServeOptions engine;
  std::string dtype = "auto";
  std::string host = "127.0.0.1";
  int port = 8080;
  server::HttpOptions http;
};

int serve(const ServeCliOptions& o) {
  // SIGINT and SIGTERM are taken by a thread of their own (blocked here before any other
  // thread starts, so all of them inherit the mask), which stops the server.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  server::ServeOptions eo = o.engine;
  eo.load.dtype = parse_weight_dtype(o.dtype);
  server::ServeEngine engine(eo);
  server::OpenAiServer http(engine, o.http);
  const int port = http.bind(o.host, o.port);
  std::thread stopper([&http, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    std::fprintf(stderr, "signal %d: stopping\n", sig);
    http.stop();
  });
  std::fprintf(stderr, "serving '%s' (%s, default plan %s, context %lld) on http://%s:%d/v1\n",
               engine.model_name().c_str(), engine.multimodal() ? "LLaVA" : "text only",
               engine.default_plan().c_str(), (long long)engine.context_length(), o.host.c_str(),
               port);
  std::fflush(stderr);
  http.serve();
  // Wakes the stopper if the server ended some other way, so that it is done with `http`.
  pthread_kill(stopper.native_handle(), SIGTERM);
  stopper.join();
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server for one model");
  auto o = std::make_shared<ServeCliOptions>();
  server::ServeOptions& e = o->engine;
  cmd->add_option("-m,--model", e.model_path, "GGUF file, safetensors file or HF model directory")
      ->required();
  cmd->add_option("--host", o->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", o->port, "Port (0: any free port, printed at start)")
      ->capture_default_str();
  cmd->add_option("--api-key", o->http.api_key,
                  "Require \"Authorization: Bearer KEY\" on every route but /health");
  cmd->add_flag("--log-requests", o->http.log_requests, "Print one line per request on stderr");
  cmd->add_option("--model-name", e.model_name,
                  "Model id clients see (default: the checkpoint's directory or file name)");
  cmd->add_option("-t,--threads", e.threads, "Threads (0: all cores)")->capture_default_str();
  cmd->add_option("--dtype", o->dtype, kWeightDtypeHelp)->capture_default_str();
  add_llava_load_options(cmd, e.load);
  cmd->add_option("--template", e.chat_template,
                  "Chat template: vicuna_v1, llava_hf or raw (default: llava_hf for llava-hf "
                  "checkpoints, else vicuna_v1)");
  cmd->add_option("--prune", e.prune,
                  "Default visual pruning (a request may choose its own with "
                  "\"yopo\": {\"prune\": ...}): dense, yopo-25, yopo-12, a plan JSON file, a "
                  "YOPO config.json, or techniques (docs/pruning-plans.md)")
      ->capture_default_str();
  cmd->add_option("--prune-semantics", e.semantics, "exact (the YOPO reference) or fast")
      ->capture_default_str();
  cmd->add_option("--head-mask", e.head_mask, "Visual head mask (.json or .npy) for the plans");
  cmd->add_option("--max-tokens", e.max_tokens,
                  "Tokens to generate when a request does not say (bounded by the context)")
      ->capture_default_str();
  cmd->add_flag("!--no-prompt-cache", e.prompt_cache,
                "Prefill every prompt whole (by default the longest prefix shared with the "
                "previous request's prompt and reply, same images and plan, is reused)");
  cmd->add_option("--image-cache", e.image_cache,
                  "Encoded images kept for requests that send them again (0: none)")
      ->capture_default_str();
  cmd->callback([&action, o] { action = [o] { return serve(*o); }; });
}

}  // namespace yopo::cli
