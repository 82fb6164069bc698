// mirror-target, mirror-host, mirror-request-body: see config/annotations_mirror.hpp.
#include "config/annotations_mirror.hpp"

#include <algorithm>
#include <cctype>

#include "config/annotation_ctx.hpp"
#include "config/backends.hpp"
#include "config/cluster_state.hpp"
#include "config/external_auth.hpp"
#include "config/request_template.hpp"

namespace portico::config {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

bool is_ip_literal(std::string_view h) {
  if (h.find(':') != std::string_view::npos) return true;  // IPv6 (checked by split_auth_url)
  int dots = 0;
  for (char ch : h) {
    if (ch == '.') ++dots;
    else if (ch < '0' || ch > '9') return false;
  }
  return dots == 3;
}

}  // namespace

std::optional<ingress_mirror> parse_mirror_target(std::string_view v, std::string_view uid,
                                                  std::string& why) {
  const auto scheme_end = v.find("://");
  if (scheme_end == std::string_view::npos) {
    why = "must be an http:// or https:// URL";
    return std::nullopt;
  }
  // The host and port end at the path, the query or the first variable.
  const auto rest = v.substr(scheme_end + 3);
  const auto authority_end = rest.find_first_of("/?$#");
  const auto authority = rest.substr(0, authority_end);
  const auto uri = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  auto url = split_auth_url(std::string(v.substr(0, scheme_end + 3)) + std::string(authority), why);
  if (!url) return std::nullopt;
  if (authority.empty()) {
    why = "invalid url host";
    return std::nullopt;
  }
  ingress_mirror m;
  m.target = std::string(v);
  m.https = url->https;
  m.host = url->host;
  m.port = url->port;
  m.host_header = url->host_header;
  if (!uri.empty()) {
    if (uri.front() == '#') {
      why = "a fragment is not sent";
      return std::nullopt;
    }
    if (std::any_of(uri.begin(), uri.end(), [](char ch) {
          return static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f || ch == '"' || ch == '#';
        })) {
      why = "no spaces, quotes, '#' or control characters after the host";
      return std::nullopt;
    }
    std::string twhy;
    m.uri = parse_request_template(uri, twhy);
    if (!twhy.empty()) {
      why = twhy;
      return std::nullopt;
    }
    m.uri_has_variables = has_variables(m.uri);
  }
  m.location = "/_mirror-" + std::string(uid);
  m.fixed_address = is_ip_literal(m.host);
  return m;
}

bool valid_mirror_host(std::string_view v) {
  if (v.empty() || v.size() > 261) return false;
  return std::all_of(v.begin(), v.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == '_' ||
           ch == ':' || ch == '[' || ch == ']';
  });
}

std::optional<std::pair<std::string, std::string>> cluster_service_of(std::string_view host) {
  std::string h = lower(host);
  for (std::string_view suffix : {".svc.cluster.local", ".svc"}) {
    if (h.size() <= suffix.size() || !h.ends_with(suffix)) continue;
    const std::string_view head = std::string_view(h).substr(0, h.size() - suffix.size());
    const auto dot = head.find('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 1 == head.size() ||
        head.find('.', dot + 1) != std::string_view::npos)
      return std::nullopt;
    return std::make_pair(std::string(head.substr(dot + 1)), std::string(head.substr(0, dot)));
  }
  return std::nullopt;
}

mirror_backend ingress_mirror_backend(std::shared_ptr<const ingress_mirror> m, cluster_builder& clusters,
                                      const cluster_state& state, std::string& error) {
  mirror_backend mb;
  mb.name = m->target;
  const std::string where = (m->host.find(':') != std::string::npos ? "[" + m->host + "]" : m->host) +
                            ":" + std::to_string(m->port);
  if (m->fixed_address) {
    auto c = std::make_shared<cluster>();
    c->id = "mirror " + where;
    c->endpoints.push_back(endpoint{m->host, m->port, {}, true});
    c->version = endpoints_version(c->endpoints);
    mb.backend = std::move(c);
    mb.target = std::move(m);
    return mb;
  }
  if (auto svc = cluster_service_of(m->host)) {
    ingress_backend b;
    b.has_service = true;
    b.service_name = svc->second;
    b.port.number = m->port;
    auto res = clusters.resolve(svc->first, b);
    const bool known = state.services.count(svc->first + "/" + svc->second) != 0;
    if (known && !res.error.empty()) {
      error = "Service " + svc->first + "/" + svc->second + ": " + res.error + "; requests are not mirrored";
      return {};
    }
    mb.backend = std::move(res.backend);
    if (known) {
      auto fixed = std::make_shared<ingress_mirror>(*m);
      fixed->fixed_address = true;
      m = std::move(fixed);
    }
    mb.target = std::move(m);
    return mb;
  }
  auto c = std::make_shared<cluster>();
  c->id = "mirror " + where;  // no endpoints: the worker resolves the name
  mb.backend = std::move(c);
  mb.target = std::move(m);
  return mb;
}

namespace annotation_detail {

// After every single-key decoder (canary is known by then).
void mirror(ctx& c, const our_annotations& anns) {
  auto get = [&](std::string_view k) -> const our_annotation* {
    auto it = anns.find(k);
    return it == anns.end() ? nullptr : &it->second;
  };
  const our_annotation* target = get("mirror-target");
  if (target == nullptr) {
    for (const char* key : {"mirror-host", "mirror-request-body"}) {
      if (const our_annotation* a = get(key)) {
        c.current = a;
        c.error("without mirror-target: no request mirroring (as in ingress-nginx)");
        break;
      }
    }
    return;
  }
  c.current = target;
  if (c.p.canary.enabled) {
    c.error("not used on a canary Ingress (as in ingress-nginx): the mirror-* annotations of the "
            "main Ingress apply to every request of its paths, those the canary serves included");
    return;
  }
  std::string why;
  auto m = parse_mirror_target(trim(target->value), c.ing.meta.uid, why);
  if (!m) return c.bad("an http:// or https:// URL (" + why + ")", "requests are not mirrored");
  if (const our_annotation* h = get("mirror-host")) {
    c.current = h;
    const auto t = trim(h->value);
    if (valid_mirror_host(t)) m->host_header = std::string(t);
    else c.bad("a host name (optionally :port)", "the target's host is sent");
  }
  if (const our_annotation* b = get("mirror-request-body")) {
    c.current = b;
    const auto t = trim(b->value);
    if (t == "off") m->body = false;
    else if (t != "on") c.bad("\"on\" or \"off\"", "the body is sent");
  }
  c.p.mirror = std::make_shared<const ingress_mirror>(std::move(*m));
}

}  // namespace annotation_detail
}  // namespace portico::config
