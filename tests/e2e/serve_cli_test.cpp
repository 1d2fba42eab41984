// The `yopo serve` command as a process: it prints where it listens, answers, and stops cleanly
// on SIGTERM; a model it cannot load is an error before it listens.
#include <gtest/gtest.h>
#include <httplib.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "support/test_paths.h"

extern char** environ;

namespace yopo {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Starts `yopo args...` with stdout and stderr to log; returns its pid.
pid_t spawn_yopo(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> all = {test::cli_path()};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  EXPECT_EQ(rc, 0);
  return pid;
}

// Waits for the process to end (up to timeout_s); returns its exit status, or -1.
int wait_exit(pid_t pid, int timeout_s) {
  for (int i = 0; i < timeout_s * 100; ++i) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

TEST(ServeCli, ListensAnswersAndStopsOnSigterm) {
  YOPO_REQUIRE_ASSET(model, "models/stories260K.gguf");
  const std::string log = test::temp_dir() + "/serve.log";
  const pid_t pid = spawn_yopo({"serve", "-m", model, "--port", "0", "-t", "1"}, log);
  int port = 0;
  for (int i = 0; i < 1000 && port == 0; ++i) {  // "... on http://127.0.0.1:PORT/v1"
    std::smatch m;
    const std::string text = read_text(log);
    if (std::regex_search(text, m, std::regex("http://127\\.0\\.0\\.1:([0-9]+)/v1")))
      port = std::stoi(m[1]);
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(port, 0) << read_text(log);
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  auto r = c.Post("/v1/completions", R"({"prompt": "Once", "max_tokens": 4, "temperature": 0})",
                  "application/json");
  ASSERT_TRUE(r) << read_text(log);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(nlohmann::json::parse(r->body)["usage"]["completion_tokens"], 4);
  kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid, 30), 0) << read_text(log);
}

TEST(ServeCli, UnloadableModelIsAnError) {
  const std::string dir = test::temp_dir();
  std::ofstream(dir + "/broken.gguf") << "GGUF but not really";
  const pid_t pid =
      spawn_yopo({"serve", "-m", dir + "/broken.gguf", "--port", "0"}, dir + "/serve.log");
  EXPECT_EQ(wait_exit(pid, 30), 1);
  EXPECT_NE(read_text(dir + "/serve.log").find("error:"), std::string::npos);
}

}  // namespace
}  // namespace yopo
