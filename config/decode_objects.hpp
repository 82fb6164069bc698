// The object decoders, written once over a node type N (see decode_fields.hpp) and
// instantiated for YAML (yaml_decode.cpp) and JSON (json_decode.cpp).
// Internal to config/.
#pragma once

#include <optional>
#include <string>

#include "config/decode_fields.hpp"
#include "config/decode_gateway.hpp"

namespace portico::config::detail {

// Strict standard base64 (RFC 4648 alphabet, '=' padding, CR/LF ignored). nullopt on bad input.
std::optional<std::string> base64_decode(std::string_view in);
std::optional<object_kind> kind_from_name(std::string_view kind);
bool is_namespaced(object_kind k);

template <class N>
void decode_meta(decode_ctx& c, const N& doc, object_meta& m, bool namespaced) {
  auto md = child_map(c, doc, "metadata", "", true);
  if (!md) return;
  if (auto name = get_string(c, *md, "name", "metadata", true)) {
    if (name->empty()) c.fail(md->get("name").line(), "metadata.name", "must not be empty");
    m.name = std::move(*name);
  }
  if (namespaced) {
    read_string(c, *md, "namespace", "metadata", m.namespace_name);
    if (m.namespace_name.empty()) m.namespace_name = "default";
  }
  read_string(c, *md, "uid", "metadata", m.uid);
  read_string(c, *md, "resourceVersion", "metadata", m.resource_version);
  read_string(c, *md, "creationTimestamp", "metadata", m.creation_timestamp);
  read_string_map(c, *md, "labels", "metadata", m.labels);
  read_string_map(c, *md, "annotations", "metadata", m.annotations);
}

template <class N>
void decode_backend(decode_ctx& c, const N& b, const field_path& path, ingress_backend& out) {
  if (auto res = child_map(c, b, "resource", path)) out.has_resource = true;
  auto svc = child_map(c, b, "service", path);
  if (!svc) return;
  out.has_service = true;
  const field_path sp = path + ".service";
  if (auto name = get_string(c, *svc, "name", sp, true)) out.service_name = std::move(*name);
  auto port = child_map(c, *svc, "port", sp, true);
  if (!port) return;
  const field_path pp = sp + ".port";
  out.port.number = get_int32(c, *port, "number", pp);
  read_string(c, *port, "name", pp, out.port.name);
  if (!out.port.number && out.port.name.empty() && port->get("number").absent())
    c.fail(port->line(), pp, "a port number or name is required");
}

template <class N>
void decode_ingress_path(decode_ctx& c, const N& p, const field_path& path, http_ingress_path& out) {
  read_string(c, p, "path", path, out.path);
  if (auto t = get_string(c, p, "pathType", path, true)) {
    if (*t == "Exact") out.type = path_type::exact;
    else if (*t == "Prefix") out.type = path_type::prefix;
    else if (*t == "ImplementationSpecific") out.type = path_type::implementation_specific;
    else c.fail(p.get("pathType").line(), path + ".pathType",
                "must be Exact, Prefix or ImplementationSpecific, got \"" + *t + "\"");
  }
  if (auto b = child_map(c, p, "backend", path, true)) decode_backend(c, *b, path + ".backend", out.backend);
}

template <class N>
void decode_ingress_rules(decode_ctx& c, const N& spec, ingress& out) {
  for_each_item(c, spec, "rules", "spec", [&](const N& r, const field_path& rp) {
    if (!item_is_map(c, r, rp)) return;
    ingress_rule rule;
    read_string(c, r, "host", rp, rule.host);
    if (auto http = child_map(c, r, "http", rp)) {
      for_each_item(c, *http, "paths", rp + ".http", [&](const N& p, const field_path& pp) {
        if (!item_is_map(c, p, pp)) return;
        decode_ingress_path(c, p, pp, rule.paths.emplace_back());
      }, true);
    }
    out.rules.push_back(std::move(rule));
  });
}

template <class N>
void read_ingress_status(decode_ctx& c, const N& doc, ingress& out) {
  auto status = child_map(c, doc, "status", "");
  if (!status) return;
  auto lb = child_map(c, *status, "loadBalancer", "status");
  if (!lb) return;
  for_each_item(c, *lb, "ingress", "status.loadBalancer", [&](const N& e, const field_path& ep) {
    if (!item_is_map(c, e, ep)) return;
    std::string addr;
    read_string(c, e, "ip", ep, addr);
    if (addr.empty()) read_string(c, e, "hostname", ep, addr);
    if (!addr.empty()) out.status_addresses.push_back(std::move(addr));
  });
}

// status never affects routing: a malformed status is not an error of the Ingress. Its
// addresses are then treated as unknown (empty), so the leader rewrites the status.
template <class N>
void decode_ingress_status(const decode_ctx& parent, const N& doc, ingress& out) {
  std::vector<decode_error> ignored;
  decode_ctx c = parent;
  c.errors = &ignored;
  c.failed = false;
  read_ingress_status(c, doc, out);
  if (c.failed) out.status_addresses.clear();
}

template <class N>
void decode_ingress(decode_ctx& c, const N& doc, ingress& out) {
  auto api = doc.get("apiVersion").as_string();
  if (api && *api != "networking.k8s.io/v1") {
    c.fail(doc.get("apiVersion").line(), "apiVersion",
           "Ingress " + *api + " is not supported, use networking.k8s.io/v1");
    return;
  }
  auto spec = child_map(c, doc, "spec", "");
  if (!spec) return;
  if (auto cls = get_string(c, *spec, "ingressClassName", "spec")) out.ingress_class_name = *cls;
  if (auto b = child_map(c, *spec, "defaultBackend", "spec")) {
    out.default_backend.emplace();
    decode_backend(c, *b, "spec.defaultBackend", *out.default_backend);
  }
  decode_ingress_rules(c, *spec, out);
  for_each_item(c, *spec, "tls", "spec", [&](const N& t, const field_path& tp) {
    if (!item_is_map(c, t, tp)) return;
    ingress_tls tls;
    for_each_item(c, t, "hosts", tp, [&](const N& h, const field_path& hp) {
      if (auto s = h.as_string()) tls.hosts.push_back(std::move(*s));
      else c.fail(h.line(), hp, "must be a string, got " + h.type_name());
    });
    read_string(c, t, "secretName", tp, tls.secret_name);
    out.tls.push_back(std::move(tls));
  });
  decode_ingress_status(c, doc, out);
}

template <class N>
void decode_ingress_class(decode_ctx& c, const N& doc, ingress_class& out) {
  if (auto spec = child_map(c, doc, "spec", "")) read_string(c, *spec, "controller", "spec", out.controller);
}

template <class N>
void decode_service(decode_ctx& c, const N& doc, service& out) {
  auto spec = child_map(c, doc, "spec", "");
  if (!spec) return;
  read_string(c, *spec, "type", "spec", out.type);
  read_string(c, *spec, "clusterIP", "spec", out.cluster_ip);
  read_string(c, *spec, "externalName", "spec", out.external_name);
  for_each_item(c, *spec, "ports", "spec", [&](const N& p, const field_path& pp) {
    if (!item_is_map(c, p, pp)) return;
    service_port port;
    read_string(c, p, "name", pp, port.name);
    read_string(c, p, "protocol", pp, port.protocol);
    read_string(c, p, "appProtocol", pp, port.app_protocol);
    if (auto n = get_int32(c, p, "port", pp, true)) port.port = *n;
    N tp = p.get("targetPort");  // IntOrString
    if (!tp.absent()) {
      if (auto i = tp.as_int()) port.target_port_number = static_cast<std::int32_t>(*i);
      else if (auto s = tp.as_string()) port.target_port_name = *s;
      else c.fail(tp.line(), pp + ".targetPort", "must be an integer or a string, got " + tp.type_name());
    }
    out.ports.push_back(std::move(port));
  });
}

template <class N>
void decode_slice_endpoint(decode_ctx& c, const N& e, const field_path& ep, slice_endpoint& out) {
  for_each_item(c, e, "addresses", ep, [&](const N& a, const field_path& ap) {
    if (auto s = a.as_string()) out.addresses.push_back(std::move(*s));
    else c.fail(a.line(), ap, "must be a string, got " + a.type_name());
  }, true);
  if (auto cond = child_map(c, e, "conditions", ep)) {
    const field_path cp = ep + ".conditions";
    out.conditions.ready = get_bool(c, *cond, "ready", cp);
    out.conditions.serving = get_bool(c, *cond, "serving", cp);
    out.conditions.terminating = get_bool(c, *cond, "terminating", cp);
  }
  read_string(c, e, "nodeName", ep, out.node_name);
  if (auto ref = child_map(c, e, "targetRef", ep)) {
    std::string kind, ns, name;
    const field_path rp = ep + ".targetRef";
    read_string(c, *ref, "kind", rp, kind);
    read_string(c, *ref, "namespace", rp, ns);
    read_string(c, *ref, "name", rp, name);
    out.target_ref = kind + "/" + ns + "/" + name;
  }
}

template <class N>
void decode_endpoint_slice(decode_ctx& c, const N& doc, endpoint_slice& out) {
  read_string(c, doc, "addressType", "", out.address_type);
  out.endpoints.reserve(doc.get("endpoints").size());
  for_each_item(c, doc, "endpoints", "", [&](const N& e, const field_path& ep) {
    if (item_is_map(c, e, ep)) decode_slice_endpoint(c, e, ep, out.endpoints.emplace_back());
  });
  for_each_item(c, doc, "ports", "", [&](const N& p, const field_path& pp) {
    if (!item_is_map(c, p, pp)) return;
    slice_port port;
    read_string(c, p, "name", pp, port.name);
    port.port = get_int32(c, p, "port", pp);
    read_string(c, p, "protocol", pp, port.protocol);
    out.ports.push_back(std::move(port));
  });
}

template <class N>
void decode_addresses(decode_ctx& c, const N& s, std::string_view key, const field_path& sp,
                      std::vector<endpoint_address>& out) {
  for_each_item(c, s, key, sp, [&](const N& a, const field_path& ap) {
    if (!item_is_map(c, a, ap)) return;
    endpoint_address addr;
    if (auto ip = get_string(c, a, "ip", ap, true)) addr.ip = *ip;
    read_string(c, a, "nodeName", ap, addr.node_name);
    out.push_back(std::move(addr));
  });
}

template <class N>
void decode_endpoints(decode_ctx& c, const N& doc, endpoints& out) {
  for_each_item(c, doc, "subsets", "", [&](const N& s, const field_path& sp) {
    if (!item_is_map(c, s, sp)) return;
    endpoint_subset subset;
    decode_addresses(c, s, "addresses", sp, subset.addresses);
    decode_addresses(c, s, "notReadyAddresses", sp, subset.not_ready_addresses);
    for_each_item(c, s, "ports", sp, [&](const N& p, const field_path& pp) {
      if (!item_is_map(c, p, pp)) return;
      endpoint_port port;
      read_string(c, p, "name", pp, port.name);
      if (auto n = get_int32(c, p, "port", pp, true)) port.port = *n;
      read_string(c, p, "protocol", pp, port.protocol);
      subset.ports.push_back(std::move(port));
    });
    out.subsets.push_back(std::move(subset));
  });
}

template <class N>
void decode_secret(decode_ctx& c, const N& doc, secret& out) {
  read_string(c, doc, "type", "", out.type);
  std::map<std::string, std::string> encoded;
  read_string_map(c, doc, "data", "", encoded);
  for (auto& [k, v] : encoded) {
    if (auto bytes = base64_decode(v)) out.data[k] = std::move(*bytes);
    else c.fail(doc.get("data").line(), "data." + k, "invalid base64");
  }
  read_string_map(c, doc, "stringData", "", out.data);  // stringData wins, as in the API
}

template <class N>
void decode_config_map(decode_ctx& c, const N& doc, config_map& out) {
  read_string_map(c, doc, "data", "", out.data);
}

// "Ingress default/web" for error messages; reads metadata leniently.
template <class N>
std::string object_label(const N& doc, object_kind k) {
  std::string label = kind_name(k);
  N md = doc.get("metadata");
  if (!md.is_map()) return label;
  std::string ns = md.get("namespace").as_string().value_or("");
  if (ns.empty() && is_namespaced(k)) ns = "default";
  std::string name = md.get("name").as_string().value_or("");
  label += ' ';
  if (!ns.empty()) label += ns + "/";
  label += name.empty() ? "<unnamed>" : name;
  return label;
}

template <class N>
std::string object_label_of(const void* doc, object_kind k) {
  return object_label(*static_cast<const N*>(doc), k);
}

template <class T, class N, class F>
void decode_one(decode_ctx& c, const N& doc, object_kind k, F body, decode_result& out) {
  T obj;
  decode_meta(c, doc, obj.meta, is_namespaced(k));
  body(c, doc, obj);
  if (!c.failed) out.objects.emplace_back(std::move(obj));
}

template <class N>
void decode_kind(decode_ctx& c, const N& doc, object_kind k, decode_result& out) {
  switch (k) {
    case object_kind::ingress_class:
      return decode_one<ingress_class>(c, doc, k, [](auto& c, auto& d, auto& o) { decode_ingress_class(c, d, o); }, out);
    case object_kind::ingress:
      return decode_one<ingress>(c, doc, k, [](auto& c, auto& d, auto& o) { decode_ingress(c, d, o); }, out);
    case object_kind::service:
      return decode_one<service>(c, doc, k, [](auto& c, auto& d, auto& o) { decode_service(c, d, o); }, out);
    case object_kind::endpoint_slice:
      return decode_one<endpoint_slice>(c, doc, k, [](auto& c, auto& d, auto& o) { decode_endpoint_slice(c, d, o); }, out);
    case object_kind::endpoints:
      return decode_one<endpoints>(c, doc, k, [](auto& c, auto& d, auto& o) { decode_endpoints(c, d, o); }, out);
    case object_kind::secret:
      return decode_one<secret>(c, doc, k, [](auto& c, auto& d, auto& o) { decode_secret(c, d, o); }, out);
    case object_kind::config_map:
      return decode_one<config_map>(c, doc, k, [](auto& c, auto& d, auto& o) { decode_config_map(c, d, o); }, out);
    case object_kind::namespace_:
      return decode_one<namespace_object>(c, doc, k, [](auto&, auto&, auto&) {}, out);
    case object_kind::gateway_class:
      if (!gateway_api_version(c, doc)) return;
      return decode_one<gateway_class>(c, doc, k, [](auto& c, auto& d, auto& o) { decode_gateway_class(c, d, o); }, out);
    case object_kind::gateway:
      if (!gateway_api_version(c, doc)) return;
      return decode_one<gateway>(c, doc, k, [](auto& c, auto& d, auto& o) { decode_gateway(c, d, o); }, out);
    case object_kind::http_route:
      if (!gateway_api_version(c, doc)) return;
      return decode_one<http_route>(c, doc, k, [](auto& c, auto& d, auto& o) { decode_http_route(c, d, o); }, out);
    case object_kind::grpc_route:
      if (!gateway_api_version(c, doc)) return;
      return decode_one<grpc_route>(c, doc, k, [](auto& c, auto& d, auto& o) { decode_grpc_route(c, d, o); }, out);
    case object_kind::reference_grant:
      if (!gateway_api_version(c, doc)) return;
      return decode_one<reference_grant>(c, doc, k, [](auto& c, auto& d, auto& o) { decode_reference_grant(c, d, o); }, out);
  }
}

// One document: an object of a kind we read, a kind we skip, or a List (kind "List" or
// "<Kind>List") whose items are decoded in turn. Items without a kind take `expected`.
// `where` names the document inside its Lists ("items[3]"): errors about the document itself
// name it as their field.
template <class N>
void decode_document(const N& doc, std::string_view source, decode_result& out,
                     std::optional<object_kind> expected = std::nullopt,
                     const field_path& where = {}) {
  if (doc.absent()) return;  // an empty YAML document
  decode_ctx c{source, "", &out.errors};
  if (!doc.is_map()) {
    c.fail(doc.line(), where, "a Kubernetes object must be a map, got " + doc.type_name());
    return;
  }
  std::string kind = doc.get("kind").as_string().value_or("");
  if (kind.empty() && !expected) {
    c.fail(doc.line(), join(where, "kind"), "is required");
    return;
  }
  if (kind == "List" || (kind.size() > 4 && kind.ends_with("List"))) {
    auto item_kind = kind == "List" ? std::nullopt : kind_from_name(kind.substr(0, kind.size() - 4));
    if (kind != "List" && !item_kind) return;  // a list of a kind we do not read
    for_each_item(c, doc, "items", where, [&](const N& item, const field_path& ip) {
      decode_document(item, source, out, item_kind, ip);
    });
    return;
  }
  auto k = kind.empty() ? expected : kind_from_name(kind);
  if (!k) return;  // a kind Portico does not read: skipped silently
  c.doc = &doc;  // the label is spelt out at the object's first error
  c.kind = *k;
  c.label = &object_label_of<N>;
  decode_kind(c, doc, *k, out);
}

}  // namespace portico::config::detail
