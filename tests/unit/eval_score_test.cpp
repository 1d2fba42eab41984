// Benchmark scorers on worked examples: each expected score is computed by hand in the comments
// from the benchmark's official definition (see docs/evaluation.md, "Scoring"). Also the input
// errors (broken jsonl line, unknown task, missing file, bad labels) and the report formats.
#include "eval/score.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/error.h"
#include "eval/jsonl.h"
#include "eval/tsv.h"
#include "support/run_command.h"
#include "support/test_paths.h"

namespace yopo::eval {
namespace {

std::string write(const std::string& name, const std::string& text) {
  const std::string path = test::temp_dir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return path;
}

// The message of the yopo::Error that f throws ("" when it throws none).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

double group_metric(const ScoreReport& r, const std::string& group, const std::string& name) {
  for (const ScoreGroup& g : r.groups)
    if (g.name == group) return metric_value(g.metrics, name);
  ADD_FAILURE() << "no group " << group;
  return -1;
}

// ---- POPE ----

// Two splits of four questions each.
//   random:      1 yes/"Yes, there is." TP   2 yes/"No." FN   3 no/"There is no cat." TN
//                4 no/"Yes" FP
//   adversarial: 5 yes/"Yes" TP   6 yes/(no answer)   7 no/"No, there is not" TN
//                8 no/"I do not think so." TN ("not")
// Overall TP 2, FP 1, TN 3, FN 1, one "yes" question unanswered:
//   accuracy  (2+3)/8 = 62.5%; precision 2/3 = 66.667%; recall 2/(2+1+1) = 50%
//   F1 = 2*(2/3)*(1/2)/((2/3)+(1/2)) = 4/7 = 57.142857%; yes ratio 3/7 answered = 42.857%
// random: TP=FP=TN=FN=1 -> every metric 50%.
// adversarial: accuracy 3/4 = 75%, precision 1/1 = 100%, recall 1/2 = 50%, F1 2/3 = 66.667%,
//   yes ratio 1/3 = 33.333%.
TEST(EvalScore, PopeConfusionMatrix) {
  const std::string ann = write("pope_ann.jsonl",
                                R"({"question_id": 1, "label": "yes", "category": "random"}
{"question_id": 2, "label": "yes", "category": "random"}
{"question_id": 3, "label": "no", "category": "random"}
{"question_id": 4, "label": "no", "category": "random"}

{"question_id": 5, "label": "yes", "category": "adversarial"}
{"question_id": 6, "label": "yes", "category": "adversarial"}
{"question_id": 7, "label": "no", "category": "adversarial"}
{"question_id": 8, "label": "no", "category": "adversarial"}
)");
  // Ids given as strings here and numbers there are the same question; 999 is unknown.
  const std::string ans = write(
      "pope_ans.jsonl",
      R"({"question_id": "1", "prompt": "p", "text": "Yes, there is.", "answer_id": "a", "model_id": "m"}
{"question_id": 2, "text": "No."}
{"question_id": 3, "text": "There is no cat."}
{"question_id": 4, "text": "Yes"}
{"question_id": 5, "text": "Yes"}
{"question_id": 7, "text": "No, there is not"}
{"question_id": 8, "text": "I do not think so."}
{"question_id": 999, "text": "Yes"}
)");
  const ScoreReport r = score_task("pope", ans, ann);
  EXPECT_EQ(r.task, "pope");
  ASSERT_FALSE(r.metrics.empty());
  EXPECT_EQ(r.metrics[0].name, "accuracy");
  EXPECT_NEAR(r.metrics[0].value, 62.5, 1e-9);
  EXPECT_NEAR(metric_value(r.metrics, "precision"), 200.0 / 3, 1e-9);
  EXPECT_NEAR(metric_value(r.metrics, "recall"), 50.0, 1e-9);
  EXPECT_NEAR(metric_value(r.metrics, "f1"), 400.0 / 7, 1e-9);
  EXPECT_NEAR(metric_value(r.metrics, "yes_ratio"), 300.0 / 7, 1e-9);
  EXPECT_EQ(metric_value(r.metrics, "tp"), 2);
  EXPECT_EQ(metric_value(r.metrics, "fp"), 1);
  EXPECT_EQ(metric_value(r.metrics, "tn"), 3);
  EXPECT_EQ(metric_value(r.metrics, "fn"), 1);
  EXPECT_EQ(r.n_scored, 7);
  EXPECT_EQ(r.n_missing, 1);
  EXPECT_EQ(r.n_unknown, 1);
  ASSERT_EQ(r.groups.size(), 2u);
  EXPECT_EQ(r.groups[0].name, "random");
  for (const char* m : {"accuracy", "precision", "recall", "f1", "yes_ratio"})
    EXPECT_NEAR(group_metric(r, "random", m), 50.0, 1e-9) << m;
  EXPECT_NEAR(group_metric(r, "adversarial", "accuracy"), 75.0, 1e-9);
  EXPECT_NEAR(group_metric(r, "adversarial", "precision"), 100.0, 1e-9);
  EXPECT_NEAR(group_metric(r, "adversarial", "recall"), 50.0, 1e-9);
  EXPECT_NEAR(group_metric(r, "adversarial", "f1"), 200.0 / 3, 1e-9);
  EXPECT_NEAR(group_metric(r, "adversarial", "yes_ratio"), 100.0 / 3, 1e-9);
  // Means over the two splits: accuracy (50 + 75)/2, F1 (50 + 66.667)/2.
  EXPECT_NEAR(metric_value(r.metrics, "accuracy_split_mean"), 62.5, 1e-9);
  EXPECT_NEAR(metric_value(r.metrics, "f1_split_mean"), 175.0 / 3, 1e-9);
  // Per-question items in annotation order; the unanswered one is marked missing.
  ASSERT_EQ(r.items.size(), 8u);
  EXPECT_EQ(r.items[0].question_id, "1");
  EXPECT_EQ(r.items[0].score, 1.0);
  EXPECT_EQ(r.items[1].parsed, "no");
  EXPECT_EQ(r.items[1].score, 0.0);
  EXPECT_TRUE(r.items[5].missing);
}

TEST(EvalScore, PopeRejectsBadLabelWithLine) {
  const std::string ann = write("pope_bad.jsonl",
                                "{\"question_id\": 1, \"label\": \"yes\"}\n"
                                "{\"question_id\": 2, \"label\": \"maybe\"}\n");
  const std::string ans = write("pope_bad_ans.jsonl", "{\"question_id\": 1, \"text\": \"Yes\"}\n");
  const std::string msg = error_of([&] { score_task("pope", ans, ann); });
  EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("maybe"), std::string::npos) << msg;
}

TEST(EvalScore, DuplicateAnnotationIdIsAnError) {
  const std::string ann = write("pope_dup.jsonl",
                                "{\"question_id\": 1, \"label\": \"yes\"}\n"
                                "{\"question_id\": \"1\", \"label\": \"no\"}\n");
  const std::string ans = write("pope_dup_ans.jsonl", "{\"question_id\": 1, \"text\": \"Yes\"}\n");
  const std::string msg = error_of([&] { score_task("pope", ans, ann); });
  EXPECT_NE(msg.find("twice"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;
}

// ---- VQAv2 ----

// 100: human answers 2 x "dog", 8 x "cat"; "A dog." -> "dog": 2 matches -> 0.6 (leave-one-out).
// 101: 10 x "2"; "Two" -> "2": 1.
// 102: no answer: 0.
// 103: 3 x "don't", 7 x "no"; "dont" -> "don't": 3 matches -> (3*2/3 + 7*1)/10 = 0.9.
// accuracy = (0.6 + 1 + 0 + 0.9)/4 = 62.5%.
// By answer type: other (100) 60%, number (101) 100%, yes/no (102, 103) (0 + 0.9)/2 = 45%.
TEST(EvalScore, Vqav2WorkedExample) {
  auto answers_json = [](const std::string& a, int na, const std::string& b, int nb) {
    std::string s = "[";
    for (int i = 0; i < na + nb; ++i)
      s += std::string(i ? ", " : "") + "{\"answer\": \"" + (i < na ? a : b) +
           "\", \"answer_confidence\": \"yes\", \"answer_id\": " + std::to_string(i + 1) + "}";
    return s + "]";
  };
  const std::string ann = write("vqav2_ann.json",
                                "{\"annotations\": ["
                                R"({"question_id": 100, "answer_type": "other", "answers": )" +
                                    answers_json("dog", 2, "cat", 8) + "}, " +
                                    R"({"question_id": 101, "answer_type": "number", "answers": )" +
                                    answers_json("2", 10, "", 0) + "}, " +
                                    R"({"question_id": 102, "answer_type": "yes/no", "answers": )" +
                                    answers_json("yes", 10, "", 0) + "}, " +
                                    R"({"question_id": 103, "answer_type": "yes/no", "answers": )" +
                                    answers_json("don't", 3, "no", 7) + "}]}");
  const std::string ans = write("vqav2_ans.jsonl", R"({"question_id": 100, "text": "A dog."}
{"question_id": 101, "text": "Two"}
{"question_id": 103, "text": "dont"}
)");
  const ScoreReport r = score_task("vqav2", ans, ann);
  EXPECT_EQ(r.metrics[0].name, "accuracy");
  EXPECT_NEAR(r.metrics[0].value, 62.5, 1e-9);
  EXPECT_EQ(r.n_scored, 3);
  EXPECT_EQ(r.n_missing, 1);
  EXPECT_EQ(r.n_unknown, 0);
  EXPECT_NEAR(group_metric(r, "other", "accuracy"), 60.0, 1e-9);
  EXPECT_NEAR(group_metric(r, "number", "accuracy"), 100.0, 1e-9);
  EXPECT_NEAR(group_metric(r, "yes/no", "accuracy"), 45.0, 1e-9);
  ASSERT_EQ(r.items.size(), 4u);
  EXPECT_NEAR(r.items[0].score, 0.6, 1e-12);
  EXPECT_EQ(r.items[0].parsed, "dog");
}

// ---- TextVQA ----

// Human answers of question 7: "coca cola" x2, "Coca-Cola" x1, "coke" x7. Prediction
// "Coca-Cola." -> "coca cola", as are 3 human answers -> 0.9. Question 8: 10 x "stop",
// prediction "Stop sign" -> no match -> 0. accuracy (0.9 + 0)/2 = 45%.
const char* kTextVqaAnnotations = R"({"dataset_name": "textvqa", "data": [
 {"question_id": 7, "image_id": "img1", "question": "What brand is it?",
  "answers": ["coca cola", "coca cola", "Coca-Cola", "coke", "coke", "coke", "coke", "coke",
              "coke", "coke"]},
 {"question_id": 8, "image_id": "img2", "question": "What does the sign say?",
  "answers": ["stop", "stop", "stop", "stop", "stop", "stop", "stop", "stop", "stop", "stop"]}]})";

