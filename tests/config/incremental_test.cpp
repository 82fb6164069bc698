// The endpoint-only rebuild (config/incremental.hpp) against the full build: on random change
// sequences the two Snapshots must be identical (routes, clusters, endpoints, config hash,
// TLS table, lookups, error list), and the changes it cannot take must send it to the full
// build.
#include "config/incremental.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "config/backends.hpp"
#include "config/route_table.hpp"
#include "config/snapshot_index.hpp"
#include "tests/config/state_fixture.hpp"
#include "tests/config/tls_test_certs.hpp"

namespace portico::config {
namespace {

using testing::errors_text;
using testing::tls_now;

std::string describe(const snapshot& s) {
  std::string out = "hash " + std::to_string(s.hash()) + "\n";
  for (const auto& r : s.routes()) {
    out += "route " + std::to_string(r->index) + " " + r->host + " " + r->path + " " +
           std::to_string(static_cast<int>(r->kind)) + " " + r->path_type + " " +
           r->namespace_name + "/" + r->ingress_name + " " + r->service_name + ":" +
           r->service_port + (r->is_default_backend ? " default" : "") +
           (r->ssl_redirect ? " redirect" : "") + " -> " + r->backend->id + "\n";
  }
  for (const auto& c : s.clusters()) {
    out += "cluster " + c->id + " " + c->namespace_name + "/" + c->service_name + ":" +
           c->service_port + " v" + std::to_string(c->version);
    for (const auto& e : c->endpoints) {
      out += " " + e.to_string() + "@" + e.node_name + (e.ready ? "" : "(t)");
    }
    if (const upstream_tls* t = c->tls.get()) {
      out += " tls " + std::to_string(t->verify) + " " + t->ca_secret + " " + t->server_name +
             " " + std::to_string(t->ca_pem.size());
    }
    out += "\n";
  }
  std::vector<std::string> hosts;
  for (const auto& [h, set] : s.tls().by_host) {
    std::string line = h + "=";
    for (const auto& c : set) line += std::to_string(c->version) + ",";
    hosts.push_back(set.empty() ? line + "default" : line);
  }
  std::sort(hosts.begin(), hosts.end());
  for (const auto& h : hosts) out += "tls " + h + "\n";
  out += "default_cert " + std::string(s.tls().default_cert ? "yes" : "no") + " certificates " +
         std::to_string(s.tls().certificates.size()) + "\n";
  for (int h = 0; h < 8; ++h) {
    for (const char* p : {"/", "/a", "/a/b/c", "/c", "/zzz"}) {
      const route* r = s.find("H" + std::to_string(h) + ".test:80", p);
      out += r ? std::to_string(r->index) : "-";
      out += ' ';
    }
  }
  return out + "\n";
}

// Every route's backend (and canary and error backend) is the very cluster object the
// Snapshot lists under that id.
void expect_routes_share_clusters(const snapshot& s) {
  auto same = [&](const std::shared_ptr<const cluster>& used) {
    const cluster* c = s.find_cluster(used->id);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c, used.get()) << used->id;
  };
  for (const auto& r : s.routes()) {
    same(r->backend);
    if (r->canary) same(r->canary->backend);
    if (r->error_backend) same(r->error_backend);
  }
  for (const auto& c : s.clusters()) EXPECT_EQ(s.find_cluster(c->id), c.get());
}

// The index a Snapshot shares with the one it was derived from says what a fresh one says.
void expect_index_fits(const snapshot& s) {
  ASSERT_TRUE(s.hosts_ptr() && s.hosts_ptr()->index);
  const snapshot_index& shared = *s.hosts_ptr()->index;
  auto fresh = index_of({s.routes().begin(), s.routes().end()},
                        {s.clusters().begin(), s.clusters().end()});
  EXPECT_EQ(shared.cluster_by_id, fresh->cluster_by_id);
  EXPECT_EQ(shared.clusters_by_service, fresh->clusters_by_service);
  EXPECT_EQ(shared.route_begin, fresh->route_begin);
  EXPECT_EQ(shared.route_refs, fresh->route_refs);
}

object_meta named(std::string name, std::string ns = "") {
  object_meta m;
  m.name = std::move(name);
  m.namespace_name = std::move(ns);
  return m;
}

class world {
 public:
  explicit world(unsigned seed) : rng_(seed) {
    opts_.now = tls_now;
    cert_ = testing::make_cert_for({"h1.test", "h2.test"});
    state_.upsert(ingress_class{named("portico"), "portico.dev/ingress-controller"});
    for (int n = 0; n < 3; ++n) {
      for (int s = 0; s < 8; ++s) state_.upsert(make_service(n, s));
      for (int k = 0; k < 10; ++k) state_.upsert(make_slice(n, k));
    }
    state_.upsert(make_endpoints("ns0", "svc7"));
    state_.upsert(testing::tls_secret("ns0", "cert", cert_));
    for (int i = 0; i < 24; ++i) state_.upsert(make_ingress(i));
  }

