// External authentication (ingress-nginx auth-url and its family, and the ConfigMap's
// global-auth-*): before a request is forwarded, a subrequest without body goes to an
// authentication service; 2xx lets the request through (with some of the answer's headers),
// 401 and 403 are passed to the client (401 becomes a redirect to auth-signin when set), any
// other answer or a failure is 500 -- nginx's auth_request. Decoded once per build here; the
// proxy runs it (proxy/external_auth.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/route_policy.hpp"

namespace portico::config {

// An auth-url's parts: where the subrequest goes.
struct auth_url {
  bool https = false;
  std::string host;        // a DNS name or an IP address (IPv6 without brackets)
  std::uint16_t port = 80;
  std::string target;      // path and query as written ("" none: nginx then sends the
                           // auth location's own URI, see proxy/external_auth.hpp)
  std::string host_header; // the Host sent: the URL's host without port (ingress-nginx)
};
// The parts of an http(s) URL, or nullopt with `why` (no scheme, no host, a bad port...).
std::optional<auth_url> split_auth_url(std::string_view url, std::string& why);

// auth-cache-duration: statuses cached for a time (nginx proxy_cache_valid); no status listed
// means 200, 301 and 302; "any" every status.
struct auth_cache_rule {
  std::vector<std::uint16_t> codes;
  bool any = false;
  std::chrono::milliseconds ttl{0};
};
// "200 202 401 5m", or several separated by commas; nullopt when one is malformed.
std::optional<std::vector<auth_cache_rule>> parse_auth_cache_durations(std::string_view v);

struct external_auth {
  std::string url;                 // as written (for portico routes and errors)
  request_template url_template;   // when the URL has variables ($host...), else empty
  auth_url fixed;                  // the URL's parts when it has none
  std::string method;              // auth-method ("": GET, and no X-Original-URI / X-Scheme)
  std::vector<std::string> response_headers;  // auth-response-headers: copied upstream
  request_template request_redirect;  // auth-request-redirect (empty: $request_uri)
  request_template signin;          // auth-signin with the redirect parameter (empty: none)
  std::string signin_text;          // as written
  request_template cache_key;       // auth-cache-key (empty: no caching)
  std::vector<auth_cache_rule> cache_rules;  // auth-cache-duration
  bool always_set_cookie = false;   // auth-always-set-cookie
  // auth-keepalive: idle connections kept to the service (0: "Connection: close", one
  // connection per subrequest, as ingress-nginx without it); -requests per connection,
  // -timeout idle.
  unsigned keepalive = 0;
  unsigned keepalive_requests = 1000;
  std::chrono::milliseconds keepalive_timeout{60000};
  // auth-proxy-set-headers: the ConfigMap's data, set on the subrequest (sorted by name).
  std::vector<std::pair<std::string, std::string>> proxy_set_headers;
  std::string proxy_set_headers_ref;  // "ns/name"
  bool global = false;  // from the ConfigMap's global-auth-url
  std::uint64_t id = 0;  // of all of the above: the cache's namespace
};
using external_auth_ptr = std::shared_ptr<const external_auth>;

// The keys of one external authentication as written (annotations, or the ConfigMap's
// global-auth-* keys with the "global-" prefix dropped); absent keys are nullopt.
struct external_auth_fields {
  std::optional<std::string> url, method, signin, signin_redirect_param, response_headers,
      request_redirect, cache_key, cache_duration, always_set_cookie, keepalive,
      keepalive_requests, keepalive_timeout;
};

// One problem with a key ("auth-url", "auth-method", ...). `deny`: the authentication cannot
// be applied as asked, so its routes must refuse traffic (503) rather than serve unprotected;
// otherwise that key alone is ignored (ingress-nginx's choices).
struct auth_problem {
  std::string key;
  std::string message;
  bool deny = false;
};

// The authentication `f` asks for (f.url set), or null when a problem denies it.
std::shared_ptr<external_auth> make_external_auth(const external_auth_fields& f,
                                                  std::vector<auth_problem>& problems);

// A header name of auth-response-headers / auth-proxy-set-headers: [A-Za-z0-9_-]+.
bool valid_auth_header_name(std::string_view name);

}  // namespace portico::config
