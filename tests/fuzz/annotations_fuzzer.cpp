// The annotation and ConfigMap decoders: two Ingresses (one host, two paths) carry random
// annotations under nginx.ingress.kubernetes.io/ and portico.dev/ (keys from the registry,
// a few unknown ones; values from what users write, near misses and random bytes), and the
// controller ConfigMap random data; then config::build().
// Invariants: nothing is thrown; a Snapshot comes out with a policy on every route; every
// error names its object and field: an Ingress error names one of that Ingress's annotations
// (metadata.annotations[<written key>]), a ConfigMap error one of its keys (data[<key>]); the
// build is deterministic (same errors, same config hash); a route of an Ingress whose
// annotations were all rejected or ignored keeps its backend (a canary Ingress has no routes
// of its own).
#include <exception>
#include <set>
#include <string>
#include <vector>

#include "config/annotations.hpp"
#include "config/build.hpp"
#include "config/cluster_state.hpp"
#include "config/controller_config.hpp"
#include "config/decode.hpp"
#include "config/tls_annotations.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace portico::fuzz {
namespace {

constexpr const char* manifest = R"(apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: portico}
spec: {controller: portico.dev/ingress-controller}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: default}
subsets: [{addresses: [{ip: 10.0.0.1}], ports: [{port: 8080}]}]
---
apiVersion: v1
kind: Secret
metadata: {name: headers, namespace: default}
type: Opaque
---
apiVersion: v1
kind: ConfigMap
metadata: {name: extra, namespace: default}
data: {X-Extra: "one", X-Other: "two"}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: first, namespace: default}
spec:
  ingressClassName: portico
  rules:
  - host: a.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /api, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: second, namespace: default, creationTimestamp: "2024-01-02T00:00:00Z"}
spec:
  ingressClassName: portico
  rules:
  - host: b.test
    http:
      paths:
      - {path: /, pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}
)";

constexpr const char* prefixes[] = {"nginx.ingress.kubernetes.io/", "nginx.ingress.kubernetes.io/",
                                    "portico.dev/"};
constexpr const char* unknown_keys[] = {"no-such-annotation", "", "REWRITE-TARGET", "rewrite-target ",
                                        "a/b"};
constexpr const char* values[] = {
    "true", "false", "True", "on", "off", "1", "0", "-1", "", " ", "yes",
    "1m", "8k", "1g", "100", "10m", "1.5m", "0m", "99999999999999999999", "-5k", "k",
    "10", "10s", "5m", "1h", "30ms", "s", "10x", "1d",
    "error timeout", "http_502 http_503", "off", "non_idempotent", "timeout bogus", "http_418",
    "https://example.com/login", "/app", "/", "app", "http://", "https://a.test:8443/x?y=z",
    "301", "302", "308", "200", "600", "abc",
    "default/extra", "extra", "other/extra", "default/missing", "default/headers", "/", "a/b/c",
    "X-Forwarded-For", "X_Bad", "x-request-id", "bad header:", "HTTP", "1.0", "1.1", "2",
    "10.0.0.0/8", "10.0.0.0/8, 192.168.0.0/16", "::1/128", "10.0.0.0/33", "300.1.1.1",
    "more_set_headers \"X: y\";", "location /x { }", "$request_uri", "\n", "a\r\nb: c",
    "round_robin", "ewma", "$remote_addr", "cookie", "GRPC", "HTTPS", "HTTP", "FCGI",
};

std::string pick_value(byte_reader& in) {
  switch (in.range(0, 7)) {
    case 0: {  // random bytes
      std::string v;
      const std::size_t n = in.range(0, 24);
      for (std::size_t i = 0; i < n; ++i) v += static_cast<char>(in.byte());
      return v;
    }
    case 1:  // two values joined
      return std::string(in.pick(values)) + (in.flag() ? "," : " ") + in.pick(values);
    default:
      return in.pick(values);
  }
}

std::string pick_key(byte_reader& in) {
  const auto& reg = config::annotation_registry();
  if (in.range(0, 15) == 0) return in.pick(unknown_keys);
  return std::string(reg[in.range(0, reg.size() - 1)].key);
}

std::string pick_setting(byte_reader& in) {
  const auto& reg = config::setting_registry();
  if (in.range(0, 15) == 0) return "no-such-setting";
  return std::string(reg[in.range(0, reg.size() - 1)].key);
}

struct outcome {
  std::vector<std::string> errors;
  std::uint64_t hash = 0;
};

