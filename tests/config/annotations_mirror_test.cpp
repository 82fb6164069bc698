// ingress-nginx's mirror-target, mirror-host and mirror-request-body: what a value decodes to,
// where the copies go (an IP, a Service of the cluster state, or a name resolved by DNS),
// what is reported, and that a route with a bad value keeps serving without mirroring.
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "config/annotations_mirror.hpp"
#include "config/incremental.hpp"
#include "tests/config/state_fixture.hpp"

namespace portico::config {
namespace {

using testing::errors_text;
using testing::our_class;
using testing::state_from_yaml;

// Services "app" (port 80) and "shadow" (port 8080) in namespace ns, one endpoint each.
std::string services() {
  std::string out = our_class;
  for (auto [svc, port, ip] : {std::tuple{"app", 80, "10.0.0.1"}, std::tuple{"shadow", 8080, "10.0.0.2"}}) {
    out += std::string("---\napiVersion: v1\nkind: Service\nmetadata: {name: ") + svc +
           ", namespace: ns}\nspec: {ports: [{name: http, port: " + std::to_string(port) +
           ", targetPort: 9000}]}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
           "metadata: {name: " + svc + "-1, namespace: ns, labels: {kubernetes.io/service-name: " +
           svc + "}}\naddressType: IPv4\nendpoints: [{addresses: [" + ip +
           "]}]\nports: [{name: http, port: 9000}]\n";
  }
  return out;
}

std::string ing(const std::string& name, const std::string& annotations,
                const std::string& created = "2026-01-01T00:00:00Z") {
  return "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name +
         "\n  namespace: ns\n  uid: 0c6a-" + name + "\n  creationTimestamp: \"" + created +
         "\"\n  annotations: {" + annotations +
         "}\nspec:\n  ingressClassName: portico\n  rules:\n  - host: web.test\n    http:\n"
         "      paths:\n      - {path: /, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}\n"
         "      - {path: /api, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}\n";
}

#define A "nginx.ingress.kubernetes.io/"

bool reported(const build_result& r, const std::string& annotation, const std::string& text) {
  for (const auto& e : r.errors)
    if (e.kind == "Ingress" && e.name == "web" && e.field == "metadata.annotations[" A + annotation + "]" &&
        e.message.find(text) != std::string::npos)
      return true;
  return false;
}

TEST(mirror_target, parts_of_the_values_ingress_nginx_documents) {
  std::string why;
  auto m = parse_mirror_target("https://test.env.com$request_uri", "u1", why);
  ASSERT_TRUE(m) << why;
  EXPECT_TRUE(m->https);
  EXPECT_EQ(m->host, "test.env.com");
  EXPECT_EQ(m->port, 443);
  EXPECT_TRUE(m->uri_has_variables);
  ASSERT_EQ(m->uri.size(), 1u);
  EXPECT_EQ(m->uri[0].k, hash_part::kind::request_uri);
  EXPECT_EQ(m->host_header, "test.env.com");
  EXPECT_FALSE(m->fixed_address);  // a DNS name
  EXPECT_TRUE(m->body);

  m = parse_mirror_target("http://1.2.3.4:8080/mirror", "u1", why);
  ASSERT_TRUE(m) << why;
  EXPECT_FALSE(m->https);
  EXPECT_EQ(m->port, 8080);
  EXPECT_EQ(m->host_header, "1.2.3.4");  // without the port, as ingress-nginx's url.Hostname()
  EXPECT_TRUE(m->fixed_address);
  EXPECT_FALSE(m->uri_has_variables);
  ASSERT_EQ(m->uri.size(), 1u);
  EXPECT_EQ(m->uri[0].text, "/mirror");

  m = parse_mirror_target("http://[fd00::5]/shadow$is_args$args", "u1", why);
  ASSERT_TRUE(m) << why;
  EXPECT_EQ(m->host, "fd00::5");
  EXPECT_EQ(m->host_header, "[fd00::5]");
  EXPECT_EQ(m->port, 80);
  EXPECT_TRUE(m->fixed_address);

  m = parse_mirror_target("http://Mirror.Example.com", "4f2a", why);
  ASSERT_TRUE(m) << why;
  EXPECT_TRUE(m->uri.empty());
  EXPECT_EQ(m->location, "/_mirror-4f2a");  // nginx's internal location is what goes without a path
  EXPECT_EQ(m->host, "mirror.example.com");

  for (auto bad : {"test.env.com/$request_uri", "ftp://a/b", "http://$host/x", "http://a/$no_such_var",
                   "http://a/b c", "http://a:0/", "http://a..b/", "http://a/\"x", "http://user@a/",
                   "http:///x", "http://a#f"})
    EXPECT_FALSE(parse_mirror_target(bad, "u", why)) << bad;
}

TEST(mirror_target, cluster_service_names) {
  auto s = cluster_service_of("shadow.apps.svc");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->first, "apps");
  EXPECT_EQ(s->second, "shadow");
  s = cluster_service_of("Shadow.Apps.SVC.cluster.local");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->first, "apps");
  EXPECT_EQ(s->second, "shadow");
  for (auto other : {"shadow.apps", "a.b.c.svc", "x.svc", ".apps.svc", "shadow..svc",
                     "example.com", "shadow.apps.svc.example.com", "10.0.0.1"})
    EXPECT_FALSE(cluster_service_of(other)) << other;
}

