#include "server/serve_engine.h"

#include <algorithm>
#include <chrono>
#include <string_view>

#include "core/error.h"
#include "models/flop_counter.h"
#include "prune/plan_spec.h"
#include "runtime/generator.h"
#include "runtime/llava_answer.h"
#include "runtime/text_stream.h"
#include "vision/preprocess.h"

namespace yopo::server {

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

ServeEngine::ServeEngine(const ServeOptions& o) : opts_(o) {
  if (is_llava_checkpoint(o.model_path, o.load)) {
    llava_ = load_llava_model(o.model_path, o.load);
    check(llava_.tokenizer != nullptr, "'", o.model_path, "' has no tokenizer: give --tokenizer");
  } else {
    text_ = load_llama_model(o.model_path, o.load.dtype);
    if (!o.load.tokenizer.empty()) text_.tokenizer = load_tokenizer(o.load.tokenizer);
    check(text_.tokenizer != nullptr, "'", o.model_path,
          "' has no tokenizer (GGUF tokenizer.ggml.* metadata or tokenizer.model): give "
          "--tokenizer");
  }
  ctx_ = std::make_unique<ops::Context>(o.threads);
  template_ = parse_chat_template(!o.chat_template.empty()                      ? o.chat_template
                                  : multimodal() && llava_.layout == "llava-hf" ? "llava_hf"
                                                                                : "vicuna_v1");
  name_ = !o.model_name.empty() ? o.model_name : llava_model_name(o.model_path);
  check(o.max_tokens > 0, "the default max_tokens must be positive, got ", o.max_tokens);
  check(o.image_cache >= 0, "the image cache size must not be negative, got ", o.image_cache);
  check(multimodal() || (o.prune == "dense" && o.head_mask.empty()),
        "--prune and --head-mask need a LLaVA model: a text-only model has no visual tokens");
  // The default plan and the head mask must resolve now, not at the first request; the mask
  // goes to the specs that read it (the default's, a request's preset or "heads").
  resolve_plan_spec(o.prune, llm().config(), parse_semantics(o.semantics), o.head_mask,
                    UnusedHeadMask::Ignore);
  if (!o.head_mask.empty())
    resolve_plan_spec("heads", llm().config(), PruneSemantics::Exact, o.head_mask);
}

ServeEngine::~ServeEngine() = default;

bool ServeEngine::multimodal() const {
  return llava_.model != nullptr;
}

const LlamaModel& ServeEngine::llm() const {
  return multimodal() ? *llava_.model->llm : *text_.model;
}

const SpmTokenizer& ServeEngine::tokenizer() const {
  return multimodal() ? *llava_.tokenizer : *text_.tokenizer;
}

int64_t ServeEngine::context_length() const {
  return llm().config().max_position;
}

PreparedRequest ServeEngine::prepare(const CompletionRequest& r) {
  PreparedRequest p;
  const SpmTokenizer& tok = tokenizer();
  const int64_t images = int64_t(r.images.size());
  check(images == 0 || multimodal(), "'", name_, "' is a text-only model: it takes no images");
  if (r.chat) {
    p.prompt = tokenize_chat(tok, format_chat(template_, r.turns, r.system), true);
  } else {
    p.prompt = tok.encode(r.prompt, false);
    p.prompt.insert(p.prompt.begin(), tok.bos_id());
  }
  const int64_t markers = std::count(p.prompt.begin(), p.prompt.end(), kImageMarker);
  check(markers == images, "the prompt has ", markers, " image places for ", images, " images");

  const std::string spec = r.prune.empty() ? opts_.prune : r.prune;
  const std::string sem = r.semantics.empty() ? opts_.semantics : r.semantics;
  check(multimodal() || spec == "dense",
        "'yopo.prune' needs a LLaVA model: a text-only model has no visual tokens");
  p.plan = resolve_plan_spec(spec, llm().config(), parse_semantics(sem), opts_.head_mask,
                             UnusedHeadMask::Ignore);
  p.plan_key = spec + "\n" + sem;  // the head mask is the server's, one for all requests

  const int64_t per_image = multimodal() ? llava_.model->rows_per_image() : 0;
  const int64_t rows = int64_t(p.prompt.size()) - markers + markers * per_image;
  const int64_t ctx = context_length();
  check(rows < ctx, "the prompt has ", rows, " tokens (images included), more than the ",
        "model's context of ", ctx, " leaves room for");
  if (r.max_tokens > 0) {
    check(rows + r.max_tokens <= ctx, "the model's context is ", ctx, " tokens: the prompt has ",
          rows, " (images included) and max_tokens asks for ", r.max_tokens, " more");
    p.max_tokens = r.max_tokens;
  } else {
    p.max_tokens = std::min(opts_.max_tokens, ctx - rows);
  }
  p.sampling = r.sampling;
  Sampler validate(p.sampling);  // throws for parameters it does not take
  p.stop = r.stop;
  p.trim_leading = r.chat;

  const auto t0 = std::chrono::steady_clock::now();
  for (const Image& image : r.images) {
    bool cached = false;
    p.image_rows.push_back(image_rows(image, &cached));
    p.cached_images += cached;
  }
  p.encode_ms = images > 0 ? ms_since(t0) : 0;
  return p;
}

std::shared_ptr<const std::vector<float>> ServeEngine::image_rows(const Image& image,
                                                                  bool* cached) {
  // FNV-1a and std::hash over the pixels, each mixed with the size: a 128-bit key.
  const std::string_view bytes(reinterpret_cast<const char*>(image.rgb.data()), image.rgb.size());
  uint64_t fnv = 14695981039346656037ull;
  for (unsigned char c : bytes) fnv = (fnv ^ c) * 1099511628211ull;
  const uint64_t size = (uint64_t(uint32_t(image.width)) << 32) | uint32_t(image.height);
  const std::pair<uint64_t, uint64_t> key{fnv ^ size,
                                          std::hash<std::string_view>{}(bytes) ^ (size * 31)};
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = image_cache_.begin(); it != image_cache_.end(); ++it) {
    if (it->first != key) continue;
    image_cache_.splice(image_cache_.begin(), image_cache_, it);
    *cached = true;
    return image_cache_.front().second;
  }
  const LlavaModel& m = *llava_.model;
  const std::vector<float> pixels = preprocess_image(image, m.preprocess);
  auto rows = std::make_shared<const std::vector<float>>(m.encode_images(*ctx_, pixels.data(), 1));
  *cached = false;
  if (opts_.image_cache > 0) {
    image_cache_.emplace_front(key, rows);
    if (int64_t(image_cache_.size()) > opts_.image_cache) image_cache_.pop_back();
  }
  return rows;
}