  int pick(int n) { return static_cast<int>(rng_() % static_cast<unsigned>(n)); }
  std::string ns(int n) const { return "ns" + std::to_string(n); }

  service make_service(int n, int s) {
    service svc;
    svc.meta = named("svc" + std::to_string(s), ns(n));
    if (s == 6) {
      svc.type = "ExternalName";
      svc.external_name = "example.com";
    }
    svc.ports.push_back({"http", "TCP", 80, 8080, "", ""});
    if (s % 2 == 0) svc.ports.push_back({"admin", "TCP", 9000, 9000, "", ""});
    return svc;
  }

  endpoint_slice make_slice(int n, int k) {
    endpoint_slice s;
    s.meta = named("slice" + std::to_string(k), ns(n));
    s.meta.labels[std::string(service_name_label)] = "svc" + std::to_string(pick(9));
    s.address_type = pick(12) == 0 ? "FQDN" : "IPv4";
    fill_slice(s);
    return s;
  }

  void fill_slice(endpoint_slice& s) {
    s.endpoints.clear();
    int count = pick(4);
    for (int e = 0; e < count; ++e) {
      slice_endpoint ep;
      ep.addresses.push_back("10.0." + std::to_string(pick(4)) + "." + std::to_string(pick(6)));
      int c = pick(5);
      if (c == 1) ep.conditions.ready = false;
      if (c == 2) ep.conditions = {false, true, true};
      if (c == 3) ep.conditions = {true, std::nullopt, std::nullopt};
      ep.node_name = pick(2) ? "node" + std::to_string(pick(3)) : "";
      s.endpoints.push_back(std::move(ep));
    }
    s.ports.clear();
    s.ports.push_back({"http", 8080 + pick(2), "TCP"});
    if (pick(2)) s.ports.push_back({"admin", 9000, "TCP"});
  }

  endpoints make_endpoints(const std::string& n, const std::string& name) {
    endpoints e;
    e.meta = named(name, n);
    endpoint_subset sub;
    sub.addresses.push_back({"10.9.0." + std::to_string(pick(9)), "node1"});
    sub.ports.push_back({"http", 8080 + pick(3), "TCP"});
    e.subsets.push_back(std::move(sub));
    return e;
  }

  ingress_backend backend() {
    ingress_backend b;
    b.has_service = true;
    b.service_name = "svc" + std::to_string(pick(10));  // svc8, svc9 do not exist
    switch (pick(5)) {
      case 0: b.port.name = "http"; break;
      case 1: b.port.number = 9000; break;
      case 2: b.port.name = "admin"; break;
      case 3: b.port.number = 81; break;  // no such port
      default: b.port.number = 80; break;
    }
    return b;
  }

  ingress make_ingress(int i) {
    ingress ing;
    ing.meta = named("ing" + std::to_string(i), ns(i % 3));
    ing.meta.creation_timestamp = "2026-01-" + std::to_string(10 + pick(9)) + "T00:00:00Z";
    ing.ingress_class_name = "portico";
    for (int r = 0, rules = 1 + pick(2); r < rules; ++r) {
      ingress_rule rule;
      rule.host = pick(6) == 0 ? "" : "h" + std::to_string(pick(8)) + ".test";
      for (int p = 0, paths = 1 + pick(2); p < paths; ++p) {
        static const char* paths_text[] = {"/", "/a", "/a/b", "/c"};
        rule.paths.push_back({paths_text[pick(4)], pick(3) ? path_type::prefix : path_type::exact,
                              backend()});
      }
      ing.rules.push_back(std::move(rule));
    }
    if (pick(6) == 0) ing.default_backend = backend();
    if (i % 3 == 0 && i % 2 == 0) ing.tls.push_back({{"h1.test", "h2.test"}, "cert"});
    const std::string pre = "nginx.ingress.kubernetes.io/";
    if (i % 5 == 1) ing.meta.annotations[pre + "backend-protocol"] = "HTTPS";
    if (i % 10 == 1) ing.meta.annotations[pre + "proxy-ssl-verify"] = "on";  // no CA: unusable
    if (i % 7 == 2) ing.meta.annotations[pre + "force-ssl-redirect"] = "true";
    if (i % 4 == 3) ing.meta.annotations[pre + "proxy-ssl-name"] = "up.internal";
    if (i % 6 == 5) {  // shares a host and path with another Ingress now and then
      ing.meta.annotations[pre + "canary"] = "true";
      ing.meta.annotations[pre + "canary-weight"] = "30";
    }
    if (i % 8 == 6) {  // an error backend the endpoint changes reach too
      ing.meta.annotations[pre + "default-backend"] = "svc" + std::to_string(pick(8));
      ing.meta.annotations[pre + "custom-http-errors"] = "503";
    }
    return ing;
  }