TEST(mirror_annotations, an_ip_target_is_one_endpoint_for_every_path_of_the_ingress) {
  auto r = build(state_from_yaml(services() + ing("web", A "mirror-target: \"http://10.9.9.9:8081$request_uri\"")));
  EXPECT_TRUE(r.errors.empty()) << errors_text(r.errors);
  for (const char* path : {"/", "/api"}) {
    const route* rt = r.snap->find("web.test", path);
    ASSERT_NE(rt, nullptr);
    ASSERT_EQ(rt->mirrors.size(), 1u) << path;
    const auto& m = rt->mirrors[0];
    ASSERT_NE(m.target, nullptr);
    EXPECT_TRUE(m.target->fixed_address);
    EXPECT_TRUE(m.target->body);
    EXPECT_EQ(m.target->host_header, "10.9.9.9");
    ASSERT_EQ(m.backend->endpoints.size(), 1u);
    EXPECT_EQ(m.backend->endpoints[0].to_string(), "10.9.9.9:8081");
    EXPECT_EQ(m.numerator, m.denominator);  // every request
  }
}

TEST(mirror_annotations, a_service_name_goes_to_the_service_endpoints) {
  auto r = build(state_from_yaml(services() + ing("web", A "mirror-target: \"http://shadow.ns.svc.cluster.local:8080$request_uri\"")));
  EXPECT_TRUE(r.errors.empty()) << errors_text(r.errors);
  const route* rt = r.snap->find("web.test", "/");
  ASSERT_NE(rt, nullptr);
  ASSERT_EQ(rt->mirrors.size(), 1u);
  const auto& m = rt->mirrors[0];
  EXPECT_TRUE(m.target->fixed_address);
  EXPECT_EQ(m.backend->id, "ns/shadow:8080");
  ASSERT_EQ(m.backend->endpoints.size(), 1u);
  EXPECT_EQ(m.backend->endpoints[0].to_string(), "10.0.0.2:9000");  // the targetPort
  EXPECT_EQ(m.target->host_header, "shadow.ns.svc.cluster.local");
  // The cluster is the Snapshot's: its endpoints are watched like any backend's.
  EXPECT_NE(r.snap->find_cluster("ns/shadow:8080"), nullptr);
}

TEST(mirror_annotations, a_service_the_state_does_not_hold_is_resolved_by_dns) {
  auto r = build(state_from_yaml(services() + ing("web", A "mirror-target: \"http://gone.ns.svc:80/x\"")));
  EXPECT_TRUE(r.errors.empty()) << errors_text(r.errors);
  const route* rt = r.snap->find("web.test", "/");
  ASSERT_EQ(rt->mirrors.size(), 1u);
  EXPECT_FALSE(rt->mirrors[0].target->fixed_address);
  EXPECT_EQ(rt->mirrors[0].target->host, "gone.ns.svc");
  auto dns = build(state_from_yaml(services() + ing("web", A "mirror-target: \"https://mirror.example.com/\"")));
  EXPECT_TRUE(dns.errors.empty()) << errors_text(dns.errors);
  rt = dns.snap->find("web.test", "/");
  ASSERT_EQ(rt->mirrors.size(), 1u);
  EXPECT_FALSE(rt->mirrors[0].target->fixed_address);
  EXPECT_TRUE(rt->mirrors[0].target->https);
  EXPECT_TRUE(rt->mirrors[0].backend->endpoints.empty());
}

TEST(mirror_annotations, a_service_without_that_port_is_reported_and_not_mirrored) {
  auto r = build(state_from_yaml(services() + ing("web", A "mirror-target: \"http://shadow.ns.svc:81/\"")));
  EXPECT_TRUE(reported(r, "mirror-target", "Service ns/shadow")) << errors_text(r.errors);
  const route* rt = r.snap->find("web.test", "/");
  ASSERT_NE(rt, nullptr);
  EXPECT_TRUE(rt->mirrors.empty());
  EXPECT_EQ(rt->backend->id, "ns/app:80");  // still served
}

