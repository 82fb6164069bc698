#include "proxy/phases.hpp"

#include <re2/re2.h>

#include <algorithm>

#include "proxy/https_policy.hpp"

namespace portico::proxy {

phase_result access_phase(const config::route& r, const request_view&, local_answer& out) {
  if (!r.policy->denied.empty()) {
    out.status = 503;
    return phase_result::answered;
  }
  return phase_result::next;
}

// ingress-nginx's order: app-root (server rewrite phase), then the route's temporal or
// permanent redirect (location rewrite phase), then the HTTPS redirect (its Lua rewrite
// handler).
phase_result redirect_phase(const config::route& r, const request_view& req,
                            const config::controller_config& settings, local_answer& out) {
  const auto& rd = r.policy->redirect;
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
  if (r != nullptr)
    for (const auto& [name, value] : r->policy->response_headers) set_headers.emplace_back(name, value);
  for (const auto& [name, value] : settings.add_headers) set_headers.emplace_back(name, value);
}

}  // namespace portico::proxy