  template <class T>
  void upsert(T obj) {
    any_object any{obj};
    tracker_.before_upsert(state_, any);
    apply(state_, std::move(any));
  }
  void erase(object_kind kind, const std::string& key) {
    tracker_.before_erase(state_, kind, key);
    state_.erase(kind, key);
  }

  // One random change; returns whether it is one the incremental build should take.
  bool random_change() {
    int n = pick(3);
    auto slice_key = ns(n) + "/slice" + std::to_string(pick(12));
    auto it = state_.endpoint_slices.find(slice_key);
    switch (pick(14)) {
      case 0: case 1: case 2: case 3:
        if (it != state_.endpoint_slices.end()) {
          auto s = it->second;
          fill_slice(s);
          upsert(std::move(s));
        } else {
          upsert(make_slice(n, pick(12)));
        }
        return true;
      case 4:
        erase(object_kind::endpoint_slice, slice_key);
        return true;
      case 5:
        if (it != state_.endpoint_slices.end()) {  // moves to another Service
          auto s = it->second;
          s.meta.labels[std::string(service_name_label)] = "svc" + std::to_string(pick(9));
          upsert(std::move(s));
        }
        return true;
      case 6:
        if (pick(2)) {
          upsert(make_endpoints(ns(n), "svc" + std::to_string(pick(9))));
        } else {
          erase(object_kind::endpoints, ns(n) + "/svc" + std::to_string(pick(9)));
        }
        return true;
      case 7: {  // resourceVersion only
        auto found = state_.services.find(ns(n) + "/svc" + std::to_string(pick(8)));
        if (found == state_.services.end()) return false;
        auto s = found->second;
        s.meta.resource_version = std::to_string(++rv_);
        upsert(std::move(s));
        return true;
      }
      case 8: {  // a Service nothing routes to
        service s = make_service(n, 20 + pick(3));
        upsert(std::move(s));
        return true;
      }
      case 9: {  // Ingress status only
        auto ing = state_.ingresses.at(ns(n) + "/ing" + std::to_string(n));
        ing.status_addresses = {"192.0.2." + std::to_string(pick(200))};
        ing.meta.resource_version = std::to_string(++rv_);
        upsert(std::move(ing));
        return true;
      }
      case 10: {  // a Service port changes: full when a route uses it
        auto found = state_.services.find(ns(n) + "/svc" + std::to_string(pick(6)));
        if (found == state_.services.end()) return false;
        auto s = found->second;
        s.ports[0].name = pick(2) ? "web" : "http";
        upsert(std::move(s));
        return false;
      }
      case 11:
        upsert(make_ingress(pick(30)));
        return false;
      case 12:
        erase(object_kind::service, ns(n) + "/svc" + std::to_string(pick(8)));
        return false;
      default:
        upsert(make_service(n, pick(8)));
        return false;
    }
  }

