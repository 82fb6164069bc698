#include "proxy/phases.hpp"

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
  if (!p.rewrite.x_forwarded_prefix.empty())
    out.set_headers.emplace_back("X-Forwarded-Prefix", p.rewrite.x_forwarded_prefix);
}

void response_phase(const config::route* r, const config::controller_config& settings,
                    std::vector<std::pair<std::string_view, std::string_view>>& set_headers) {
  set_headers.clear();
  if (r != nullptr)
    for (const auto& [name, value] : r->policy->response_headers) set_headers.emplace_back(name, value);
  for (const auto& [name, value] : settings.add_headers) set_headers.emplace_back(name, value);
}

}  // namespace portico::proxy
