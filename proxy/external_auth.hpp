// External authentication on the request path (config/external_auth.hpp decodes it): the
// subrequest's head, what its answer means, and the per-worker state it needs -- the answers
// cached under auth-cache-key, the resolved names of authentication services, and their
// endpoints for pooled connections. The exchange itself runs in the session
// (http_session::authenticate, proxy/http_auth.cpp) on the session's upstream connection,
// buffers and deadline, before any upstream connection is taken.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/external_auth.hpp"
#include "proxy/header_rewrite.hpp"
#include "proxy/upstream_pool.hpp"

namespace portico::proxy {

// What the service's answer means for the request (nginx auth_request).
enum class auth_verdict : std::uint8_t {
  allow,      // 2xx: forwarded
  deny_401,   // passed to the client (WWW-Authenticate kept), or the sign-in redirect
  deny_403,
  error,      // any other status, or no answer: 500
};
auth_verdict verdict_of(unsigned status);

// nginx's add_header without "always": the statuses a Set-Cookie of the service reaches the
// client with (auth-always-set-cookie: every status).
bool cookie_status(unsigned status);

// The request the subrequest is made for.
struct auth_request_inputs {
  const message_head* head = nullptr;  // the client's request head
  std::string_view method;             // the client's method
  std::string_view request_uri;        // as received
  std::string_view http_host;          // the Host as received (the request's host)
  std::string_view scheme;             // "http" / "https"
  std::string_view pass_scheme;        // $pass_access_scheme
  std::string_view remote_addr;        // the real client address
  std::string_view forwarded_for;      // X-Forwarded-For sent (compute-full, else remote_addr)
  std::string_view request_id;
  bool allow_underscores = false;
  // auth-tls-*: the client-certificate fields sent to the service (null: none).
  const std::vector<std::pair<std::string_view, std::string_view>>* cert_headers = nullptr;
};

// Writes the subrequest head: `method` (auth-method, else GET) and `target`, the client's
// header fields without body framing, hop-by-hop fields and the ones set here, then Host,
// X-Original-URL, X-Original-Method, X-Sent-From, X-Real-IP, X-Forwarded-For,
// X-Auth-Request-Redirect, X-Request-ID (and X-Original-URI, X-Scheme with auth-method), the
// client-certificate fields and auth-proxy-set-headers -- ingress-nginx's auth location.
void write_auth_request(std::string& out, const config::external_auth& a, std::string_view target,
                        std::string_view host_header, std::string_view redirect,
                        const auth_request_inputs& in, bool keep_alive);

// The URI nginx sends when auth-url has no path: its internal auth location's.
std::string auth_location_uri(std::string_view route_path, std::string_view path_type);

// What the request takes from the service's answer.
struct auth_answer {
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> upstream_headers;  // auth-response-headers
  std::vector<std::string> cookies;  // Set-Cookie values
  std::string www_authenticate;
};
// Reads `answer` for `a` (its response head).
void take_auth_answer(const config::external_auth& a, const message_head& answer, unsigned status,
                      auth_answer& out);
// How long `answer` may be cached under a's rules (0: not at all): its status must be listed,
// and as nginx's proxy_cache, an answer with Set-Cookie or Cache-Control no-cache, no-store,
// private is not cached while max-age=N sets the time.
std::chrono::milliseconds cache_time(const config::external_auth& a, const message_head& answer,
                                     unsigned status);

// Answers of authentication services per worker, under "<auth id> <route> <auth-cache-key>";
// bounded (the oldest entry goes first).
class auth_cache {
 public:
  explicit auth_cache(std::size_t max_entries = 10000) : max_(max_entries) {}
  const auth_answer* find(const std::string& key, steady_time now);
  void put(std::string key, auth_answer answer, steady_time expires);
  std::size_t size() const { return entries_.size(); }

 private:
  struct entry {
    auth_answer answer;
    steady_time expires;
  };
  std::size_t max_;
  std::unordered_map<std::string, entry> entries_;
  std::deque<std::string> order_;  // insertion order, for eviction
};

// Names of authentication services resolved per worker (30 s, as ingress-nginx's resolver
// valid=30s), and one endpoint_state per service address for the connection pool.
class auth_endpoints {
 public:
  // The cached addresses of host:port, or null when they must be resolved (again).
  const std::vector<boost::asio::ip::tcp::endpoint>* cached(const std::string& host, std::uint16_t port,
                                                            steady_time now) const;
  void store(const std::string& host, std::uint16_t port, std::vector<boost::asio::ip::tcp::endpoint> eps,
             steady_time now);
  // The pool identity of one address.
  std::shared_ptr<endpoint_state> endpoint(const boost::asio::ip::tcp::endpoint& ep);
  static constexpr std::chrono::seconds ttl{30};

 private:
  struct resolved {
    std::vector<boost::asio::ip::tcp::endpoint> eps;
    steady_time at;
  };
  std::unordered_map<std::string, resolved> names_;
  std::unordered_map<std::string, std::shared_ptr<endpoint_state>> endpoints_;
};

}  // namespace portico::proxy