TEST(EvalScore, TextVqaWorkedExampleById) {
  const std::string ann = write("textvqa_ann.json", kTextVqaAnnotations);
  const std::string ans = write("textvqa_ans.jsonl", R"({"question_id": 7, "text": "Coca-Cola."}
{"question_id": 8, "text": "Stop sign"}
)");
  const ScoreReport r = score_task("textvqa", ans, ann);
  EXPECT_NEAR(r.metrics[0].value, 45.0, 1e-9);
  EXPECT_EQ(r.n_missing, 0);
}

TEST(EvalScore, TextVqaLlavaAnswersMatchedByImageAndQuestion) {
  // LLaVA's TextVQA answers carry the image id as question_id; the question is the first line of
  // a two-line prompt (eval_textvqa.py's prompt_processor).
  const std::string ann = write("textvqa_ann2.json", kTextVqaAnnotations);
  const std::string ans = write(
      "textvqa_llava.jsonl",
      R"({"question_id": "img1", "prompt": "What brand is it?\nAnswer the question using a single word or phrase.", "text": "Coca-Cola."}
{"question_id": "img2", "prompt": "Reference OCR token: STOP\nWhat does the sign say?\nAnswer the question using a single word or phrase.", "text": "stop"}
{"question_id": "img3", "prompt": "Who?\nAnswer.", "text": "x"}
)");
  // 7: 0.9 as above; 8: "stop" matches all ten -> 1. accuracy (0.9 + 1)/2 = 95%.
  const ScoreReport r = score_task("textvqa", ans, ann);
  EXPECT_NEAR(r.metrics[0].value, 95.0, 1e-9);
  EXPECT_EQ(r.n_scored, 2);
  EXPECT_EQ(r.n_unknown, 1);
}