outcome build_once(const config::cluster_state& st, const config::build_options& opts) {
  config::build_result r;
  try {
    r = config::build(st, opts);
  } catch (const std::exception& e) {
    fail(std::string("build() threw: ") + e.what());
  }
  PORTICO_FUZZ_CHECK(r.snap != nullptr, "build() returned no Snapshot");
  outcome o;
  o.hash = r.snap->hash();
  for (const auto& e : r.errors) {
    const std::string what = e.to_string();
    o.errors.push_back(what);
    PORTICO_FUZZ_CHECK(!e.message.empty(), what);
    if (e.kind == "Ingress") {
      const auto it = st.ingresses.find(e.namespace_name + "/" + e.name);
      PORTICO_FUZZ_CHECK(it != st.ingresses.end(), what + ": names no Ingress");
      const std::string pre = "metadata.annotations[";
      if (e.field.starts_with(pre)) {
        const std::string key = e.field.substr(pre.size(), e.field.size() - pre.size() - 1);
        PORTICO_FUZZ_CHECK(e.field.back() == ']' && it->second.meta.annotations.count(key) == 1,
                           what + ": names an annotation the Ingress does not have");
      }
    } else if (e.kind == "ConfigMap" && e.name == "portico") {
      const auto it = st.config_maps.find("default/portico");
      PORTICO_FUZZ_CHECK(it != st.config_maps.end(), what);
      PORTICO_FUZZ_CHECK(e.field.starts_with("data[") && e.field.back() == ']', what);
      const std::string key = e.field.substr(5, e.field.size() - 6);
      PORTICO_FUZZ_CHECK(it->second.data.count(key) == 1, what + ": names a key not in data");
    }
  }
  // Every route has a policy and a backend: a bad annotation never takes the route away.
  std::set<std::string> hosts;
  for (const auto& rt : r.snap->routes()) {
    PORTICO_FUZZ_CHECK(rt->policy != nullptr, "route without a policy");
    hosts.insert(rt->host);
  }
  // A canary Ingress (canary: "true") serves no routes of its own, by design.
  auto is_canary = [&](const char* name) {
    std::vector<config::build_error> ignored;
    const auto anns = config::collect_annotations(st.ingresses.at(name), opts.annotations_prefix, ignored);
    const auto it = anns.find("canary");
    return it != anns.end() && config::parse_bool_text(config::trim_value(it->second.value)) == true;
  };
  PORTICO_FUZZ_CHECK((hosts.count("a.test") == 1 || is_canary("default/first")) &&
                         (hosts.count("b.test") == 1 || is_canary("default/second")),
                     "a host lost its routes; errors: " + [&] {
                       std::string all;
                       for (const auto& e : o.errors) all += "\n  " + e;
                       return all;
                     }());
  for (const char* host : {"a.test", "b.test", "A.TEST:80", "c.test"})
    for (const char* path : {"/", "/api", "/api/x", "/x"}) (void)r.snap->find(host, path);
  return o;
}

}  // namespace
}  // namespace portico::fuzz

PORTICO_FUZZ_TARGET(annotations) {
  using namespace portico;
  using namespace portico::fuzz;
  static const config::cluster_state base = [] {
    config::cluster_state st;
    auto r = config::decode_yaml(manifest, "annotations-fuzzer.yaml");
    if (!r.errors.empty()) fail("the harness manifest does not decode: " + r.errors[0].message);
    for (auto& o : r.objects) config::apply(st, std::move(o));
    return st;
  }();
  byte_reader in(data, size);
  config::cluster_state st = base;
  for (const char* name : {"default/first", "default/second"}) {
    auto& ann = st.ingresses.at(name).meta.annotations;
    const std::size_t n = in.range(0, 12);
    for (std::size_t i = 0; i < n; ++i)
      ann[std::string(in.pick(prefixes)) + pick_key(in)] = pick_value(in);
  }
  config::build_options opts;
  opts.now = 1767225600;
  if (in.flag()) {
    config::config_map cm;
    cm.meta.name = "portico";
    cm.meta.namespace_name = "default";
    const std::size_t n = in.range(0, 10);
    for (std::size_t i = 0; i < n; ++i) cm.data[pick_setting(in)] = pick_value(in);
    st.upsert(std::move(cm));
    opts.configmap = "default/portico";
  }
  const auto first = build_once(st, opts);
  const auto again = build_once(st, opts);
  PORTICO_FUZZ_CHECK(first.errors == again.errors && first.hash == again.hash,
                     "two builds of the same state differ");
  return 0;
}
