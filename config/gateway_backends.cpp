// Per-backendRef protocol and filters: see config/gateway_backends.hpp.
#include "config/gateway_backends.hpp"

#include <algorithm>

#include "config/fnv.hpp"
#include "config/tls_certificate.hpp"

namespace portico::config {
namespace {

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto low = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return low(x) == low(y);
         });
}

void drop_name(header_edits& e, std::string_view name) {
  auto pair_named = [&](const auto& p) { return same_name(p.first, name); };
  std::erase_if(e.set, pair_named);
  std::erase_if(e.add, pair_named);
  std::erase_if(e.remove, [&](const std::string& n) { return same_name(n, name); });
}

std::uint64_t edits_hash(std::uint64_t base, const header_edits& req, const header_edits& resp) {
  fnv1a h;
  h.add(base).add("backend");
  for (const header_edits* e : {&req, &resp}) {
    for (const auto& [n, v] : e->set) h.add("s").add(n).add(v);
    for (const auto& [n, v] : e->add) h.add("a").add(n).add(v);
    for (const auto& n : e->remove) h.add("r").add(n);
  }
  return h.value();
}

}  // namespace

backend_protocol backend_protocol_for(std::string_view app_protocol, bool grpc_route) {
  const std::string p = ascii_lower(std::string(app_protocol));
  if (grpc_route) {
    if (p.empty() || p == "kubernetes.io/h2c" || p == "grpc") return backend_protocol::h2c;
    if (p == "https") return backend_protocol::h2_tls;
    return backend_protocol::unsupported;
  }
  if (p.empty() || p == "http" || p == "kubernetes.io/ws") return backend_protocol::http1;
  if (p == "kubernetes.io/h2c") return backend_protocol::h2c;
  if (p == "kubernetes.io/wss" || p == "https") return backend_protocol::http1_tls;
  return backend_protocol::unsupported;
}

std::optional<std::string> service_app_protocol(const cluster_state& state, const std::string& ns,
                                                const std::string& name, std::int32_t port) {
  auto it = state.services.find(ns + "/" + name);
  if (it == state.services.end()) return std::nullopt;
  for (const auto& sp : it->second.ports)
    if (sp.port == port) return sp.app_protocol;
  return std::nullopt;
}

std::string unsupported_protocol_message(const std::string& service, std::int32_t port,
                                         const std::string& app_protocol, bool grpc_route) {
  return "Service " + service + " port " + std::to_string(port) + " has appProtocol \"" + app_protocol +
         "\", which Portico cannot speak to a " + (grpc_route ? "GRPCRoute" : "HTTPRoute") + " backend";
}

std::shared_ptr<const upstream_tls> app_protocol_tls() {
  static const auto tls = std::make_shared<const upstream_tls>();
  return tls;
}

header_edits merge_header_edits(const header_edits& rule, const header_modifier& backend) {
  header_edits out = rule;
  for (const auto& [n, v] : backend.set) {
    drop_name(out, n);
    out.set.emplace_back(n, v);
  }
  for (const auto& [n, v] : backend.add) out.add.emplace_back(n, v);
  for (const auto& n : backend.remove) {
    drop_name(out, n);
    out.remove.push_back(n);
  }
  return out;
}

std::string choose_backend(const cluster_state& state, const std::string& ns, const http_backend_ref& ref,
                           bool grpc_route, const route_policy& rule_policy, backend_choice& out,
                           std::string& field) {
  field.clear();
  if (ref.port) {
    if (auto app = service_app_protocol(state, ns, ref.ref.name, *ref.port)) {
      out.app_protocol = *app;
      out.protocol = backend_protocol_for(*app, grpc_route);
      if (out.protocol == backend_protocol::unsupported)
        return unsupported_protocol_message(ns + "/" + ref.ref.name, *ref.port, *app, grpc_route);
    } else {
      out.protocol = backend_protocol_for("", grpc_route);
    }
  }
  if (ref.filters.empty()) return {};
  route_policy pol = rule_policy;
  bool seen_req = false, seen_resp = false;
  for (std::size_t f = 0; f < ref.filters.size(); ++f) {
    const auto& flt = ref.filters[f];
    field = ".filters[" + std::to_string(f) + "]";
    bool& seen = flt.type == http_filter_type::response_header_modifier ? seen_resp : seen_req;
    if (flt.type == http_filter_type::request_header_modifier) {
      pol.request_edits = merge_header_edits(pol.request_edits, flt.headers);
    } else if (flt.type == http_filter_type::response_header_modifier) {
      pol.response_edits = merge_header_edits(pol.response_edits, flt.headers);
    } else {
      return "filter type " + flt.type_name +
             " on a backendRef is not supported by Portico (RequestHeaderModifier and ResponseHeaderModifier are)";
    }
    if (seen) return flt.type_name + " is listed twice";
    seen = true;
  }
  field.clear();
  pol.hash = edits_hash(rule_policy.hash, pol.request_edits, pol.response_edits);
  out.policy = std::make_shared<const route_policy>(std::move(pol));
  return {};
}

}  // namespace portico::config
