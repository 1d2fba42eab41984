// `yopo run -m MODEL [-p PROMPT] [-n N] ...`: generates text; timings go to stderr.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "commands.h"
#include "core/error.h"
#include "load_options.h"
#include "ops/context.h"
#include "prune/plan_spec.h"
#include "runtime/generator.h"
#include "runtime/model_loader.h"
#include "runtime/prompt.h"
#include "runtime/sampler.h"
#include "runtime/text_stream.h"
#include "vision/image.h"

namespace yopo::cli {

namespace {

struct RunOptions {
  std::string model;
  std::string prompt;
  int64_t n_predict = 128;
  SamplingParams sampling;
  int threads = 0;
  std::string dtype = "auto";
  bool no_bos = false;
  bool echo = false;
  // Multimodal.
  std::vector<std::string> images;
  std::string chat_template;  // empty: the layout's default
  LlavaLoadOptions llava;
  // Pruning.
  std::string prune = "dense";
  std::string semantics = "exact";
  std::string head_mask;
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Generates from req, streaming the text of the new tokens (decoded in context, whole UTF-8
// characters only) to stdout; returns the statistics.
GenerationStats generate_and_print(const LlamaModel& model, const SpmTokenizer& tok,
                                   GenerationRequest req, const RunOptions& o, ops::Context& ctx) {
  TextStream stream(tok, req.prompt);
  req.on_token = [&](int32_t id) {
    std::cout << stream.push(id) << std::flush;
    return true;
  };
  Sampler sampler(o.sampling);
  GenerationStats st;
  Generator(model, ctx).generate(req, sampler, &st);
  std::cout << stream.finish() << std::flush;
  return st;
}

void print_flops(const FlopCounter& f) {
  const FlopParts v = f.visual_total(), t = f.text_total();
  std::fprintf(stderr,
               "flops: %.3f GFLOP executed (visual rows %.3f: proj %.3f, attn %.3f, ffn %.3f; "
               "text rows %.3f; output head %.3f)\n",
               f.total() * 1e-9, v.total() * 1e-9, v.proj * 1e-9, v.attn * 1e-9, v.ffn * 1e-9,
               t.total() * 1e-9, f.head * 1e-9);
}

void print_stats(const GenerationStats& st) {
  std::fprintf(stderr,
               "prompt: %lld rows (%lld visual), %.1f ms (%.1f rows/s)\n"
               "decode: %lld tokens, %.1f tok/s\n",
               (long long)st.prompt_tokens, (long long)st.visual_tokens, st.prompt_ms,
               st.prompt_tok_s(), (long long)st.generated_tokens, st.decode_tok_s());
}

int run_text(const RunOptions& o, std::optional<DType> dtype) {
  check(o.images.empty(), "'", o.model,
        "' is a text-only model: --image needs a LLaVA checkpoint (or --mmproj)");
  LoadedModel lm = load_llama_model(o.model, dtype);
  if (!o.llava.tokenizer.empty()) lm.tokenizer = load_tokenizer(o.llava.tokenizer);
  check(lm.tokenizer != nullptr, "'", o.model,
        "' has no tokenizer (GGUF tokenizer.ggml.* metadata or tokenizer.model): give --tokenizer");
  const SpmTokenizer& tok = *lm.tokenizer;
  ops::Context ctx(o.threads);
  GenerationRequest req;
  req.prompt = tok.encode(o.prompt, false);
  if (!o.no_bos || req.prompt.empty()) req.prompt.insert(req.prompt.begin(), tok.bos_id());
  req.max_new_tokens = o.n_predict;
  req.eos_id = tok.eos_id();
  check(o.prune == "dense", "--prune needs a LLaVA model: a text-only prompt has no visual tokens");
  FlopCounter flops;
  req.flops = &flops;
  if (o.echo) std::cout << o.prompt << std::flush;
  std::fprintf(stderr, "load: %.1f ms (%s, %s weights, %d threads)\n", lm.load_ms,
               lm.format.c_str(), weight_dtype_name(lm.dtype), ctx.threads());
  const GenerationStats st = generate_and_print(*lm.model, tok, req, o, ctx);
  std::fprintf(stderr, "\n");
  print_stats(st);
  print_flops(flops);
  return 0;
}

int run_llava(const RunOptions& o, std::optional<DType> dtype) {
  LlavaLoadOptions lo = o.llava;
  lo.dtype = dtype;
  LoadedLlava lm = load_llava_model(o.model, lo);
  check(lm.tokenizer != nullptr, "'", o.model, "' has no tokenizer: give --tokenizer");
  const SpmTokenizer& tok = *lm.tokenizer;
  const LlavaModel& m = *lm.model;
  ops::Context ctx(o.threads);
  std::fprintf(stderr, "load: %.1f ms (%s layout, %s weights, %d threads)\n", lm.load_ms,
               lm.layout.c_str(), weight_dtype_name(lm.dtype), ctx.threads());

  // Images -> pixels -> visual rows.
  const int64_t side = m.preprocess.crop, per_image = 3 * side * side;
  std::vector<float> pixels(size_t(int64_t(o.images.size()) * per_image));
  for (size_t i = 0; i < o.images.size(); ++i) {
    const std::vector<float> p = preprocess_image(load_image(o.images[i]), m.preprocess);
    std::copy(p.begin(), p.end(), pixels.begin() + int64_t(i) * per_image);
  }
  auto t0 = std::chrono::steady_clock::now();
  std::vector<float> rows;
  if (!o.images.empty()) rows = m.encode_images(ctx, pixels.data(), int64_t(o.images.size()));
  const double encode_ms = ms_since(t0);

  // Prompt: the question in the chat template, one <image> per image unless the text has them.
  const ChatTemplate tpl = parse_chat_template(!o.chat_template.empty()  ? o.chat_template
                                               : lm.layout == "llava-hf" ? "llava_hf"
                                                                         : "vicuna_v1");
  std::string question = o.prompt;
  const bool has_placeholder = question.find(kImagePlaceholder) != std::string::npos;
  for (size_t i = 1; i < o.images.size() && !has_placeholder; ++i)
    question = std::string(kImagePlaceholder) + "\n" + question;
  const std::string text = has_placeholder ? format_prompt(tpl, question, false)
                                           : format_prompt(tpl, question, !o.images.empty());
  const PruningPlan plan =
      resolve_plan_spec(o.prune, m.llm->config(), parse_semantics(o.semantics), o.head_mask);
  FlopCounter flops;
  GenerationRequest req;
  req.plan = &plan;
  req.flops = &flops;
  req.prompt = tokenize_with_images(tok, text, !o.no_bos);
  const int64_t markers = std::count(req.prompt.begin(), req.prompt.end(), kImageMarker);
  check(markers == int64_t(o.images.size()), "the prompt has ", markers,
        " <image> placeholders but ", o.images.size(), " images were given");
  req.image_rows = rows.empty() ? nullptr : rows.data();
  req.rows_per_image = m.rows_per_image();
  req.grid_rows = m.grid_rows();
  req.grid_cols = m.grid_cols();
  req.max_new_tokens = o.n_predict;
  req.eos_id = tok.eos_id();
  const GenerationStats st = generate_and_print(*m.llm, tok, req, o, ctx);
  std::fprintf(stderr, "\nimage encode: %zu image(s), %.1f ms\n", o.images.size(), encode_ms);
  std::fprintf(stderr, "pruning: %s (%s)\n", plan.name.c_str(), semantics_name(plan.semantics));
  print_stats(st);
  print_flops(flops);
  return 0;
}

int run(const RunOptions& o) {
  const std::optional<DType> dtype = parse_weight_dtype(o.dtype);
  return is_llava_checkpoint(o.model, o.llava) ? run_llava(o, dtype) : run_text(o, dtype);
}

}  // namespace

void add_run_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("run", "Generate text with a model");
  auto o = std::make_shared<RunOptions>();
  cmd->add_option("-m,--model", o->model, "GGUF file, safetensors file or HF model directory")
      ->required();
  cmd->add_option("-p,--prompt", o->prompt, "Prompt text (empty: start from BOS)");
  cmd->add_option("-n,--n-predict", o->n_predict, "Tokens to generate")->capture_default_str();
  cmd->add_option("--temp", o->sampling.temperature, "Temperature (0: greedy)")
      ->capture_default_str();
  cmd->add_option("--top-k", o->sampling.top_k, "Top-k (0: off)")->capture_default_str();
  cmd->add_option("--top-p", o->sampling.top_p, "Top-p (1: off)")->capture_default_str();
  cmd->add_option("--min-p", o->sampling.min_p, "Min-p (0: off)")->capture_default_str();
  cmd->add_option("--repeat-penalty", o->sampling.repeat_penalty, "Repetition penalty (1: off)")
      ->capture_default_str();
  cmd->add_option("--repeat-last-n", o->sampling.repeat_last_n, "Tokens the penalty looks at")
      ->capture_default_str();
  cmd->add_option("-s,--seed", o->sampling.seed, "Sampling seed")->capture_default_str();
  cmd->add_option("-t,--threads", o->threads, "Threads (0: all cores)")->capture_default_str();
  cmd->add_option("--dtype", o->dtype, kWeightDtypeHelp)->capture_default_str();
  cmd->add_flag("--no-bos", o->no_bos, "Do not prepend BOS to the prompt");
  cmd->add_flag("--echo", o->echo, "Print the prompt before the generated text");
  cmd->add_option("--image", o->images, "Image file(s) for a LLaVA model (JPEG, PNG, BMP, GIF)");
  add_llava_load_options(cmd, o->llava);
  cmd->add_option("--vision-feature-layer", o->llava.feature_layer,
                  "Vision layer whose output is used (HF convention, e.g. -2)");
  cmd->add_option("--template", o->chat_template, "Chat template: vicuna_v1, llava_hf or raw");
  cmd->add_option("--prune", o->prune,
                  "Visual pruning: dense, yopo-25, yopo-12, a plan JSON file, a YOPO config.json, "
                  "or techniques such as window:r=2+ffn:ratio=2 (docs/pruning-plans.md)")
      ->capture_default_str();
  cmd->add_option("--prune-semantics", o->semantics, "exact (the YOPO reference) or fast")
      ->capture_default_str();
  cmd->add_option("--head-mask", o->head_mask, "Visual head mask (.json or .npy) for the plan");
  cmd->callback([&action, o] { action = [o] { return run(*o); }; });
}

}  // namespace yopo::cli
