#pragma once
// Asio names used by every module that does I/O (io/, http/, proxy/, redis/, admin/, app/).
// Kept in one header so that the many files that do not touch sockets need not include it
// (Asio headers are the bulk of compile time).

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>

namespace tg::io {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using boost::system::error_code;

template <typename T = void>
using Task = net::awaitable<T>;

// Completion token for awaits that report errors as values: `co_await op(..., use(ec))`.
inline auto use(error_code& ec) { return net::redirect_error(net::use_awaitable, ec); }

}  // namespace tg::io