// ---- GQA ----

// The official questions json. q1 "yes" / "Yes." -> "yes": right. q2 "left" / "Left side": wrong.
// q3 "blue": no answer. accuracy 1/3; verify 1/1, query 0/2.
TEST(EvalScore, GqaExactMatch) {
  const std::string ann = write("gqa_ann.json", R"({
 "q1": {"question": "Is it?", "answer": "yes", "types": {"structural": "verify"}},
 "q2": {"question": "Where?", "answer": "left", "types": {"structural": "query"}},
 "q3": {"question": "Color?", "answer": "blue", "types": {"structural": "query"}}})");
  const std::string ans = write("gqa_ans.jsonl", R"({"question_id": "q1", "text": "Yes."}
{"question_id": "q2", "text": "Left side"}
)");
  const ScoreReport r = score_task("gqa", ans, ann);
  EXPECT_NEAR(r.metrics[0].value, 100.0 / 3, 1e-9);
  EXPECT_EQ(r.n_missing, 1);
  EXPECT_NEAR(group_metric(r, "verify", "accuracy"), 100.0, 1e-9);
  EXPECT_NEAR(group_metric(r, "query", "accuracy"), 0.0, 1e-9);
}

// ---- ScienceQA ----

// Test split problems 1, 2, 3, 5 (train problem 4 is not scored: no answer is about the train
// split). 1: answer 0, "A" -> right (has an image). 2: answer 2, "The answer is C." -> right.
// 3: two choices, "C" is not one of them -> wrong. 5: no answer -> wrong, missing.
// accuracy 2/4 = 50%; IMG-accuracy 1/1 = 100%; "77" is unknown.
TEST(EvalScore, ScienceQaLetters) {
  const std::string ann = write("problems.json", R"({
 "1": {"answer": 0, "choices": ["a", "b", "c"], "split": "test", "image": "image.png", "subject": "natural science"},
 "2": {"answer": 2, "choices": ["a", "b", "c"], "split": "test", "image": null, "subject": "language science"},
 "3": {"answer": 1, "choices": ["x", "y"], "split": "test", "image": null, "subject": "natural science"},
 "4": {"answer": 0, "choices": ["x", "y"], "split": "train", "image": null},
 "5": {"answer": 0, "choices": ["x", "y"], "split": "test", "image": null, "subject": "social science"}})");
  const std::string ans = write("sqa_ans.jsonl", R"({"question_id": "1", "text": "A"}
{"question_id": "2", "text": "The answer is C."}
{"question_id": "3", "text": "C"}
{"question_id": "77", "text": "A"}
)");
  const ScoreReport r = score_task("sqa", ans, ann);
  EXPECT_NEAR(r.metrics[0].value, 50.0, 1e-9);
  EXPECT_NEAR(metric_value(r.metrics, "img_accuracy"), 100.0, 1e-9);
  EXPECT_EQ(r.n_scored, 3);
  EXPECT_EQ(r.n_missing, 1);
  EXPECT_EQ(r.n_unknown, 1);
  EXPECT_NEAR(group_metric(r, "natural science", "accuracy"), 50.0, 1e-9);
  EXPECT_NEAR(group_metric(r, "language science", "accuracy"), 100.0, 1e-9);
}

