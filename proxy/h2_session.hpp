// One downstream HTTP/2 connection (RFC 9113): over TLS when ALPN chose "h2", or cleartext
// with prior knowledge (h2c) on the plain port. nghttp2 does the framing, HPACK, flow control
// and the section 8 message checks; this class moves bytes between it and the socket and
// turns each request stream into an http_session over the stream (byte_stream's HTTP/2 mode),
// so an HTTP/2 request is routed, checked, forwarded and logged by the same session and
// phases as an HTTP/1.1 one (proxy/h2_translate.hpp has the translation both ways).
//
// Bounded by design: SETTINGS_MAX_CONCURRENT_STREAMS (128, as nginx), the header list
// (SETTINGS_MAX_HEADER_LIST_SIZE, 431 past it), CONTINUATION frames per header block and
// outbound SETTINGS/PING acknowledgements (nghttp2's options), streams the client resets
// before their answer (CVE-2023-44487: GOAWAY ENHANCE_YOUR_CALM past a bound), empty DATA
// frames, the request body buffered per stream (its flow-control window, credited only as the
// upstream side reads it), and the time a connection may stay without a request in progress
// (the client header timeout, then keep-alive).
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "proxy/byte_stream.hpp"
#include "proxy/h2_completions.hpp"
#include "proxy/deadline_watch.hpp"

struct nghttp2_session;

namespace portico::proxy {

class worker;
class h2_stream;

// Limits of one HTTP/2 connection.
struct h2_limits {
  std::uint32_t max_concurrent_streams = 128;
  std::uint32_t max_header_list = 32 * 1024;
  std::uint32_t max_header_fields = 100;  // 0: no cap
  std::uint32_t max_field_size = 0;       // one decoded name + value; 0: no cap of its own
  std::uint32_t max_requests = 1000;      // streams started, then a graceful GOAWAY; 0: no cap
  // RST_STREAM frames from the client on streams not yet answered, beyond which the
  // connection gets GOAWAY ENHANCE_YOUR_CALM (as long as they outnumber answered streams).
  std::uint32_t max_client_resets = 200;
  std::uint32_t max_empty_data = 1000;  // DATA frames without payload nor END_STREAM
};

class h2_connection : public std::enable_shared_from_this<h2_connection> {
 public:
  // `conn`: TCP, or TLS after a handshake that chose "h2". `peer`, `listener_port` as
  // http_session's.
  h2_connection(worker& w, byte_stream conn, std::string peer, std::uint16_t listener_port = 0);
  ~h2_connection();
  h2_connection(const h2_connection&) = delete;
  h2_connection& operator=(const h2_connection&) = delete;

  // `initial`: bytes already read from the connection (h2c: the preface an HTTP/1.1 session
  // read before it knew).
  void start(std::string_view initial = {});
  // Worker shutting down: GOAWAY in two steps (RFC 9113 6.8), open streams finish.
  void drain();
  void force_close();  // grace period over

  // For the streams (proxy/h2_session.cpp).
  struct impl;

 private:
  friend struct impl;
  void read_more();
  void on_readable(const boost::system::error_code& ec);
  void on_read(const boost::system::error_code& ec, const char* data, std::size_t n);
  bool receive(const char* data, std::size_t n);
  void flush();
  void schedule_flush();
  void close();
  void arm_idle(std::chrono::milliseconds d);
  friend class deadline_watch;
  void on_timer();
  void goaway_now();    // the GOAWAY naming the last stream taken
  void final_goaway();  // drain's second step: the client's PING acknowledgement, or 1 s

  worker& w_;
  byte_stream conn_;
  std::string peer_;
  std::uint16_t listener_port_ = 0;
  h2_limits limits_;
  nghttp2_session* session_ = nullptr;
  deadline_watch watch_;
  h2_completions done_;  // the streams' read and write completions
  std::unique_ptr<char[]> rbuf_;  // TLS only: the receive buffer
  std::string wbuf_;
  bool writing_ = false;
  bool reading_ = false;
  bool flush_posted_ = false;
  bool closed_ = false;
  bool going_away_ = false;
  bool failed_ = false;  // nghttp2 refused the input: what is queued goes out, then close
  // Draining: the first GOAWAY (the largest stream id) went out; the final one is due then.
  std::chrono::steady_clock::time_point drain_at_{};
  std::uint32_t active_ = 0;   // streams an http_session serves
  std::uint64_t answered_ = 0;
  std::uint64_t started_ = 0;  // streams handed to an http_session
  std::uint32_t client_resets_ = 0;
  std::uint32_t empty_data_ = 0;
  std::unordered_map<std::int32_t, std::shared_ptr<h2_stream>> streams_;
  std::list<h2_connection*>::iterator enrolled_;
};

}  // namespace portico::proxy
