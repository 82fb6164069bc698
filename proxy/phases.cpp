#include "proxy/phases.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>

#include "config/ip_set.hpp"
#include "config/route_table.hpp"
#include "proxy/ascii.hpp"
#include "proxy/basic_auth.hpp"
#include "proxy/https_policy.hpp"

namespace portico::proxy {

phase_result access_phase(const config::route& r, const request_view& req, local_answer& out) {
  const auto& p = *r.policy;
  if (!p.denied.empty()) {
    out.status = 503;
    return phase_result::answered;
  }
  // nginx's order: the deny lines, then the allow lines and "deny all".
  if ((p.source.deny && p.source.deny->contains(req.client_ip)) ||
      (p.source.allow && !p.source.allow->contains(req.client_ip))) {
    out.status = 403;
    return phase_result::answered;
  }
  return phase_result::next;
}

bool cors_origin_allowed(const config::cors_policy& c, std::string_view origin) {
  if (c.any_origin) return true;
  if (origin.empty()) return false;
  auto lower = [](char ch) { return static_cast<char>(std::tolower(static_cast<unsigned char>(ch))); };
  auto equal_ci = [&](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [&](char x, char y) { return lower(x) == y; });
  };
  for (const std::string& o : c.origins) {
    const auto star = o.find("://*.");
    if (star == std::string::npos) {
      if (equal_ci(origin, o)) return true;
      continue;
    }
    // "scheme://" + one label of letters, digits and '-' + the rest.
    const std::string_view head = std::string_view(o).substr(0, star + 3);
    const std::string_view tail = std::string_view(o).substr(star + 4);  // ".example.com[:port]"
    if (origin.size() <= head.size() + tail.size()) continue;
    if (!equal_ci(origin.substr(0, head.size()), head) ||
        !equal_ci(origin.substr(origin.size() - tail.size()), tail))
      continue;
    const auto label = origin.substr(head.size(), origin.size() - head.size() - tail.size());
    if (std::all_of(label.begin(), label.end(), [](char ch) {
          return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-';
        }))
      return true;
  }
  return false;
}

bool cors_phase(const config::cors_policy& c, std::string_view origin,
                std::vector<std::pair<std::string_view, std::string_view>>& set_headers) {
  if (!c.enabled || !cors_origin_allowed(c, origin)) return false;
  set_headers.emplace_back("Access-Control-Allow-Origin", c.any_origin ? std::string_view("*") : origin);
  if (c.credentials) set_headers.emplace_back("Access-Control-Allow-Credentials", "true");
  set_headers.emplace_back("Access-Control-Allow-Methods", c.methods);
  set_headers.emplace_back("Access-Control-Allow-Headers", c.headers);
  if (!c.expose.empty()) set_headers.emplace_back("Access-Control-Expose-Headers", c.expose);
  set_headers.emplace_back("Access-Control-Max-Age", c.max_age);
  return true;
}

// ingress-nginx's order: app-root (server rewrite phase), then the route's temporal or
// permanent redirect (location rewrite phase), then the HTTPS redirect (its Lua rewrite
// handler).
namespace {

// HTTPRoute RequestRedirect's Location (apis/v1/httproute_types.go, HTTPRequestRedirectFilter):
// scheme, hostname and path from the filter or the request; the port from the filter, left
// out when it is the scheme's well-known one (80 for http, 443 for https). Without a port in
// the filter the port is the scheme's when a scheme is set (well-known, left out), else the
// Gateway listener's: 80 or 443 on the main listeners (left out), the listener's own port on
// a --gateway-*-ports one (kept). The query is kept.
void gateway_location(const config::route& r, const request_view& req, std::string& out) {
  const auto& g = r.policy->redirect.gateway;
  const std::string_view scheme = !g.scheme.empty() ? std::string_view(g.scheme)
                                                    : (req.tls ? "https" : "http");
  std::string_view host = g.hostname;
  if (host.empty()) {
    host = req.host;
    if (!host.empty() && host.front() == '[') host = host.substr(0, host.find(']') + 1);
    else host = host.substr(0, host.find(':'));
  }
  const std::uint16_t well_known = scheme == "https" ? 443 : 80;
  const auto q = req.target.find('?');
  const std::string_view target_path = req.target.substr(0, q);
  out.assign(scheme).append("://").append(host);
  const std::uint16_t port = g.port != 0 ? g.port : g.scheme.empty() ? req.listener_port : 0;
  if (port != 0 && port != well_known) out.append(":").append(std::to_string(port));
  if (g.path.k == config::path_edit::kind::none) out.append(target_path);
  else out.append(gateway_edit_path(g.path, r.path, req.path));
  if (q != std::string_view::npos) out.append(req.target.substr(q));
}

}  // namespace

