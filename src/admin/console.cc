#include "admin/console.h"

namespace tg::admin {

namespace {

std::string_view typeOf(std::string_view name) {
  if (name.ends_with(".html")) {
    return "text/html; charset=utf-8";
  }
  if (name.ends_with(".js")) {
    return "text/javascript; charset=utf-8";
  }
  if (name.ends_with(".css")) {
    return "text/css; charset=utf-8";
  }
  return "application/octet-stream";
}

}  // namespace

bool consoleAsset(std::string_view urlPath, ConsoleAsset& out) {
  std::string_view name;
  if (urlPath == "/" || urlPath == "/console" || urlPath == "/console/") {
    name = "index.html";
  } else if (urlPath == "/console/app.js") {
    name = "app.js";
  } else if (urlPath == "/console/app.css") {
    name = "app.css";
  } else {
    return false;
  }
  for (size_t i = 0; i < kEmbeddedFileCount; ++i) {
    const EmbeddedFile& f = kEmbeddedFiles[i];
    if (name == f.name) {
      out.contentType = typeOf(name);
      out.body = std::string_view(reinterpret_cast<const char*>(f.data), f.size);
      return true;
    }
  }
  return false;
}

std::string_view consoleHeaders() {
  return "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
         "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
         "frame-ancestors 'none'\r\n"
         "X-Content-Type-Options: nosniff\r\n";
}

}  // namespace tg::admin
