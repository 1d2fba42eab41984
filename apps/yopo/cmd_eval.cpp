// `yopo eval --task T -m MODEL --questions FILE --images DIR --answers OUT.jsonl [--prune SPEC]`:
// answers a benchmark's questions with a LLaVA model (greedy, deterministic) and writes LLaVA's
// answers jsonl, resumably. `--sweep A,B,... --out-dir DIR` runs several pruning plans over the
// same questions and writes an accuracy-vs-FLOPs table (markdown, CSV) and plot (SVG).
//
// Exit codes: 0 every selected question is answered; 2 the run finished but some questions
// could not be answered (malformed question lines, missing or unreadable images: listed at the
// end) or, with --annotations, an answers file could not be scored; 1 nothing could be done
// (bad options, model or question file unreadable).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "core/error.h"
#include "core/fnv1a.h"
#include "eval/answer_log.h"
#include "eval/questions.h"
#include "eval/score.h"
#include "eval/sweep.h"
#include "eval/sweep_plot.h"
#include "io/model_fingerprint.h"
#include "load_options.h"
#include "models/llama_config.h"
#include "prune/flops_model.h"
#include "prune/plan_json.h"
#include "runtime/llava_answer.h"

namespace yopo::cli {

namespace {

namespace fs = std::filesystem;
using eval::Question;

struct EvalOptions {
  std::string task;
  std::string model;
  std::string questions;
  std::string images;
  std::string answers;
  std::string prune = "dense";
  std::string semantics = "exact";
  std::string head_mask;
  std::string sweep;
  std::string out_dir;
  std::string annotations;
  std::string chat_template = "vicuna_v1";
  std::string dtype = "auto";
  LlavaLoadOptions llava;
  int64_t max_new_tokens = 128;
  int64_t limit = 0;
  int threads = 0;
};

// One pruning plan of the run and its answers file.
struct PlanRun {
  std::string spec;
  PruningPlan plan;
  std::string plan_fingerprint;  // of the resolved plan: tells head masks apart under one spec
  std::string file;
  std::set<std::string> done;  // answer keys already in the file
  std::unique_ptr<eval::AnswerWriter> writer;
  int64_t answered = 0;  // new answers this run
  int64_t resumed = 0;   // selected questions already answered in the file
  double answer_ms = 0;
};

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long long s = (long long)std::llround(seconds);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s / 60) % 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%llds", s);
  return buf;
}

// Progress on stderr: a bar redrawn in place on a terminal, else one line per 10%.
class Progress {
 public:
  Progress(int64_t total, bool tty)
      : total_(total), tty_(tty), t0_(std::chrono::steady_clock::now()) {}