phase_result redirect_phase(const config::route& r, const request_view& req,
                            const config::controller_config& settings, local_answer& out) {
  const auto& rd = r.policy->redirect;
  if (rd.gateway.enabled) {
    out.status = rd.gateway.status;
    gateway_location(r, req, out.location);
    return phase_result::answered;
  }
  if (!rd.app_root.empty() && req.path == "/") {
    out.status = 302;
    out.location.assign(req.tls ? "https://" : "http://").append(req.host).append(rd.app_root);
    return phase_result::answered;
  }
  if (!rd.temporal.empty() || !rd.permanent.empty()) {
    const bool temporal = !rd.temporal.empty();
    out.status = temporal ? rd.temporal_code : rd.permanent_code;
    out.location = temporal ? rd.temporal : rd.permanent;
    return phase_result::answered;
  }
  if (r.ssl_redirect && !req.tls) {
    const redirect_input in{false, req.host, req.target, req.path, req.https_port,
                            &settings.no_tls_redirect_locations};
    if (https_redirect(r, in, out.location)) {
      out.status = settings.http_redirect_code;
      return phase_result::answered;
    }
  }
  return phase_result::next;
}

std::string gateway_edit_path(const config::path_edit& e, std::string_view route_path,
                              std::string_view path) {
  using k = config::path_edit::kind;
  if (e.k == k::none) return std::string(path);
  if (e.k == k::full) return e.value;
  // ReplacePrefixMatch: the matched elements are replaced, the rest kept; "/" replaces them
  // with nothing ("/foo" + "/bar" under prefix "/foo" -> "/bar"). Trailing '/'s of prefix and
  // replacement do not count (apis/v1/httproute_types.go, HTTPPathModifier examples).
  const std::string_view prefix = config::normalize_prefix(route_path);
  const std::string_view rest = path.size() >= prefix.size() ? path.substr(prefix.size()) : std::string_view{};
  std::string out(config::normalize_prefix(e.value));
  out.append(rest);
  if (out.empty()) out.push_back('/');
  return out;
}

bool gateway_rewrite_uri(const config::route& r, std::string_view path, std::string_view query,
                         std::string& out) {
  const auto& e = r.policy->rewrite.gateway_path;
  if (e.k == config::path_edit::kind::none) return false;
  out = gateway_edit_path(e, r.path, path);
  if (!query.empty()) out.append("?").append(query);
  return true;
}

namespace {
std::string_view head_field(const void* ctx, std::string_view name) {
  return find_header(*static_cast<const message_head*>(ctx), name);
}
bool head_has_field(const void* ctx, std::string_view name) {
  for (const auto& f : static_cast<const message_head*>(ctx)->fields)
    if (ascii::iequals(f.name_text, name)) return true;
  return false;
}
}  // namespace

config::request_attrs gateway_request_attrs(const message_head& h, std::string_view method,
                                            std::string_view target, bool tls,
                                            std::uint16_t listener_port) {
  config::request_attrs a;
  a.method = method;
  const auto q = target.find('?');
  if (q != std::string_view::npos) a.query = target.substr(q + 1);
  a.tls = tls;
  a.listener_port = listener_port;
  a.ctx = &h;
  a.header = head_field;
  a.has_header = head_has_field;
  return a;
}

void rewrite_phase(const config::route& r, const config::controller_config& settings,
                   upstream_rewrite& out) {
  const auto& p = *r.policy;
  out.host = p.upstream_vhost;
  out.connection = p.connection_header;
  out.http_version = p.http_version;
  out.set_headers.clear();
  for (const auto& [name, value] : settings.proxy_set_headers) out.set_headers.emplace_back(name, value);
  // ingress-nginx sets X-Forwarded-Prefix only where it rewrites.
  if (!p.rewrite.x_forwarded_prefix.empty() && r.rewrite_regex)
    out.set_headers.emplace_back("X-Forwarded-Prefix", p.rewrite.x_forwarded_prefix);
  // Basic authentication: the credentials stay here (ingress-nginx: proxy_set_header
  // Authorization "").
  if (p.basic_auth.users) out.set_headers.emplace_back("Authorization", std::string_view{});
  // HTTPRoute RequestHeaderModifier: set replaces, remove is an empty value, add appends
  // (forward_params::add_headers).
  for (const auto& [name, value] : p.request_edits.set) out.set_headers.emplace_back(name, value);
  for (const auto& name : p.request_edits.remove) out.set_headers.emplace_back(name, std::string_view{});
}

