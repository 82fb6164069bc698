// config::build_gateway_routes(): see config/gateway_build.hpp.
//
// Choices, where the Gateway API leaves room (README "Gateway API"):
// - Listeners: protocol HTTP on port 80 is served on --http-port, HTTPS (tls.mode Terminate)
//   on 443 on --https-port, HTTP on a port of --gateway-http-ports and HTTPS on one of
//   --gateway-https-ports on that port. Any other port or protocol is not served; its
//   listener status says why (Accepted False: PortUnavailable, UnsupportedProtocol) and the
//   rest still serve. Requests are matched per port (config/gateway_table.hpp).
//   Routes attach to (and are counted on) HTTP and HTTPS listeners that are not served too;
//   only served ones route. allowedRoutes.kinds naming a kind Portico does not serve:
//   ResolvedRefs False, InvalidRouteKinds.
// - Backends speak what their Service port's appProtocol says (config/gateway_backends.hpp);
//   a backendRef with its own filters or another protocol than its rule's first is served
//   by a copy of the route (weighted_backend::variant).
// - A rule Portico cannot serve as written (a filter it does not implement, RequestRedirect
//   with URLRewrite, ReplacePrefixMatch on a match that is not a PathPrefix) answers 500 for
//   the requests it matches, with a build_error naming the field: its requests are never
//   served without what the rule asks for. A match whose regex does not compile is not
//   served (nothing tells which requests it meant).
// - Timeouts (GEP-1742): request runs from the first upstream attempt (the request body is
//   buffered first, which the spec allows) until the response is read; backendRequest per
//   attempt. Both end in 504.
// - RequestMirror: a backendRef that cannot be used is dropped with an error; the rule
//   serves without that mirror.
// - Backends: a backendRef that is not a core Service, names a Service that does not exist,
//   or crosses namespaces without a ReferenceGrant is invalid: its share of the weight
//   answers 500 (apis/v1/httproute_types.go, HTTPRouteRule.BackendRefs). All weights 0 with
//   no filter: 500.
// - GRPCRoute (config/gateway_grpc.hpp) is built by the same code: its backends speak gRPC over
//   h2c, an unusable backendRef or rule answers 503 (UNAVAILABLE) instead of 500, and
//   RequestMirror is dropped with an error. Routes of both kinds are attached oldest first; an
//   HTTPRoute and a GRPCRoute whose hostnames intersect on a listener: the newer is not
//   accepted there (GRPCRouteSpec.Hostnames; reason NotAllowedByListeners, Portico's choice).
#include "config/gateway_build.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include <re2/re2.h>

#include "config/fnv.hpp"
#include "config/gateway_backends.hpp"
#include "config/gateway_grpc.hpp"
#include "config/tls_certificate.hpp"

