#pragma once
// The io module's Asio vocabulary (io/asio.h), re-exported into tg::http: the HTTP readers and
// the upstream pool are written in it, and so is the code that calls them (`http::Task`,
// `http::net::...`). The byte streams, TLS contexts and deadlines themselves live in io/.

#include "io/asio.h"

namespace tg::http {

namespace net = io::net;
using io::error_code;
using io::Task;
using io::tcp;
using io::use;

}  // namespace tg::http
