// `yopo tokenize -m FILE -p TEXT`: prints token ids separated by spaces.
#include <iostream>
#include <memory>
#include <string>

#include "commands.h"
#include "runtime/model_loader.h"

namespace yopo::cli {

void add_tokenize_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of a text");
  auto opts = std::make_shared<std::tuple<std::string, std::string, bool, bool>>();
  auto& [model, prompt, bos, pieces] = *opts;
  cmd->add_option("-m,--model", model, "GGUF file, tokenizer.model, or model directory")
      ->required();
  cmd->add_option("-p,--prompt", prompt, "Text to tokenize")->required();
  cmd->add_flag("--bos", bos, "Prepend the BOS token");
  cmd->add_flag("--pieces", pieces, "Print id:piece pairs instead of ids");
  cmd->callback([&action, opts] {
    action = [opts] {
      auto& [model, prompt, bos, pieces] = *opts;
      const auto tok = load_tokenizer(model);
      const std::vector<int32_t> ids = tok->encode(prompt, bos);
      for (size_t i = 0; i < ids.size(); ++i) {
        std::cout << (i ? " " : "") << ids[i];
        if (pieces) std::cout << ":'" << tok->vocab().pieces[size_t(ids[i])] << "'";
      }
      std::cout << "\n";
      return 0;
    };
  });
}

}  // namespace yopo::cli