TEST(mirror_annotations, request_body_and_host) {
  auto r = build(state_from_yaml(services() + ing("web", A "mirror-target: \"http://10.9.9.9/m\", " A
                                                  "mirror-request-body: \"off\", " A "mirror-host: shadow.example.com")));
  EXPECT_TRUE(r.errors.empty()) << errors_text(r.errors);
  const auto& m = r.snap->find("web.test", "/")->mirrors.at(0);
  EXPECT_FALSE(m.target->body);
  EXPECT_EQ(m.target->host_header, "shadow.example.com");
  EXPECT_NE(r.snap->find("web.test", "/")->policy->hash, 0u);
}

TEST(mirror_annotations, bad_values_are_reported_with_the_annotation) {
  // A target that is not a URL: reported, the route serves without mirroring.
  for (auto bad : {"test.env.com$request_uri", "ftp://10.0.0.9/", "http://$host/x"}) {
    auto r = build(state_from_yaml(services() + ing("web", std::string(A "mirror-target: \"") + bad + "\"")));
    EXPECT_TRUE(reported(r, "mirror-target", "requests are not mirrored")) << bad << "\n" << errors_text(r.errors);
    const route* rt = r.snap->find("web.test", "/");
    ASSERT_NE(rt, nullptr);
    EXPECT_TRUE(rt->mirrors.empty());
    EXPECT_TRUE(rt->policy->denied.empty());
    EXPECT_EQ(rt->backend->id, "ns/app:80");
  }
  // A bad body switch or host: reported, the default applies.
  auto r = build(state_from_yaml(services() + ing("web", A "mirror-target: \"http://10.9.9.9/\", " A
                                                  "mirror-request-body: maybe, " A "mirror-host: \"a b\"")));
  EXPECT_TRUE(reported(r, "mirror-request-body", "\"on\" or \"off\"")) << errors_text(r.errors);
  EXPECT_TRUE(reported(r, "mirror-host", "a host name")) << errors_text(r.errors);
  const auto& m = r.snap->find("web.test", "/")->mirrors.at(0);
  EXPECT_TRUE(m.target->body);
  EXPECT_EQ(m.target->host_header, "10.9.9.9");
  // Without mirror-target the others do nothing, and say so.
  r = build(state_from_yaml(services() + ing("web", A "mirror-host: shadow.example.com")));
  EXPECT_TRUE(reported(r, "mirror-host", "without mirror-target")) << errors_text(r.errors);
  EXPECT_TRUE(r.snap->find("web.test", "/")->mirrors.empty());
}

TEST(mirror_annotations, a_canary_ingress_mirror_is_reported_and_the_main_one_applies) {
  std::string canary = ing("web-canary", A "canary: \"true\", " A "mirror-target: \"http://10.7.7.7/\"",
                           "2026-01-02T00:00:00Z");
  // Same host and paths, another Service.
  canary.replace(canary.find("name: app"), 9, "name: shadow");
  canary.replace(canary.find("number: 80}"), 10, "number: 8080");
  canary.replace(canary.find("name: app"), 9, "name: shadow");
  canary.replace(canary.find("number: 80}"), 10, "number: 8080");
  auto r = build(state_from_yaml(services() + ing("web", A "mirror-target: \"http://10.9.9.9/\"") + canary));
  bool canary_reported = false;
  for (const auto& e : r.errors)
    if (e.name == "web-canary" && e.message.find("not used on a canary Ingress") != std::string::npos)
      canary_reported = true;
  EXPECT_TRUE(canary_reported) << errors_text(r.errors);
  const route* rt = r.snap->find("web.test", "/");
  ASSERT_NE(rt, nullptr);
  ASSERT_NE(rt->canary, nullptr);
  ASSERT_EQ(rt->mirrors.size(), 1u);
  EXPECT_EQ(rt->mirrors[0].backend->endpoints.at(0).ip, "10.9.9.9");
}

TEST(mirror_annotations, an_endpoint_change_of_the_mirror_service_reaches_the_route) {
  const std::string base = services() + ing("web", A "mirror-target: \"http://shadow.ns.svc:8080/\"");
  auto st = state_from_yaml(base);
  auto first = build(st);
  ASSERT_EQ(first.snap->find("web.test", "/")->mirrors.at(0).backend->endpoints.at(0).ip, "10.0.0.2");
  change_tracker changes;
  endpoint_slice moved = st.endpoint_slices.at("ns/shadow-1");
  moved.endpoints[0].addresses = {"10.0.0.3"};
  changes.before_upsert(st, moved);
  apply(st, moved);
  ASSERT_FALSE(changes.full());
  auto next = build_incremental(st, {}, first.snap, first.errors, changes);
  ASSERT_TRUE(next);  // the endpoint-only rebuild, which must patch the mirror too
  EXPECT_EQ(next->snap->find("web.test", "/")->mirrors.at(0).backend->endpoints.at(0).ip, "10.0.0.3");
}

}  // namespace
}  // namespace portico::config
