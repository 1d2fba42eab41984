#include "runtime/text_stream.h"

#include <algorithm>

#include "models/llava.h"

namespace yopo {

size_t complete_utf8_prefix(const std::string& s) {
  size_t i = s.size();
  for (size_t back = 0; back < 4 && i > 0; ++back) {
    const unsigned char c = static_cast<unsigned char>(s[i - 1]);
    if ((c & 0xC0) != 0x80) {  // a lead byte or ASCII: is its sequence complete?
      const size_t need = c < 0x80         ? 1
                          : (c >> 5) == 6  ? 2
                          : (c >> 4) == 14 ? 3
                          : (c >> 3) == 30 ? 4
                                           : 1;
      return back + 1 >= need ? s.size() : i - 1;
    }
    --i;
  }
  return s.size();
}

TextStream::TextStream(const SpmTokenizer& tok, const std::vector<int32_t>& prompt,
                       std::vector<std::string> stops)
    : tok_(tok) {
  // The last prompt token is context enough: a piece's text depends only on whether it is the
  // first one (SentencePiece drops the first piece's leading space), so the prompt's earlier
  // tokens need not be decoded again with every new token.
  for (auto it = prompt.rbegin(); it != prompt.rend(); ++it)
    if (*it != kImageMarker) {
      ids_.push_back(*it);
      break;
    }
  base_ = tok_.decode(ids_);
  for (std::string& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
  for (const std::string& s : stops_) hold_ = std::max(hold_, s.size() - 1);
}

std::string TextStream::push(int32_t id) {
  if (stopped_) return "";
  ids_.push_back(id);
  const std::string all = tok_.decode(ids_);
  text_ = all.compare(0, base_.size(), base_) == 0 ? all.substr(base_.size()) : all;
  // A stop string can only begin where it could not already have been seen whole.
  size_t cut = std::string::npos;
  const size_t from = released_ >= hold_ ? released_ - hold_ : 0;
  for (const std::string& s : stops_) cut = std::min(cut, text_.find(s, from));
  if (cut != std::string::npos) {
    stopped_ = true;
    text_.resize(cut);
    return release_upto(cut);
  }
  size_t safe =
      complete_utf8_prefix(text_.substr(0, text_.size() >= hold_ ? text_.size() - hold_ : 0));
  // Byte tokens of a character not yet complete decode as U+FFFD each: wait for the rest.
  const std::string replacement = "\xEF\xBF\xBD";
  while (safe >= released_ + 3 && text_.compare(safe - 3, 3, replacement) == 0) safe -= 3;
  return release_upto(safe);
}

std::string TextStream::finish() {
  return release_upto(text_.size());
}

std::string TextStream::release_upto(size_t n) {
  if (n <= released_) return "";
  std::string out = text_.substr(released_, n - released_);
  released_ = n;
  return out;
}

}  // namespace yopo
