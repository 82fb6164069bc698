// What HTTPS changes for a request: the HTTP -> HTTPS redirect decision and the
// Strict-Transport-Security value, as ingress-nginx does them (lua_ingress.lua rewrite/header).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace portico::config {
struct route;
struct controller_config;
}

namespace portico::proxy {

struct server_options;

// ingress-nginx's no-tls-redirect-locations default: routes under it are never redirected
// (ACME HTTP-01 challenges must be answered over plain HTTP).
inline constexpr std::string_view acme_challenge_prefix = "/.well-known/acme-challenge";

struct redirect_input {
  bool tls = false;             // the request came over HTTPS
  std::string_view host;        // Host as received (may carry ":port")
  std::string_view target;      // the request target as received (origin-form)
  std::string_view match_path;  // the normalized path routing used
  std::uint16_t https_port = 443;
  // Paths never redirected (ConfigMap no-tls-redirect-locations); null: the ACME prefix.
  const std::vector<std::string>* exempt = nullptr;
};

// True when a plain-HTTP request to `r` is answered "308 Permanent Redirect"; then `location`
// is "https://<host without port>[:<https_port> unless 443]<target>", the target without one
// trailing '/' unless the route preserves it (ingress-nginx preserve-trailing-slash). Never for HTTPS
// requests, requests without a host, or ACME challenge paths (by route path, like
// ingress-nginx, and by request path).
bool https_redirect(const config::route& r, const redirect_input& in, std::string& location);

// The Strict-Transport-Security value from the options ("max-age=31536000; includeSubDomains"),
// written into `buf`; empty when HSTS is off.
std::string_view hsts_value(const config::controller_config& o, char (&buf)[80]);

}  // namespace portico::proxy
