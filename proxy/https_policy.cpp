#include "proxy/https_policy.hpp"

#include <charconv>
#include <cstring>

#include "config/snapshot.hpp"
#include "config/controller_config.hpp"

namespace portico::proxy {

namespace {

std::string_view host_only(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  auto colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

bool under(std::string_view path, std::string_view prefix) {
  if (path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/' || prefix.ends_with('/');
}

bool exempt(const redirect_input& in, std::string_view route_path) {
  if (in.exempt == nullptr)
    return under(route_path, acme_challenge_prefix) || under(in.match_path, acme_challenge_prefix);
  for (const auto& p : *in.exempt)
    if (!p.empty() && (under(route_path, p) || under(in.match_path, p))) return true;
  return false;
}

}  // namespace

bool https_redirect(const config::route& r, const redirect_input& in, std::string& location) {
  if (in.tls || !r.ssl_redirect) return false;
  const auto host = host_only(in.host);
  if (host.empty()) return false;
  if (exempt(in, r.path)) return false;
  location.assign("https://", 8);
  location.append(host);
  if (in.https_port != 443 && in.https_port != 0) {
    char buf[8];
    auto res = std::to_chars(buf, buf + sizeof buf, in.https_port);
    location.push_back(':');
    location.append(buf, static_cast<std::size_t>(res.ptr - buf));
  }
  // ingress-nginx (lua_ingress.lua) removes one trailing '/' of the request URI, query
  // included, unless preserve-trailing-slash: "/app/" -> "/app", "/" -> "" (so the Location is
  // "https://host"), "/app/?a=b/" -> "/app/?a=b".
  std::string_view uri = in.target;
  if (!r.preserve_trailing_slash && !uri.empty() && uri.back() == '/') uri.remove_suffix(1);
  location.append(uri);
  return true;
}

std::string_view hsts_value(const config::controller_config& o, char (&buf)[80]) {
  if (!o.hsts) return {};
  char* p = buf;
  std::memcpy(p, "max-age=", 8);
  p += 8;
  p = std::to_chars(p, buf + 40, o.hsts_max_age).ptr;
  if (o.hsts_include_subdomains) {
    std::memcpy(p, "; includeSubDomains", 19);
    p += 19;
  }
  if (o.hsts_preload) {
    std::memcpy(p, "; preload", 9);
    p += 9;
  }
  return {buf, static_cast<std::size_t>(p - buf)};
}

}  // namespace portico::proxy
