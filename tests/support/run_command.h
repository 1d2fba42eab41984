// Runs a program (the yopo command) and captures its exit code, stdout and stderr.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace yopo::test {

struct CommandResult {
  int exit_code = -1;  // -1: did not exit normally (signal)
  std::string out, err;
};

// args[0] is the program path; no shell is involved.
CommandResult run_command(const std::vector<std::string>& args);

// Starts args (stdout and stderr to log_path) without waiting; returns the pid, -1 on failure.
pid_t spawn_command(const std::vector<std::string>& args, const std::string& log_path);
// Waits up to timeout_s for pid to end; returns its exit code, or -1 when it was killed by a
// signal or did not end in time (it is then killed).
int wait_command(pid_t pid, int timeout_s);

}  // namespace yopo::test