namespace portico::config {
namespace {

constexpr std::string_view core_group = "";

gw_condition cond(std::string type, bool ok, std::string reason, std::string message = {}) {
  return {std::move(type), ok ? "True" : "False", std::move(reason), std::move(message)};
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

template <class T>
std::vector<const T*> oldest_first(const object_map<T>& m) {
  std::vector<const T*> out;
  for (const auto& [k, o] : m) out.push_back(&o);
  std::sort(out.begin(), out.end(), [](const T* a, const T* b) {
    return std::tie(a->meta.creation_timestamp, a->meta.namespace_name, a->meta.name) <
           std::tie(b->meta.creation_timestamp, b->meta.namespace_name, b->meta.name);
  });
  return out;
}

// A Route attached to a listener: its kind and the hostnames it serves there.
struct attached_route {
  bool grpc = false;
  bool any = false;  // every host of the listener
  std::vector<std::string> hosts;
  std::string key;  // "namespace/name"
};

// A listener as served (or not), with what routes need to attach to it.
struct listener_info {
  const gateway* gw = nullptr;
  const gateway_listener* l = nullptr;
  gw_listener_status* status = nullptr;
  bool served = false;
  bool tls = false;
  std::uint16_t port = 0;  // the listener slot when served (request_attrs::slot())
  bool accepts_http_route = true;  // allowedRoutes.kinds
  bool accepts_grpc_route = true;
  std::vector<attached_route> attached;  // in attachment order (oldest Route first)
  // HTTP or HTTPS (Terminate) on any port: Routes attach and are counted even when the
  // listener is not served (a port Portico does not listen on, no usable certificate), as
  // ListenerStatus.AttachedRoutes asks; only a served listener routes their requests.
  bool attachable = false;
};

// A Route of either kind, for processing all of them oldest first (the HTTPRoute/GRPCRoute
// hostname conflict is decided by age: GRPCRouteSpec.Hostnames).
struct any_route {
  const object_meta* meta = nullptr;
  const http_route* http = nullptr;
  const grpc_route* grpc = nullptr;
};

class gateway_builder {
 public:
  gateway_builder(const cluster_state& state, const build_options& opts,
                  const controller_config& settings, cluster_builder& clusters,
                  tls_table_builder& tls, std::vector<build_error>& errors)
      : state_(state), opts_(opts), settings_(settings), clusters_(clusters), tls_(tls),
        errors_(errors) {}

  gateway_routes run();

 private:
  void add_gateway(const gateway& gw);
  void add_listener(const gateway& gw, std::size_t i, gw_gateway_status& gs);
  void check_certificates(const gateway& gw, std::size_t i, listener_info& li);
  void check_route_kinds(const gateway& gw, std::size_t i, listener_info& li);
  void add_route(const http_route& rt, const grpc_route* grpc);
  const attached_route* conflict(const listener_info& li, bool grpc, bool any,
                                 const std::vector<std::string>& hosts) const;
  bool namespace_allowed(const listener_info& li, const std::string& route_ns) const;
  gw_condition resolved_refs(const http_route& rt) const;
  void attach(const http_route& rt, const grpc_route* grpc,
              const gateway_table_keys& keys);
  void add_entry(const http_route& rt, const route& proto, gateway_match& gm, std::uint32_t rule,
                 std::uint32_t match, const gateway_table_keys& keys);
  std::shared_ptr<route> rule_route(const http_route& rt, std::size_t i);
  bool make_match(const http_route& rt, const http_route_match& m, const std::string& field,
                  gateway_match& gm);
  std::shared_ptr<const route_policy> rule_policy(const http_route& rt, std::size_t i, bool& valid);
  void rule_backends(const http_route& rt, std::size_t i, route& r);
  void rule_mirrors(const http_route& rt, std::size_t i, route& r);
  std::string backend_problem(const http_route& rt, const object_reference& ref,
                              const std::optional<std::int32_t>& port) const;
  void error(const char* kind, const object_meta& m, std::string field, std::string message) {
    errors_.push_back({kind, m.namespace_name, m.name, std::move(field), std::move(message)});
  }

  const cluster_state& state_;
  const build_options& opts_;
  const controller_config& settings_;
  cluster_builder& clusters_;
  tls_table_builder& tls_;
  std::vector<build_error>& errors_;
  gateway_routes out_;
  gateway_status status_;
  std::map<std::string, std::vector<listener_info>> listeners_;  // by Gateway "ns/name"
  const char* kind_ = "HTTPRoute";  // of the Route being added
};

void gateway_builder::check_certificates(const gateway& gw, std::size_t i, listener_info& li) {
  const auto& l = *li.l;
  const std::string field = "spec.listeners[" + std::to_string(i) + "].tls.certificateRefs";
  std::string bad_reason, bad_message;
  int good = 0;
  for (std::size_t j = 0; j < l.certificate_refs.size(); ++j) {
    const auto& ref = l.certificate_refs[j];
    const std::string ns = ref.namespace_name.value_or(gw.meta.namespace_name);
    std::string reason, message;
    if (ref.group != core_group || ref.kind != "Secret") {
      reason = "InvalidCertificateRef";
      message = "certificateRefs[" + std::to_string(j) + "] is not a core Secret";
    } else if (!reference_permitted(state_, gateway_group, "Gateway", gw.meta.namespace_name,
                                    core_group, "Secret", ns, ref.name)) {
      reason = "RefNotPermitted";
      message = "Secret " + ns + "/" + ref.name + " is in another namespace and no ReferenceGrant allows it";
    } else {
      bool missing = false;
      auto cert = tls_.certificate(ns, ref.name, &missing, "the listener does not serve it");
      if (!cert) {
        reason = "InvalidCertificateRef";
        message = "Secret " + ns + "/" + ref.name + (missing ? " not found" : " is not a usable TLS Secret");
      } else {
        ++good;
        if (l.hostname && !certificate_covers(*cert, lower(*l.hostname)))
          error("Gateway", gw.meta, field + "[" + std::to_string(j) + "]",
                "the certificate of Secret " + ns + "/" + ref.name + " (" + certificate_names_text(*cert) +
                    ") does not name the listener hostname \"" + *l.hostname + "\"; it is served anyway");
        const std::vector<std::string> hosts =
            l.hostname ? std::vector<std::string>{lower(*l.hostname)} : cert->names;
        for (const auto& h : hosts) out_.certificates.emplace_back(h, cert);
      }
    }
    if (!reason.empty()) {
      error("Gateway", gw.meta, field + "[" + std::to_string(j) + "]", message);
      if (bad_reason.empty()) bad_reason = reason, bad_message = message;
    }
  }
  if (l.certificate_refs.empty()) bad_reason = "InvalidCertificateRef", bad_message = "an HTTPS listener needs tls.certificateRefs";
  li.status->conditions.push_back(bad_reason.empty() ? cond("ResolvedRefs", true, "ResolvedRefs")
                                                     : cond("ResolvedRefs", false, bad_reason, bad_message));
  if (good == 0) li.served = false;
}

// allowedRoutes.kinds naming a kind Portico does not serve on the listener: ResolvedRefs False,
// reason InvalidRouteKinds (unless a certificate reference already failed it); the listener
// still serves the kinds it can (supportedKinds lists them).
void gateway_builder::check_route_kinds(const gateway& gw, std::size_t i, listener_info& li) {
  std::string invalid;
  for (const auto& k : li.l->routes.kinds)
    if (k.group != gateway_group || (k.kind != "HTTPRoute" && k.kind != "GRPCRoute"))
      invalid += (invalid.empty() ? "" : ", ") + (k.group.empty() ? "core" : k.group) + "/" + k.kind;
  if (invalid.empty()) return;
  const std::string message = "allowedRoutes.kinds names kinds Portico does not serve on " + li.l->protocol +
                              " listeners: " + invalid;
  error("Gateway", gw.meta, "spec.listeners[" + std::to_string(i) + "].allowedRoutes.kinds", message);
  for (auto& c : li.status->conditions)
    if (c.type == "ResolvedRefs" && c.status == "True") c = cond("ResolvedRefs", false, "InvalidRouteKinds", message);
}

void gateway_builder::add_listener(const gateway& gw, std::size_t i, gw_gateway_status& gs) {
  const auto& l = gw.listeners[i];
  listener_info li{&gw, &l, &gs.listeners.emplace_back(), false, false, 0, true, true, {}, false};
  li.status->name = l.name;
  std::string reason = "Accepted", message;
  li.attachable = (l.protocol == "HTTP" || l.protocol == "HTTPS") && l.tls_mode == "Terminate";
  auto listed = [&](const std::vector<std::uint16_t>& ports) {
    return std::find(ports.begin(), ports.end(), l.port) != ports.end();
  };
  if (l.protocol == "HTTP" && (l.port == 80 || listed(opts_.gateway_http_ports))) {
    li.served = true;
  } else if (l.protocol == "HTTPS" && l.tls_mode == "Terminate" &&
             (l.port == 443 || listed(opts_.gateway_https_ports))) {
    li.served = li.tls = true;
  } else if ((l.protocol == "HTTP" || l.protocol == "HTTPS") && l.tls_mode == "Terminate") {
    reason = "PortUnavailable";
    message = "Portico serves HTTP listeners on port 80 (--http-port) and on the ports of "
              "--gateway-http-ports, HTTPS on 443 (--https-port) and on the ports of "
              "--gateway-https-ports; port " + std::to_string(l.port) + " is not among them for " +
              l.protocol;
  } else {
    reason = "UnsupportedProtocol";
    message = "protocol " + l.protocol + (l.tls_mode != "Terminate" ? " with tls.mode " + l.tls_mode : "") +
              " is not served by Portico";
  }
  // allowedRoutes.kinds: absent, every kind the protocol takes (HTTP and HTTPS: HTTPRoute and
  // GRPCRoute, served with HTTP/2 by ALPN and by prior knowledge).
  if (!l.routes.kinds.empty()) {
    auto allows = [&](std::string_view kind) {
      return std::any_of(l.routes.kinds.begin(), l.routes.kinds.end(), [&](const auto& k) {
        return k.group == gateway_group && k.kind == kind;
      });
    };
    li.accepts_http_route = allows("HTTPRoute");
    li.accepts_grpc_route = allows("GRPCRoute");
  }
  if (li.served) li.port = static_cast<std::uint16_t>(l.port);
  li.status->conditions.push_back(cond("Accepted", li.served, reason, message));
  if (li.served && li.tls) check_certificates(gw, i, li);
  else if (li.served) li.status->conditions.push_back(cond("ResolvedRefs", true, "ResolvedRefs"));
  if (li.served) check_route_kinds(gw, i, li);
  li.status->conditions.push_back(cond("Programmed", li.served, li.served ? "Programmed" : "Invalid"));
  if (!li.served) error("Gateway", gw.meta, "spec.listeners[" + std::to_string(i) + "]",
                        message.empty() ? "listener not served: " + li.status->conditions.back().reason : message);
  listeners_[object_key(gw.meta)].push_back(li);
}

void gateway_builder::add_gateway(const gateway& gw) {
  auto& gs = status_.gateways.emplace_back();
  gs.namespace_name = gw.meta.namespace_name;
  gs.name = gw.meta.name;
  gs.listeners.reserve(gw.listeners.size());  // listener_info points into it
  for (std::size_t i = 0; i < gw.listeners.size(); ++i) add_listener(gw, i, gs);
  const auto& ls = listeners_[object_key(gw.meta)];
  const auto served = std::count_if(ls.begin(), ls.end(), [](const auto& li) { return li.served; });
  const bool all = served == static_cast<long>(gw.listeners.size());
  gs.conditions.push_back(cond("Accepted", served > 0, all ? "Accepted" : "ListenersNotValid"));
  gs.conditions.push_back(cond("Programmed", served > 0, served > 0 ? "Programmed" : "Invalid"));
}

bool gateway_builder::namespace_allowed(const listener_info& li, const std::string& ns) const {
  switch (li.l->routes.from) {
    case routes_from::all: return true;
    case routes_from::same: return ns == li.gw->meta.namespace_name;
    case routes_from::selector: {
      std::map<std::string, std::string> labels;
      if (auto it = state_.namespaces.find(ns); it != state_.namespaces.end()) labels = it->second.meta.labels;
      labels["kubernetes.io/metadata.name"] = ns;  // set by the API server on every Namespace
      return selector_matches(li.l->routes.selector, labels);
    }
  }
  return false;
}

// ResolvedRefs of a route: the first reference that cannot be used, in rule order
// (apis/v1/shared_types.go, RouteConditionReason).
// (The backendRefs of RequestMirror filters count too.)
gw_condition gateway_builder::resolved_refs(const http_route& rt) const {
  struct ref_use {
    const object_reference* ref;
    std::optional<std::int32_t> port;
    bool mirror;
  };
  std::vector<ref_use> refs;
  for (const auto& rule : rt.rules) {
    for (const auto& b : rule.backend_refs) refs.push_back({&b.ref, b.port, false});
    for (const auto& f : rule.filters)
      if (f.type == http_filter_type::request_mirror) refs.push_back({&f.mirror.ref, f.mirror.port, true});
  }
  const bool grpc = std::string_view(kind_) == "GRPCRoute";
  for (const ref_use& use : refs) {
    const object_reference& b = *use.ref;
    const std::string ns = b.namespace_name.value_or(rt.meta.namespace_name);
    if (b.group != core_group || b.kind != "Service")
      return cond("ResolvedRefs", false, "InvalidKind", b.kind + " is not a core Service");
    if (!reference_permitted(state_, gateway_group, kind_, rt.meta.namespace_name,
                             core_group, "Service", ns, b.name))
      return cond("ResolvedRefs", false, "RefNotPermitted",
                  "Service " + ns + "/" + b.name + " is in another namespace and no ReferenceGrant allows it");
    if (!state_.services.count(ns + "/" + b.name))
      return cond("ResolvedRefs", false, "BackendNotFound", "Service " + ns + "/" + b.name + " not found");
    // The Service port's appProtocol (KEP-3726): one the route cannot speak makes the ref
    // invalid; mirror copies go out as HTTP/1.1 in cleartext.
    const auto app = use.port ? service_app_protocol(state_, ns, b.name, *use.port) : std::nullopt;
    const auto proto = app ? backend_protocol_for(*app, grpc) : backend_protocol::http1;
    if (proto == backend_protocol::unsupported || (use.mirror && !grpc && proto != backend_protocol::http1))
      return cond("ResolvedRefs", false, "UnsupportedProtocol",
                  unsupported_protocol_message(ns + "/" + b.name, *use.port, *app, grpc) +
                      (use.mirror ? " (mirror copies go out as HTTP/1.1 in cleartext)" : ""));
  }
  return cond("ResolvedRefs", true, "ResolvedRefs");
}

// The Route of the other kind, already attached to `li`, whose hostnames there intersect
// these: then this (newer) Route is not accepted on the listener (GRPCRouteSpec.Hostnames:
// exactly one of the two, the oldest, then the first by "namespace/name").
const attached_route* gateway_builder::conflict(const listener_info& li, bool grpc, bool any,
                                                const std::vector<std::string>& hosts) const {
  for (const auto& a : li.attached)
    if (a.grpc != grpc && route_hostnames_overlap(any, hosts, a.any, a.hosts)) return &a;
  return nullptr;
}

void gateway_builder::add_route(const http_route& rt, const grpc_route* grpc) {
  auto& rs = status_.routes.emplace_back();
  rs.kind = kind_;
  rs.namespace_name = rt.meta.namespace_name;
  rs.name = rt.meta.name;
  const gw_condition refs = resolved_refs(rt);
  gateway_table_keys keys;  // the host keys the route serves, and through which listener
  const std::string route_key = rt.meta.namespace_name + "/" + rt.meta.name;
  for (const auto& p : rt.parent_refs) {
    if (p.group != gateway_group || p.kind != "Gateway") continue;
    const std::string gw_key = p.namespace_name.value_or(rt.meta.namespace_name) + "/" + p.name;
    auto it = listeners_.find(gw_key);
    if (it == listeners_.end()) continue;  // not a Gateway of Portico's: its controller reports
    auto& ps = rs.parents.emplace_back();
    ps.gateway = gw_key;
    ps.section_name = p.section_name;
    bool named = false, allowed = false, attached = false;
    std::string conflict_with;
    for (auto& li : it->second) {
      if ((p.section_name && *p.section_name != li.l->name) || (p.port && *p.port != li.l->port)) continue;
      named = true;
      const bool kind_ok = grpc ? li.accepts_grpc_route : li.accepts_http_route;
      if (!li.attachable || !kind_ok || !namespace_allowed(li, rt.meta.namespace_name)) continue;
      allowed = true;
      bool any = false;
      std::vector<std::string> hosts = intersect_hostnames(li.l->hostname, rt.hostnames, any);
      if (hosts.empty() && !any) continue;
      if (const attached_route* other = conflict(li, grpc != nullptr, any, hosts)) {
        conflict_with = std::string(other->grpc ? "GRPCRoute " : "HTTPRoute ") + other->key;
        error(kind_, rt.meta, "spec.hostnames",
              "on listener " + gw_key + "/" + li.l->name + " its hostnames intersect those of the older " +
                  conflict_with + "; not attached there");
        continue;
      }
      attached = true;
      ++li.status->attached_routes;
      li.attached.push_back({grpc != nullptr, any, hosts, route_key});
      if (!li.served) continue;  // counted, not routed
      const std::string lh = li.l->hostname ? lower(*li.l->hostname) : "";
      if (any) keys.insert({li.port, "", lh, gw_key});
      for (auto& h : hosts) keys.insert({li.port, lower(h), lh, gw_key});
    }
    if (attached) ps.conditions.push_back(cond("Accepted", true, "Accepted"));
    else if (!named) ps.conditions.push_back(cond("Accepted", false, "NoMatchingParent", "no listener matches sectionName/port"));
    else if (!allowed) ps.conditions.push_back(cond("Accepted", false, "NotAllowedByListeners"));
    else if (!conflict_with.empty())
      ps.conditions.push_back(cond("Accepted", false, "NotAllowedByListeners",
                                   "its hostnames intersect those of the older " + conflict_with +
                                       " on the listener; only one of an HTTPRoute and a GRPCRoute may serve them"));
    else ps.conditions.push_back(cond("Accepted", false, "NoMatchingListenerHostname"));
    ps.conditions.push_back(refs);
  }
  if (!keys.empty()) attach(rt, grpc, keys);
}

path_edit to_edit(const path_modifier& m) {
  return {m.type == path_modifier_type::replace_full_path ? path_edit::kind::full : path_edit::kind::prefix,
          m.value};
}

// One supported filter into the policy; false for a type Portico does not serve.
bool apply_filter(const http_route_filter& flt, route_policy& pol) {
  switch (flt.type) {
    case http_filter_type::request_header_modifier:
      pol.request_edits = {flt.headers.set, flt.headers.add, flt.headers.remove};
      return true;
    case http_filter_type::response_header_modifier:
      pol.response_edits = {flt.headers.set, flt.headers.add, flt.headers.remove};
      return true;
    case http_filter_type::request_redirect: {
      auto& g = pol.redirect.gateway;
      g.enabled = true;
      g.scheme = flt.redirect.scheme.value_or("");
      g.hostname = flt.redirect.hostname.value_or("");
      g.port = static_cast<std::uint16_t>(flt.redirect.port.value_or(0));
      g.status = static_cast<unsigned>(flt.redirect.status_code);
      if (flt.redirect.path) g.path = to_edit(*flt.redirect.path);
      return true;
    }
    case http_filter_type::url_rewrite:
      if (flt.rewrite.hostname) pol.upstream_vhost = *flt.rewrite.hostname;
      if (flt.rewrite.path) pol.rewrite.gateway_path = to_edit(*flt.rewrite.path);
      return true;
    case http_filter_type::request_mirror:
      return true;  // its backend is resolved by rule_mirrors()
    default:
      return false;
  }
}

// HTTPRouteTimeouts into the policy. A deadline given replaces the per-read limits where they
// are shorter (the deadline is what the route asks for); "0s" turns a deadline off, and with
// request "0s" and no backendRequest the per-read limits are off too ("0s" SHOULD disable the
// timeout completely).
void apply_timeouts(const http_route_rule& rule, route_policy& pol) {
  using std::chrono::milliseconds;
  const auto req = rule.request_timeout_ms, att = rule.backend_request_timeout_ms;
  if (!req && !att) return;
  pol.request_timeout = milliseconds(req.value_or(0));
  pol.attempt_timeout = milliseconds(att.value_or(0));
  const milliseconds longest = std::max(pol.request_timeout, pol.attempt_timeout);
  if (longest.count() == 0) {
    constexpr milliseconds none{std::chrono::hours(24 * 365)};
    pol.read_timeout = pol.send_timeout = none;
  } else {
    pol.read_timeout = std::max(pol.read_timeout, longest);
    pol.send_timeout = std::max(pol.send_timeout, longest);
  }
  pol.next_upstream_timeout = milliseconds(0);  // the request deadline bounds the retries
}

// The config hash covers what the filters ask for (annotations' policies hash their text).
std::uint64_t filters_hash(const route_policy& pol, bool valid) {
  fnv1a h;
  const auto& g = pol.redirect.gateway;
  h.add(pol.upstream_vhost).add(std::uint64_t{g.enabled}).add(g.scheme).add(g.hostname);
  h.add(std::uint64_t{g.port}).add(std::uint64_t{g.status});
  h.add(static_cast<std::uint64_t>(pol.request_timeout.count()))
      .add(static_cast<std::uint64_t>(pol.attempt_timeout.count()));
  for (const path_edit* e : {&g.path, &pol.rewrite.gateway_path})
    h.add(static_cast<std::uint64_t>(e->k)).add(e->value);
  for (const header_edits* e : {&pol.request_edits, &pol.response_edits}) {
    for (const auto& [n, v] : e->set) h.add("s").add(n).add(v);
    for (const auto& [n, v] : e->add) h.add("a").add(n).add(v);
    for (const auto& n : e->remove) h.add("r").add(n);
  }
  return h.add(std::uint64_t{valid}).value();
}

std::shared_ptr<const route_policy> gateway_builder::rule_policy(const http_route& rt, std::size_t i,
                                                                 bool& valid) {
  const auto& rule = rt.rules[i];
  auto pol = settings_.route_defaults();
  pol.custom_http_errors.clear();
  pol.ext_auth = nullptr;  // global authentication is an Ingress (ConfigMap) setting
  const std::string base = "spec.rules[" + std::to_string(i) + "]";
  auto bad = [&](const std::string& field, const std::string& message) {
    error(kind_, rt.meta, base + field, message + "; the rule answers 500");
    valid = false;
  };
  std::set<http_filter_type> seen;
  for (std::size_t f = 0; f < rule.filters.size(); ++f) {
    const auto& flt = rule.filters[f];
    const std::string field = ".filters[" + std::to_string(f) + "]";
    // RequestMirror may be listed more than once (HTTPRouteRequestMultipleMirrors).
    if (!seen.insert(flt.type).second && flt.type != http_filter_type::request_mirror)
      bad(field, flt.type_name + " is listed twice");
    if (!apply_filter(flt, pol)) bad(field, "filter type " + flt.type_name + " is not supported by Portico yet");
  }
  if (seen.count(http_filter_type::request_redirect) && seen.count(http_filter_type::url_rewrite))
    bad(".filters", "RequestRedirect and URLRewrite cannot both be used in one rule");
  const bool prefix_edit = pol.redirect.gateway.path.k == path_edit::kind::prefix ||
                           pol.rewrite.gateway_path.k == path_edit::kind::prefix;
  for (std::size_t m = 0; prefix_edit && m < rule.matches.size(); ++m)
    if (rule.matches[m].path.type != gw_path_type::path_prefix)
      bad(".matches[" + std::to_string(m) + "].path", "ReplacePrefixMatch needs a PathPrefix match");
  if (!valid) {  // the rule answers 500: nothing it asks for is applied
    pol.redirect.gateway = {};
    pol.rewrite.gateway_path = {};
  }
  apply_timeouts(rule, pol);
  pol.hash = filters_hash(pol, valid);
  return std::make_shared<const route_policy>(std::move(pol));
}

// Why a backendRef (of backendRefs or a RequestMirror) cannot be used ("" it can).
std::string gateway_builder::backend_problem(const http_route& rt, const object_reference& ref,
                                             const std::optional<std::int32_t>& port) const {
  const std::string ns = ref.namespace_name.value_or(rt.meta.namespace_name);
  if (ref.group != core_group || ref.kind != "Service") return "not a core Service";
  if (!reference_permitted(state_, gateway_group, kind_, rt.meta.namespace_name, core_group, "Service", ns, ref.name))
    return "Service " + ns + "/" + ref.name + " is in another namespace and no ReferenceGrant allows it";
  if (!port) return "port is required for a Service";
  return {};
}

// RequestMirror filters: each resolved to its cluster; one that cannot be used is dropped
// (the spec's "invalid and must be dropped"), with an error, and the rule is served without it.
void gateway_builder::rule_mirrors(const http_route& rt, std::size_t i, route& r) {
  const auto& rule = rt.rules[i];
  for (std::size_t f = 0; f < rule.filters.size(); ++f) {
    if (rule.filters[f].type != http_filter_type::request_mirror) continue;
    if (std::string_view(kind_) == "GRPCRoute") {
      // Copies go out as HTTP/1.1 with the whole body in memory: nothing a gRPC server takes.
      error(kind_, rt.meta, "spec.rules[" + std::to_string(i) + "].filters[" + std::to_string(f) + "]",
            "RequestMirror is not supported for GRPCRoute by Portico yet; requests are not mirrored");
      continue;
    }
    const auto& m = rule.filters[f].mirror;
    const std::string field = "spec.rules[" + std::to_string(i) + "].filters[" + std::to_string(f) + "].requestMirror.backendRef";
    const std::string ns = m.ref.namespace_name.value_or(rt.meta.namespace_name);
    std::string why = backend_problem(rt, m.ref, m.port);
    if (why.empty())
      if (auto app = service_app_protocol(state_, ns, m.ref.name, *m.port);
          app && backend_protocol_for(*app, false) != backend_protocol::http1)
        why = unsupported_protocol_message(ns + "/" + m.ref.name, *m.port, *app, false) +
              " (mirror copies go out as HTTP/1.1 in cleartext)";
    mirror_backend mb;
    if (why.empty()) {
      ingress_backend ib;
      ib.has_service = true;
      ib.service_name = m.ref.name;
      ib.port.number = *m.port;
      auto res = clusters_.resolve(ns, ib);
      if (!res.error.empty()) why = res.error;
      else mb.backend = std::move(res.backend);
    }
    if (!why.empty()) {
      error(kind_, rt.meta, field, why + "; requests are not mirrored there");
      continue;
    }
    if (m.percent) mb.numerator = static_cast<std::uint32_t>(*m.percent), mb.denominator = 100;
    if (m.fraction)
      mb.numerator = static_cast<std::uint32_t>(m.fraction->numerator),
      mb.denominator = static_cast<std::uint32_t>(m.fraction->denominator);
    mb.name = ns + "/" + m.ref.name + ":" + std::to_string(*m.port);
    if (mb.numerator > 0) r.mirrors.push_back(std::move(mb));
  }
}

void gateway_builder::rule_backends(const http_route& rt, std::size_t i, route& r) {
  const auto& rule = rt.rules[i];
  for (std::size_t b = 0; b < rule.backend_refs.size(); ++b) {
    const auto& ref = rule.backend_refs[b];
    const std::string field = "spec.rules[" + std::to_string(i) + "].backendRefs[" + std::to_string(b) + "]";
    const std::string ns = ref.ref.namespace_name.value_or(rt.meta.namespace_name);
    weighted_backend wb;
    wb.weight = static_cast<std::uint32_t>(ref.weight);
    std::string why = backend_problem(rt, ref.ref, ref.port), sub;
    backend_choice choice;
    if (why.empty()) why = choose_backend(state_, ns, ref, r.grpc, *r.policy, choice, sub);
    if (why.empty()) {
      ingress_backend ib;
      ib.has_service = true;
      ib.service_name = ref.ref.name;
      ib.port.number = *ref.port;
      const bool tls = choice.protocol == backend_protocol::http1_tls || choice.protocol == backend_protocol::h2_tls;
      auto res = clusters_.resolve(ns, ib, tls ? app_protocol_tls() : nullptr);
      if (!res.error.empty()) why = res.error;
      else wb.backend = std::move(res.backend);
    }
    if (!why.empty()) {
      error(kind_, rt.meta, field + sub, why + (r.grpc ? "; its share of the requests answers 503" : "; its share of the requests answers 500"));
    } else if (const bool h2 = choice.protocol == backend_protocol::h2c || choice.protocol == backend_protocol::h2_tls;
               h2 != r.upstream_h2 || choice.policy) {
      // Served by its own copy of the route (made per match in add_entry()).
      auto v = std::make_shared<route>();
      v->upstream_h2 = h2;
      v->policy = choice.policy ? choice.policy : r.policy;
      wb.variant = std::move(v);
    }
    if (b == 0) {
      r.service_name = ref.ref.name;
      r.service_port = ref.port ? std::to_string(*ref.port) : "";
    }
    r.weight_total += wb.weight;
    r.weighted.push_back(std::move(wb));
  }
  for (const auto& wb : r.weighted)
    if (wb.backend && wb.weight > 0 && !r.backend) r.backend = wb.backend;
  // One usable backend: the plain route (no draw per request).
  if (r.weighted.size() == 1 && r.weighted[0].backend && r.weight_total > 0) {
    if (const auto& v = r.weighted[0].variant) r.upstream_h2 = v->upstream_h2, r.policy = v->policy;
    r.weighted.clear();
  }
}

// One HTTPRouteMatch ready to test; false (with an error) when a regex does not compile:
// such a match is not served, as nothing can tell which requests it was meant for.
bool gateway_builder::make_match(const http_route& rt, const http_route_match& m, const std::string& field,
                                 gateway_match& gm) {
  bool ok = true;
  auto compile = [&](const std::string& pattern, const std::string& f) -> std::shared_ptr<const re2::RE2> {
    auto re = std::make_shared<const re2::RE2>(pattern, re2::RE2::Quiet);
    if (re->ok()) return re;
    error(kind_, rt.meta, f, "invalid regular expression: " + re->error() + "; this match is not served");
    ok = false;
    return nullptr;
  };
  gm.path_type = m.path.type;
  gm.path = m.path.value;
  gm.method = m.method.value_or("");
  if (m.path.type == gw_path_type::regular_expression) gm.path_regex = compile(m.path.value, field + ".path.value");
  // Only the first entry of one name counts (HTTPRouteMatch.Headers, QueryParams).
  auto add = [&](std::vector<gateway_value_matcher>& out, const http_value_match& v, std::string name,
                 const std::string& f) {
    gateway_value_matcher vm{std::move(name), v.value, nullptr};
    if (v.type == gw_value_type::regular_expression) vm.regex = compile(v.value, f);
    if (std::none_of(out.begin(), out.end(), [&](const auto& x) { return x.name == vm.name; }))
      out.push_back(std::move(vm));
  };
  for (std::size_t h = 0; h < m.headers.size(); ++h)
    add(gm.headers, m.headers[h], lower(m.headers[h].name), field + ".headers[" + std::to_string(h) + "].value");
  for (std::size_t q = 0; q < m.query_params.size(); ++q)
    add(gm.query, m.query_params[q], m.query_params[q].name, field + ".queryParams[" + std::to_string(q) + "].value");
  return ok;
}

// The route every match of rule i shares: policy and backends.
std::shared_ptr<route> gateway_builder::rule_route(const http_route& rt, std::size_t i) {
  static const auto no_endpoints = std::make_shared<const cluster>();
  bool valid = true;
  auto pol = rule_policy(rt, i, valid);
  auto proto = std::make_shared<route>();
  proto->gateway = true;
  proto->namespace_name = rt.meta.namespace_name;
  proto->ingress_name = rt.meta.name;
  proto->policy = pol;
  // GRPCRoute: the backends speak gRPC over HTTP/2 (cleartext unless appProtocol says TLS).
  proto->grpc = proto->upstream_h2 = std::string_view(kind_) == "GRPCRoute";
  if (!pol->redirect.gateway.enabled) rule_backends(rt, i, *proto);
  if (valid && !pol->redirect.gateway.enabled) rule_mirrors(rt, i, *proto);
  // An invalid rule, or one without a backend that may get requests and without a
  // redirect, answers 500 (a single null backend).
  if (!valid || (!pol->redirect.gateway.enabled && !proto->backend)) {
    proto->weighted.assign(1, weighted_backend{});
    proto->weight_total = 1;
  }
  if (!proto->backend) proto->backend = no_endpoints;
  return proto;
}

// One match of rule `rule` into the table under every key, with its own copy of the rule's route.
void gateway_builder::add_entry(const http_route& rt, const route& proto, gateway_match& gm,
                                std::uint32_t rule, std::uint32_t match,
                                const gateway_table_keys& keys) {
  auto r = std::make_shared<route>(proto);
  r->host = keys.begin()->host;
  gm.creation_timestamp = rt.meta.creation_timestamp;
  gm.route_key = rt.meta.namespace_name + "/" + rt.meta.name;
  gm.rule = rule;
  gm.match = match;
  gm.owner = r.get();
  for (auto& wb : r->weighted) {
    if (!wb.variant) continue;
    // This match's copy of the route, with the backendRef's policy and protocol.
    auto v = std::make_shared<route>(*r);
    v->weighted.clear();
    v->weight_total = 0;
    v->backend = wb.backend;
    v->policy = wb.variant->policy;
    v->upstream_h2 = wb.variant->upstream_h2;
    out_.table->add_variant(r.get(), v.get());
    wb.variant = std::move(v);
  }
  for (const auto& k : keys) {
    gm.listener = k.listener;
    gm.gateway = k.gateway;
    out_.table->list(k.port, k.host).push_back(gm);
  }
  out_.routes.push_back(std::move(r));
}

void gateway_builder::attach(const http_route& rt, const grpc_route* grpc,
                             const gateway_table_keys& keys) {
  for (std::size_t i = 0; i < rt.rules.size(); ++i) {
    auto proto = rule_route(rt, i);
    const auto rule = static_cast<std::uint32_t>(i);
    if (grpc) {
      std::vector<grpc_route_match> matches = grpc->rules[i].matches;
      if (matches.empty()) matches.emplace_back();  // every gRPC call
      for (std::size_t j = 0; j < matches.size(); ++j) {
        gateway_match gm;
        std::string field, message;
        const std::string base = "spec.rules[" + std::to_string(i) + "].matches[" + std::to_string(j) + "]";
        if (!make_grpc_match(matches[j], gm, field, message)) {
          error(kind_, rt.meta, base + field, message + "; this match is not served");
          continue;
        }
        proto->path = grpc_match_path_text(matches[j]);
        proto->path_type = grpc_match_type_text(matches[j]);
        proto->kind = gm.path_type == gw_path_type::exact ? match_kind::exact : match_kind::prefix;
        add_entry(rt, *proto, gm, rule, static_cast<std::uint32_t>(j), keys);
      }
      continue;
    }
    std::vector<http_route_match> matches = rt.rules[i].matches;
    if (matches.empty()) matches.emplace_back();  // PathPrefix "/"
    for (std::size_t j = 0; j < matches.size(); ++j) {
      const auto& m = matches[j];
      gateway_match gm;
      const std::string field = "spec.rules[" + std::to_string(i) + "].matches[" + std::to_string(j) + "]";
      if (!make_match(rt, m, field, gm)) continue;
      proto->path = m.path.value;
      proto->kind = m.path.type == gw_path_type::exact ? match_kind::exact : match_kind::prefix;
      proto->path_type = m.path.type == gw_path_type::exact         ? "Exact"
                         : m.path.type == gw_path_type::path_prefix ? "PathPrefix"
                                                                    : "RegularExpression";
      add_entry(rt, *proto, gm, rule, static_cast<std::uint32_t>(j), keys);
    }
  }
}

gateway_routes gateway_builder::run() {
  std::set<std::string> classes;
  for (const auto& [key, gc] : state_.gateway_classes)
    if (gc.controller_name == opts_.gateway_controller_name) classes.insert(gc.meta.name);
  std::vector<const gateway*> gws;
  for (const gateway* gw : oldest_first(state_.gateways))
    if (classes.count(gw->gateway_class_name)) gws.push_back(gw);
  status_.gateways.reserve(gws.size());  // listener_info points into it
  for (const gateway* gw : gws) add_gateway(*gw);
  if (!gws.empty()) out_.table = std::make_shared<gateway_table>();
  for (const auto& [gw_key, ls] : listeners_)
    for (const auto& li : ls)
      if (li.served) out_.table->add_listener(li.port, gw_key, li.l->hostname ? lower(*li.l->hostname) : "");
  std::vector<any_route> routes;
  for (const auto& [k, rt] : state_.http_routes) routes.push_back({&rt.meta, &rt, nullptr});
  for (const auto& [k, rt] : state_.grpc_routes) routes.push_back({&rt.meta, nullptr, &rt});
  std::sort(routes.begin(), routes.end(), [](const any_route& a, const any_route& b) {
    return std::tie(a.meta->creation_timestamp, a.meta->namespace_name, a.meta->name, a.grpc) <
           std::tie(b.meta->creation_timestamp, b.meta->namespace_name, b.meta->name, b.grpc);
  });
  for (const any_route& r : routes) {
    kind_ = r.grpc ? "GRPCRoute" : "HTTPRoute";
    if (r.http) add_route(*r.http, nullptr);
    else add_route(grpc_route_as_http(*r.grpc), r.grpc);
  }
  status_.routes.erase(std::remove_if(status_.routes.begin(), status_.routes.end(),
                                      [](const auto& r) { return r.parents.empty(); }),
                       status_.routes.end());
  auto by_name = [](const auto& a, const auto& b) {
    return std::tie(a.namespace_name, a.name) < std::tie(b.namespace_name, b.name);
  };
  std::sort(status_.gateways.begin(), status_.gateways.end(), by_name);
  std::sort(status_.routes.begin(), status_.routes.end(), [](const auto& a, const auto& b) {
    return std::tie(a.kind, a.namespace_name, a.name) < std::tie(b.kind, b.namespace_name, b.name);
  });
  out_.status = std::make_shared<const gateway_status>(std::move(status_));
  return std::move(out_);
}

}  // namespace

gateway_routes build_gateway_routes(const cluster_state& state, const build_options& opts,
                                    const controller_config& settings, cluster_builder& clusters,
                                    tls_table_builder& tls, std::vector<build_error>& errors) {
  return gateway_builder(state, opts, settings, clusters, tls, errors).run();
}

}  // namespace portico::config