// ---- MMBench ----

// Question 0 (category attr) and its circular variants 1000000, 2000000, 3000000 (options
// rotated, answer letter moved); question 1 (logic, two options) and its variant 1000001.
// Answers: 0 "B" right; 1000000 "A" right; 2000000 "The answer is D." right; 3000000 "A" wrong
// (the answer is C) -> question 0 fails circular evaluation. 1 "yes" (only option A contains it)
// right; 1000001 "B" right -> question 1 passes.
// circular accuracy 1/2 = 50%; vanilla (original rows 0 and 1) 2/2 = 100%.
TEST(EvalScore, MmbenchCircularOneFailingVariant) {
  const std::string tsv =
      write("mmbench.tsv",
            "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\timage\n"
            "0\tWhich animal?\tnan\tcat\tdog\tbird\tfish\tB\tattr\tiVBORw0KGgo=\n"
            "1000000\tWhich animal?\tnan\tdog\tbird\tfish\tcat\tA\tattr\tiVBORw0KGgo=\n"
            "2000000\tWhich animal?\tnan\tbird\tfish\tcat\tdog\tD\tattr\tiVBORw0KGgo=\n"
            "3000000\tWhich animal?\tnan\tfish\tcat\tdog\tbird\tC\tattr\tiVBORw0KGgo=\n"
            "1\t\"Is it \"\"real\"\"?\"\t\tyes\tno\t\t\tA\tlogic\tiVBORw0KGgo=\n"
            "1000001\tIs it real?\t\tno\tyes\t\t\tB\tlogic\tiVBORw0KGgo=\n");
  const std::string ans = write("mmbench_ans.jsonl", R"({"question_id": 0, "text": "B"}
{"question_id": 1000000, "text": "A"}
{"question_id": 2000000, "text": "The answer is D."}
{"question_id": 3000000, "text": "A"}
{"question_id": 1, "text": "yes"}
{"question_id": 1000001, "text": "B"}
)");
  const ScoreReport r = score_task("mmbench", ans, tsv);
  EXPECT_EQ(r.metrics[0].name, "circular_accuracy");
  EXPECT_NEAR(r.metrics[0].value, 50.0, 1e-9);
  EXPECT_NEAR(metric_value(r.metrics, "vanilla_accuracy"), 100.0, 1e-9);
  EXPECT_EQ(metric_value(r.metrics, "questions"), 2);
  EXPECT_EQ(r.n_scored, 6);
  EXPECT_NEAR(group_metric(r, "attr", "circular_accuracy"), 0.0, 1e-9);
  EXPECT_NEAR(group_metric(r, "attr", "vanilla_accuracy"), 100.0, 1e-9);
  EXPECT_NEAR(group_metric(r, "logic", "circular_accuracy"), 100.0, 1e-9);
  ASSERT_EQ(r.items.size(), 6u);
  EXPECT_EQ(r.items[3].score, 0.0);
  EXPECT_EQ(r.items[3].parsed, "A");
}

