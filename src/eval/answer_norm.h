// Answer normalisation and parsing rules of the benchmarks' official scorers, written from the
// scripts' definitions (see docs/evaluation.md, "Scoring"):
//   - VQA: the VQA challenge's vqaEval.py (processPunctuation, processDigitArticle) and the
//     EvalAI answer processor of LLaVA's m4c_evaluator.py (word_tokenize, then the same two);
//   - POPE: LLaVA's eval_pope.py yes/no rule; MME: the MME eval_tool's calculation.py rule;
//   - GQA: LLaVA's convert_gqa_for_eval.py; ScienceQA: LLaVA's eval_science_qa.py;
//     MMBench: LLaVA's eval_mmbench.py (auto_parse_answer, without the ChatGPT fallback).
// Lower-casing and whitespace are ASCII only (Python's are Unicode-aware; answers of these
// benchmarks are English).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace yopo::eval {

// ---- VQA ----

// vqaEval.py processPunctuation: each of ; / [ ] " { } ( ) = + \ _ - > < @ ` , ? ! is removed
// when the text has it followed or preceded by a space, or has a digit,digit group anywhere,
// and is replaced by a space otherwise; then every '.' not followed by a digit is removed (at
// most 32 of them: the script passes re.UNICODE, 32, as the count of re.sub).
std::string vqa_process_punctuation(std::string_view text);

// vqaEval.py processDigitArticle: lower-case, split on whitespace, number words zero..ten and
// "none" become digits, the articles a/an/the are dropped, words of the contraction map are
// replaced ("dont" -> "don't"), joined by single spaces.
std::string vqa_process_digit_article(std::string_view text);

// The EvalAI answer processor (LLaVA's m4c_evaluator.py, used for TextVQA and to prepare VQAv2
// submissions): lower-case, drop ',' and '?', "'s" -> " 's", strip; newlines/tabs -> spaces,
// strip; then processPunctuation and processDigitArticle.
std::string evalai_normalize(std::string_view text);

// The VQA accuracy of one prediction against the human answers (already normalised as the
// caller's scorer requires): for each answer i, acc_i = min(1, #{j != i : gt[j] == pred} / 3);
// the result is the mean of acc_i (the average over the n choose n-1 subsets). 0 for no answers.
double vqa_accuracy(const std::string& pred, const std::vector<std::string>& gt);

// VQAv2 (vqaEval.py on an answer prepared as LLaVA's convert_vqav2_for_submission.py does):
// pred' = processDigitArticle(processPunctuation(strip(evalai_normalize(pred) with \n,\t -> ' ')));
// the human answers pass through processPunctuation only, and only when they are not all equal.
double vqav2_accuracy(std::string_view pred, const std::vector<std::string>& gt,
                      std::string* normalized_pred = nullptr);

// TextVQA (m4c TextVQAAccuracyEvaluator): prediction and every human answer pass through
// evalai_normalize, then vqa_accuracy.
double textvqa_accuracy(std::string_view pred, const std::vector<std::string>& gt,
                        std::string* normalized_pred = nullptr);

// ---- yes / no ----

enum class YesNo { kNo, kYes, kOther };

// LLaVA's eval_pope.py: keep the text before the first '.', remove ',', split on ' '; "no" when
// a word is exactly "No", "no" or "not", else "yes" (never kOther).
YesNo pope_yes_no(std::string_view text);

// MME calculation.py: lower-cased answer "yes"/"no" as such; otherwise "yes" when its first 4
// characters contain "yes", else "no" when they contain "no", else kOther.
YesNo mme_yes_no(std::string_view text);

const char* yes_no_name(YesNo v);  // "yes", "no", "other"

// ---- GQA ----

// LLaVA's convert_gqa_for_eval.py: trailing '.'s removed, lower-cased (and surrounding
// whitespace stripped first; LLaVA's answers are stripped already).
std::string gqa_normalize(std::string_view text);

// ---- option letters ----

// LLaVA's eval_science_qa.py: with newlines replaced by ". ", the answer letter is the stripped
// text when it is one of A..E; else the first character when followed by ". "; else X of the
// first "The answer is X." (X in A..E), else of the first "The answer is X"; else none. Returns
// the letter's index when it is among the first n_choices options, else -1.
int sqa_parse_option(std::string_view text, int n_choices);

// LLaVA's eval_mmbench.py auto_parse_answer: the text with '.'s then whitespace stripped from
// both ends, upper-cased, when it is one of the first options.size() letters of A..D; else the
// first letter L whose "the answer is l." occurs in the lower-cased text; else the option whose
// text contains the answer (case-insensitively) when exactly one does. Returns 'A'.. or 0 when
// nothing matched (the official flow then asks ChatGPT; we count it as wrong).
char mmbench_parse_option(std::string_view text, const std::vector<std::string>& options);

// ---- small string helpers (ASCII) ----
std::string ascii_lower(std::string_view s);
std::string ascii_upper(std::string_view s);
std::string_view strip_ws(std::string_view s);  // Python's str.strip() for ASCII whitespace

}  // namespace yopo::eval
