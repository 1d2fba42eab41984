// Conversation templates and the tokenization of prompts that hold images.
#pragma once

#include <string>
#include <vector>

#include "tokenizer/spm_tokenizer.h"

namespace yopo {

enum class ChatTemplate {
  VicunaV1,  // original LLaVA-1.5: system line, then "USER: <image>\n... ASSISTANT:"
  LlavaHf,   // llava-hf model cards: "USER: <image>\n... ASSISTANT:"
  Raw,       // the text as given
};

ChatTemplate parse_chat_template(const std::string& name);  // vicuna_v1, llava_hf, raw

inline constexpr const char* kImagePlaceholder = "<image>";
inline constexpr const char* kVicunaSystem =
    "A chat between a curious human and an artificial intelligence assistant. The assistant "
    "gives helpful, detailed, and polite answers to the human's questions.";

// The prompt text for one user turn; with_image puts "<image>\n" before the question.
std::string format_prompt(ChatTemplate t, const std::string& question, bool with_image);

// LLaVA's tokenizer_image_token: the text is split at each "<image>", every chunk is encoded on
// its own (so each gets SentencePiece's dummy prefix), BOS (when add_bos) only before the first,
// and kImageMarker between chunks.
std::vector<int32_t> tokenize_with_images(const SpmTokenizer& tok, const std::string& text,
                                          bool add_bos);

}  // namespace yopo