// LLaVA's --all-rounds answers: one tsv row, four rounds with the options rotated; option_char
// gives the original letter of each shown position. The right answer is "dog" (B).
//   round 0 [cat dog bird fish] [A B C D]: "B" -> B right
//   round 1 [dog bird fish cat] [B C D A]: "A" -> B right
//   round 2 [bird fish cat dog] [C D A B]: "D" -> B right
//   round 3 [fish cat dog bird] [D A B C]: "B" -> A wrong (dog is shown as C)
// circular 0%, vanilla (round 0) 100%; answering "C" in round 3 makes circular 100%.
TEST(EvalScore, MmbenchLlavaRounds) {
  const std::string tsv = write("mmbench_rounds.tsv",
                                "index\tquestion\tA\tB\tC\tD\tanswer\tcategory\r\n"
                                "5\tWhich?\tcat\tdog\tbird\tfish\tB\tattr\r\n");
  auto answers = [](const std::string& last) {
    return std::string(
               R"({"question_id": 5, "round_id": 0, "text": "B", "options": ["cat", "dog", "bird", "fish"], "option_char": ["A", "B", "C", "D"]}
{"question_id": 5, "round_id": 1, "text": "A", "options": ["dog", "bird", "fish", "cat"], "option_char": ["B", "C", "D", "A"]}
{"question_id": 5, "round_id": 2, "text": "D", "options": ["bird", "fish", "cat", "dog"], "option_char": ["C", "D", "A", "B"]}
{"question_id": 5, "round_id": 3, "text": ")") +
           last +
           R"(", "options": ["fish", "cat", "dog", "bird"], "option_char": ["D", "A", "B", "C"]}
)";
  };
  const ScoreReport bad = score_task("mmbench", write("rounds_bad.jsonl", answers("B")), tsv);
  EXPECT_NEAR(bad.metrics[0].value, 0.0, 1e-9);
  EXPECT_NEAR(metric_value(bad.metrics, "vanilla_accuracy"), 100.0, 1e-9);
  EXPECT_EQ(bad.items[0].parsed, "B,B,B,A");
  const ScoreReport good = score_task("mmbench", write("rounds_good.jsonl", answers("C")), tsv);
  EXPECT_NEAR(good.metrics[0].value, 100.0, 1e-9);
}