  cluster_state state_;
  build_options opts_;
  change_tracker tracker_;
  testing::test_cert cert_;
  std::mt19937 rng_;
  int rv_ = 100;
};

void run_random_sequence(unsigned seed, int steps) {
  world w(seed);
  build_result last = build(w.state_, w.opts_);
  ASSERT_FALSE(last.snap->routes().empty());
  int incremental = 0, shared = 0;
  long canaries = 0, error_backends = 0;
  for (int step = 0; step < steps; ++step) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " step " + std::to_string(step));
    bool expect_incremental = w.random_change();
    w.opts_.now = tls_now + step;
    auto inc = build_incremental(w.state_, w.opts_, last.snap, last.errors, w.tracker_);
    build_options full_opts = w.opts_;
    full_opts.previous = last.snap;
    build_result full = build(w.state_, full_opts);
    if (expect_incremental) {
      EXPECT_TRUE(inc.has_value());
    }
    if (inc) {
      ++incremental;
      if (inc->snap == last.snap) ++shared;
      EXPECT_EQ(describe(*inc->snap), describe(*full.snap));
      EXPECT_EQ(inc->snap->hash(), full.snap->hash());
      EXPECT_EQ(errors_text(inc->errors), errors_text(full.errors));
      expect_routes_share_clusters(*inc->snap);
      expect_index_fits(*inc->snap);
      if (inc->snap != last.snap) {  // derived: the host table and its index are shared
        EXPECT_EQ(inc->snap->hosts_ptr(), last.snap->hosts_ptr());
        canaries += std::count_if(inc->snap->routes().begin(), inc->snap->routes().end(),
                                  [](const auto& r) { return r->canary != nullptr; });
        error_backends += std::count_if(inc->snap->routes().begin(), inc->snap->routes().end(),
                                        [](const auto& r) { return r->error_backend != nullptr; });
      }
      last = std::move(*inc);
    } else {
      last = std::move(full);
    }
    w.tracker_.clear();
    if (::testing::Test::HasFailure()) return;
  }
  // The sequence really exercised the incremental path (and its no-change shortcut).
  EXPECT_GT(incremental, steps / 3);
  EXPECT_GT(shared, 0);
  // ... on Snapshots with canary routes and error backends.
  EXPECT_GT(canaries, 0);
  EXPECT_GT(error_backends, 0);
}

TEST(incremental, random_endpoint_changes_equal_the_full_build) {
  for (unsigned seed : {1u, 2u, 3u, 4u}) run_random_sequence(seed, 250);
}

constexpr const char* base_yaml = R"(
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: portico}
spec: {controller: portico.dev/ingress-controller}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: default}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1]}]
ports: [{name: http, port: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: api-1, namespace: default, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
endpoints: [{addresses: [10.0.1.1]}]
ports: [{name: http, port: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: site, namespace: default}
spec:
  ingressClassName: portico
  rules:
  - host: web.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {name: http}}}}
)";

endpoint_slice slice_with(const cluster_state& st, const std::string& key, const std::string& ip) {
  endpoint_slice s = st.endpoint_slices.at(key);
  s.endpoints[0].addresses = {ip};
  return s;
}

TEST(incremental, slice_change_replaces_only_its_cluster_and_routes) {
  auto st = testing::state_from_yaml(base_yaml);
  build_result first = build(st, {});
  change_tracker t;
  auto s = slice_with(st, "default/web-1", "10.0.0.2");
  t.before_upsert(st, s);
  apply(st, s);
  EXPECT_FALSE(t.full());
  EXPECT_EQ(t.endpoint_services().count("default/web"), 1u);
  auto inc = build_incremental(st, {}, first.snap, first.errors, t);
  ASSERT_TRUE(inc);
  const snapshot& a = *first.snap;
  const snapshot& b = *inc->snap;
  EXPECT_EQ(a.hosts_ptr(), b.hosts_ptr());  // the host table is shared
  EXPECT_EQ(a.tls_ptr(), b.tls_ptr());
  EXPECT_EQ(a.find_cluster("default/api:http"), b.find_cluster("default/api:http"));
  EXPECT_NE(a.find_cluster("default/web:80"), b.find_cluster("default/web:80"));
  EXPECT_EQ(b.find_cluster("default/web:80")->endpoints.at(0).ip, "10.0.0.2");
  EXPECT_EQ(b.find("web.test", "/x")->backend->endpoints.at(0).ip, "10.0.0.2");
  EXPECT_EQ(a.find("web.test", "/x")->backend->endpoints.at(0).ip, "10.0.0.1");  // old intact
  EXPECT_EQ(a.find("web.test", "/api"), b.find("web.test", "/api"));  // untouched route shared
  EXPECT_NE(a.hash(), b.hash());
  EXPECT_EQ(b.hash(), build(st, {}).snap->hash());
}

