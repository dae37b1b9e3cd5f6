// server/site.h (internal): what the server serves from memory: the OpenAPI document of every
// endpoint and the web page (HTML, CSS and JavaScript in one page, no external assets).
#pragma once

#include <string>

namespace sieve::server {

// The OpenAPI 3.0 document (JSON text) of every endpoint.
const std::string& OpenApiJson();
// The page at GET /.
const std::string& WebPage();

}  // namespace sieve::server
