// `yopo bench [--shape llava-1.5-7b] [--layers N] [--sweep] [--json FILE|-] ...`: the benchmark
// (llama-bench style). Builds LLaVA-1.5 components at their real shapes with random weights and
// measures the GEMM peak, the image path, and prefill + decode under dense and pruned plans
// (docs/benchmark.md). The table goes to stdout (to stderr when the JSON goes to stdout),
// progress to stderr.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "core/error.h"
#include "models/pruning_plan.h"
#include "runtime/bench/bench_output.h"
#include "runtime/bench/bench_runner.h"

namespace yopo::cli {

namespace {

struct BenchCliOptions {
  bench::BenchOptions bench;
  std::string dtype = "bf16";
  std::vector<std::string> semantics = {"exact", "fast"};
  std::string peak_shape = "576x4096x11008";
  std::string json_path;
  std::string csv_path, svg_path;
  bool profile = false;
  bool no_pin = false;
  bool quiet = false;
};

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  check(bool(f), "cannot open '", path, "' for writing");
  f << text;
  f.close();
  check(bool(f), "cannot write '", path, "'");
}

// OpenMP reads OMP_PROC_BIND / OMP_PLACES once, when the runtime starts (before main), so
// pinning the threads means starting again with them set. Returns only when the process was not
// replaced (already pinned by the user, asked not to, or exec failed).
void pin_threads_by_reexec(bool quiet) {
  if (std::getenv("OMP_PROC_BIND") || std::getenv("OMP_PLACES")) return;
  std::ifstream f("/proc/self/cmdline", std::ios::binary);
  if (!f) return;
  std::ostringstream s;
  s << f.rdbuf();
  const std::string all = s.str();
  std::vector<std::string> args;
  for (size_t at = 0; at < all.size();) {
    const size_t end = all.find('\0', at);
    args.push_back(all.substr(at, end == std::string::npos ? std::string::npos : end - at));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  if (args.empty()) return;
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  setenv("OMP_PROC_BIND", "close", 1);
  setenv("OMP_PLACES", "cores", 1);
  if (!quiet) std::cerr << "pinning threads: OMP_PROC_BIND=close OMP_PLACES=cores (restarting)\n";
  std::cout.flush();
  std::cerr.flush();
  execv("/proc/self/exe", argv.data());
  unsetenv("OMP_PROC_BIND");  // exec failed: go on unpinned
  unsetenv("OMP_PLACES");
  std::cerr << "warning: could not restart with pinned threads; running unpinned\n";
}

int run_bench(BenchCliOptions o) {
  check(o.dtype == "bf16" || o.dtype == "f32" || o.dtype == "int8",
        "--dtype must be bf16, f32 or int8, not '", o.dtype, "'");
  o.bench.dtype = o.dtype == "bf16" ? DType::BF16 : o.dtype == "int8" ? DType::I8 : DType::F32;
  o.bench.semantics.clear();
  for (const std::string& s : o.semantics) o.bench.semantics.push_back(parse_semantics(s));
  o.bench.peak_shape = bench::parse_gemm_shape(o.peak_shape);
  bench::validate_options(o.bench);  // before restarting, so that errors come once
  if (!o.no_pin) pin_threads_by_reexec(o.quiet);
  if (!o.quiet) o.bench.log = &std::cerr;

  const bench::BenchReport report = bench::run_benchmark(o.bench);
  const bool json_stdout = o.json_path == "-";
  (json_stdout ? std::cerr : std::cout) << "\n" << bench::report_to_text(report, o.profile);
  if (!o.json_path.empty()) {
    const std::string text = bench::report_to_json(report).dump(2) + "\n";
    if (json_stdout) {
      std::cout << text;
    } else {
      write_file(o.json_path, text);
      std::cerr << "wrote " << o.json_path << "\n";
    }
  }
  if (o.bench.sweep) {
    const std::string csv = o.csv_path.empty() ? "yopo-bench-sweep.csv" : o.csv_path;
    const std::string svg = o.svg_path.empty() ? "yopo-bench-sweep.svg" : o.svg_path;
    write_file(csv, bench::sweep_csv(report));
    write_file(svg, bench::sweep_svg(report));
    std::cerr << "wrote " << csv << " and " << svg << "\n";
  }
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand(
      "bench", "Benchmark prefill/decode of LLaVA-1.5 shapes (random weights) under pruning plans");
  auto o = std::make_shared<BenchCliOptions>();
  bench::BenchOptions& b = o->bench;
  cmd->add_option("--shape", b.shape, "Decoder shape: llava-1.5-7b or llava-1.5-13b")
      ->capture_default_str();
  cmd->add_option("--dtype", o->dtype,
                  "Weights: bf16, f32, or int8 (decoder projections in int8, the rest bf16)")
      ->capture_default_str();
  cmd->add_option("--layers", b.layers,
                  "Decoder layers to build and run (full-depth figures are extrapolated)")
      ->capture_default_str();
  cmd->add_option("--vision-layers", b.vision_layers,
                  "CLIP layers to build and run (LLaVA-1.5 runs 23; 0 with --no-vision skips)")
      ->capture_default_str();
  cmd->add_option("-t,--threads", b.threads, "Threads (0: all cores)")->capture_default_str();
  cmd->add_option("-r,--reps", b.reps, "Timed repetitions (median, min, max)")
      ->capture_default_str();
  cmd->add_option("--decode-steps", b.decode_steps, "Greedy decode steps after each prefill")
      ->capture_default_str();
  cmd->add_option("--methods", b.methods,
                  "Methods, comma-separated: dense, yopo-25, yopo-12, fastv, pdrop, sparsevlm or "
                  "any --prune plan spec (default: all of the named ones)")
      ->delimiter(',');
  cmd->add_option("--semantics", o->semantics, "Semantics of the pruned methods: exact,fast")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--head-mask", b.head_mask, "Head mask (.json/.npy) for the YOPO presets");
  cmd->add_option("--prefix-tokens", b.prefix_tokens, "Text tokens before the image")
      ->capture_default_str();
  cmd->add_option("--suffix-tokens", b.suffix_tokens, "Text tokens after the image")
      ->capture_default_str();
  cmd->add_option("--grid", b.grid, "Visual grid side of the main prompt (24: 576 tokens)")
      ->capture_default_str();
  cmd->add_flag("--sweep", b.sweep,
                "Also run 1152, 2304, 4608 visual tokens (grids 34, 48, 68) and time the "
                "attention kernels alone; writes CSV and SVG");
  cmd->add_option("--sweep-tokens", b.sweep_tokens, "Visual token counts of --sweep")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--csv", o->csv_path, "Sweep CSV file (default yopo-bench-sweep.csv)");
  cmd->add_option("--svg", o->svg_path, "Sweep SVG plot (default yopo-bench-sweep.svg)");
  cmd->add_option("--json", o->json_path, "Write the results as JSON to FILE ('-': stdout)");
  cmd->add_option("--peak-shape", o->peak_shape, "GEMM shape MxKxN of the peak probe")
      ->capture_default_str();
  cmd->add_option("--peak-reps", b.peak_reps, "Repetitions of the GEMM peak probe (best counts)")
      ->capture_default_str();
  cmd->add_option("--seed", b.seed, "Seed of the random weights and inputs")->capture_default_str();
  cmd->add_flag("--profile", o->profile, "Print the prefill time of every stage");
  cmd->add_flag(
      "--no-vision", [b = &b](int64_t) { b->vision = false; }, "Skip the vision tower timing");
  cmd->add_flag(
      "--no-decoder", [b = &b](int64_t) { b->decoder = false; },
      "Skip the decoder (GEMM peak, vision and attention kernels only)");
  cmd->add_flag("--no-pin", o->no_pin,
                "Do not set OMP_PROC_BIND=close OMP_PLACES=cores when they are unset");
  cmd->add_flag("-q,--quiet", o->quiet, "No progress lines");
  cmd->callback([&action, o] { action = [o] { return run_bench(*o); }; });
}

}  // namespace yopo::cli
