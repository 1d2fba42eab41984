// Answering questions about images with a LLaVA model, one question at a time, greedily: the
// pipeline of `yopo run` for one image (load, preprocess, encode, the chat template,
// tokenize_with_images, Generator with a pruning plan and a FLOP counter) as a reusable object
// for evaluation and calibration. Deterministic: the same model, threads, image, question and
// plan give the same answer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/flop_counter.h"
#include "models/pruning_plan.h"
#include "ops/context.h"
#include "prune/plan_spec.h"
#include "runtime/model_loader.h"
#include "runtime/prompt.h"
#include "vision/image.h"

namespace yopo {

struct LlavaAnswererOptions {
  LlavaLoadOptions load;
  std::string chat_template = "vicuna_v1";  // as LLaVA-1.5's evaluation scripts (conv vicuna_v1)
  int threads = 0;                          // 0: all cores
};

// An image turned into decoder rows, reusable across questions and plans.
struct EncodedImage {
  std::vector<float> rows;  // [rows_per_image, decoder dim]
  double preprocess_ms = 0, encode_ms = 0;
};

struct LlavaAnswer {
  std::string text;             // the decoded new tokens, whitespace-stripped (as LLaVA's .strip())
  std::vector<int32_t> tokens;  // the generated ids (without EOS)
  std::string prompt;           // the templated prompt text ("<image>" where the image goes)
  FlopCounter flops;            // what the decoder executed (prefill and decode)
  double executed_flops = 0;    // flops.total()
  double visual_flops = 0;      // flops.visual_total().total()
  int64_t prompt_rows = 0, visual_rows = 0, generated_tokens = 0;
  double prefill_ms = 0, decode_ms = 0, total_ms = 0;  // total: prompt building + generation
};

class LlavaAnswerer {
 public:
  // Loads the checkpoint (any layout load_llava_model accepts). Throws yopo::Error when it is
  // not a LLaVA checkpoint or has no tokenizer.
  LlavaAnswerer(const std::string& model_path, const LlavaAnswererOptions& o = {});

  const LoadedLlava& loaded() const { return lm_; }
  const LlavaModel& model() const { return *lm_.model; }
  const SpmTokenizer& tokenizer() const { return *lm_.tokenizer; }
  int threads() const { return ctx_->threads(); }
  // LLaVA's model_id: the last component of the model path ("<parent>_<last>" when the last is
  // a "checkpoint-*" directory), as get_model_name_from_path names it.
  const std::string& model_id() const { return model_id_; }
  // Decoder rows (BOS included) before the image in this answerer's prompts: the chat template's
  // text before "<image>" (35 for LLaVA-1.5's vicuna_v1 with the LLaMA-2 tokenizer).
  int64_t text_rows_before_image() const { return rows_before_image_; }

  // Resolves a --prune spec for this model (prune/plan_spec.h).
  PruningPlan resolve_plan(const std::string& spec, PruneSemantics semantics,
                           const std::string& head_mask = "",
                           UnusedHeadMask unused = UnusedHeadMask::Error) const;

  EncodedImage encode(const Image& image);
  EncodedImage encode(const std::string& image_path);  // throws naming the file

  // Answers `question` (without any "<image>" tag: one is put before it when image is not
  // null) greedily, stopping at EOS or after max_new_tokens. image == nullptr: a text-only
  // question. Throws yopo::Error when the question's text itself holds "<image>" tags.
  LlavaAnswer answer(const EncodedImage* image, const std::string& question,
                     const PruningPlan& plan, int64_t max_new_tokens = 128);
  // The same from an image file ("" for none).
  LlavaAnswer answer(const std::string& image_path, const std::string& question,
                     const PruningPlan& plan, int64_t max_new_tokens = 128);

 private:
  LoadedLlava lm_;
  std::unique_ptr<ops::Context> ctx_;
  ChatTemplate template_;
  std::string model_id_;
  int64_t rows_before_image_ = 0;
};

// LLaVA's get_model_name_from_path.
std::string llava_model_name(const std::string& model_path);

}  // namespace yopo
