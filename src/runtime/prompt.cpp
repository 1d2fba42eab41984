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

std::string format_chat(ChatTemplate t, const std::vector<ChatTurn>& turns,
                        const std::string& system) {
  check(!turns.empty(), "the conversation has no messages");
  check(turns.back().role == ChatTurn::Role::User, "the conversation must end with a user message");
  std::string out;
  if (t == ChatTemplate::VicunaV1)
    out = (system.empty() ? std::string(kVicunaSystem) : system) + " ";
  else if (t == ChatTemplate::LlavaHf && !system.empty())
    out = system + " ";
  else if (t == ChatTemplate::Raw && !system.empty())
    out = system + "\n";
  for (size_t i = 0; i < turns.size(); ++i) {
    const ChatTurn& turn = turns[i];
    const bool user = i % 2 == 0;
    check(turn.role == (user ? ChatTurn::Role::User : ChatTurn::Role::Assistant), "message ", i + 1,
          " must be a", user ? " user" : "n assistant",
          " message: the roles must alternate, starting with the user");
    check(turn.text.find(kImagePlaceholder) == std::string::npos, "message ", i + 1,
          " holds an \"<image>\" tag in its text; give images as image parts");
    check(user || turn.images == 0, "message ", i + 1, ": only user messages may hold images");
    std::string body;
    for (int k = 0; k < turn.images; ++k) body += std::string(kImagePlaceholder) + "\n";
    body += turn.text;
    if (t == ChatTemplate::Raw) {
      out += body + (i + 1 < turns.size() ? "\n" : "");
      continue;
    }
    out += user ? "USER: " + body + " " : "ASSISTANT: " + body + "</s>";
  }
  if (t != ChatTemplate::Raw) out += "ASSISTANT:";
  return out;
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

std::vector<int32_t> tokenize_chat(const SpmTokenizer& tok, const std::string& text, bool add_bos) {
  const std::string eos = "</s>";
  std::vector<int32_t> ids;
  size_t start = 0;
  while (true) {
    const size_t at = text.find(eos, start);
    const std::string chunk = text.substr(start, at == std::string::npos ? at : at - start);
    const std::vector<int32_t> part = tokenize_with_images(tok, chunk, add_bos && start == 0);
    ids.insert(ids.end(), part.begin(), part.end());
    if (at == std::string::npos) break;
    ids.push_back(tok.eos_id());
    start = at + eos.size();
  }
  return ids;
}

}  // namespace yopo
