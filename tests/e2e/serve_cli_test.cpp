// The `yopo serve` command as a process: it prints where it listens, answers, and stops cleanly
// on SIGTERM; a model it cannot load is an error before it listens.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "support/run_command.h"
#include "support/test_paths.h"

namespace yopo {
namespace {

using test::read_text;

pid_t spawn_yopo(std::vector<std::string> args, const std::string& log) {
  args.insert(args.begin(), test::cli_path());
  const pid_t pid = test::spawn_command(args, log);
  EXPECT_GT(pid, 0);
  return pid;
}

TEST(ServeCli, ListensAnswersAndStopsOnSigterm) {
  YOPO_REQUIRE_ASSET(model, "models/stories260K.gguf");
  const std::string log = test::temp_dir() + "/serve.log";
  const pid_t pid = spawn_yopo({"serve", "-m", model, "--port", "0", "-t", "1"}, log);
  int port = 0;
  const std::string mark = "on http://127.0.0.1:";  // "... on http://127.0.0.1:PORT/v1"
  for (int i = 0; i < 1000 && port == 0; ++i) {
    const std::string text = read_text(log);
    const size_t at = text.find(mark);
    if (at != std::string::npos && text.find("/v1", at) != std::string::npos)
      port = std::atoi(text.c_str() + at + mark.size());
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
  EXPECT_EQ(test::wait_command(pid, 30), 0) << read_text(log);
}

TEST(ServeCli, UnloadableModelIsAnError) {
  const std::string dir = test::temp_dir();
  std::ofstream(dir + "/broken.gguf") << "GGUF but not really";
  const pid_t pid =
      spawn_yopo({"serve", "-m", dir + "/broken.gguf", "--port", "0"}, dir + "/serve.log");
  EXPECT_EQ(test::wait_command(pid, 30), 1);
  EXPECT_NE(read_text(dir + "/serve.log").find("error:"), std::string::npos);
}

}  // namespace
}  // namespace yopo
