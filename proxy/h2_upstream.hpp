// HTTP/2 towards upstreams (backend-protocol GRPC: cleartext with prior knowledge; GRPCS: TLS
// with ALPN "h2"). Each worker keeps its own connections, keyed by the whole peer identity
// (address, port, TLS settings and server name), each carrying many streams at once up to the
// server's SETTINGS_MAX_CONCURRENT_STREAMS; past it another connection is opened.
//
// A stream is handed to the session as a byte_stream in HTTP/2 mode, as the downstream side
// does: the session writes its HTTP/1.1 request and reads an HTTP/1.1 response
// (proxy/h2_upstream_translate.hpp), so connect and read timeouts, retries, logging and
// metrics are the ones every upstream request has. Flow control is credited as the session
// reads (bounded memory per stream); request bytes the upstream has not taken hold back the
// session's writes past a bound.
//
// A stream the server refused unprocessed (REFUSED_STREAM, or above a GOAWAY's last stream
// id) fails its first read with connection_refused, so the session may send the request again
// on a new connection even when it is not idempotent; any other failure is
// connection_reset.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "proxy/byte_stream.hpp"
#include "proxy/upstream_pool.hpp"

namespace portico::proxy {

class h2_upstream_conn;

class h2_upstream_pool {
 public:
  explicit h2_upstream_pool(boost::asio::io_context& ctx) : ctx_(ctx) {}
  ~h2_upstream_pool();
  h2_upstream_pool(const h2_upstream_pool&) = delete;
  h2_upstream_pool& operator=(const h2_upstream_pool&) = delete;

  // A new stream on an open connection to `ep` with this identity (`tls_key` as
  // upstream_pool's) that has room for one more: `out` becomes it. False when there is none.
  bool open_stream(const endpoint_state& ep, std::uint64_t tls_key, byte_stream& out);
  // Starts an HTTP/2 connection over `conn` (connected; under TLS after the handshake) and
  // opens its first stream into `out`. False when the connection could not be started.
  bool adopt(const endpoint_state& ep, std::uint64_t tls_key, byte_stream conn, byte_stream& out);
  // Closes connections without a stream for longer than `idle_timeout`, and forgets closed
  // ones.
  void sweep(steady_time now, std::chrono::milliseconds idle_timeout);
  void clear();
  std::size_t connection_count() const;

 private:
  struct slot {
    boost::asio::ip::tcp::endpoint ep;
    std::uint64_t tls_key = 0;
    std::vector<std::shared_ptr<h2_upstream_conn>> conns;
  };
  boost::asio::io_context& ctx_;
  std::vector<slot> slots_;  // few endpoints per worker: a flat vector
};

}  // namespace portico::proxy
