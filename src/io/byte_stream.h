#pragma once
// ByteStream: the seam between the proxy and its transports. A connection's bytes in and out,
// whatever carries them: a TCP socket, TLS over one (io/stream.h), or an in-memory pipe in
// component tests (tests/unit/proxy/memory_stream.h), so the whole request pipeline runs in a
// C++ test without sockets.
//
// Contract, for every implementation:
//   * readSome() completes with at least one byte, or with an error: net::error::eof once the
//     peer has closed its sending side, operation_aborted after cancel().
//   * write() completes when every byte of both buffers was accepted (b may be empty), or
//     with an error; on error an unknown prefix may have been sent.
//   * cancel() makes the pending operations complete with operation_aborted; it may be called
//     from a timer handler of the same thread (the connection's Deadline).
//   * close() ends the connection at once; shutdownSend() sends end-of-stream and keeps
//     reading possible.
// Not thread-safe: a stream belongs to the coroutine of its connection, on one io_context
// thread. Errors are values (error_code), never exceptions.

#include <cstddef>
#include <functional>

#include "io/asio.h"

namespace tg::io {

class ByteStream {
 public:
  virtual ~ByteStream() = default;

  virtual Task<size_t> readSome(net::mutable_buffer buf, error_code& ec) = 0;
  // Two buffers because every write of the proxy is "head, then body" or one of them: the
  // pair goes out in one writev.
  virtual Task<size_t> write(net::const_buffer a, net::const_buffer b, error_code& ec) = 0;
  Task<size_t> write(net::const_buffer a, error_code& ec) {
    return write(a, net::const_buffer(), ec);
  }

  virtual void cancel() = 0;
  virtual void close() = 0;
  virtual void shutdownSend() = 0;
  virtual bool isOpen() const = 0;
  virtual bool isTls() const = 0;

  // Watching an idle connection (a request waiting in the admission queue, when nothing else
  // is pending on the stream): `onReadable` runs once, on the stream's executor, when the
  // peer has sent bytes or closed, or with an error after cancel(). False when this stream
  // cannot watch (the default); the handler is then dropped.
  virtual bool watchReadable(std::function<void(error_code)> onReadable) {
    (void)onReadable;
    return false;
  }
  // Right after onReadable: whether the peer has closed (end of stream, or reset), rather than
  // sent bytes. Nothing is consumed.
  virtual bool peerClosed() { return false; }
};

}  // namespace tg::io
