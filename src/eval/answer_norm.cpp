#include "eval/answer_norm.h"

#include <algorithm>
#include <array>
#include <string>
#include <unordered_map>

namespace yopo::eval {

namespace {

bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
}

bool contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_ws(s[i])) ++i;
    const size_t start = i;
    while (i < s.size() && !is_ws(s[i])) ++i;
    if (i > start) words.push_back(s.substr(start, i - start));
  }
  return words;
}

// The VQA challenge's punctuation list (vqaEval.py `punct`), each a single character.
constexpr std::string_view kPunct = ";/[]\"{}()=+\\_-><@`,?!";

// vqaEval.py commaStrip "(\d)(,)(\d)": a comma between two digits.
bool has_digit_comma_digit(std::string_view s) {
  for (size_t i = 1; i + 1 < s.size(); ++i)
    if (s[i] == ',' && is_digit(s[i - 1]) && is_digit(s[i + 1])) return true;
  return false;
}

// vqaEval.py manualMap (number words) and contractions.
const std::unordered_map<std::string_view, std::string_view>& number_map() {
  static const std::unordered_map<std::string_view, std::string_view> m = {
      {"none", "0"}, {"zero", "0"}, {"one", "1"},   {"two", "2"},   {"three", "3"}, {"four", "4"},
      {"five", "5"}, {"six", "6"},  {"seven", "7"}, {"eight", "8"}, {"nine", "9"},  {"ten", "10"}};
  return m;
}

const std::unordered_map<std::string_view, std::string_view>& contraction_map() {
  static const std::unordered_map<std::string_view, std::string_view> m = {
      {"aint", "ain't"},
      {"arent", "aren't"},
      {"cant", "can't"},
      {"couldve", "could've"},
      {"couldnt", "couldn't"},
      {"couldn'tve", "couldn't've"},
      {"couldnt've", "couldn't've"},
      {"didnt", "didn't"},
      {"doesnt", "doesn't"},
      {"dont", "don't"},
      {"hadnt", "hadn't"},
      {"hadnt've", "hadn't've"},
      {"hadn'tve", "hadn't've"},
      {"hasnt", "hasn't"},
      {"havent", "haven't"},
      {"hed", "he'd"},
      {"hed've", "he'd've"},
      {"he'dve", "he'd've"},
      {"hes", "he's"},
      {"howd", "how'd"},
      {"howll", "how'll"},
      {"hows", "how's"},
      // The official map's capitalised keys (Id've, I'dve, Im, Ive) can never match a
      // lower-cased word; they are kept for completeness.
      {"Id've", "I'd've"},
      {"I'dve", "I'd've"},
      {"Im", "I'm"},
      {"Ive", "I've"},
      {"isnt", "isn't"},
      {"itd", "it'd"},
      {"itd've", "it'd've"},
      {"it'dve", "it'd've"},
      {"itll", "it'll"},
      {"let's", "let's"},
      {"maam", "ma'am"},
      {"mightnt", "mightn't"},
      {"mightnt've", "mightn't've"},
      {"mightn'tve", "mightn't've"},
      {"mightve", "might've"},
      {"mustnt", "mustn't"},
      {"mustve", "must've"},
      {"neednt", "needn't"},
      {"notve", "not've"},
      {"oclock", "o'clock"},
      {"oughtnt", "oughtn't"},
      {"ow's'at", "'ow's'at"},
      {"'ows'at", "'ow's'at"},
      {"'ow'sat", "'ow's'at"},
      {"shant", "shan't"},
      {"shed've", "she'd've"},
      {"she'dve", "she'd've"},
      {"she's", "she's"},
      {"shouldve", "should've"},
      {"shouldnt", "shouldn't"},
      {"shouldnt've", "shouldn't've"},
      {"shouldn'tve", "shouldn't've"},
      {"somebody'd", "somebodyd"},  // sic, as in the official map
      {"somebodyd've", "somebody'd've"},
      {"somebody'dve", "somebody'd've"},
      {"somebodyll", "somebody'll"},
      {"somebodys", "somebody's"},
      {"someoned", "someone'd"},
      {"someoned've", "someone'd've"},
      {"someone'dve", "someone'd've"},
      {"someonell", "someone'll"},
      {"someones", "someone's"},
      {"somethingd", "something'd"},
      {"somethingd've", "something'd've"},
      {"something'dve", "something'd've"},
      {"somethingll", "something'll"},
      {"thats", "that's"},
      {"thered", "there'd"},
      {"thered've", "there'd've"},
      {"there'dve", "there'd've"},
      {"therere", "there're"},
      {"theres", "there's"},
      {"theyd", "they'd"},
      {"theyd've", "they'd've"},
      {"they'dve", "they'd've"},
      {"theyll", "they'll"},
      {"theyre", "they're"},
      {"theyve", "they've"},
      {"twas", "'twas"},
      {"wasnt", "wasn't"},
      {"wed've", "we'd've"},
      {"we'dve", "we'd've"},
      {"weve", "we've"},
      {"werent", "weren't"},
      {"whatll", "what'll"},
      {"whatre", "what're"},
      {"whats", "what's"},
      {"whatve", "what've"},
      {"whens", "when's"},
      {"whered", "where'd"},
      {"wheres", "where's"},
      {"whereve", "where've"},
      {"whod", "who'd"},
      {"whod've", "who'd've"},
      {"who'dve", "who'd've"},
      {"wholl", "who'll"},
      {"whos", "who's"},
      {"whove", "who've"},
      {"whyll", "why'll"},
      {"whyre", "why're"},
      {"whys", "why's"},
      {"wont", "won't"},
      {"wouldve", "would've"},
      {"wouldnt", "wouldn't"},
      {"wouldnt've", "wouldn't've"},
      {"wouldn'tve", "wouldn't've"},
      {"yall", "y'all"},
      {"yall'll", "y'all'll"},
      {"y'allll", "y'all'll"},
      {"yall'd've", "y'all'd've"},
      {"y'alld've", "y'all'd've"},
      {"y'all'dve", "y'all'd've"},
      {"youd", "you'd"},
      {"youd've", "you'd've"},
      {"you'dve", "you'd've"},
      {"youll", "you'll"},
      {"youre", "you're"},
      {"youve", "you've"},
  };
  return m;
}

