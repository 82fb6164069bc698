// Test helpers: a cluster_state from inline YAML, and route lookups by description.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "config/build.hpp"
#include "config/decode.hpp"

namespace portico::config::testing {

inline cluster_state state_from_yaml(std::string_view yaml) {
  auto r = decode_yaml(yaml, "fixture.yaml");
  for (const auto& e : r.errors) ADD_FAILURE() << "fixture: " << e.to_string();
  cluster_state st;
  for (auto& o : r.objects) apply(st, std::move(o));
  return st;
}

inline std::string errors_text(const std::vector<build_error>& errors) {
  std::string s;
  for (const auto& e : errors) s += e.to_string() + "\n";
  return s;
}

// "ns/ingress service:port" of the route for (host, path), or "404".
inline std::string target(const snapshot& s, std::string_view host, std::string_view path) {
  const route* r = s.find(host, path);
  if (!r) return "404";
  return r->namespace_name + "/" + r->ingress_name + " " + r->service_name + ":" + r->service_port;
}

// Our IngressClass (controller portico.dev/ingress-controller), named "portico".
inline constexpr const char* our_class = R"(
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: portico}
spec: {controller: portico.dev/ingress-controller}
)";

// An Ingress of class portico with one rule: host, path, type, service, port number.
inline std::string ingress_yaml(const std::string& ns, const std::string& name,
                                const std::string& created, const std::string& host,
                                const std::string& path, const std::string& type,
                                const std::string& svc, int port) {
  return "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: " + name +
         ", namespace: " + ns + ", creationTimestamp: \"" + created + "\"}\n" +
         "spec:\n  ingressClassName: portico\n  rules:\n  - host: \"" + host + "\"\n" +
         "    http:\n      paths:\n      - path: " + path + "\n        pathType: " + type +
         "\n        backend: {service: {name: " + svc + ", port: {number: " +
         std::to_string(port) + "}}}\n";
}

}  // namespace portico::config::testing
