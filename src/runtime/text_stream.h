// Incremental detokenization for streaming output: the text of the new tokens, decoded after the
// prompt's last token (so SentencePiece's leading-space rule applies as in a whole decode),
// released in whole UTF-8 characters, and cut at the first stop string.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/spm_tokenizer.h"

namespace yopo {

// Length of the longest prefix of s that does not end inside an incomplete UTF-8 sequence.
size_t complete_utf8_prefix(const std::string& s);

class TextStream {
 public:
  // prompt: the prompt's token ids (image markers are skipped); stops: strings that end the
  // text when they appear in it (not included in it); empty strings are ignored.
  TextStream(const SpmTokenizer& tok, const std::vector<int32_t>& prompt,
             std::vector<std::string> stops = {});

  // Adds a generated token; returns the text that can be released now (possibly empty).
  // Text that could be the start of a stop string, an incomplete UTF-8 character, or trailing
  // U+FFFD characters (what the byte tokens of a character not yet complete decode to) is held
  // back. After a stop string was seen, returns "" and stopped() is true.
  std::string push(int32_t id);
  // The held-back rest at the end of generation (nothing after a stop).
  std::string finish();

  bool stopped() const { return stopped_; }
  // All the text so far (cut at the stop string when one was seen).
  const std::string& text() const { return text_; }

 private:
  std::string release_upto(size_t n);  // text_[released_, n), marked released

  const SpmTokenizer& tok_;
  std::vector<int32_t> ids_;  // the prompt's last token, then the new ones
  std::string base_;          // that last token decoded
  std::vector<std::string> stops_;
  size_t hold_ = 0;  // the longest stop string minus one
  std::string text_;
  size_t released_ = 0;
  bool stopped_ = false;
};

}  // namespace yopo