TEST(incremental, relabelled_slice_touches_both_services) {
  auto st = testing::state_from_yaml(base_yaml);
  change_tracker t;
  auto s = st.endpoint_slices.at("default/web-1");
  s.meta.labels[std::string(service_name_label)] = "api";
  t.before_upsert(st, s);
  EXPECT_EQ(t.endpoint_services().size(), 2u);
  EXPECT_EQ(t.endpoint_services().count("default/web"), 1u);
  EXPECT_EQ(t.endpoint_services().count("default/api"), 1u);
}

TEST(incremental, ingress_class_secret_and_relist_need_the_full_build) {
  auto st = testing::state_from_yaml(base_yaml);
  build_result first = build(st, {});
  change_tracker t;
  auto ing = st.ingresses.at("default/site");
  ing.rules[0].paths[0].path = "/web";
  t.before_upsert(st, ing);
  EXPECT_TRUE(t.full());
  EXPECT_FALSE(build_incremental(st, {}, first.snap, first.errors, t));
  t.clear();
  t.before_erase(st, object_kind::ingress_class, "portico");
  EXPECT_TRUE(t.full());
  t.clear();
  t.before_upsert(st, testing::tls_secret("default", "new", testing::make_cert_for({"x.test"})));
  EXPECT_TRUE(t.full());
  t.clear();
  t.before_replace_all(object_kind::endpoint_slice);
  EXPECT_TRUE(t.full());
}

TEST(incremental, status_and_resource_version_changes_are_no_change) {
  auto st = testing::state_from_yaml(base_yaml);
  change_tracker t;
  auto ing = st.ingresses.at("default/site");
  ing.status_addresses = {"192.0.2.1"};
  ing.meta.resource_version = "77";
  t.before_upsert(st, ing);
  auto svc = st.services.at("default/web");
  svc.meta.resource_version = "78";
  t.before_upsert(st, svc);
  auto s = st.endpoint_slices.at("default/web-1");
  s.meta.resource_version = "79";
  t.before_upsert(st, s);
  EXPECT_TRUE(t.empty());
}

TEST(incremental, used_service_change_needs_the_full_build_unused_does_not) {
  auto st = testing::state_from_yaml(base_yaml);
  build_result first = build(st, {});
  change_tracker t;
  auto svc = st.services.at("default/web");
  svc.ports[0].port = 81;  // the route's port 80 is gone: a new build error
  t.before_upsert(st, svc);
  apply(st, svc);
  EXPECT_FALSE(t.full());
  EXPECT_FALSE(build_incremental(st, {}, first.snap, first.errors, t));

  st = testing::state_from_yaml(base_yaml);
  t.clear();
  service other;
  other.meta = named("other", "default");
  other.ports.push_back({"http", "TCP", 80, 80, "", ""});
  t.before_upsert(st, other);
  apply(st, other);
  auto inc = build_incremental(st, {}, first.snap, first.errors, t);
  ASSERT_TRUE(inc);
  EXPECT_EQ(inc->snap, first.snap);  // nothing routes to it: the same Snapshot
}

TEST(incremental, errors_are_carried_over) {
  auto st = testing::state_from_yaml(std::string(base_yaml) + R"(
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: broken, namespace: default}
spec:
  ingressClassName: portico
  rules:
  - host: broken.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: missing, port: {number: 80}}}}
)");
  build_result first = build(st, {});
  ASSERT_EQ(first.errors.size(), 1u);
  change_tracker t;
  auto s = slice_with(st, "default/api-1", "10.0.1.9");
  t.before_upsert(st, s);
  apply(st, s);
  auto inc = build_incremental(st, {}, first.snap, first.errors, t);
  ASSERT_TRUE(inc);
  EXPECT_EQ(errors_text(inc->errors), errors_text(build(st, {}).errors));
}

