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

// One turn of a conversation.
struct ChatTurn {
  enum class Role { User, Assistant };
  Role role = Role::User;
  std::string text;  // without "<image>" tags
  int images = 0;    // images that come with the turn: one "<image>\n" each, before the text
};

// A conversation in the template, ending with the assistant's cue, as LLaVA's conversation
// templates write it: vicuna_v1 is "SYSTEM USER: q ASSISTANT: a</s>USER: q2 ASSISTANT:" (the
// system line replaced by `system` when that is non-empty), llava_hf the same without the
// system line (a non-empty `system` goes first, followed by a space), raw the turns' texts
// joined by newlines. Throws yopo::Error when the turns are empty, do not alternate starting
// with the user, or do not end with a user turn. One user turn with at most one image gives
// format_prompt's text.
std::string format_chat(ChatTemplate t, const std::vector<ChatTurn>& turns,
                        const std::string& system = "");

// LLaVA's tokenizer_image_token: the text is split at each "<image>", every chunk is encoded on
// its own (so each gets SentencePiece's dummy prefix), BOS (when add_bos) only before the first,
// and kImageMarker between chunks.
std::vector<int32_t> tokenize_with_images(const SpmTokenizer& tok, const std::string& text,
                                          bool add_bos);
// The same, with each "</s>" in the text (format_chat's end of an assistant turn) as the EOS
// token, as HF's slow LLaMA tokenizer reads that special token; the text after it is encoded
// with SentencePiece's dummy prefix, as the tokenizer's legacy mode does.
std::vector<int32_t> tokenize_chat(const SpmTokenizer& tok, const std::string& text, bool add_bos);

}  // namespace yopo