  void step() {
    ++done_;
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    const double per = elapsed / double(done_);
    const double eta = per * double(total_ - done_);
    const int pct = total_ > 0 ? int(100 * done_ / total_) : 100;
    if (tty_) {
      const int width = 30, fill = total_ > 0 ? int(width * done_ / total_) : width;
      std::fprintf(stderr, "\r\033[K[%s%s] %lld/%lld %3d%%  %.2f s/answer  ETA %s",
                   std::string(size_t(fill), '#').c_str(),
                   std::string(size_t(width - fill), '.').c_str(), (long long)done_,
                   (long long)total_, pct, per, format_duration(eta).c_str());
      drawn_ = true;
    } else if (pct / 10 > last_decile_ || done_ == total_) {
      last_decile_ = pct / 10;
      std::fprintf(stderr, "eval: %lld/%lld answered (%d%%), %.2f s/answer, ETA %s\n",
                   (long long)done_, (long long)total_, pct, per, format_duration(eta).c_str());
    }
  }
  // Prints a message line without breaking the bar.
  void message(const std::string& line) {
    if (drawn_) std::fprintf(stderr, "\r\033[K");
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  void finish() {
    if (drawn_) std::fprintf(stderr, "\n");
    drawn_ = false;
  }

 private:
  int64_t total_, done_ = 0;
  bool tty_;
  std::chrono::steady_clock::time_point t0_;
  int last_decile_ = 0;
  bool drawn_ = false;
};

// Answers resume by question, so an answers file must hold answers of this model and plan only:
// a line written with other weights or another plan stops the run (lines from before the
// fingerprint was recorded are taken as they are).
void check_resumable(const eval::LoggedAnswer& a, const PlanRun& r, const std::string& fp) {
  const std::string where = "'" + r.file + "' line " + std::to_string(a.line);
  check(a.model_fingerprint.empty() || a.model_fingerprint == fp, where,
        " was answered by other model weights (fingerprint ", a.model_fingerprint, ", this model ",
        fp,
        "); answers do not resume across checkpoints: give another answers file or "
        "directory, or remove it");
  const std::string sem = semantics_name(r.plan.semantics);
  check(a.plan_spec.empty() || (a.plan_spec == r.spec && a.semantics == sem), where,
        " was answered under plan '", a.plan_spec, "' (", a.semantics, "), this run is '", r.spec,
        "' (", sem, "): give another answers file, or remove it");
  check(a.plan_fingerprint.empty() || a.plan_fingerprint == r.plan_fingerprint, where,
        " was answered under plan '", a.plan_spec,
        "' resolved differently (another head mask?): "
        "give another answers file, or remove it");
}

// Resolves a plan spec; in a sweep, --head-mask goes to the specs that take one.
PruningPlan resolve(const LlavaAnswerer& a, const std::string& spec, PruneSemantics sem,
                    const std::string& head_mask, bool sweep) {
  return a.resolve_plan(spec, sem, head_mask,
                        sweep ? UnusedHeadMask::Ignore : UnusedHeadMask::Error);
}

// "1.234 G" style: 4 significant digits and an SI prefix.
std::string si(double v) {
  if (!std::isfinite(v)) return "n/a";
  const char* prefixes[] = {"", " K", " M", " G", " T", " P"};
  int k = 0;
  while (std::abs(v) >= 1000 && k < 5) {
    v /= 1000;
    ++k;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g%s", v, prefixes[k]);
  return buf;
}

std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "n/a";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (const char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  check(bool(f), "cannot write '", path, "'");
  f << text;
  check(bool(f), "cannot write '", path, "'");
}

// One row of the sweep table.
struct SweepRow {
  std::string plan, spec, semantics, file;
  int64_t answers = 0;  // answers in the file for the selected questions
  double paper_visual = NAN, paper_fraction = NAN;
  double executed_visual = NAN, executed_fraction = NAN, executed_total = NAN;
  std::optional<eval::ScoreReport> score;
};

// The mean FLOPs of the answers in a file for the selected questions.
void measure(const std::string& file, const std::set<std::string>& selected, SweepRow& row) {
  const eval::AnswerLog log = eval::read_answer_log(file);
  double vis = 0, tot = 0;
  int64_t n = 0, with_flops = 0;
  std::set<std::string> seen;
  for (const eval::LoggedAnswer& a : log.answers) {
    if (!selected.count(a.key) || !seen.insert(a.key).second) continue;
    ++n;
    if (a.has_flops) {
      vis += a.visual_flops;
      tot += a.executed_flops;
      ++with_flops;
    }
  }
  row.answers = n;
  if (with_flops > 0) {
    row.executed_visual = vis / double(with_flops);
    row.executed_total = tot / double(with_flops);
  }
}

void write_sweep_outputs(const EvalOptions& o, const std::string& dir,
                         const std::vector<SweepRow>& rows, int64_t n_questions,
                         const LlavaAnswerer& a) {
  // Metric columns: the union of the reports' metric names, in order of first appearance.
  std::vector<std::string> metrics;
  for (const SweepRow& r : rows)
    if (r.score)
      for (const eval::Metric& m : r.score->metrics)
        if (std::find(metrics.begin(), metrics.end(), m.name) == metrics.end())
          metrics.push_back(m.name);
  auto metric_of = [](const SweepRow& r, const std::string& name) {
    if (r.score)
      for (const eval::Metric& m : r.score->metrics)
        if (m.name == name) return m.value;
    return double(NAN);
  };
  // Counts as integers, other values with 4 decimals; blank when absent.
  auto md_value = [](double v) {
    if (!std::isfinite(v)) return std::string("");
    return fixed(v, v == std::floor(v) && std::abs(v) < 1e15 ? 0 : 4);
  };
  auto g = [](double v) {
    if (!std::isfinite(v)) return std::string("");
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    return std::string(buf);
  };

  std::ostringstream md;
  md << "# Sweep: " << o.task << "\n\n"
     << "Questions: `" << o.questions << "` (" << n_questions << " selected), model `"
     << a.model_id() << "`, greedy, at most " << o.max_new_tokens << " new tokens, template "
     << o.chat_template << ".\n"
     << "Paper visual FLOPs: the YOPO paper's convention (work for the visual tokens only, "
        "whole decoder, prefix "
     << a.text_rows_before_image()
     << " text rows). Executed visual FLOPs: what the engine "
        "counted for visual rows, mean per question; % is relative to the dense plan's "
        "predicted count in the same semantics.\n\n";
  md << "| plan | semantics | paper visual FLOPs | paper % | executed visual FLOPs | executed % "
        "| answers |";
  if (o.annotations.empty()) {
    md << "\n|---|---|---|---|---|---|---|\n";
  } else {
    md << " scored | missing |";
    for (size_t i = 0; i < metrics.size(); ++i)
      md << ' ' << metrics[i] << (i == 0 ? " (headline)" : "") << " |";
    md << "\n|---|---|---|---|---|---|---|---|---|";
    for (size_t i = 0; i < metrics.size(); ++i) md << "---|";
    md << '\n';
  }
  for (const SweepRow& r : rows) {
    md << "| " << r.plan << " | " << r.semantics << " | " << si(r.paper_visual) << " | "
       << fixed(100 * r.paper_fraction, 1) << " | " << si(r.executed_visual) << " | "
       << fixed(100 * r.executed_fraction, 1) << " | " << r.answers << " |";
    if (!o.annotations.empty()) {
      md << ' ' << (r.score ? std::to_string(r.score->n_scored) : "") << " | "
         << (r.score ? std::to_string(r.score->n_missing) : "") << " |";
      for (const std::string& m : metrics) md << ' ' << md_value(metric_of(r, m)) << " |";
    }
    md << '\n';
  }
  if (!o.annotations.empty())
    md << "\nAnnotated questions without an answer (missing) count as wrong; with --limit, "
          "score against annotations restricted to the selected questions.\n";
  write_text_file(dir + "/sweep.md", md.str());

  std::ostringstream csv;
  csv << "plan,spec,semantics,answers_file,answers,paper_visual_flops,paper_fraction,"
         "executed_visual_flops,executed_fraction,executed_flops";
  if (!o.annotations.empty()) csv << ",n_scored,n_missing";
  for (const std::string& m : metrics) csv << ',' << csv_field(m);
  csv << '\n';
  for (const SweepRow& r : rows) {
    csv << csv_field(r.plan) << ',' << csv_field(r.spec) << ',' << r.semantics << ','
        << csv_field(fs::path(r.file).filename().string()) << ',' << r.answers << ','
        << g(r.paper_visual) << ',' << g(r.paper_fraction) << ',' << g(r.executed_visual) << ','
        << g(r.executed_fraction) << ',' << g(r.executed_total);
    if (!o.annotations.empty())
      csv << ',' << (r.score ? std::to_string(r.score->n_scored) : "") << ','
          << (r.score ? std::to_string(r.score->n_missing) : "");
    for (const std::string& m : metrics) csv << ',' << g(metric_of(r, m));
    csv << '\n';
  }
  write_text_file(dir + "/sweep.csv", csv.str());

  // The plot: headline metric against executed visual FLOPs per question.
  eval::ScatterPlot plot;
  double max_x = 0;
  for (const SweepRow& r : rows)
    if (std::isfinite(r.executed_visual)) max_x = std::max(max_x, r.executed_visual);
  const char* units[] = {"", "K", "M", "G", "T", "P"};
  int k = 0;
  double scale = 1;
  while (max_x / scale >= 1000 && k < 5) {
    scale *= 1000;
    ++k;
  }
  const std::string headline = metrics.empty() ? "" : metrics[0];
  plot.title =
      o.task + ": " + (headline.empty() ? "no scores" : headline) + " vs executed visual FLOPs";
  plot.x_label = std::string("executed visual FLOPs per question (") + units[k] + "FLOPs)";
  plot.y_label = headline.empty() ? "(no --annotations)" : headline;
  for (const SweepRow& r : rows) {
    if (!r.score || r.score->metrics.empty()) continue;
    plot.points.push_back({r.plan, r.executed_visual / scale, r.score->metrics[0].value});
  }
  write_text_file(dir + "/sweep.svg", eval::scatter_svg(plot));
}

int run_eval(const EvalOptions& o) {
  const bool sweep = !o.sweep.empty();
  if (sweep) {
    check(!o.out_dir.empty(), "--sweep needs --out-dir (one answers file per plan goes there)");
    check(o.answers.empty(), "--sweep writes DIR/<plan>.jsonl: give --out-dir, not --answers");
    check(o.prune == "dense", "--sweep lists the plans: do not give --prune as well");
  } else {
    check(!o.answers.empty(), "--answers OUT.jsonl is required (or --sweep with --out-dir)");
    check(o.out_dir.empty(), "--out-dir is for --sweep");
  }
  check(o.max_new_tokens > 0, "--max-new-tokens must be positive");
  check(o.limit >= 0, "--limit must be >= 0 (0: all questions)");
  const PruneSemantics semantics = parse_semantics(o.semantics);

  // Questions first: a wrong task or file fails before the model loads.
  eval::QuestionFile qf = eval::read_questions(o.task, o.questions);
  std::vector<std::string> failures = qf.errors;  // questions not answered
  std::vector<std::string> not_scored;            // answers files the scorer rejected
  std::vector<Question>& questions = qf.questions;
  if (o.limit > 0 && int64_t(questions.size()) > o.limit) questions.resize(size_t(o.limit));
  std::set<std::string> selected;
  for (const Question& q : questions) selected.insert(eval::answer_key(q.id, q.text));

  LlavaAnswererOptions ao;
  ao.load = o.llava;
  ao.load.dtype = parse_weight_dtype(o.dtype);
  ao.chat_template = o.chat_template;
  ao.threads = o.threads;
  LlavaAnswerer answerer(o.model, ao);
  const std::string fingerprint = model_fingerprint(o.model);
  std::fprintf(stderr, "load: %.1f ms (%s layout, %s weights, %d threads)\n",
               answerer.loaded().load_ms, answerer.loaded().layout.c_str(),
               weight_dtype_name(answerer.loaded().dtype), answerer.threads());

  // Plans and their files.
  const std::vector<std::string> specs =
      sweep ? eval::split_sweep_specs(o.sweep) : std::vector<std::string>{o.prune};
  std::vector<PlanRun> runs;
  std::vector<std::string> stems;
  if (sweep) fs::create_directories(o.out_dir);
  for (const std::string& spec : specs) {
    PlanRun r;
    r.spec = spec;
    // In a sweep, "SPEC@exact" / "SPEC@fast" sets that plan's semantics (else --prune-semantics).
    std::string plan_spec = spec, stem_suffix;
    PruneSemantics plan_semantics = semantics;
    for (const char* sem_name : {"exact", "fast"}) {
      const std::string tag = std::string("@") + sem_name;
      if (sweep && plan_spec.size() > tag.size() &&
          plan_spec.compare(plan_spec.size() - tag.size(), tag.size(), tag) == 0) {
        plan_spec.resize(plan_spec.size() - tag.size());
        plan_semantics = parse_semantics(sem_name);
        stem_suffix = tag;
      }
    }
    r.plan = resolve(answerer, plan_spec, plan_semantics, o.head_mask, sweep);
    r.plan_fingerprint = hex16(fnv1a(plan_to_json(r.plan).dump()));
    r.file = sweep ? (fs::path(o.out_dir) /
                      (eval::plan_file_stem(r.plan.name + stem_suffix, stems) + ".jsonl"))
                         .string()
                   : o.answers;
    const eval::AnswerLog log = eval::read_answer_log(r.file);
    for (const std::string& w : log.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    for (const eval::LoggedAnswer& a : log.answers) {
      check_resumable(a, r, fingerprint);
      r.done.insert(a.key);
    }
    for (const std::string& key : selected) r.resumed += r.done.count(key);
    r.writer = std::make_unique<eval::AnswerWriter>(r.file);
    runs.push_back(std::move(r));
  }
  int64_t pending = 0;
  for (const PlanRun& r : runs) pending += int64_t(selected.size()) - r.resumed;
  for (const PlanRun& r : runs)
    std::fprintf(stderr, "plan %s (%s): %lld of %zu questions to answer -> %s\n",
                 r.plan.name.c_str(), semantics_name(r.plan.semantics),
                 (long long)(int64_t(selected.size()) - r.resumed), selected.size(),
                 r.file.c_str());
  for (const std::string& f : failures) std::fprintf(stderr, "error: %s\n", f.c_str());

  // Question-major: each image is encoded once for all plans.
  Progress progress(pending, isatty(STDERR_FILENO) != 0);
  std::string cached_key;
  std::optional<EncodedImage> cached;
  std::set<std::string> handled;  // keys already answered or failed in this run (duplicates)
  for (const Question& q : questions) {
    const std::string key = eval::answer_key(q.id, q.text);
    if (!handled.insert(key).second) continue;
    std::vector<PlanRun*> todo;
    for (PlanRun& r : runs)
      if (!r.done.count(key)) todo.push_back(&r);
    if (todo.empty()) continue;
    const std::string where = o.questions + ":" + std::to_string(q.line) + ": question " + q.id;
    try {
      const EncodedImage* image = nullptr;
      if (q.has_image()) {
        const std::string image_key = q.image_bytes.empty() ? "file:" + q.image : "tsv:" + q.id;
        if (!cached || cached_key != image_key) {
          cached.reset();
          cached = answerer.encode(eval::question_image(q, o.images));
          cached_key = image_key;
        }
        image = &*cached;
      }
      for (PlanRun* r : todo) {
        const LlavaAnswer ans = answerer.answer(image, q.text, r->plan, o.max_new_tokens);
        eval::AnswerRecord rec;
        rec.question = &q;
        rec.text = ans.text;
        rec.model_id = answerer.model_id();
        rec.plan_name = r->plan.name;
        rec.plan_spec = r->spec;
        rec.semantics = semantics_name(r->plan.semantics);
        rec.executed_flops = ans.executed_flops;
        rec.visual_flops = ans.visual_flops;
        rec.model_fingerprint = fingerprint;
        rec.plan_fingerprint = r->plan_fingerprint;
        r->writer->write(eval::answer_json(rec));
        r->done.insert(key);
        ++r->answered;
        r->answer_ms += ans.total_ms;
        progress.step();
      }
    } catch (const Error& e) {
      const std::string msg = where + ": " + e.what();
      failures.push_back(msg);
      progress.message("error: " + msg);
      for (PlanRun* r : todo)
        if (!r->done.count(key)) progress.step();
    }
  }
  progress.finish();

  for (const PlanRun& r : runs)
    std::fprintf(stderr, "plan %s: %lld answered now, %lld already in %s%s\n", r.plan.name.c_str(),
                 (long long)r.answered, (long long)r.resumed, r.file.c_str(),
                 r.answered > 0
                     ? (", " + fixed(r.answer_ms / double(r.answered), 1) + " ms/answer").c_str()
                     : "");

  // Scores and the sweep table.
  if (sweep) {
    const LlamaConfig& cfg = answerer.model().llm->config();
    const LlavaModel& m = answerer.model();
    std::vector<SweepRow> rows;
    for (const PlanRun& r : runs) {
      SweepRow row;
      row.plan = r.plan.name;
      row.spec = r.spec;
      row.semantics = semantics_name(r.plan.semantics);
      row.file = r.file;
      measure(r.file, selected, row);
      try {
        if (m.grid_rows() == m.grid_cols()) {
          const VisualFlopsReport p = paper_visual_flops(
              shape_of(cfg, answerer.model_id()), r.plan, m.grid_rows() * m.grid_cols(),
              m.grid_rows(), answerer.text_rows_before_image());
          row.paper_visual = p.total;
          row.paper_fraction = p.fraction;
        }
      } catch (const Error&) {
        // A plan the paper's convention cannot express (e.g. token pruning): left blank.
      }
      try {
        PruningPlan dense;
        dense.semantics = r.plan.semantics;
        TokenLayoutSummary layout{answerer.text_rows_before_image(), m.grid_rows(), m.grid_cols(),
                                  1};
        double dense_visual = 0;
        for (const LayerFlops& l : predicted_executed_flops(cfg, dense, layout))
          dense_visual += l.visual.total();
        if (dense_visual > 0) row.executed_fraction = row.executed_visual / dense_visual;
      } catch (const Error&) {
      }
      if (!o.annotations.empty()) {
        try {
          row.score = eval::score_task(o.task, r.file, o.annotations);
        } catch (const Error& e) {
          not_scored.push_back(r.file + ": " + e.what());
          std::fprintf(stderr, "error: %s: not scored: %s\n", r.file.c_str(), e.what());
        }
      }
      rows.push_back(std::move(row));
    }
    write_sweep_outputs(o, o.out_dir, rows, int64_t(selected.size()), answerer);
    std::fprintf(stderr, "sweep: wrote %s/sweep.md, sweep.csv, sweep.svg\n", o.out_dir.c_str());
    std::ifstream md(o.out_dir + "/sweep.md");
    std::cout << md.rdbuf();
  } else if (!o.annotations.empty()) {
    try {
      std::cout << eval::format_report(eval::score_task(o.task, o.answers, o.annotations));
    } catch (const Error& e) {
      not_scored.push_back(o.answers + ": " + e.what());
    }
  }

  if (!failures.empty()) {
    std::fprintf(stderr, "%zu question(s) not answered:\n", failures.size());
    for (const std::string& f : failures) std::fprintf(stderr, "  %s\n", f.c_str());
  }
  if (!not_scored.empty()) {
    std::fprintf(stderr, "%zu answers file(s) not scored:\n", not_scored.size());
    for (const std::string& f : not_scored) std::fprintf(stderr, "  %s\n", f.c_str());
  }
  return failures.empty() && not_scored.empty() ? 0 : 2;
}

}  // namespace

void add_eval_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand(
      "eval", "Answer a benchmark's questions with a LLaVA model (LLaVA's answers jsonl)");
  auto o = std::make_shared<EvalOptions>();
  std::string tasks;
  for (const std::string& t : eval::eval_tasks()) tasks += (tasks.empty() ? "" : ", ") + t;
  cmd->add_option("--task", o->task, "Benchmark: " + tasks)->required();
  cmd->add_option("-m,--model", o->model, "LLaVA checkpoint (HF directory, original, or GGUF)")
      ->required();
  add_llava_load_options(cmd, o->llava);
  cmd->add_option("--questions", o->questions,
                  "Question file: jsonl (pope gqa vqav2 textvqa mme), ScienceQA json, MMBench tsv")
      ->required();
  cmd->add_option("--images", o->images, "Directory the questions' image paths are relative to");
  cmd->add_option("--answers", o->answers,
                  "Answers jsonl to write (appended; questions already in it are skipped)");
  cmd->add_option("--prune", o->prune, "Pruning plan spec (as for yopo run)")
      ->capture_default_str();
  cmd->add_option("--prune-semantics", o->semantics, "exact or fast")->capture_default_str();
  cmd->add_option("--head-mask", o->head_mask, "Visual head mask (.json or .npy) for the plan(s)");
  cmd->add_option("--max-new-tokens", o->max_new_tokens, "Most tokens generated per answer")
      ->capture_default_str();
  cmd->add_option("--limit", o->limit, "Only the first N questions of the file (0: all)")
      ->capture_default_str();
  cmd->add_option("--sweep", o->sweep,
                  "Plan specs to compare, separated by ',' (or ';' when a spec holds commas)");
  cmd->add_option("--out-dir", o->out_dir,
                  "With --sweep: DIR/<plan>.jsonl, sweep.md, sweep.csv, sweep.svg");
  cmd->add_option("--annotations", o->annotations,
                  "Ground truth for the task: score the answers (as yopo score)");
  cmd->add_option("--template", o->chat_template, "Chat template: vicuna_v1, llava_hf or raw")
      ->capture_default_str();
  cmd->add_option("--dtype", o->dtype, kWeightDtypeHelp)->capture_default_str();
  cmd->add_option("-t,--threads", o->threads, "Threads (0: all cores)")->capture_default_str();
  cmd->callback([&action, o] { action = [o] { return run_eval(*o); }; });
}

}  // namespace yopo::cli
