// Per-worker state of one upstream endpoint (ip:port): its idle keep-alive connections and its
// passive health. Shared by every cluster of the worker that lists the same address.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include "proxy/byte_stream.hpp"
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace portico::proxy {

using steady_time = std::chrono::steady_clock::time_point;

struct worker_gauges;

struct endpoint_state {
  std::string key;  // "10.0.0.1:8080" / "[fd00::1]:8080"
  boost::asio::ip::tcp::endpoint address;

  // Passive health.
  unsigned consecutive_failures = 0;
  unsigned ejections = 0;        // back-off exponent; reset by a success
  steady_time ejected_until{};   // in the past: not ejected

  bool ejected(steady_time now) const { return ejected_until > now; }

  // load-balance ewma: the decaying average of connect + response time, seconds (this
  // worker's requests), and when it was last updated; ewma_at zero: no sample yet.
  double ewma = 0;
  steady_time ewma_at{};
};

// Idle upstream connections of one worker, by endpoint and TLS identity. Most recently used
// first out (LIFO), bounded per endpoint and identity, closed after the idle timeout; a
// connection the peer closed (or that has unexpected bytes, raw or already decrypted) is never
// handed out. `tls_key` keeps TLS and plain connections apart: 0 is plain, anything else names
// the TLS settings and server name the connection was made with (upstream_tls_key()).
// How take() makes sure a pooled connection is still usable.
enum class reuse_check : std::uint8_t {
  always,          // one MSG_PEEK recv: no EOF, no error, no unexpected bytes
  when_idle_long,  // only when idle for upstream_pool::recheck_after or longer; the caller
                   // replays the request on a new connection if this one turns out closed
};

class upstream_pool {
 public:
  // Servers close idle keep-alive connections after seconds (nginx 75 s, Apache httpd and
  // Node.js 5 s); a connection taken back sooner is rarely one of them, and a read would tell.
  static constexpr std::chrono::milliseconds recheck_after{1000};

  upstream_pool(std::size_t max_idle_per_endpoint, std::chrono::milliseconds idle_timeout,
                worker_gauges* gauges);
  ~upstream_pool();

  // A healthy idle connection to `ep`, or a closed socket when there is none. `uses`, when
  // given, receives how many requests the connection has carried. With
  // reuse_check::when_idle_long, `now` decides whether the connection is checked.
  bool take(const endpoint_state& ep, byte_stream& out, std::uint64_t tls_key = 0,
            unsigned* uses = nullptr, reuse_check check = reuse_check::always,
            steady_time now = {});
  // Returns a connection after a complete response; closes it when the endpoint is full.
  // `next` = reuse_check::always: the next take() looks at it even when its caller would not.
  void give_back(const endpoint_state& ep, byte_stream conn, steady_time now,
                 std::uint64_t tls_key = 0, unsigned uses = 0,
                 reuse_check next = reuse_check::when_idle_long);
  // New limits (upstream-keepalive-connections, -timeout); idle connections beyond them go at
  // the next sweep or give_back.
  void configure(std::size_t max_idle_per_endpoint, std::chrono::milliseconds idle_timeout) {
    max_idle_ = max_idle_per_endpoint;
    idle_timeout_ = idle_timeout;
  }
  // Closes connections idle longer than the timeout (called from the worker's timer).
  void sweep(steady_time now);
  void clear();
  // Closes and forgets the connections of an endpoint that is going away.
  void forget(const endpoint_state& ep);
  std::size_t idle_count() const { return total_; }
  std::size_t idle_count(const endpoint_state& ep) const;  // every TLS identity

  // True when a socket that sat idle is still usable: no EOF, no error, no unexpected bytes.
  static bool still_open(boost::asio::ip::tcp::socket& sock);
  // The same for a pooled connection; under TLS also no decrypted bytes left unread.
  static bool still_open(byte_stream& conn);

 private:
  struct idle_conn {
    byte_stream sock;
    steady_time since;
    unsigned uses = 0;
    reuse_check next = reuse_check::when_idle_long;
  };
  struct slot {
    boost::asio::ip::tcp::endpoint ep;
    std::uint64_t tls_key = 0;
    std::vector<idle_conn> conns;  // back = most recent
  };
  slot* find(const endpoint_state& ep, std::uint64_t tls_key);
  void adjust(std::int64_t delta);

  std::size_t max_idle_;
  std::chrono::milliseconds idle_timeout_;
  worker_gauges* gauges_;
  std::vector<slot> slots_;  // few endpoints per worker: a flat vector beats a hash map here
  std::size_t total_ = 0;
};

}  // namespace portico::proxy
