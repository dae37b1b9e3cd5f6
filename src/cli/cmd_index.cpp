// PLACEHOLDER: replaced by the real commands as they are built.
#include "cli/command.h"

namespace sieve::cli {

void RegisterIndexCommands(CLI::App& app, const GlobalOptions&, Action& action) {
  for (const char* name : {"ingest", "search", "stats", "delete"}) {
    auto* sub = app.add_subcommand(name, "(not built yet)");
    sub->allow_extras();
    sub->callback(
        [&action] { action = [] { return ReportError(Status::Internal("not built yet")); }; });
  }
}

}  // namespace sieve::cli
