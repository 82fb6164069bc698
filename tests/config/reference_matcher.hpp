// A slow, obviously correct route matcher written from the Ingress API (networking/v1 types.go,
// the Kubernetes "Ingress" concept page: path types, "Examples", "Multiple matches", hostname
// wildcards) and the house choices of config/build.cpp, to check snapshot::find() against:
// tests/config/route_precedence_table_test.cpp (a table) and tests/fuzz/route_table_fuzzer.cpp
// (random Ingress sets). Linear scans, no indexes, no shared code with config/route_table.
//
// - Ingresses are taken oldest first: creationTimestamp, then namespace, then name.
// - A path conflicts with an earlier one when host (any case), match kind (Exact, or
//   Prefix/ImplementationSpecific) and the path string as written are all equal: the earlier
//   keeps it. "/foo" and "/foo/" (Prefix) are two paths.
// - Host: the request host lower-cased, without ":port" and one trailing '.'. An exact rule
//   host wins; else the wildcard "*.suffix" when the host is one non-empty label + "." +
//   suffix; else the rules without a host. Only the chosen host's paths are tried; when none
//   matches (or no host is chosen), the oldest Ingress's spec.defaultBackend answers, else 404.
// - Exact p matches r iff r == p. Prefix p matches r iff, trailing '/'s removed from both,
//   r == p or r starts with p + "/". An Exact match wins; otherwise the longest Prefix after
//   trailing-'/' removal, ties to the longer path as written ("/foo/" over "/foo").
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "config/build.hpp"
#include "config/decode.hpp"

