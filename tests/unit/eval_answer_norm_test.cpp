// Answer normalisation and parsing. Expected values are worked by hand from the official scripts'
// definitions (vqaEval.py / m4c_evaluator.py, eval_pope.py, MME calculation.py,
// convert_gqa_for_eval.py, eval_science_qa.py, eval_mmbench.py), step by step in the comments.
#include "eval/answer_norm.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace yopo::eval {
namespace {

std::vector<std::string> repeat(const std::string& s, int n) {
  return std::vector<std::string>(size_t(n), s);
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// ---- processDigitArticle ----

TEST(EvalAnswerNorm, DigitArticleNumbersArticlesContractions) {
  EXPECT_EQ(vqa_process_digit_article("a dog"), "dog");            // article dropped
  EXPECT_EQ(vqa_process_digit_article("An Apple"), "apple");       // lower-cased, "an" dropped
  EXPECT_EQ(vqa_process_digit_article("The two dogs"), "2 dogs");  // "two" -> "2"
  EXPECT_EQ(vqa_process_digit_article("ten"), "10");
  EXPECT_EQ(vqa_process_digit_article("none"), "0");  // manualMap has none -> 0
  // Only zero..ten are mapped: "twenty" stays, "one" becomes 1.
  EXPECT_EQ(vqa_process_digit_article("twenty one"), "twenty 1");
  EXPECT_EQ(vqa_process_digit_article("dont"), "don't");       // contraction map
  EXPECT_EQ(vqa_process_digit_article("Im here"), "im here");  // capitalised key never matches
  EXPECT_EQ(vqa_process_digit_article("  two \t  cats "), "2 cats");  // whitespace split/join
  EXPECT_EQ(vqa_process_digit_article("somebody'd"), "somebodyd");    // as in the official map
  EXPECT_EQ(vqa_process_digit_article(""), "");
}

// ---- processPunctuation ----

TEST(EvalAnswerNorm, PunctuationRules) {
  // A '.' not followed by a digit is removed; "3.5" keeps its point.
  EXPECT_EQ(vqa_process_punctuation("a dog."), "a dog");
  EXPECT_EQ(vqa_process_punctuation("3.5"), "3.5");
  EXPECT_EQ(vqa_process_punctuation("1.5."), "1.5");
  // digit,digit anywhere: every punctuation mark is removed (not replaced by a space).
  EXPECT_EQ(vqa_process_punctuation("1,000"), "1000");
  // ", " occurs: ',' removed.
  EXPECT_EQ(vqa_process_punctuation("yes, it is"), "yes it is");
  // '/' and '-' without an adjacent space: replaced by a space.
  EXPECT_EQ(vqa_process_punctuation("black/white"), "black white");
  EXPECT_EQ(vqa_process_punctuation("t-shirt"), "t shirt");
  // "(red)": neither "( " / " (" nor ") " / " )" occur -> both replaced by spaces.
  EXPECT_EQ(vqa_process_punctuation("(red)"), " red ");
  // "= " occurs -> '=' removed, leaving the two spaces around it.
  EXPECT_EQ(vqa_process_punctuation("x = y"), "x  y");
  // The apostrophe is not in the list.
  EXPECT_EQ(vqa_process_punctuation("don't"), "don't");
  // re.sub gets re.UNICODE (32) as its count: only the first 32 periods go.
  EXPECT_EQ(vqa_process_punctuation(std::string(40, '.')), std::string(8, '.'));
}

// ---- EvalAI answer processor (m4c_evaluator.py) ----

TEST(EvalAnswerNorm, EvalAiProcessor) {
  // "A Dog." -> lower "a dog." -> punctuation "a dog" -> article dropped.
  EXPECT_EQ(evalai_normalize("A Dog."), "dog");
  // word_tokenize drops ',' and '?', splits "'s"; "two" -> "2".
  EXPECT_EQ(evalai_normalize("It's two o'clock?"), "it 's 2 o'clock");
  EXPECT_EQ(evalai_normalize("Dont know"), "don't know");
  EXPECT_EQ(evalai_normalize("1,000"), "1000");
  // Tab and newline become spaces; the words are re-joined by one space.
  EXPECT_EQ(evalai_normalize("\tTwo\nbirds "), "2 birds");
  EXPECT_EQ(evalai_normalize("Coca-Cola"), "coca cola");
  EXPECT_EQ(evalai_normalize("Twenty One"), "twenty 1");
}

// ---- VQA accuracy ----

TEST(EvalAnswerNorm, VqaAccuracyLeaveOneOut) {
  const std::vector<std::string> two_dogs = concat(repeat("dog", 2), repeat("cat", 8));
  // 2 of 10 match. Leaving out one of the 2 "dog": 1 match left -> 1/3 (twice); leaving out one
  // of the 8 "cat": 2 matches -> 2/3 (8 times). Mean (2/3 + 16/3) / 10 = 0.6.
  EXPECT_NEAR(vqa_accuracy("dog", two_dogs), 0.6, 1e-12);
  // 3 matches: 3 subsets with 2 left (2/3) and 7 with 3 left (1): (2 + 7) / 10 = 0.9.
  EXPECT_NEAR(vqa_accuracy("dog", concat(repeat("dog", 3), repeat("cat", 7))), 0.9, 1e-12);
  // 4 matches: every subset keeps >= 3 -> 1.
  EXPECT_NEAR(vqa_accuracy("dog", concat(repeat("dog", 4), repeat("cat", 6))), 1.0, 1e-12);
  // 1 match: its own subset 0, the other 9 subsets 1/3 -> 9/30 = 0.3.
  EXPECT_NEAR(vqa_accuracy("dog", concat(repeat("dog", 1), repeat("cat", 9))), 0.3, 1e-12);
  EXPECT_EQ(vqa_accuracy("bird", two_dogs), 0.0);
  EXPECT_EQ(vqa_accuracy("dog", {}), 0.0);
}

TEST(EvalAnswerNorm, Vqav2OfficialProcessing) {
  std::string norm;
  // All ten human answers equal: the prediction "Yes." -> "yes" matches all ten.
  EXPECT_NEAR(vqav2_accuracy("Yes.", repeat("yes", 10), &norm), 1.0, 1e-12);
  EXPECT_EQ(norm, "yes");
  // Human answers differ -> they pass processPunctuation: "t-shirt" -> "t shirt" (4 of them),
  // and the prediction "T-shirt" -> "t shirt": 4 matches -> 1.
  EXPECT_NEAR(vqav2_accuracy("T-shirt", concat(repeat("t-shirt", 4), repeat("shirt", 6))), 1.0,
              1e-12);
  // "A dog." -> "dog"; 2 of 10 human answers are "dog" -> 0.6.
  EXPECT_NEAR(vqav2_accuracy("A dog.", concat(repeat("dog", 2), repeat("cat", 8))), 0.6, 1e-12);
  // Human answers are never digit/article-processed: ten "two" stay "two" while the prediction
  // "two" becomes "2" (official quirk; real VQAv2 answers are written "2").
  EXPECT_EQ(vqav2_accuracy("two", repeat("two", 10)), 0.0);
  // The contraction map on the prediction: "dont" -> "don't" matches 3 -> 0.9.
  EXPECT_NEAR(vqav2_accuracy("dont", concat(repeat("don't", 3), repeat("no", 7))), 0.9, 1e-12);
}

TEST(EvalAnswerNorm, TextVqaNormalisesBothSides) {
  // Every human answer passes the EvalAI processor: "coca cola" x2 and "Coca-Cola" -> "coca cola"
  // (3 in all), "coke" x7. Prediction "Coca-Cola." -> "coca cola": 3 matches -> 0.9.
  const std::vector<std::string> gt =
      concat(concat(repeat("coca cola", 2), {"Coca-Cola"}), repeat("coke", 7));
  std::string norm;
  EXPECT_NEAR(textvqa_accuracy("Coca-Cola.", gt, &norm), 0.9, 1e-12);
  EXPECT_EQ(norm, "coca cola");
  // "Two" and "2" are the same answer after processing: 10 matches -> 1.
  EXPECT_NEAR(textvqa_accuracy("two", concat(repeat("Two", 3), repeat("2", 7))), 1.0, 1e-12);
}

// ---- yes / no ----

TEST(EvalAnswerNorm, PopeYesNo) {
  EXPECT_EQ(pope_yes_no("Yes, there is a dog in the image."), YesNo::kYes);
  EXPECT_EQ(pope_yes_no("No, there is not."), YesNo::kNo);
  EXPECT_EQ(pope_yes_no("There is no dog in the image."), YesNo::kNo);
  // Only the first sentence counts.
  EXPECT_EQ(pope_yes_no("Yes. There is not a cat."), YesNo::kYes);
  // "no," loses its comma and becomes the word "no".
  EXPECT_EQ(pope_yes_no("no, sorry"), YesNo::kNo);
  // Only the exact words "No", "no", "not" say no; everything else says yes.
  EXPECT_EQ(pope_yes_no("NO"), YesNo::kYes);
  EXPECT_EQ(pope_yes_no("Not really"), YesNo::kYes);
  EXPECT_EQ(pope_yes_no("Nope"), YesNo::kYes);
  EXPECT_EQ(pope_yes_no("It is not"), YesNo::kNo);
  EXPECT_EQ(pope_yes_no(""), YesNo::kYes);
}

TEST(EvalAnswerNorm, MmeYesNo) {
  EXPECT_EQ(mme_yes_no("Yes"), YesNo::kYes);
  EXPECT_EQ(mme_yes_no("No"), YesNo::kNo);
  EXPECT_EQ(mme_yes_no("Yes, it is."), YesNo::kYes);        // prefix "yes,"
  EXPECT_EQ(mme_yes_no("Not sure"), YesNo::kNo);            // prefix "not " holds "no"
  EXPECT_EQ(mme_yes_no("There is no dog"), YesNo::kOther);  // prefix "ther"
  EXPECT_EQ(mme_yes_no("eyes"), YesNo::kYes);               // prefix "eyes" holds "yes"
  EXPECT_EQ(mme_yes_no("I think yes"), YesNo::kOther);      // prefix "i th"
  EXPECT_STREQ(yes_no_name(YesNo::kOther), "other");
}

// ---- GQA ----

TEST(EvalAnswerNorm, GqaNormalize) {
  EXPECT_EQ(gqa_normalize("Yes."), "yes");
  EXPECT_EQ(gqa_normalize(" Left.. "), "left");  // all trailing periods (rstrip('.'))
  EXPECT_EQ(gqa_normalize("U.S."), "u.s");
  EXPECT_EQ(gqa_normalize("the man"), "the man");  // articles are kept
}

// ---- option letters ----

TEST(EvalAnswerNorm, ScienceQaLetters) {
  EXPECT_EQ(sqa_parse_option("A", 4), 0);
  EXPECT_EQ(sqa_parse_option(" C ", 4), 2);
  EXPECT_EQ(sqa_parse_option("E", 4), -1);  // a letter, but not among 4 choices
  EXPECT_EQ(sqa_parse_option("a", 4), -1);  // lower case is not a letter option
  // "B\n" -> "B. ": starts with a letter followed by ". ".
  EXPECT_EQ(sqa_parse_option("B\n", 3), 1);
  EXPECT_EQ(sqa_parse_option("C. blue", 4), 2);
  EXPECT_EQ(sqa_parse_option("The answer is D.", 4), 3);
  EXPECT_EQ(sqa_parse_option("Because of X. The answer is B", 4), 1);
  EXPECT_EQ(sqa_parse_option("I think the answer is B", 4), -1);  // case-sensitive phrase
  // "The answer is X." is searched first: C wins over the earlier B without a period.
  EXPECT_EQ(sqa_parse_option("The answer is B or The answer is C.", 4), 2);
  EXPECT_EQ(sqa_parse_option("blue", 4), -1);
}

TEST(EvalAnswerNorm, MmbenchLetters) {
  const std::vector<std::string> opts = {"cat", "dog", "bird", "fish"};
  EXPECT_EQ(mmbench_parse_option("B", opts), 'B');
  EXPECT_EQ(mmbench_parse_option("b.", opts), 'B');  // '.' stripped, upper-cased
  EXPECT_EQ(mmbench_parse_option(".C.", opts), 'C');
  // strip('.') then strip(): ".C. " keeps "C." (its last character is a space), no letter.
  EXPECT_EQ(mmbench_parse_option(".C. ", opts), 0);
  EXPECT_EQ(mmbench_parse_option("The answer is D.", opts), 'D');
  EXPECT_EQ(mmbench_parse_option("I'd say the answer is a. Cat.", opts), 'A');
  EXPECT_EQ(mmbench_parse_option("dog", opts), 'B');  // contained in exactly one option
  EXPECT_EQ(mmbench_parse_option("Fish", opts), 'D');
  EXPECT_EQ(mmbench_parse_option("i", opts), 0);           // in "bird" and "fish": ambiguous
  EXPECT_EQ(mmbench_parse_option("E", opts), 0);           // not a letter of A..D, in no option
  EXPECT_EQ(mmbench_parse_option("C", {"yes", "no"}), 0);  // only A and B exist
  EXPECT_EQ(mmbench_parse_option("the answer is d", opts), 0);  // needs the period
}

}  // namespace
}  // namespace yopo::eval
