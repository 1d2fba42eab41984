// Runs a program (the yopo command) and captures its exit code, stdout and stderr.
#pragma once

#include <string>
#include <vector>

namespace yopo::test {

struct CommandResult {
  int exit_code = -1;  // -1: did not exit normally (signal)
  std::string out, err;
};

// args[0] is the program path; no shell is involved.
CommandResult run_command(const std::vector<std::string>& args);

}  // namespace yopo::test
