#include "runtime/llava_answer.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "models/llava.h"
#include "prune/plan_spec.h"
#include "runtime/generator.h"
#include "runtime/sampler.h"
#include "vision/preprocess.h"

namespace yopo {

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::string strip_spaces(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

}  // namespace

std::string llava_model_name(const std::string& model_path) {
  std::string p = model_path;
  while (!p.empty() && p.back() == '/') p.pop_back();
  while (!p.empty() && p.front() == '/') p.erase(p.begin());
  const size_t slash = p.rfind('/');
  const std::string last = slash == std::string::npos ? p : p.substr(slash + 1);
  if (last.rfind("checkpoint-", 0) == 0 && slash != std::string::npos) {
    const std::string head = p.substr(0, slash);
    const size_t s2 = head.rfind('/');
    return (s2 == std::string::npos ? head : head.substr(s2 + 1)) + "_" + last;
  }
  return last;
}

LlavaAnswerer::LlavaAnswerer(const std::string& model_path, const LlavaAnswererOptions& o)
    : lm_(load_llava_model(model_path, o.load)),
      ctx_(std::make_unique<ops::Context>(o.threads)),
      template_(parse_chat_template(o.chat_template)),
      model_id_(llava_model_name(model_path)) {
  check(lm_.model != nullptr, "'", model_path, "' did not load as a LLaVA model");
  check(lm_.tokenizer != nullptr, "'", model_path,
        "' has no tokenizer (tokenizer.model or GGUF tokenizer metadata): give one with "
        "--tokenizer");
  const std::vector<int32_t> ids =
      tokenize_with_images(*lm_.tokenizer, format_prompt(template_, "?", true), true);
  rows_before_image_ = std::find(ids.begin(), ids.end(), kImageMarker) - ids.begin();
}

PruningPlan LlavaAnswerer::resolve_plan(const std::string& spec, PruneSemantics semantics,
                                        const std::string& head_mask, UnusedHeadMask unused) const {
  return resolve_plan_spec(spec, model().llm->config(), semantics, head_mask, unused);
}

EncodedImage LlavaAnswerer::encode(const Image& image) {
  EncodedImage out;
  auto t0 = std::chrono::steady_clock::now();
  const std::vector<float> pixels = preprocess_image(image, model().preprocess);
  out.preprocess_ms = ms_since(t0);
  t0 = std::chrono::steady_clock::now();
  out.rows = model().encode_images(*ctx_, pixels.data(), 1);
  out.encode_ms = ms_since(t0);
  return out;
}

EncodedImage LlavaAnswerer::encode(const std::string& image_path) {
  return encode(load_image(image_path));
}

LlavaAnswer LlavaAnswerer::answer(const EncodedImage* image, const std::string& question,
                                  const PruningPlan& plan, int64_t max_new_tokens) {
  check(question.find(kImagePlaceholder) == std::string::npos,
        "the question text holds an \"<image>\" tag; give the text without it");
  check(max_new_tokens > 0, "max_new_tokens must be positive, got ", max_new_tokens);
  const LlavaModel& m = model();
  const SpmTokenizer& tok = tokenizer();
  if (image != nullptr)
    check(int64_t(image->rows.size()) == m.rows_per_image() * m.llm->config().dim,
          "the encoded image has ", image->rows.size(),
          " values, not rows_per_image x dim = ", m.rows_per_image() * m.llm->config().dim);
  const auto t0 = std::chrono::steady_clock::now();
  LlavaAnswer out;
  out.prompt = format_prompt(template_, question, image != nullptr);
  GenerationRequest req;
  req.prompt = tokenize_with_images(tok, out.prompt, true);
  req.plan = &plan;
  req.flops = &out.flops;
  req.image_rows = image != nullptr ? image->rows.data() : nullptr;
  req.rows_per_image = m.rows_per_image();
  req.grid_rows = m.grid_rows();
  req.grid_cols = m.grid_cols();
  req.max_new_tokens = max_new_tokens;
  req.eos_id = tok.eos_id();
  SamplingParams greedy;
  greedy.temperature = 0;
  greedy.repeat_penalty = 1;
  Sampler sampler(greedy);
  GenerationStats st;
  out.tokens = Generator(*m.llm, *ctx_).generate(req, sampler, &st);
  out.text = strip_spaces(tok.decode(out.tokens));
  out.executed_flops = out.flops.total();
  out.visual_flops = out.flops.visual_total().total();
  out.prompt_rows = st.prompt_tokens;
  out.visual_rows = st.visual_tokens;
  out.generated_tokens = st.generated_tokens;
  out.prefill_ms = st.prompt_ms;
  out.decode_ms = st.decode_ms;
  out.total_ms = ms_since(t0);
  return out;
}

LlavaAnswer LlavaAnswerer::answer(const std::string& image_path, const std::string& question,
                                  const PruningPlan& plan, int64_t max_new_tokens) {
  if (image_path.empty())
    return answer(static_cast<const EncodedImage*>(nullptr), question, plan, max_new_tokens);
  const EncodedImage enc = encode(image_path);
  return answer(&enc, question, plan, max_new_tokens);
}

}  // namespace yopo