// Newlines and tabs to spaces, then strip (the first step of vqaEval.py on an answer).
std::string flatten_strip(std::string_view text) {
  std::string s(text);
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\t', ' ');
  return std::string(strip_ws(s));
}

}  // namespace

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return out;
}

std::string ascii_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = char(c - 'a' + 'A');
  return out;
}

std::string_view strip_ws(std::string_view s) {
  while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  return s;
}

std::string vqa_process_punctuation(std::string_view text) {
  const bool digit_comma = has_digit_comma_digit(text);
  std::string out(text);
  for (const char p : kPunct) {
    const std::string after = std::string(1, p) + ' ', before = std::string(" ") + p;
    const bool remove = contains(text, after) || contains(text, before) || digit_comma;
    replace_all(out, std::string_view(&p, 1), remove ? "" : " ");
  }
  // periodStrip "(?!<=\d)(\.)(?!\d)": the first look-ahead never fails before a '.', so this
  // removes each '.' not followed by a digit, scanning the text left to right, at most 32 times.
  std::string res;
  res.reserve(out.size());
  int removed = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    const bool next_digit = i + 1 < out.size() && is_digit(out[i + 1]);
    if (out[i] == '.' && !next_digit && removed < 32) {
      ++removed;
      continue;
    }
    res += out[i];
  }
  return res;
}

std::string vqa_process_digit_article(std::string_view text) {
  const std::string lower = ascii_lower(text);
  std::vector<std::string> words;
  for (std::string_view w : split_ws(lower)) {
    const auto num = number_map().find(w);
    if (num != number_map().end()) w = num->second;
    if (w == "a" || w == "an" || w == "the") continue;
    words.emplace_back(w);
  }
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    const auto c = contraction_map().find(words[i]);
    if (i) out += ' ';
    out += c != contraction_map().end() ? std::string(c->second) : words[i];
  }
  return out;
}

std::string evalai_normalize(std::string_view text) {
  // word_tokenize
  std::string s = ascii_lower(text);
  replace_all(s, ",", "");
  replace_all(s, "?", "");
  replace_all(s, "'s", " 's");
  s = std::string(strip_ws(s));
  // then the vqaEval.py steps
  s = flatten_strip(s);
  return vqa_process_digit_article(vqa_process_punctuation(s));
}

double vqa_accuracy(const std::string& pred, const std::vector<std::string>& gt) {
  if (gt.empty()) return 0;
  const int64_t n = int64_t(gt.size());
  int64_t total_matches = 0;
  for (const std::string& g : gt) total_matches += g == pred ? 1 : 0;
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t others = total_matches - (gt[size_t(i)] == pred ? 1 : 0);
    sum += std::min(1.0, double(others) / 3.0);
  }
  return sum / double(n);
}

double vqav2_accuracy(std::string_view pred, const std::vector<std::string>& gt,
                      std::string* normalized_pred) {
  const std::string submitted = evalai_normalize(pred);
  const std::string res =
      vqa_process_digit_article(vqa_process_punctuation(flatten_strip(submitted)));
  if (normalized_pred) *normalized_pred = res;
  bool all_equal = true;
  for (const std::string& g : gt) all_equal = all_equal && g == gt.front();
  if (all_equal) return vqa_accuracy(res, gt);
  std::vector<std::string> processed;
  processed.reserve(gt.size());
  for (const std::string& g : gt) processed.push_back(vqa_process_punctuation(g));
  return vqa_accuracy(res, processed);
}

