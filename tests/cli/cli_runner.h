// tests/cli: what the end-to-end CLI suites share: a temporary folder per test, the fixture
// models and the Cranfield data, and running build/sieve as a child process with a controlled
// environment, capturing its exit code, stdout and stderr.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "support/temp_dir.h"

namespace sieve::cli::testing_support {

// The fixture models (tests/data/models) and the shared Cranfield BEIR data.
inline const std::filesystem::path kModels =
    std::filesystem::path(SIEVE_SOURCE_DIR) / "tests" / "data" / "models";
inline const std::filesystem::path kCranfield =
    std::filesystem::path(SIEVE_SHARED_DIR) / "data" / "cranfield";

// A fresh temporary folder per test (tests/support/temp_dir.h).
using sieve::testing_support::TempDir;

// `s` as one single-quoted word for /bin/sh.
inline std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The bytes of `path`; "" when it cannot be read.
inline std::string Slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Writes `text` to `path` (binary), creating its parent folders.
inline void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// The first `n` Cranfield documents as the BEIR corpus file <dir>/cranfield/corpus.jsonl; returns
// its path.
inline std::filesystem::path WriteCranfieldSample(const std::filesystem::path& dir, std::size_t n) {
  std::ifstream in(kCranfield / "corpus.jsonl");
  const std::filesystem::path out_path = dir / "cranfield" / "corpus.jsonl";
  std::filesystem::create_directories(out_path.parent_path());
  std::ofstream out(out_path);
  std::string line;
  for (std::size_t i = 0; i < n && std::getline(in, line); ++i) out << line << "\n";
  return out_path;
}

// The exit code in a std::system / waitpid status; -1 when the process did not exit normally.
inline int ExitCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// How a suite runs build/sieve.
struct SieveEnv {
  std::filesystem::path cwd;       // the folder it runs in; empty: the caller's (no `cd`)
  std::vector<std::string> unset;  // variables removed from its environment (env -u NAME)
  std::vector<std::pair<std::string, std::string>> set;  // then NAME=value, in this order
  std::filesystem::path index;                           // --index PATH first; empty: none
  bool exec = false;  // `exec env ...`: the shell's pid becomes sieve's (for signalling it)
};

// The shell command line `[cd CWD && ][exec ]env -u ... NAME=value ... SIEVE [--index I] ARGS`
// with every argument quoted; `extra_env` is set after `env.set` (a later NAME wins). Append
// redirections or further (pre-quoted) arguments to it.
inline std::string SieveCommand(
    const SieveEnv& env, const std::vector<std::string>& args,
    const std::vector<std::pair<std::string, std::string>>& extra_env = {}) {
  std::string command;
  if (!env.cwd.empty()) command += "cd " + Quote(env.cwd.string()) + " && ";
  if (env.exec) command += "exec ";
  command += "env";
  for (const auto& name : env.unset) command += " -u " + name;
  for (const auto& [name, value] : env.set) command += " " + name + "=" + Quote(value);
  for (const auto& [name, value] : extra_env) command += " " + name + "=" + Quote(value);
  command += " " + Quote(SIEVE_BINARY);
  if (!env.index.empty()) command += " --index " + Quote(env.index.string());
  for (const auto& arg : args) command += " " + Quote(arg);
  return command;
}

// What one run of build/sieve did.
struct Outcome {
  int exit_code = -1;  // -1 when it did not exit normally
  std::string out;
  std::string err;
};

// Runs SieveCommand(env, args, extra_env) to completion (stdin inherited), its stdout and stderr
// sent to the files `out` and `err` (overwritten, kept afterwards), and returns what it did.
inline Outcome RunSieve(const SieveEnv& env, const std::vector<std::string>& args,
                        const std::filesystem::path& out, const std::filesystem::path& err,
                        const std::vector<std::pair<std::string, std::string>>& extra_env = {}) {
  const std::string command =
      SieveCommand(env, args, extra_env) + " >" + Quote(out.string()) + " 2>" + Quote(err.string());
  Outcome run;
  run.exit_code = ExitCode(std::system(command.c_str()));
  run.out = Slurp(out);
  run.err = Slurp(err);
  return run;
}

// `run.out` parsed as JSON; a non-fatal failure (showing stdout and stderr) when it is not JSON.
inline nlohmann::json ParseJson(const Outcome& run) {
  nlohmann::json parsed = nlohmann::json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << run.out << "\nstderr: " << run.err;
  return parsed;
}

}  // namespace sieve::cli::testing_support