namespace {

// nginx's ngx_escape_uri tables: NGX_ESCAPE_URI (a rewritten URI sent upstream) escapes
// " ", "#", "%", "?" and bytes outside 0x21-0x7e; NGX_ESCAPE_ARGS (captures in the query)
// also "&", "+" and ";".
bool escaped_in_uri(unsigned char c) {
  return c <= 0x20 || c >= 0x7f || c == '#' || c == '%' || c == '?';
}
bool escaped_in_args(unsigned char c) {
  return escaped_in_uri(c) || c == '&' || c == '+' || c == ';';
}

void append_escaped(std::string& out, std::string_view s, bool (*escaped)(unsigned char)) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (escaped(c)) {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += ch;
    }
  }
}

// The template `t` with $0-$9 replaced by `groups` (an unmatched group is empty), each
// capture escaped by `escaped` (null: as is), literal text as written.
void substitute(std::string& out, std::string_view t, const re2::StringPiece* groups, int n,
                bool (*escaped)(unsigned char)) {
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '$' && i + 1 < t.size() && t[i + 1] >= '0' && t[i + 1] <= '9') {
      const int g = t[i + 1] - '0';
      ++i;
      if (g >= n || groups[g].data() == nullptr) continue;
      const std::string_view cap(groups[g].data(), groups[g].size());
      if (escaped != nullptr) append_escaped(out, cap, escaped);
      else out.append(cap);
      continue;
    }
    out += t[i];
  }
}

}  // namespace

uri_rewrite rewrite_uri(const config::route& r, std::string_view path, std::string_view query,
                        std::string& out) {
  if (!r.rewrite_regex) return uri_rewrite::none;
  const re2::RE2& re = *r.rewrite_regex;
  re2::StringPiece groups[10];
  const int n = std::min(re.NumberOfCapturingGroups() + 1, 10);
  if (!re.Match(re2::StringPiece(path.data(), path.size()), 0, path.size(), re2::RE2::UNANCHORED,
                groups, n))
    return uri_rewrite::none;
  std::string_view t = r.policy->rewrite.target;
  // A final '?' drops the request's query (nginx).
  const bool keep_query = !t.ends_with('?');
  if (!keep_query) t.remove_suffix(1);
  const auto q = t.find('?');
  const std::string_view t_path = t.substr(0, q);
  const bool has_args = q != std::string_view::npos;
  const bool redirect = t.starts_with("http://") || t.starts_with("https://");
  out.clear();
  if (redirect) {
    substitute(out, t_path, groups, n, escaped_in_uri);
  } else {
    std::string uri;
    substitute(uri, t_path, groups, n, nullptr);
    if (uri.empty() || uri.front() != '/') uri.insert(uri.begin(), '/');
    append_escaped(out, uri, escaped_in_uri);
  }
  if (has_args) {
    out += '?';
    substitute(out, t.substr(q + 1), groups, n, escaped_in_args);
  }
  if (keep_query && !query.empty()) {
    out += has_args ? '&' : '?';
    out.append(query);
  }
  return redirect ? uri_rewrite::redirect : uri_rewrite::rewritten;
}

void response_phase(const config::route* r, const config::controller_config& settings,
                    std::vector<std::pair<std::string_view, std::string_view>>& set_headers) {
  set_headers.clear();
  if (r != nullptr) {
    for (const auto& [name, value] : r->policy->response_headers) set_headers.emplace_back(name, value);
    // HTTPRoute ResponseHeaderModifier (add: response_params::add_headers).
    for (const auto& [name, value] : r->policy->response_edits.set) set_headers.emplace_back(name, value);
    for (const auto& name : r->policy->response_edits.remove) set_headers.emplace_back(name, std::string_view{});
  }
  for (const auto& [name, value] : settings.add_headers) set_headers.emplace_back(name, value);
}

}  // namespace portico::proxy

