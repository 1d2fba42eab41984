// `yopo calibrate -m MODEL --questions FILE --images DIR (--alpha A | --target-heads K) --out P`:
// runs the unpruned LLaVA model on the first --samples readable questions, measures per layer,
// head and sample the ratio of attention mass on visual keys to the mass on system-prompt and
// post-image text keys (prune/calibration.h), and writes the visual head mask (P.npy, P.json,
// loadable by --prune ... --head-mask) and the per-layer profile (P-profile.csv, P-profile.svg).
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/error.h"
#include "eval/questions.h"
#include "load_options.h"
#include "ops/context.h"
#include "prune/calibration.h"
#include "prune/head_mask.h"
#include "runtime/calibration_plot.h"
#include "runtime/generator.h"
#include "runtime/llava_answer.h"
#include "runtime/model_loader.h"
#include "runtime/prompt.h"
#include "vision/image.h"

namespace yopo::cli {

namespace {

namespace fs = std::filesystem;

struct CalibrateOptions {
  std::string model;
  LlavaLoadOptions llava;
  std::string chat_template = "vicuna_v1";  // as LLaVA-1.5's evaluation scripts
  std::string dtype = "auto";
  int threads = 0;
  std::string questions;
  std::string images;
  std::string task = "pope";
  int64_t samples = 100;
  std::optional<double> alpha;
  std::optional<double> target_heads;
  double min_active = kDefaultMinActive;
  std::string out;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The decoded image of a question (eval::question_image), or nullopt (after printing why) when it
// cannot be used.
std::optional<Image> usable_image(const eval::Question& q, const CalibrateOptions& o) {
  try {
    return eval::question_image(q, o.images);
  } catch (const Error& e) {
    std::fprintf(stderr, "%s:%lld: question %s: %s; skipped\n", o.questions.c_str(),
                 static_cast<long long>(q.line), q.id.c_str(), e.what());
    return std::nullopt;
  }
}

// The shortest text that reads back as v (so a printed alpha reproduces the mask).
std::string format_number(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

void check_options(const CalibrateOptions& o) {
  check(o.alpha.has_value() != o.target_heads.has_value(),
        "give exactly one of --alpha and --target-heads");
  check(o.samples > 0, "--samples must be positive, not ", o.samples);
  check(o.min_active >= 0 && o.min_active <= 1, "--min-active must be between 0 and 1, not ",
        o.min_active);
  check(!o.alpha || std::isfinite(*o.alpha), "--alpha must be a finite number");
  check(!o.out.empty(), "--out must name an output prefix");
  std::error_code ec;
  check(fs::is_directory(o.images, ec), "--images '", o.images, "' is not a directory");
}

int calibrate(const CalibrateOptions& o) {
  check_options(o);
  const eval::QuestionFile qf = eval::read_questions(o.task, o.questions);
  for (const std::string& e : qf.errors) std::fprintf(stderr, "%s; skipped\n", e.c_str());

  LlavaAnswererOptions ao;
  ao.load = o.llava;
  ao.load.dtype = parse_weight_dtype(o.dtype);
  ao.chat_template = o.chat_template;
  ao.threads = o.threads;
  check(is_llava_checkpoint(o.model, ao.load), "'", o.model,
        "' is not a LLaVA checkpoint: calibration needs images (give --mmproj with a GGUF model)");
  // Loading and image encoding as `yopo eval` does them, so that masks are calibrated on the
  // prompts they are evaluated with.
  LlavaAnswerer answerer(o.model, ao);
  const LlavaModel& m = answerer.model();
  const LlamaConfig& cfg = m.llm->config();
  const ChatTemplate tpl = parse_chat_template(o.chat_template);
  ops::Context ctx(o.threads);
  std::fprintf(stderr, "load: %.1f ms (%s layout, %lld layers x %lld heads, %d threads)\n",
               answerer.loaded().load_ms, answerer.loaded().layout.c_str(), (long long)cfg.n_layers,
               (long long)cfg.n_heads, ctx.threads());

  CalibrationData data(cfg.n_layers, cfg.n_heads);
  int64_t skipped = int64_t(qf.errors.size());
  const int64_t wanted = o.samples;
  for (const eval::Question& q : qf.questions) {
    if (data.n_samples() >= wanted) break;
    GenerationRequest req;
    req.prompt = tokenize_with_images(answerer.tokenizer(), format_prompt(tpl, q.text, true), true);
    const int64_t markers = std::count(req.prompt.begin(), req.prompt.end(), kImageMarker);
    if (markers != 1) {
      std::fprintf(stderr, "%s:%lld: the text of question %s holds \"<image>\"; skipped\n",
                   o.questions.c_str(), (long long)q.line, q.id.c_str());
      ++skipped;
      continue;
    }
    const std::optional<Image> img = usable_image(q, o);
    if (!img) {
      ++skipped;
      continue;
    }
    const auto t0 = std::chrono::steady_clock::now();
    const EncodedImage enc = answerer.encode(*img);
    req.image_rows = enc.rows.data();
    req.rows_per_image = m.rows_per_image();
    req.grid_rows = m.grid_rows();
    req.grid_cols = m.grid_cols();
    const PromptRows rows = build_prompt_rows(*m.llm, req);
    data.add(measure_prefill_attention(*m.llm, ctx, rows.embeddings.data(), rows.positions.data(),
                                       rows.n, rows.layout));
    std::fprintf(stderr, "sample %lld/%lld: %s:%lld question %s, %lld rows (%lld visual), %.2f s\n",
                 (long long)data.n_samples(), (long long)wanted, o.questions.c_str(),
                 (long long)q.line, q.id.c_str(), (long long)rows.n,
                 (long long)rows.layout.visual_count(), seconds_since(t0));
  }
  check(data.n_samples() > 0, "no question of '", o.questions, "' could be used (", skipped,
        " skipped): nothing to calibrate on");
  if (data.n_samples() < wanted)
    std::fprintf(stderr, "note: only %lld of the %lld samples asked for were readable\n",
                 (long long)data.n_samples(), (long long)wanted);
  if (skipped > 0) std::fprintf(stderr, "skipped: %lld question(s)\n", (long long)skipped);

  AlphaSearch r;
  if (o.alpha) {
    r.alpha = *o.alpha;
    r.mask = calibrate_head_mask(data, r.alpha, o.min_active);
    r.average_kept = average_kept_heads(r.mask);
  } else {
    r = find_alpha_for_target(data, *o.target_heads, o.min_active);
  }
  const std::vector<LayerProfile> profile = layer_profile(data, r.mask);

  const fs::path prefix(o.out);
  if (prefix.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(prefix.parent_path(), ec);
  }
  const std::string npy = o.out + ".npy", json_path = o.out + ".json", csv = o.out + "-profile.csv",
                    svg = o.out + "-profile.svg";
  const std::string source = "yopo calibrate: " + o.model + ", " +
                             std::to_string(data.n_samples()) + " samples of " + o.questions +
                             ", alpha " + format_number(r.alpha) + ", min-active " +
                             format_number(o.min_active);
  write_head_mask_npy(npy, r.mask);
  nlohmann::json j = head_mask_to_json(r.mask, source);
  j["calibration"] = {{"alpha", r.alpha},
                      {"min_active", o.min_active},
                      {"samples", data.n_samples()},
                      {"average_kept", r.average_kept},
                      {"questions", o.questions},
                      {"task", o.task}};
  if (o.target_heads) j["calibration"]["target_heads"] = *o.target_heads;
  write_calibration_text(json_path, j.dump() + "\n");
  write_calibration_text(csv, profile_csv(profile));
  write_calibration_text(svg,
                         profile_svg(profile, "Visual attention share per layer (" +
                                                  std::to_string(data.n_samples()) + " samples)"));

  std::printf("samples: %lld\n", (long long)data.n_samples());
  std::printf("alpha: %s\n", format_number(r.alpha).c_str());
  if (o.target_heads)
    std::printf("target: %s heads per layer\n", format_number(*o.target_heads).c_str());
  std::printf("average kept heads per layer: %.4f of %lld\n", r.average_kept,
              (long long)cfg.n_heads);
  std::printf("layer  visual_share  mean_ratio  kept\n");
  for (const LayerProfile& p : profile)
    std::printf("%5lld  %12.6f  %10.4f  %4lld\n", (long long)p.layer, p.visual_share, p.mean_ratio,
                (long long)p.kept_heads);
  std::printf("wrote %s, %s, %s, %s\n", npy.c_str(), json_path.c_str(), csv.c_str(), svg.c_str());
  return 0;
}

}  // namespace

void add_calibrate_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand(
      "calibrate", "Calibrate a visual head mask (and a per-layer attention profile) on samples");
  auto o = std::make_shared<CalibrateOptions>();
  cmd->add_option("-m,--model", o->model, "LLaVA checkpoint directory or text GGUF (+ --mmproj)")
      ->required();
  add_llava_load_options(cmd, o->llava);
  cmd->add_option("--template", o->chat_template, "Chat template: vicuna_v1, llava_hf or raw")
      ->capture_default_str();
  cmd->add_option("--dtype", o->dtype, kWeightDtypeHelp)->capture_default_str();
  cmd->add_option("-t,--threads", o->threads, "Threads (0: all cores)")->capture_default_str();
  cmd->add_option("--questions", o->questions, "Question file (the --task's format)")->required();
  cmd->add_option("--images", o->images, "Directory the questions' image paths are relative to")
      ->required();
  cmd->add_option("--task", o->task,
                  "Question file format: pope, gqa, vqav2, textvqa, sqa, "
                  "mmbench or mme")
      ->capture_default_str();
  cmd->add_option("--samples", o->samples, "Use the first N readable questions")
      ->capture_default_str();
  auto* alpha = cmd->add_option("--alpha", o->alpha,
                                "A head is active on a sample when its ratio exceeds alpha");
  auto* target = cmd->add_option("--target-heads", o->target_heads,
                                 "Find the alpha keeping about K heads per layer on average");
  alpha->excludes(target);
  target->excludes(alpha);
  cmd->add_option("--min-active", o->min_active,
                  "Keep a head active on more than this share of the samples")
      ->capture_default_str();
  cmd->add_option("--out", o->out,
                  "Output prefix: writes PREFIX.npy, PREFIX.json, PREFIX-profile.csv and "
                  "PREFIX-profile.svg")
      ->required();
  cmd->callback([&action, o] { action = [o] { return calibrate(*o); }; });
}

}  // namespace yopo::cli