double textvqa_accuracy(std::string_view pred, const std::vector<std::string>& gt,
                        std::string* normalized_pred) {
  const std::string p = evalai_normalize(pred);
  if (normalized_pred) *normalized_pred = p;
  std::vector<std::string> processed;
  processed.reserve(gt.size());
  for (const std::string& g : gt) processed.push_back(evalai_normalize(g));
  return vqa_accuracy(p, processed);
}

YesNo pope_yes_no(std::string_view text) {
  const size_t dot = text.find('.');
  if (dot != std::string_view::npos) text = text.substr(0, dot);
  std::string s(text);
  replace_all(s, ",", "");
  // str.split(' '): split on single spaces only.
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(' ', start);
    if (end == std::string::npos) end = s.size();
    const std::string_view w(s.data() + start, end - start);
    if (w == "No" || w == "not" || w == "no") return YesNo::kNo;
    start = end + 1;
  }
  return YesNo::kYes;
}

YesNo mme_yes_no(std::string_view text) {
  const std::string s = ascii_lower(text);
  if (s == "yes") return YesNo::kYes;
  if (s == "no") return YesNo::kNo;
  // The first 4 characters (code points, as Python slices str).
  size_t end = 0;
  for (int chars = 0; chars < 4 && end < s.size(); ++chars) {
    ++end;
    while (end < s.size() && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) ++end;
  }
  const std::string_view prefix(s.data(), end);
  if (contains(prefix, "yes")) return YesNo::kYes;
  if (contains(prefix, "no")) return YesNo::kNo;
  return YesNo::kOther;
}

const char* yes_no_name(YesNo v) {
  switch (v) {
    case YesNo::kYes:
      return "yes";
    case YesNo::kNo:
      return "no";
    case YesNo::kOther:
      break;
  }
  return "other";
}

std::string gqa_normalize(std::string_view text) {
  std::string_view s = strip_ws(text);
  while (!s.empty() && s.back() == '.') s.remove_suffix(1);
  return ascii_lower(s);
}

int sqa_parse_option(std::string_view text, int n_choices) {
  static constexpr std::string_view kLetters = "ABCDE";
  std::string pred(text);
  replace_all(pred, "\n", ". ");
  char letter = 0;
  const std::string_view stripped = strip_ws(pred);
  const auto is_letter = [](char c) { return c >= 'A' && c <= 'E'; };
  if (stripped.size() == 1 && is_letter(stripped[0])) {
    letter = stripped[0];
  } else if (pred.size() >= 3 && is_letter(pred[0]) && pred[1] == '.' && pred[2] == ' ') {
    letter = pred[0];
  } else {
    static constexpr std::string_view kLead = "The answer is ";
    // First "The answer is X." (regex search), else first "The answer is X".
    for (int with_period = 1; with_period >= 0 && letter == 0; --with_period) {
      size_t pos = 0;
      while ((pos = pred.find(kLead, pos)) != std::string::npos) {
        const size_t at = pos + kLead.size();
        if (at < pred.size() && is_letter(pred[at]) &&
            (!with_period || (at + 1 < pred.size() && pred[at + 1] == '.'))) {
          letter = pred[at];
          break;
        }
        ++pos;
      }
    }
  }
  if (letter == 0) return -1;
  const int idx = int(kLetters.find(letter));
  return idx < n_choices ? idx : -1;
}

char mmbench_parse_option(std::string_view text, const std::vector<std::string>& options) {
  static constexpr std::array<char, 4> kLetters = {'A', 'B', 'C', 'D'};
  const size_t n = std::min(options.size(), kLetters.size());
  // answer.strip('.').strip().upper()
  std::string_view s = text;
  while (!s.empty() && s.front() == '.') s.remove_prefix(1);
  while (!s.empty() && s.back() == '.') s.remove_suffix(1);
  const std::string head = ascii_upper(strip_ws(s));
  for (size_t i = 0; i < n; ++i)
    if (head.size() == 1 && head[0] == kLetters[i]) return kLetters[i];
  const std::string lower = ascii_lower(text);
  for (size_t i = 0; i < n; ++i) {
    const std::string phrase = std::string("the answer is ") + char(kLetters[i] - 'A' + 'a') + ".";
    if (contains(lower, phrase)) return kLetters[i];
  }
  char found = 0;
  int matches = 0;
  for (size_t i = 0; i < options.size() && i < kLetters.size(); ++i) {
    if (contains(ascii_lower(options[i]), lower)) {
      ++matches;
      found = kLetters[i];
    }
  }
  return matches == 1 ? found : 0;
}

}  // namespace yopo::eval
