// Paths the tests need: shared assets (may be absent: tests then SKIP), committed fixtures and
// the yopo command.
#pragma once

#include <string>

namespace yopo::test {

// Directory of ../shared/assets, or $YOPO_ASSETS when set. Empty when it does not exist.
std::string assets_dir();
// Full path of an asset, or "" when absent. Use with YOPO_REQUIRE_ASSET.
std::string asset(const std::string& relative);
// Committed fixtures (tests/fixtures).
std::string fixture(const std::string& relative);
// The yopo command built with the tests.
std::string cli_path();
// A fresh temporary directory for this test, removed by the OS eventually.
std::string temp_dir();
// A file's whole content ("" when it cannot be read).
std::string read_text(const std::string& path);

}  // namespace yopo::test

// Skips the current test with a message when the asset is absent; binds its path to var.
#define YOPO_REQUIRE_ASSET(var, relative)                                                 \
  const std::string var = ::yopo::test::asset(relative);                                  \
  if (var.empty()) {                                                                      \
    GTEST_SKIP() << "asset " << (relative)                                                \
                 << " not found (looked in ../shared/assets and $YOPO_ASSETS); skipping"; \
  }