// ---- MME ----

// existence (perception): image a: yes/"Yes" right, no/"No" right -> image right;
//   image b: yes/"No" wrong, no/"No" right. acc 3/4 = 75, acc+ 1/2 = 50, score 125.
// code_reasoning (cognition): image c: yes/"yes, it prints 3" right (prefix "yes,"),
//   no/"The output is 5" other -> wrong. acc 1/2 = 50, acc+ 0/1 = 0, score 50.
// perception 125, cognition 50, total 175.
TEST(EvalScore, MmeAccPlusPerImage) {
  const std::string ann =
      write("mme.jsonl",
            R"({"question_id": "e1", "category": "existence", "image": "a.jpg", "label": "yes"}
{"question_id": "e2", "category": "existence", "image": "a.jpg", "label": "no"}
{"question_id": "e3", "category": "existence", "image": "b.jpg", "label": "yes"}
{"question_id": "e4", "category": "existence", "image": "b.jpg", "label": "no"}
{"question_id": "c1", "category": "code_reasoning", "image": "c.png", "label": "yes"}
{"question_id": "c2", "category": "code_reasoning", "image": "c.png", "label": "no"}
)");
  const std::string ans = write("mme_ans.jsonl", R"({"question_id": "e1", "text": "Yes"}
{"question_id": "e2", "text": "No"}
{"question_id": "e3", "text": "No"}
{"question_id": "e4", "text": "No"}
{"question_id": "c1", "text": "yes, it prints 3"}
{"question_id": "c2", "text": "The output is 5"}
)");
  const ScoreReport r = score_task("mme", ans, ann);
  EXPECT_EQ(r.metrics[0].name, "perception_score");
  EXPECT_NEAR(r.metrics[0].value, 125.0, 1e-9);
  EXPECT_NEAR(metric_value(r.metrics, "cognition_score"), 50.0, 1e-9);
  EXPECT_NEAR(metric_value(r.metrics, "total_score"), 175.0, 1e-9);
  EXPECT_NEAR(group_metric(r, "existence", "acc"), 75.0, 1e-9);
  EXPECT_NEAR(group_metric(r, "existence", "acc_plus"), 50.0, 1e-9);
  EXPECT_NEAR(group_metric(r, "code_reasoning", "acc_plus"), 0.0, 1e-9);
  EXPECT_EQ(r.items[5].parsed, "other");
}

// LLaVA's llava_mme.jsonl asks both questions of an image under one question_id (the image
// path); annotations that carry the question are matched by (id, question) as
// convert_answer_to_mme.py does: the prompt without "Answer the question using a single word or
// phrase." and stripped. Image x: q1 yes/"Yes" right, q2 no/"Yes" wrong -> acc 1/2, acc+ 0.
// Image y: both right -> acc 2/2, acc+ 1. existence: acc 3/4 = 75, acc+ 1/2 = 50, score 125.
TEST(EvalScore, MmeSharedIdsAreMatchedByQuestion) {
  const std::string ann = write(
      "mme_q.jsonl",
      R"({"question_id": "existence/x.jpg", "question": "Is there a dog in this image?", "category": "existence", "image": "x.jpg", "label": "yes"}
{"question_id": "existence/x.jpg", "question": "Is there a cat in this image?", "category": "existence", "image": "x.jpg", "label": "no"}
{"question_id": "existence/y.jpg", "question": "Is there a car in this image?", "category": "existence", "image": "y.jpg", "label": "yes"}
{"question_id": "existence/y.jpg", "question": "Is there a bus in this image?", "category": "existence", "image": "y.jpg", "label": "no"}
)");
  // Answers in another order than the annotations; the prompts carry LLaVA's suffix.
  const std::string ans = write(
      "mme_q_ans.jsonl",
      R"({"question_id": "existence/x.jpg", "prompt": "Is there a cat in this image?\nAnswer the question using a single word or phrase.", "text": "Yes"}
{"question_id": "existence/x.jpg", "prompt": "Is there a dog in this image?\nAnswer the question using a single word or phrase.", "text": "Yes"}
{"question_id": "existence/y.jpg", "prompt": "Is there a bus in this image?", "text": "No"}
{"question_id": "existence/y.jpg", "prompt": "Is there a car in this image?", "text": "Yes"}
)");
  const ScoreReport r = score_task("mme", ans, ann);
  EXPECT_NEAR(group_metric(r, "existence", "acc"), 75.0, 1e-9);
  EXPECT_NEAR(group_metric(r, "existence", "acc_plus"), 50.0, 1e-9);
  EXPECT_NEAR(r.metrics[0].value, 125.0, 1e-9);
  // The same question annotated twice under one id is an error naming the line.
  const std::string dup = write(
      "mme_dup.jsonl",
      R"({"question_id": "a", "question": "Q?", "category": "count", "image": "a.jpg", "label": "yes"}
{"question_id": "a", "question": " Q? ", "category": "count", "image": "a.jpg", "label": "no"}
)");
  const std::string msg = error_of([&] { score_task("mme", ans, dup); });
  EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;
}

