#pragma once
// The operator console's static files (src/admin/console/: index.html, app.js, app.css),
// embedded in the binary at build time (cmake/embed_files.cmake writes them as byte arrays into
// a generated .cc). The admin server serves them WITHOUT the token, because they hold no data:
// the page asks the operator for the token and calls the token-protected API with it.
//
// Every response carries consoleHeaders(): a Content-Security-Policy that allows only this
// origin's scripts, styles and fetches (no inline script or style, no framing) and
// X-Content-Type-Options: nosniff. Immutable, thread-safe data.

#include <cstddef>
#include <string_view>

namespace tg::admin {

struct EmbeddedFile {
  const char* name;  // path relative to src/admin/console/: "index.html", "app.js"
  const unsigned char* data;
  size_t size;
};
// Defined in the generated .cc.
extern const EmbeddedFile kEmbeddedFiles[];
extern const size_t kEmbeddedFileCount;

struct ConsoleAsset {
  std::string_view contentType;
  std::string_view body;
};

// The asset served at a URL path: "/" and "/console" (index.html), "/console/app.js",
// "/console/app.css". False for any other path.
bool consoleAsset(std::string_view urlPath, ConsoleAsset& out);

// "Name: value\r\n" lines: Content-Security-Policy and X-Content-Type-Options.
std::string_view consoleHeaders();

}  // namespace tg::admin
