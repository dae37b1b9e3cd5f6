#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/command.h"

namespace sieve::cli {

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    case StatusCode::kInternal:
      return kExitInternal;
    default:
      return kExitInput;
  }
}

int ReportError(const Status& status) {
  std::cerr << "sieve: " << status.message() << "\n";
  return ExitCodeFor(status);
}

}  // namespace sieve::cli

int main(int argc, char** argv) {
  using namespace sieve::cli;
  CLI::App app{
      "Sieve: retrieval-augmented generation in C++ (BM25 + bi-encoder recall, "
      "cross-encoder rerank, cited answers).\n"
      "Exit codes: 0 success, 1 usage error, 2 input error (or items skipped), "
      "3 internal error."};
  app.set_version_flag("--version", std::string("sieve ") + SIEVE_VERSION);
  app.require_subcommand(1);
  GlobalOptions global;
  app.add_option("--index", global.index_dir,
                 "Index directory (default: index.dir of sieve.toml, $SIEVE_INDEX, else .sieve)");
  app.add_flag("--json", global.json, "Machine-readable JSON output");
  app.add_flag("-v,--verbose", global.verbose, "Say more (e.g. when inputs are truncated)");

  // Global options may also follow the subcommand: `sieve search q --json`.
  app.fallthrough();
  Action action;
  RegisterIndexCommands(app, global, action);
  RegisterEvalCommand(app, global, action);
  RegisterTokenizeCommand(app, global, action);
  RegisterModelCommands(app, global, action);
  RegisterHubCommands(app, global, action);
  RegisterAskCommand(app, global, action);
  RegisterServeCommand(app, global, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (!action) return kExitUsage;
  try {
    return action();
  } catch (const std::exception& e) {
    std::cerr << "sieve: internal error: " << e.what() << "\n";
    return kExitInternal;
  }
}
