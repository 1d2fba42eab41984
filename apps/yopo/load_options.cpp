#include "load_options.h"

#include "core/error.h"

namespace yopo::cli {

std::optional<DType> parse_weight_dtype(const std::string& s) {
  if (s == "auto") return std::nullopt;
  if (s == "bf16") return DType::BF16;
  if (s == "f32") return DType::F32;
  if (s == "int8") return DType::I8;
  fail("--dtype must be auto, bf16, f32 or int8, not '", s, "'");
}

const char* weight_dtype_name(DType d) {
  return d == DType::F32 ? "f32" : d == DType::I8 ? "int8" : "bf16";
}

void add_llava_load_options(CLI::App* cmd, LlavaLoadOptions& o) {
  cmd->add_option("--mmproj", o.mmproj, "llama.cpp vision projector GGUF (with a GGUF model)");
  cmd->add_option("--vision-tower", o.vision_tower,
                  "CLIP tower directory of an original LLaVA checkpoint");
  cmd->add_option("--tokenizer", o.tokenizer, "tokenizer.model or GGUF to use instead");
  cmd->add_option("--image-mode", o.image_mode, "Image preprocessing: pad or crop");
}

}  // namespace yopo::cli
