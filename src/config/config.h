// Temporary: the configuration moves into this folder (config::Config); until then it is the
// generation stage's.
#pragma once
#include "generation/config.h"
namespace sieve::config {
using Config = generation::Config;
using ConfigSources = generation::ConfigSources;
using generation::LoadConfig;
}  // namespace sieve::config