size_t ServeEngine::reusable_prefix(const PreparedRequest& p) const {
  if (!opts_.prompt_cache || kv_ == nullptr || kv_plan_ != p.plan_key || p.plan.tokens.active())
    return 0;
  size_t n = 0, image = 0;
  while (n < kv_ids_.size() && n < p.prompt.size() && kv_ids_[n] == p.prompt[n]) {
    if (p.prompt[n] == kImageMarker) {
      const auto& a = kv_images_[image];
      const auto& b = p.image_rows[image];
      if (a != b && *a != *b) break;
      ++image;
    }
    ++n;
  }
  n = std::min(n, p.prompt.size() - 1);  // at least one row is fed, for the next logits
  // Cutting the cache needs a row per token in every layer (YOPO's fast semantics drops the
  // visual rows of late layers); without it only the whole cache can be continued.
  if (n < kv_ids_.size() && !kv_->uniform()) return 0;
  return n;
}

CompletionResult ServeEngine::complete(const PreparedRequest& p,
                                       const std::function<bool(const std::string&)>& on_text) {
  std::lock_guard<std::mutex> lock(mu_);
  CompletionResult out;
  FlopCounter flops;
  const int64_t per_image = multimodal() ? llava_.model->rows_per_image() : 0;
  const size_t reuse = reusable_prefix(p);  // ids of p.prompt whose rows are in kv_
  int64_t reuse_rows = 0, reuse_images = 0;
  for (size_t i = 0; i < reuse; ++i) {
    reuse_rows += p.prompt[i] == kImageMarker ? per_image : 1;
    reuse_images += p.prompt[i] == kImageMarker;
  }
  if (opts_.prompt_cache) {
    if (kv_ == nullptr) kv_ = std::make_unique<KvCache>(llm().make_cache(context_length()));
    if (reuse == 0)
      kv_->clear();
    else if (reuse_rows < kv_->size())
      kv_->truncate(reuse_rows);
  }
  GenerationRequest req;
  req.cache = opts_.prompt_cache ? kv_.get() : nullptr;
  req.prompt.assign(p.prompt.begin() + reuse, p.prompt.end());
  for (size_t i = 0; i < reuse; ++i)
    if (p.prompt[i] != kImageMarker) req.history.push_back(p.prompt[i]);
  std::vector<float> rows;  // the images after the reused prefix
  for (size_t k = size_t(reuse_images); k < p.image_rows.size(); ++k)
    rows.insert(rows.end(), p.image_rows[k]->begin(), p.image_rows[k]->end());
  if (multimodal()) {
    req.image_rows = rows.empty() ? nullptr : rows.data();
    req.rows_per_image = per_image;
    req.grid_rows = llava_.model->grid_rows();
    req.grid_cols = llava_.model->grid_cols();
  }
  if (opts_.prompt_cache) {  // kv_ holds none of it until generate() has run
    kv_ids_.clear();
    kv_images_.clear();
  }
  req.max_new_tokens = p.max_tokens;
  req.eos_id = tokenizer().eos_id();
  req.plan = &p.plan;
  req.flops = &flops;
  TextStream stream(tokenizer(), p.prompt, p.stop);
  bool started = !p.trim_leading;
  auto emit = [&](std::string piece) {  // false: the client asked to stop
    if (!started) {
      piece.erase(0, std::min(piece.size(), piece.find_first_not_of(" \t\n\r")));
      started = !piece.empty();
    }
    if (piece.empty() || !on_text || out.aborted) return !out.aborted;
    out.aborted = !on_text(piece);
    return !out.aborted;
  };
  req.on_token = [&](int32_t id) { return emit(stream.push(id)) && !stream.stopped(); };
  Sampler sampler(p.sampling);
  GenerationStats st;
  const std::vector<int32_t> generated = Generator(llm(), *ctx_).generate(req, sampler, &st);
  if (opts_.prompt_cache) {  // the rows now in kv_: the prompt and the tokens fed back
    const int64_t total_rows = reuse_rows + st.prompt_tokens;
    kv_ids_ = p.prompt;
    kv_ids_.insert(
        kv_ids_.end(), generated.begin(),
        generated.begin() + std::min<int64_t>(int64_t(generated.size()), kv_->size() - total_rows));
    kv_images_ = p.image_rows;
    kv_plan_ = p.plan_key;
  }
  emit(stream.finish());
  out.text = stream.text();
  if (p.trim_leading)
    out.text.erase(0, std::min(out.text.size(), out.text.find_first_not_of(" \t\n\r")));
  out.finish_reason = !stream.stopped() && st.generated_tokens >= p.max_tokens ? "length" : "stop";
  out.prompt_tokens = reuse_rows + st.prompt_tokens;
  out.visual_tokens = reuse_images * per_image + st.visual_tokens;
  out.cached_tokens = reuse_rows;
  out.completion_tokens = st.generated_tokens;
  out.encode_ms = p.encode_ms;
  out.cached_images = p.cached_images;
  out.prefill_ms = st.prompt_ms;
  out.decode_ms = st.decode_ms;
  out.executed_flops = flops.total();
  out.visual_flops = flops.visual_total().total();
  out.plan = p.plan.name;
  out.semantics = semantics_name(p.plan.semantics);
  return out;
}

}  // namespace yopo::server