namespace portico::config::reference {

enum class path_kind { exact, prefix, implementation_specific };

struct path_rule {
  std::string host;     // as written: "" any host, "*.foo.com" a wildcard
  path_kind kind = path_kind::prefix;
  std::string path;
  std::string service;  // the backend Service name: how a result names its rule
};

struct ingress_spec {
  std::string namespace_name = "default";
  std::string name;
  std::string created = "2024-01-01T00:00:00Z";
  std::vector<path_rule> paths;  // each in a rule of its own, in this order
  std::string default_service;   // non-empty: spec.defaultBackend
};

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

inline std::string_view without_trailing_slashes(std::string_view p) {
  while (!p.empty() && p.back() == '/') p.remove_suffix(1);
  return p;
}

inline bool is_exact(path_kind k) { return k == path_kind::exact; }

inline std::vector<const ingress_spec*> oldest_first(const std::vector<ingress_spec>& all) {
  std::vector<const ingress_spec*> out;
  for (const auto& i : all) out.push_back(&i);
  // Ties keep the listed order: the position breaks them (std::sort, not std::stable_sort,
  // whose temporary buffer GCC 12's libstdc++ frees in a way ASan reports as a mismatch).
  std::sort(out.begin(), out.end(), [](const ingress_spec* a, const ingress_spec* b) {
    return std::tie(a->created, a->namespace_name, a->name, a) <
           std::tie(b->created, b->namespace_name, b->name, b);
  });
  return out;
}

// The rules that are served, conflicts resolved.
inline std::vector<path_rule> served_paths(const std::vector<ingress_spec>& all) {
  std::vector<path_rule> out;
  for (const ingress_spec* ing : oldest_first(all)) {
    for (const auto& p : ing->paths) {
      const bool taken = std::any_of(out.begin(), out.end(), [&](const path_rule& q) {
        return lower(q.host) == lower(p.host) && is_exact(q.kind) == is_exact(p.kind) &&
               q.path == p.path;
      });
      if (!taken) out.push_back(p);
    }
  }
  return out;
}

inline std::string canonical_request_host(std::string_view host) {
  if (auto colon = host.find(':'); colon != std::string_view::npos) host = host.substr(0, colon);
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return lower(host);
}

// The rule host (lower-case) whose paths a request host gets, or nullopt.
inline std::optional<std::string> chosen_host(const std::vector<path_rule>& rules,
                                              const std::string& host) {
  auto has = [&](const std::string& h) {
    return std::any_of(rules.begin(), rules.end(),
                       [&](const path_rule& r) { return lower(r.host) == h; });
  };
  if (!host.empty() && !host.starts_with("*.") && has(host)) return host;
  const auto dot = host.find('.');
  if (dot != std::string::npos && dot > 0 && has("*." + host.substr(dot + 1)))
    return "*." + host.substr(dot + 1);
  if (has("")) return std::string();
  return std::nullopt;
}

inline bool prefix_matches(std::string_view prefix, std::string_view path) {
  prefix = without_trailing_slashes(prefix);
  path = without_trailing_slashes(path);
  if (path == prefix) return true;
  return path.size() > prefix.size() && path.substr(0, prefix.size()) == prefix &&
         path[prefix.size()] == '/';
}

// The Service of the rule or defaultBackend that serves (host, path); "" for 404.
inline std::string route(const std::vector<ingress_spec>& all, std::string_view host,
                         std::string_view path) {
  const auto rules = served_paths(all);
  std::string fallback;
  for (const ingress_spec* ing : oldest_first(all)) {
    if (!ing->default_service.empty()) {
      fallback = ing->default_service;
      break;
    }
  }
  const auto h = chosen_host(rules, canonical_request_host(host));
  if (!h) return fallback;
  const path_rule* best = nullptr;
  for (const auto& r : rules) {
    if (lower(r.host) != *h) continue;
    if (is_exact(r.kind)) {
      if (r.path == path) return r.service;
      continue;
    }
    if (!prefix_matches(r.path, path)) continue;
    if (!best || std::pair(without_trailing_slashes(r.path).size(), r.path.size()) >
                     std::pair(without_trailing_slashes(best->path).size(), best->path.size()))
      best = &r;
  }
  return best ? best->service : fallback;
}

inline const char* kind_text(path_kind k) {
  switch (k) {
    case path_kind::exact: return "Exact";
    case path_kind::prefix: return "Prefix";
    case path_kind::implementation_specific: return "ImplementationSpecific";
  }
  return "Prefix";
}

// Our IngressClass and the Ingresses as manifests, the way users write them.
inline std::string to_yaml(const std::vector<ingress_spec>& all) {
  std::string y =
      "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: portico}\n"
      "spec: {controller: portico.dev/ingress-controller}\n";
  for (const auto& i : all) {
    y += "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + i.name +
         "\n  namespace: " + i.namespace_name + "\n  creationTimestamp: \"" + i.created +
         "\"\nspec:\n  ingressClassName: portico\n";
    if (!i.default_service.empty())
      y += "  defaultBackend:\n    service: {name: " + i.default_service +
           ", port: {number: 80}}\n";
    if (!i.paths.empty()) y += "  rules:\n";
    for (const auto& p : i.paths) {
      y += "  - ";
      if (!p.host.empty()) y += "host: \"" + p.host + "\"\n    ";
      y += "http:\n      paths:\n      - path: \"" + p.path + "\"\n        pathType: " +
           kind_text(p.kind) + "\n        backend:\n          service: {name: " + p.service +
           ", port: {number: 80}}\n";
    }
  }
  return y;
}

// The Snapshot config::build() makes of the Ingresses; decode errors in `errors`.
inline snapshot_ptr build_snapshot(const std::vector<ingress_spec>& all, std::string* errors) {
  auto decoded = decode_yaml(to_yaml(all), "reference.yaml");
  for (const auto& e : decoded.errors)
    if (errors) *errors += e.to_string() + "\n";
  cluster_state st;
  for (auto& o : decoded.objects) apply(st, std::move(o));
  return build(st).snap;
}

// What snapshot::find() answers, in route()'s terms.
inline std::string find_service(const snapshot& s, std::string_view host, std::string_view path) {
  const config::route* r = s.find(host, path);
  return r ? r->service_name : std::string();
}

}  // namespace portico::config::reference
