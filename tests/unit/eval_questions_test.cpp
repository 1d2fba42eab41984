// Question files of the LLaVA evaluation scripts: jsonl, the ScienceQA json list and the MMBench
// tsv, read into prompts as model_vqa_loader.py / model_vqa_science.py / model_vqa_mmbench.py
// build them; malformed lines are reported with their line number and reading goes on.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/error.h"
#include "eval/base64.h"
#include "eval/questions.h"
#include "support/test_paths.h"

namespace yopo::eval {
namespace {

constexpr const char* kLetters = "Answer with the option's letter from the given choices directly.";

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = test::temp_dir() + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

bool has_error(const QuestionFile& f, const std::string& needle) {
  for (const std::string& e : f.errors)
    if (e.find(needle) != std::string::npos) return true;
  return false;
}

std::string all_errors(const QuestionFile& f) {
  std::string s;
  for (const std::string& e : f.errors) s += e + "\n";
  return s;
}

TEST(EvalQuestions, TasksAreTheSevenBenchmarks) {
  EXPECT_EQ(eval_tasks(),
            (std::vector<std::string>{"pope", "gqa", "vqav2", "textvqa", "sqa", "mmbench", "mme"}));
}

TEST(EvalQuestions, UnknownTaskAndMissingFileThrow) {
  const std::string path = write_file("q.jsonl", "");
  try {
    read_questions("coco", path);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown task 'coco'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("pope"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_questions("pope", test::temp_dir() + "/absent.jsonl"), Error);
  EXPECT_THROW(read_questions("sqa", test::temp_dir()), Error);  // a directory
}

TEST(EvalQuestions, JsonlKeepsIdsTextAndCategory) {
  const std::string path = write_file(
      "pope.jsonl",
      "{\"question_id\": 1, \"image\": \"a.jpg\", \"text\": \"Is there a cat in the image?\\n"
      "Answer the question using a single word or phrase.\", \"category\": \"adversarial\"}\n"
      "\n"  // blank lines are skipped but counted
      "{\"question_id\": \"201307251\", \"image\": \"dir/n1.jpg\", \"text\": \"Is it "
      "overcast?\"}\r\n");
  const QuestionFile f = read_questions("pope", path);
  ASSERT_TRUE(f.errors.empty()) << all_errors(f);
  ASSERT_EQ(f.questions.size(), 2u);
  const Question& a = f.questions[0];
  EXPECT_EQ(a.id, "1");
  EXPECT_TRUE(a.id_is_number);
  EXPECT_EQ(a.image, "a.jpg");
  EXPECT_EQ(a.text,
            "Is there a cat in the image?\nAnswer the question using a single word or phrase.");
  EXPECT_EQ(a.category, "adversarial");
  EXPECT_EQ(a.line, 1);
  EXPECT_TRUE(a.has_image());
  const Question& b = f.questions[1];
  EXPECT_EQ(b.id, "201307251");
  EXPECT_FALSE(b.id_is_number);
  EXPECT_EQ(b.image, "dir/n1.jpg");
  EXPECT_EQ(b.category, "");
  EXPECT_EQ(b.line, 3);
}

TEST(EvalQuestions, JsonlMalformedLinesAreReportedWithTheirLineAndReadingGoesOn) {
  const std::string path = write_file(
      "bad.jsonl",
      "{\"question_id\": 1, \"image\": \"a.jpg\", \"text\": \"q1\"}\n"
      "{\"question_id\": 2, \"image\": \"a.jpg\", \"text\": \"q2\"\n"  // line 2: cut short
      "[1, 2]\n"                                                       // line 3: not an object
      "{\"image\": \"a.jpg\", \"text\": \"q4\"}\n"                     // line 4: no id
      "{\"question_id\": 5, \"text\": \"q5\"}\n"                       // line 5: no image
      "{\"question_id\": 6, \"image\": \"a.jpg\"}\n"                   // line 6: no text
      "{\"question_id\": {\"x\": 1}, \"image\": \"a.jpg\", \"text\": \"q\"}\n"  // line 7: bad id
      "{\"question_id\": 8, \"image\": \"a.jpg\", \"text\": \"q8\", \"category\": 3}\n"  // line 8
      "{\"question_id\": 1, \"image\": \"a.jpg\", \"text\": \"q1\"}\n"  // line 9: duplicate
      "{\"question_id\": 10, \"image\": \"b.jpg\", \"text\": \"q10\"}\n");
  const QuestionFile f = read_questions("gqa", path);
  ASSERT_EQ(f.questions.size(), 2u) << all_errors(f);
  EXPECT_EQ(f.questions[0].id, "1");
  EXPECT_EQ(f.questions[1].id, "10");
  EXPECT_EQ(f.questions[1].line, 10);
  ASSERT_EQ(f.errors.size(), 8u) << all_errors(f);
  for (int line = 2; line <= 9; ++line)
    EXPECT_TRUE(has_error(f, path + ":" + std::to_string(line) + ": ")) << line << "\n"
                                                                        << all_errors(f);
  EXPECT_TRUE(has_error(f, ":2: not valid JSON"));
  EXPECT_TRUE(has_error(f, ":4: missing \"question_id\""));
  EXPECT_TRUE(has_error(f, ":5: missing \"image\""));
  EXPECT_TRUE(has_error(f, ":6: missing \"text\""));
  EXPECT_TRUE(has_error(f, ":9: duplicate question 1 (same id and text as line 1)"));
}

TEST(EvalQuestions, MmeAsksTwoQuestionsUnderOneId) {
  // LLaVA's llava_mme.jsonl uses the image path as question_id for both questions of an image.
  const std::string path = write_file(
      "mme.jsonl",
      "{\"question_id\": \"code_reasoning/0020.png\", \"image\": \"code_reasoning/0020.png\", "
      "\"text\": \"Is a python code shown in the picture?\", \"category\": \"code_reasoning\"}\n"
      "{\"question_id\": \"code_reasoning/0020.png\", \"image\": \"code_reasoning/0020.png\", "
      "\"text\": \"Is a c++ code shown in the picture?\", \"category\": \"code_reasoning\"}\n");
  const QuestionFile f = read_questions("mme", path);
  EXPECT_TRUE(f.errors.empty()) << all_errors(f);
  ASSERT_EQ(f.questions.size(), 2u);
  EXPECT_EQ(f.questions[0].id, f.questions[1].id);
  EXPECT_EQ(f.questions[1].category, "code_reasoning");
}

// LLaVA's llava_test_CQM-A.json layout (json.dump with indent 2).
const char* kScienceQa = R"([
  {
    "id": "4",
    "conversations": [
      {
        "from": "human",
        "value": "Which figure of speech is used in this text?\nSing, O goddess.\nA. chiasmus\nB. apostrophe"
      },
      {
        "from": "gpt",
        "value": "B"
      }
    ]
  },
  {
    "id": "5",
    "image": "5/image.png",
    "conversations": [
      {
        "from": "human",
        "value": "<image>\nContext: a {tricky} \"context\", with [brackets].\nWhich is it?\nA. one\nB. two"
      }
    ]
  },
  {
    "id": "6",
    "image": "6/image.png"
  },
  7,
  {
    "id": 11,
    "image": "11/image.png",
    "conversations": [{"from": "human", "value": "<image>\nWhat is the name of the colony shown?\nA. Maryland\nB. Vermont\nAnswer with the option's letter from the given choices directly."}]
  }
]
)";

TEST(EvalQuestions, ScienceQaJsonBuildsLlavaPrompts) {
  const std::string path = write_file("sqa.json", kScienceQa);
  const QuestionFile f = read_questions("sqa", path);
  ASSERT_EQ(f.questions.size(), 3u) << all_errors(f);
  const Question& text_only = f.questions[0];
  EXPECT_EQ(text_only.id, "4");
  EXPECT_FALSE(text_only.id_is_number);
  EXPECT_FALSE(text_only.has_image());
  EXPECT_EQ(text_only.line, 2);
  EXPECT_EQ(text_only.text, std::string("Which figure of speech is used in this text?\nSing, O "
                                        "goddess.\nA. chiasmus\nB. apostrophe\n") +
                                kLetters);
  const Question& with_image = f.questions[1];
  EXPECT_EQ(with_image.id, "5");
  EXPECT_EQ(with_image.image, "5/image.png");
  EXPECT_EQ(with_image.line, 15);
  // model_vqa_science.py: value.replace('<image>', '').strip(), then the instruction.
  EXPECT_EQ(with_image.text,
            std::string("Context: a {tricky} \"context\", with [brackets].\nWhich is it?\nA. "
                        "one\nB. two\n") +
                kLetters);
  // Already ending with the instruction: not repeated. A numeric id keeps its flag.
  const Question& numeric = f.questions[2];
  EXPECT_EQ(numeric.id, "11");
  EXPECT_TRUE(numeric.id_is_number);
  EXPECT_EQ(numeric.line, 30);
  EXPECT_EQ(
      numeric.text,
      std::string("What is the name of the colony shown?\nA. Maryland\nB. Vermont\n") + kLetters);
  ASSERT_EQ(f.errors.size(), 2u) << all_errors(f);
  EXPECT_TRUE(has_error(f, path + ":25: record 3: missing \"conversations\"")) << all_errors(f);
  EXPECT_TRUE(has_error(f, path + ":29: record 4: expected a JSON object")) << all_errors(f);
}

TEST(EvalQuestions, ScienceQaThatIsNotAListThrows) {
  EXPECT_THROW(read_questions("sqa", write_file("obj.json", "{\"id\": 1}")), Error);
  EXPECT_THROW(read_questions("sqa", write_file("broken.json", "[{\"id\": 1},")), Error);
}

// A 2x2 PNG (PIL): red, green / blue, white.
constexpr const char* kPng2x2 =
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP4z8DA8J+BkYHh////DAAe9gT9Ce00PgAA"
    "AABJRU5ErkJggg==";

TEST(EvalQuestions, MmbenchTsvBuildsLlavaPromptsAndDecodesImages) {
  const std::string png = kPng2x2;
  const std::string tsv =
      "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\timage\n"
      // line 2: hint, four options
      "0\tWhat is shown?\tLook closely.\tcat\tdog\tbird\tfish\tA\timage_scene\t" +
      png + "\n" +
      // line 3: no hint (pandas NaN: empty), D empty: options stop at C
      "1\tWhich colour?\t\tred\tgreen\tblue\t\tC\tcolor\t" + png + "\n" +
      // line 4: a wrong number of columns
      "2\tshort row\tnan\tx\n" +
      // line 5: a quoted question holding a tab, a line break and a doubled quote; hint "nan"
      "3\t\"Say \"\"hi\"\"\tnow\nplease\"\tnan\tyes\tno\t\t\tA\tocr\t" + png + "\n" +
      // line 7: not base64
      "4\tq\t\ta\tb\t\t\tA\tc\t@@@@\n" +
      // line 8: the image given as another row's index (VLMEvalKit)
      "5\tAgain?\t\tyes\tno\t\t\tB\tc\t0\n" +
      // line 9: a duplicate index
      "1\tdup\t\ta\tb\t\t\tA\tc\t" + png + "\n" +
      // line 10: an option "None" stops the options, as LLaVA's is_none
      "6\tLast\t\tp\tNone\tq\t\tA\tc\t" + png + "\r\n";
  const std::string path = write_file("mmbench.tsv", tsv);
  const QuestionFile f = read_questions("mmbench", path);
  ASSERT_EQ(f.questions.size(), 5u) << all_errors(f);
  const Question& q0 = f.questions[0];
  EXPECT_EQ(q0.id, "0");
  EXPECT_TRUE(q0.id_is_number);
  EXPECT_EQ(q0.line, 2);
  EXPECT_EQ(q0.category, "image_scene");
  EXPECT_EQ(q0.text, std::string("Look closely.\nWhat is shown?\nA. cat\nB. dog\nC. bird\nD. "
                                 "fish\n") +
                         kLetters);
  EXPECT_TRUE(q0.image.empty());
  EXPECT_TRUE(q0.has_image());
  EXPECT_EQ(f.questions[1].text,
            std::string("Which colour?\nA. red\nB. green\nC. blue\n") + kLetters);
  EXPECT_EQ(f.questions[2].id, "3");
  EXPECT_EQ(f.questions[2].line, 5);
  EXPECT_EQ(f.questions[2].text,
            std::string("Say \"hi\"\tnow\nplease\nA. yes\nB. no\n") + kLetters);
  EXPECT_EQ(f.questions[3].id, "5");
  EXPECT_EQ(f.questions[3].image_bytes, q0.image_bytes);
  EXPECT_EQ(f.questions[4].text, std::string("Last\nA. p\n") + kLetters);
  EXPECT_EQ(f.questions[4].line, 10);

  ASSERT_EQ(f.errors.size(), 3u) << all_errors(f);
  EXPECT_TRUE(has_error(f, path + ":4: expected 10 tab-separated columns, found 4"));
  EXPECT_TRUE(has_error(f, path + ":7: index 4: the image column is not valid base64"));
  EXPECT_TRUE(has_error(f, path + ":9: duplicate index 1 (first at line 3)"));

  const Image img = question_image(q0, "");
  ASSERT_EQ(img.width, 2);
  ASSERT_EQ(img.height, 2);
  EXPECT_EQ(img.rgb, (std::vector<uint8_t>{255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255}));
}

TEST(EvalQuestions, MmbenchMinimalColumnsAfterAByteOrderMark) {
  const std::string path = write_file(
      "bom.tsv", std::string("\xEF\xBB\xBFindex\tquestion\timage\n7\tWhat?\t") + kPng2x2 + "\n");
  const QuestionFile f = read_questions("mmbench", path);
  ASSERT_EQ(f.questions.size(), 1u) << all_errors(f);
  EXPECT_EQ(f.questions[0].id, "7");
  EXPECT_EQ(f.questions[0].text, std::string("What?\n") + kLetters);  // no options at all
}

TEST(EvalQuestions, MmbenchWithoutRequiredColumnsThrows) {
  EXPECT_THROW(read_questions("mmbench", write_file("h.tsv", "index\tquestion\nx\ty\n")), Error);
  EXPECT_THROW(read_questions("mmbench", write_file("e.tsv", "")), Error);
}

TEST(EvalQuestions, QuestionImageLoadsFilesRelativeToTheImageDirectory) {
  const std::string dir = test::temp_dir();
  const std::string png = *decode_base64(kPng2x2);
  std::ofstream(dir + "/p.png", std::ios::binary) << png;
  Question q;
  q.id = "1";
  q.image = "p.png";
  EXPECT_EQ(question_image(q, dir).width, 2);
  q.image = "absent.png";
  try {
    question_image(q, dir);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("absent.png' does not exist"), std::string::npos)
        << e.what();
  }
  q.image.clear();
  EXPECT_THROW(question_image(q, dir), Error);  // no image at all
}

TEST(EvalBase64, Rfc4648TestVectors) {
  EXPECT_EQ(decode_base64(""), "");
  EXPECT_EQ(decode_base64("Zg=="), "f");
  EXPECT_EQ(decode_base64("Zm8="), "fo");
  EXPECT_EQ(decode_base64("Zm9v"), "foo");
  EXPECT_EQ(decode_base64("Zm9vYg=="), "foob");
  EXPECT_EQ(decode_base64("Zm9vYmE="), "fooba");
  EXPECT_EQ(decode_base64("Zm9vYmFy"), "foobar");
  EXPECT_EQ(decode_base64("Zm9v\nYmFy\r\n"), "foobar");  // line breaks skipped
  EXPECT_EQ(decode_base64("Zm9vYg"), "foob");            // padding optional
  EXPECT_EQ(decode_base64("+/8="), std::string("\xfb\xff", 2));
  EXPECT_FALSE(decode_base64("Zm9v!"));
  EXPECT_FALSE(decode_base64("Z"));         // a lone digit encodes nothing
  EXPECT_FALSE(decode_base64("Zg==Zg=="));  // data after padding
  EXPECT_FALSE(decode_base64("Zg="));       // incomplete padding
}

}  // namespace
}  // namespace yopo::eval
