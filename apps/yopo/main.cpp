// yopo: a LLaVA-family inference engine whose visual computation can be pruned.
#include <exception>
#include <iostream>

#include "commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"yopo: fast LLaVA-family inference with pruned visual computation"};
  app.require_subcommand(1);
  yopo::cli::Action action;
  yopo::cli::add_run_command(app, action);
  yopo::cli::add_inspect_command(app, action);
  yopo::cli::add_tokenize_command(app, action);
  yopo::cli::add_flops_command(app, action);
  yopo::cli::add_bench_command(app, action);
  yopo::cli::add_calibrate_command(app, action);
  yopo::cli::add_eval_command(app, action);
  yopo::cli::add_score_command(app, action);
  yopo::cli::add_serve_command(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return action ? action() : 0;
  } catch (const yopo::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
  }
  return 1;
}
