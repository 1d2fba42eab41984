// Sub-commands of the `yopo` program. Each registers its options and sets the function that runs.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace yopo::cli {

// The selected sub-command's body; returns the process exit code.
using Action = std::function<int()>;

void add_run_command(CLI::App& app, Action& action);
void add_inspect_command(CLI::App& app, Action& action);
void add_tokenize_command(CLI::App& app, Action& action);
void add_flops_command(CLI::App& app, Action& action);
void add_bench_command(CLI::App& app, Action& action);
void add_calibrate_command(CLI::App& app, Action& action);
void add_eval_command(CLI::App& app, Action& action);
void add_score_command(CLI::App& app, Action& action);
void add_serve_command(CLI::App& app, Action& action);

}  // namespace yopo::cli
