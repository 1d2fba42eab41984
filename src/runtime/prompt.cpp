#include "runtime/prompt.h"

#include "core/error.h"
#include "models/llava.h"

namespace yopo {

ChatTemplate parse_chat_template(const std::string& name) {
  if (name == "vicuna_v1") return ChatTemplate::VicunaV1;
  if (name == "llava_hf") return ChatTemplate::LlavaHf;
  if (name == "raw") return ChatTemplate::Raw;
  fail("unknown chat template '", name, "' (vicuna_v1, llava_hf, raw)");
}

std::string format_prompt(ChatTemplate t, const std::string& question, bool with_image) {
  const std::string user = (with_image ? std::string(kImagePlaceholder) + "\n" : "") + question;
  switch (t) {
    case ChatTemplate::VicunaV1: return std::string(kVicunaSystem) + " USER: " + user + " ASSISTANT:";
    case ChatTemplate::LlavaHf: return "USER: " + user + " ASSISTANT:";
    case ChatTemplate::Raw: return user;
  }
  return user;
}

std::vector<int32_t> tokenize_with_images(const SpmTokenizer& tok, const std::string& text,
                                          bool add_bos) {
  std::vector<int32_t> ids;
  if (add_bos) ids.push_back(tok.bos_id());
  const std::string marker = kImagePlaceholder;
  size_t start = 0;
  while (true) {
    const size_t at = text.find(marker, start);
    const std::string chunk = text.substr(start, at == std::string::npos ? at : at - start);
    if (!chunk.empty()) {
      const std::vector<int32_t> part = tok.encode(chunk, false);
      ids.insert(ids.end(), part.begin(), part.end());
    }
    if (at == std::string::npos) break;
    ids.push_back(kImageMarker);
    start = at + marker.size();
  }
  return ids;
}

}  // namespace yopo