// ---- errors ----

TEST(EvalScore, BrokenAnswersLineNamesFileAndLine) {
  const std::string ann = write("err_ann.jsonl", "{\"question_id\": 1, \"label\": \"yes\"}\n");
  const std::string ans = write(
      "err_ans.jsonl", "{\"question_id\": 1, \"text\": \"Yes\"}\n\n{\"question_id\": 2, \"te\n");
  const std::string msg = error_of([&] { score_task("pope", ans, ann); });
  EXPECT_NE(msg.find("err_ans.jsonl"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;
  // A line that is JSON but has no text.
  const std::string ans2 = write("err_ans2.jsonl",
                                 "{\"question_id\": 1, \"text\": \"Yes\"}\n"
                                 "{\"question_id\": 2, \"answer\": \"x\"}\n");
  const std::string msg2 = error_of([&] { score_task("pope", ans2, ann); });
  EXPECT_NE(msg2.find("line 2"), std::string::npos) << msg2;
  EXPECT_NE(msg2.find("text"), std::string::npos) << msg2;
}

TEST(EvalScore, UnknownTaskListsTasks) {
  const std::string msg = error_of([&] { score_task("coco", "a.jsonl", "b.json"); });
  EXPECT_NE(msg.find("coco"), std::string::npos) << msg;
  for (const std::string& t : score_tasks()) EXPECT_NE(msg.find(t), std::string::npos) << t;
  EXPECT_EQ(score_tasks().size(), 7u);
}

TEST(EvalScore, MissingFilesAreNamed) {
  const std::string ann = write("mf_ann.jsonl", "{\"question_id\": 1, \"label\": \"yes\"}\n");
  const std::string ans = write("mf_ans.jsonl", "{\"question_id\": 1, \"text\": \"Yes\"}\n");
  const std::string dir = test::temp_dir();
  std::string msg = error_of([&] { score_task("pope", dir + "/nope.jsonl", ann); });
  EXPECT_NE(msg.find("nope.jsonl"), std::string::npos) << msg;
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
  msg = error_of([&] { score_task("mme", ans, dir + "/absent.jsonl"); });
  EXPECT_NE(msg.find("absent.jsonl"), std::string::npos) << msg;
  msg = error_of([&] { score_task("mmbench", ans, dir + "/absent.tsv"); });
  EXPECT_NE(msg.find("absent.tsv"), std::string::npos) << msg;
}

TEST(EvalScore, BrokenAnnotationLineNamed) {
  const std::string ann = write("brk_ann.jsonl",
                                "{\"question_id\": 1, \"label\": \"yes\"}\n"
                                "{\"question_id\": 2, \"label\": \"no\"}\n"
                                "{\"question_id\": 3, \"label\" \"no\"}\n");
  const std::string ans = write("brk_ans.jsonl", "{\"question_id\": 1, \"text\": \"Yes\"}\n");
  const std::string msg = error_of([&] { score_task("pope", ans, ann); });
  EXPECT_NE(msg.find("brk_ann.jsonl"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;
}

// ---- jsonl and tsv readers ----

TEST(EvalScore, JsonlLenientCollectsErrors) {
  const std::string path = write("lenient.jsonl", "{\"a\": 1}\n{bad\n{\"a\": 3}\r\n\n[1,\n");
  const JsonlContents c = read_jsonl_lenient(path);
  ASSERT_EQ(c.lines.size(), 2u);
  EXPECT_EQ(c.lines[0].line, 1);
  EXPECT_EQ(c.lines[1].line, 3);
  EXPECT_EQ(c.lines[1].value["a"], 3);
  ASSERT_EQ(c.errors.size(), 2u);
  EXPECT_EQ(c.errors[0].line, 2);
  EXPECT_EQ(c.errors[1].line, 5);
  EXPECT_NE(c.errors[1].message.find("line 5"), std::string::npos);
  const std::string msg = error_of([&] { read_jsonl(path); });
  EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;
}

TEST(EvalScore, TsvQuotingAndErrors) {
  // Quoted fields may hold tabs, newlines and doubled quotes; short rows are padded.
  const TsvTable t = parse_tsv_text("a\tb\tc\n1\t\"x\ty\n\"\"z\"\"\"\t3\n2\tq\n", "test tsv");
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0][1], "x\ty\n\"z\"");
  EXPECT_EQ(t.rows[0][2], "3");
  EXPECT_EQ(t.rows[1][2], "");
  EXPECT_EQ(t.row_lines[1], 4);
  EXPECT_EQ(t.column("c"), 2);
  EXPECT_EQ(t.column("zz"), -1);
  const std::string msg = error_of([] { parse_tsv_text("a\tb\n1\t2\t3\n", "test tsv"); });
  EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;
  EXPECT_TRUE(tsv_is_na("nan"));
  EXPECT_TRUE(tsv_is_na(""));
  EXPECT_FALSE(tsv_is_na("cat"));
}

// ---- report formats and the command ----

TEST(EvalScore, ReportFormats) {
  ScoreReport r;
  r.task = "pope";
  r.metrics = {{"accuracy", 62.5}, {"tp", 2}};
  r.groups = {{"random", {{"accuracy", 50}, {"f1", 50}}}, {"popular", {{"accuracy", 75}}}};
  r.n_scored = 7;
  r.n_missing = 1;
  r.n_unknown = 1;
  const std::string md = format_report(r);
  EXPECT_NE(md.find("| accuracy | 62.5000 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| tp | 2 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| group | accuracy | f1 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| popular | 75 |  |"), std::string::npos) << md;
  const nlohmann::json j = report_json(r);
  EXPECT_EQ(j["task"], "pope");
  EXPECT_EQ(j["headline"]["name"], "accuracy");
  EXPECT_EQ(j["metrics"]["accuracy"], 62.5);
  EXPECT_EQ(j["groups"][1]["name"], "popular");
  EXPECT_EQ(j["n_missing"], 1);
  EXPECT_EQ(j["n_unknown"], 1);
}

TEST(EvalScore, CommandPrintsJsonAndFailsCleanly) {
  const std::string ann = write("cli_ann.jsonl",
                                "{\"question_id\": 1, \"label\": \"yes\"}\n"
                                "{\"question_id\": 2, \"label\": \"no\"}\n");
  const std::string ans = write("cli_ans.jsonl",
                                "{\"question_id\": 1, \"text\": \"Yes\"}\n"
                                "{\"question_id\": 2, \"text\": \"Yes\"}\n");
  // TP 1, FP 1 -> accuracy 50%.
  const test::CommandResult ok =
      test::run_command({test::cli_path(), "score", "--task", "pope", "--answers", ans,
                         "--annotations", ann, "--json"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  const nlohmann::json j = nlohmann::json::parse(ok.out);
  EXPECT_EQ(j["metrics"]["accuracy"], 50.0);
  const test::CommandResult bad = test::run_command(
      {test::cli_path(), "score", "--task", "nope", "--answers", ans, "--annotations", ann});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("error: unknown task 'nope'"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace yopo::eval