namespace portico::proxy {

std::string_view find_header(const message_head& h, std::string_view name) {
  for (const auto& f : h.fields)
    if (ascii::iequals(f.name_text, name)) return f.value;
  return {};
}

std::optional<std::string_view> find_cookie(const message_head& h, std::string_view name,
                                            bool any_case) {
  for (const auto& f : h.fields) {
    if (f.name != http_field::cookie) continue;
    std::string_view rest = f.value;
    while (!rest.empty()) {
      const auto semi = rest.find(';');
      std::string_view pair = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
      while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
      const auto eq = pair.find('=');
      if (eq == std::string_view::npos) continue;
      std::string_view n = pair.substr(0, eq);
      while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.remove_suffix(1);
      if (any_case ? !ascii::iequals(n, name) : n != name) continue;
      std::string_view v = pair.substr(eq + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  }
  return std::nullopt;
}

namespace {

// An affinity cookie's value: "<endpoint key>|<backend key>" (the backend key may be absent).
struct sticky_cookie {
  bool present = false;
  std::string_view key;
  std::string_view backend;
};

sticky_cookie read_sticky(const message_head& h, const config::affinity_policy* a) {
  sticky_cookie out;
  if (a == nullptr) return out;
  auto v = find_cookie(h, a->cookie_name);
  if (!v || v->empty()) return out;
  out.present = true;
  const auto bar = v->find('|');
  out.key = v->substr(0, bar);
  if (bar != std::string_view::npos) {
    auto rest = v->substr(bar + 1);
    out.backend = rest.substr(0, rest.find('|'));
  }
  return out;
}

// ingress-nginx's traffic shaping policy of a canary.
bool canary_takes(const config::canary_policy& c, const message_head& h, std::uint64_t random) {
  if (!c.header.empty()) {
    bool present = false;
    std::string_view value;
    for (const auto& f : h.fields) {
      if (ascii::iequals(f.name_text, c.header)) {
        present = true;
        value = f.value;
        break;
      }
    }
    if (present) {
      if (!c.header_value.empty()) {
        if (value == c.header_value) return true;
      } else if (c.pattern) {
        if (re2::RE2::PartialMatch(re2::StringPiece(value.data(), value.size()), *c.pattern))
          return true;
      } else if (value == "always") {
        return true;
      } else if (value == "never") {
        return false;
      }
    }
  }
  if (!c.cookie.empty()) {
    if (auto v = find_cookie(h, c.cookie, true)) {
      if (*v == "always") return true;
      if (*v == "never") return false;
    }
  }
  const std::uint64_t total = std::max(c.weight_total, 100u);
  return random % total + 1 <= c.weight;  // math.random(total) <= weight
}

}  // namespace

void pick_backend_phase(const config::route& r, const message_head& h, std::uint64_t random,
                        backend_pick& out) {
  const auto& main_aff = r.policy->affinity;
  const config::affinity_policy* main_a = main_aff.enabled ? &main_aff : nullptr;
  out = backend_pick{};
  out.cluster = r.backend.get();
  if (!r.weighted.empty()) {
    // HTTPRoute backendRefs: one drawn by weight (apis/v1/httproute_types.go, BackendRef
    // weight); an invalid one, or all weights 0, answers 500.
    out.cluster = nullptr;
    out.balance = r.policy.get();
    if (r.weight_total == 0) return;
    std::uint64_t draw = random % r.weight_total;
    for (const auto& w : r.weighted) {
      if (draw < w.weight) {
        out.cluster = w.backend.get();
        out.variant = w.variant.get();
        return;
      }
      draw -= w.weight;
    }
    return;
  }
  out.affinity = main_a;
  out.balance = r.policy.get();
  const sticky_cookie mc = read_sticky(h, main_a);
  // A canary without endpoints has no balancer in ingress-nginx: the main backend serves.
  if (const config::canary_route* c = r.canary.get(); c != nullptr && !c->backend->endpoints.empty()) {
    // affinity-canary-behavior "sticky" (default): the canary has the main route's affinity.
    const auto& own = c->policy->affinity;
    const config::affinity_policy* canary_a =
        own.canary_legacy ? (own.enabled ? &own : nullptr) : main_a;
    const sticky_cookie cc = canary_a == main_a ? mc : read_sticky(h, canary_a);
    bool to_canary = false;
    if (mc.present && mc.backend == r.backend->affinity_key) {
      to_canary = false;  // tied to the main backend
    } else if (cc.present && cc.backend == c->backend->affinity_key) {
      to_canary = true;  // tied to the canary
    } else {
      to_canary = canary_takes(c->policy->canary, h, random);
    }
    if (to_canary) {
      out.cluster = c->backend.get();
      out.canary = c;
      out.affinity = canary_a;
      out.balance = c->policy.get();
      if (cc.present) out.sticky_key = cc.key;
      return;
    }
  }
  if (mc.present) out.sticky_key = mc.key;
}

namespace {
// The value of query argument `name` in `target` ("" when absent), as nginx's $arg_name.
std::string_view query_arg(std::string_view target, std::string_view name) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    const auto eq = pair.find('=');
    if (ascii::iequals(pair.substr(0, eq), name))
      return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
  }
  return {};
}
}  // namespace

void append_uri_component(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
}

void hash_key(const std::vector<config::hash_part>& parts, const message_head& h,
              const hash_inputs& in, std::string& out) {
  using K = config::hash_part::kind;
  out.clear();
  for (const auto& p : parts) {
    switch (p.k) {
      case K::literal: out.append(p.text); break;
      case K::request_uri: out.append(in.target); break;
      case K::uri: out.append(in.path); break;
      case K::args: {
        const auto q = in.target.find('?');
        if (q != std::string_view::npos) out.append(in.target.substr(q + 1));
        break;
      }
      case K::remote_addr: out.append(in.remote_addr); break;
      case K::host: {
        std::string_view host = in.host;
        if (!host.empty() && host.front() != '[') host = host.substr(0, host.rfind(':'));
        else if (auto close = host.find(']'); close != std::string_view::npos) host = host.substr(0, close + 1);
        for (char ch : host) out += ascii::lower(ch);
        break;
      }
      case K::scheme: out.append(in.tls ? "https" : "http"); break;
      case K::method: out.append(in.method); break;
      case K::http: out.append(find_header(h, p.text)); break;
      case K::cookie:
        if (auto v = find_cookie(h, p.text, true)) out.append(*v);
        break;
      case K::arg: out.append(query_arg(in.target, p.text)); break;
      case K::escaped_request_uri: append_uri_component(out, in.target); break;
      case K::http_host: {
        const auto v = find_header(h, "host");
        out.append(v.empty() ? in.host : v);
        break;
      }
      case K::pass_access_scheme:
        out.append(!in.pass_scheme.empty() ? in.pass_scheme : (in.tls ? "https" : "http"));
        break;
      case K::remote_user: {
        std::string user, password;
        if (parse_basic_credentials(find_header(h, "authorization"), user, password)) out.append(user);
        break;
      }
      case K::is_args:
        if (in.target.find('?') != std::string_view::npos) out.push_back('?');
        break;
      case K::server_port: out.append(in.server_port); break;
    }
  }
}

double rate_allowance(std::uint64_t rate, std::uint64_t after, double elapsed, std::uint64_t sent) {
  return static_cast<double>(rate) * (std::max(elapsed, 0.0) + 1.0) + static_cast<double>(after) -
         static_cast<double>(sent);
}

bool same_site_none_compatible(std::string_view ua) {
  auto has = [&](std::string_view s) { return ua.find(s) != std::string_view::npos; };
  if (ua.empty()) return true;
  if (has("Chrome/4") || has("Chrome/5") || has("Chrome/6")) return false;
  if (has("CPU iPhone OS 12") || has("iPad; CPU OS 12")) return false;
  if (has("Macintosh") && has("Intel Mac OS X 10_14") && has("Safari") && !has("Chrome"))
    return false;
  return true;
}

void affinity_cookie(const config::affinity_policy& a, std::string_view key,
                     std::string_view backend_key, std::string_view path, bool https,
                     std::string_view user_agent, std::int64_t now_seconds, std::string& out) {
  out.assign(a.cookie_name).append("=").append(key).append("|").append(backend_key);
  if (!a.expires.empty()) {
    // nginx's cookie_time: "Thu, 18-Nov-2010 11:27:35 GMT"
    std::int64_t secs = now_seconds;
    std::int64_t add = 0;
    std::from_chars(a.expires.data(), a.expires.data() + a.expires.size(), add);
    secs += add;
    const std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    const auto n = std::strftime(buf, sizeof buf, "%a, %d-%b-%Y %H:%M:%S GMT", &tm);
    out.append("; Expires=").append(buf, n);
  }
  if (!a.max_age.empty()) out.append("; Max-Age=").append(a.max_age);
  if (!a.domain.empty()) out.append("; Domain=").append(a.domain);
  out.append("; Path=").append(a.path.empty() ? path : std::string_view(a.path));
  if (a.secure || https) out.append("; Secure");
  out.append("; HttpOnly");
  if (!a.samesite.empty() &&
      !(a.conditional_samesite_none && a.samesite == "None" && !same_site_none_compatible(user_agent)))
    out.append("; SameSite=").append(a.samesite);
}

}  // namespace portico::proxy
