// Readers for the question files of the LLaVA evaluation scripts, giving the prompt text each
// script builds (the chat template and the "<image>" tag are added by the model runner):
//   pope gqa vqav2 textvqa mme  jsonl, one {"question_id", "image", "text", "category"?} per
//               line (model_vqa_loader.py): text as given (the files already end it with
//               "Answer the question using a single word or phrase." where LLaVA wants that).
//               Blank lines are skipped; line numbers count every line.
//   sqa         LLaVA's llava_test_CQM-A.json: a JSON list of {"id", "image"? (absent for
//               text-only questions), "conversations": [{"value": "<image>\n..."}, ...]}
//               (model_vqa_science.py --single-pred-prompt): value with "<image>" removed and
//               stripped, then "\nAnswer with the option's letter from the given choices
//               directly." (not repeated when already there). `line` is the line where the
//               record's '{' stands.
//   mmbench     the MMBench tsv (model_vqa_mmbench.py --single-pred-prompt): header with index,
//               question, image (base64) and optionally hint, A..D, answer, category; text =
//               [hint "\n"] question, "\nA. ..." for each option up to the first empty one
//               (empty, "nan" or "none" as LLaVA's is_none), then the option-letter instruction.
//               Quoted fields as pandas reads them; an image given as a bare row index (VLMEvalKit)
//               is that row's image. `line` is the line where the row starts.
// A question that repeats an earlier one (same id and text; for mmbench the same index) is an
// error; MME's two questions per image under one id are fine since their texts differ.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vision/image.h"

namespace yopo::eval {

struct Question {
  std::string id;             // question_id as a string
  bool id_is_number = false;  // the input wrote it as a json number
  std::string image;          // relative to --images; "" for text-only questions
  // The prompt text as the LLaVA eval scripts build it (for sqa/mmbench:
  // question + options + the answer-format instruction LLaVA uses).
  std::string text;
  std::string category;  // optional
  int64_t line = 0;      // 1-based line (or row / record) in the question file
  // MMBench: the image file's bytes (PNG/JPEG), decoded from the tsv's base64
  // column; `image` is then empty. Other formats leave this empty.
  std::string image_bytes;

  bool has_image() const { return !image.empty() || !image_bytes.empty(); }
};

struct QuestionFile {
  std::vector<Question> questions;
  std::vector<std::string> errors;  // "FILE:LINE: what"
};

// The task names read_questions accepts: pope gqa vqav2 textvqa sqa mmbench
// mme.
const std::vector<std::string>& eval_tasks();

// Unknown task or unreadable file: throws yopo::Error. A malformed line:
// an entry in errors, reading goes on.
QuestionFile read_questions(const std::string& task, const std::string& path);

// The question's image: decoded from image_bytes, else loaded from
// images_dir/image (image as given when images_dir is empty). Throws
// yopo::Error naming the file when it is missing or not a readable image, or
// when the question has no image.
Image question_image(const Question& q, const std::string& images_dir);

}  // namespace yopo::eval
