// PLACEHOLDER: replaced by the real commands as they are built.
#include "cli/command.h"

namespace sieve::cli {

void RegisterModelCommands(CLI::App& app, const GlobalOptions&, Action& action) {
  for (const char* name : {"embed", "rerank"}) {
    auto* sub = app.add_subcommand(name, "(not built yet)");
    sub->allow_extras();
    sub->callback(
        [&action] { action = [] { return ReportError(Status::Internal("not built yet")); }; });
  }
}

}  // namespace sieve::cli