TEST(incremental, certificate_expiry_sends_it_to_the_full_build) {
  auto st = testing::state_from_yaml(std::string(base_yaml) + R"(
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: secure, namespace: default}
spec:
  ingressClassName: portico
  tls: [{hosts: [secure.test], secretName: cert}]
  rules:
  - host: secure.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
)");
  testing::cert_spec spec;
  spec.dns = {"secure.test"};
  spec.not_after = tls_now + 100;
  st.upsert(testing::tls_secret("default", "cert", testing::make_cert(spec)));
  build_options opts;
  opts.now = tls_now;
  build_result first = build(st, opts);
  ASSERT_EQ(first.snap->tls().certificates.size(), 1u) << errors_text(first.errors);
  change_tracker t;
  auto s = slice_with(st, "default/web-1", "10.0.0.3");
  t.before_upsert(st, s);
  apply(st, s);
  opts.now = tls_now + 50;  // still valid: incremental, equal to the full build
  auto inc = build_incremental(st, opts, first.snap, first.errors, t);
  ASSERT_TRUE(inc);
  EXPECT_EQ(describe(*inc->snap), describe(*build(st, opts).snap));
  opts.now = tls_now + 200;  // expired since: only the full build notices
  EXPECT_FALSE(build_incremental(st, opts, first.snap, first.errors, t));
  // Once a full build reported the expiry (the certificate is still served), later
  // endpoint changes are incremental again and equal the full build, errors included.
  build_result expired = build(st, opts);
  ASSERT_EQ(expired.snap->tls().certificates.size(), 1u);
  ASSERT_EQ(expired.errors.size(), 1u) << errors_text(expired.errors);
  opts.now = tls_now + 300;
  inc = build_incremental(st, opts, expired.snap, expired.errors, t);
  ASSERT_TRUE(inc);
  EXPECT_EQ(describe(*inc->snap), describe(*build(st, opts).snap));
  EXPECT_EQ(errors_text(inc->errors), errors_text(build(st, opts).errors));
}


// One EndpointSlice change replaces one chunk of routes and one of clusters; every other
// chunk is the previous Snapshot's (config/chunked_ptrs.hpp): the work of a change is the
// Service's, not the cluster's.
TEST(incremental, a_slice_change_shares_every_untouched_chunk) {
  cluster_state st;
  st.upsert(ingress_class{named("portico"), "portico.dev/ingress-controller"});
  const int count = 3 * static_cast<int>(route_list::chunk_size) + 10;
  auto slice_of = [](int i, const std::string& ip) {
    endpoint_slice sl;
    sl.meta = named("svc" + std::to_string(i) + "-1", "ns");
    sl.meta.labels[std::string(service_name_label)] = "svc" + std::to_string(i);
    slice_endpoint ep;
    ep.addresses.push_back(ip);
    sl.endpoints.push_back(std::move(ep));
    sl.ports.push_back({"http", 8080, "TCP"});
    return sl;
  };
  for (int i = 0; i < count; ++i) {
    service svc;
    svc.meta = named("svc" + std::to_string(i), "ns");
    svc.ports.push_back({"http", "TCP", 80, 8080, "", ""});
    st.upsert(std::move(svc));
    st.upsert(slice_of(i, "10.0.0.1"));
    ingress ing;
    ing.meta = named("ing" + std::to_string(i), "ns");
    ing.ingress_class_name = "portico";
    ingress_backend b;
    b.has_service = true;
    b.service_name = "svc" + std::to_string(i);
    b.port.number = 80;
    ing.rules.push_back({"h" + std::to_string(i) + ".test", {{"/", path_type::prefix, b}}});
    st.upsert(std::move(ing));
  }
  build_options opts;
  build_result first = build(st, opts);
  ASSERT_EQ(first.snap->routes().size(), static_cast<std::size_t>(count));
  ASSERT_EQ(first.snap->routes().chunks().size(), 4u);

  change_tracker changes;
  endpoint_slice changed = slice_of(count / 2, "10.0.0.2");
  changes.before_upsert(st, any_object(changed));
  st.upsert(std::move(changed));
  auto inc = build_incremental(st, opts, first.snap, first.errors, changes);
  ASSERT_TRUE(inc);
  ASSERT_NE(inc->snap, first.snap);
  auto differing = [](const auto& a, const auto& b) {
    std::size_t n = 0;
    for (std::size_t k = 0; k < a.chunks().size(); ++k) n += a.chunks()[k] != b.chunks()[k];
    return n;
  };
  EXPECT_EQ(differing(first.snap->routes(), inc->snap->routes()), 1u);
  EXPECT_EQ(differing(first.snap->clusters(), inc->snap->clusters()), 1u);
  const route* r = inc->snap->find("h" + std::to_string(count / 2) + ".test", "/");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->backend->endpoints.size(), 1u);
  EXPECT_EQ(r->backend->endpoints[0].ip, "10.0.0.2");
  EXPECT_EQ(inc->snap->find("h0.test", "/"), first.snap->find("h0.test", "/"));
  // What the full build makes of the same state.
  EXPECT_EQ(describe(*inc->snap), describe(*build(st, opts).snap));
}

}  // namespace
}  // namespace portico::config
