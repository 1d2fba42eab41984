#include "eval/tsv.h"

#include <array>

#include "core/error.h"
#include "eval/jsonl.h"

namespace yopo::eval {

int TsvTable::column(std::string_view name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return int(i);
  return -1;
}

bool tsv_is_na(std::string_view f) {
  static constexpr std::array<std::string_view, 19> kNa = {
      "",     "#N/A",   "#N/A N/A", "#NA",  "-1.#IND", "-1.#QNAN", "-NaN",
      "-nan", "1.#IND", "1.#QNAN",  "<NA>", "N/A",     "NA",       "NULL",
      "NaN",  "None",   "n/a",      "nan",  "null"};
  for (std::string_view na : kNa)
    if (f == na) return true;
  return false;
}

TsvTable parse_tsv_text(std::string_view text, const std::string& origin,
                        const std::unordered_set<std::string>& keep) {
  TsvTable t;
  size_t pos = 0;
  int64_t line = 1;
  bool have_header = false;
  while (pos < text.size()) {
    const int64_t start_line = line;
    std::vector<std::string> fields;
    size_t col = 0;
    bool row_done = false;
    // A line holding nothing (blank) is skipped.
    if (text[pos] == '\n' ||
        (text[pos] == '\r' && pos + 1 < text.size() && text[pos + 1] == '\n')) {
      pos += text[pos] == '\r' ? 2 : 1;
      ++line;
      continue;
    }
    while (!row_done) {
      const bool store =
          !have_header || keep.empty() || (col < t.header.size() && keep.count(t.header[col]) > 0);
      std::string field;
      if (pos < text.size() && text[pos] == '"') {
        ++pos;
        bool closed = false;
        while (pos < text.size()) {
          const char c = text[pos];
          if (c == '"') {
            if (pos + 1 < text.size() && text[pos + 1] == '"') {
              if (store) field += '"';
              pos += 2;
              continue;
            }
            ++pos;
            closed = true;
            break;
          }
          if (c == '\n') ++line;
          if (store) field += c;
          ++pos;
        }
        check(closed, origin, " line ", start_line, ": a quoted field is never closed");
        // Characters after the closing quote up to the separator belong to the field (pandas).
        while (pos < text.size() && text[pos] != '\t' && text[pos] != '\n' && text[pos] != '\r') {
          if (store) field += text[pos];
          ++pos;
        }
      } else {
        const size_t end = text.find_first_of("\t\n", pos);
        const size_t stop = end == std::string_view::npos ? text.size() : end;
        size_t content_end = stop;
        if (content_end > pos && text[content_end - 1] == '\r') --content_end;
        if (store) field.assign(text.substr(pos, content_end - pos));
        pos = content_end;
        if (pos < text.size() && text[pos] == '\r') ++pos;
      }
      fields.push_back(std::move(field));
      ++col;
      if (pos >= text.size()) {
        row_done = true;
      } else if (text[pos] == '\t') {
        ++pos;
      } else {  // '\n' or "\r\n"
        if (text[pos] == '\r') ++pos;
        if (pos < text.size() && text[pos] == '\n') ++pos;
        ++line;
        row_done = true;
      }
    }
    if (!have_header) {
      t.header = std::move(fields);
      have_header = true;
      continue;
    }
    check(fields.size() <= t.header.size(), origin, " line ", start_line, ": ", fields.size(),
          " fields but the header has ", t.header.size());
    fields.resize(t.header.size());
    t.rows.push_back(std::move(fields));
    t.row_lines.push_back(start_line);
  }
  check(have_header, origin, " is empty (no header line)");
  return t;
}

TsvTable read_tsv(const std::string& path, const std::unordered_set<std::string>& keep) {
  const std::string text = read_text_file(path, "tsv file");
  return parse_tsv_text(text, "tsv file '" + path + "'", keep);
}

}  // namespace yopo::eval
