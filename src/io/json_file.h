// Reading JSON documents (model configs, safetensors headers and indexes) with clear errors.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace yopo {

// Reads and parses a whole JSON file. Throws yopo::Error naming the file when it cannot be read,
// or naming the file and the parser's position when it is not valid JSON.
nlohmann::json read_json_file(const std::string& path);

// Parses JSON text held in memory; origin names where it came from in error messages
// (e.g. "the header of safetensors file 'x'").
nlohmann::json parse_json_text(std::string_view text, const std::string& origin);

}  // namespace yopo
