// Desired records from Ingresses: status addresses of served Ingresses, per rule host in the zone.
#include <gtest/gtest.h>

#include "config/decode.hpp"
#include "deploy/dns-sync/desired.hpp"

using namespace portico;
using namespace portico::dnssync;

namespace {

config::cluster_state load(const char* yaml) {
  auto r = config::decode_yaml(yaml);
  for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
  config::cluster_state s;
  for (auto& o : r.objects) config::apply(s, std::move(o));
  return s;
}

const char* objects = R"(
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: portico}
spec: {controller: portico.dev/ingress-controller}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: other}
spec: {controller: example.com/other}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: default}
spec:
  ingressClassName: portico
  rules:
  - host: Web.Example.com
  - host: "*.apps.example.com"
  - host: outside.example.org
  - {}
status:
  loadBalancer:
    ingress:
    - ip: 192.0.2.1
    - ip: "2001:DB8::1"
    - hostname: lb.example.net
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web2, namespace: team}
spec:
  ingressClassName: portico
  rules: [{host: web.example.com}]
status: {loadBalancer: {ingress: [{ip: 192.0.2.7}]}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: theirs, namespace: default}
spec:
  ingressClassName: other
  rules: [{host: theirs.example.com}]
status: {loadBalancer: {ingress: [{ip: 198.51.100.1}]}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: pending, namespace: default}
spec:
  ingressClassName: portico
  rules: [{host: pending.example.com}]
status: {loadBalancer: {}}
)";

desired_options zone_opts() {
  desired_options o;
  o.zone = "example.com";
  return o;
}

}  // namespace

TEST(dns_sync_desired, status_load_balancer_is_decoded_from_yaml_and_json) {
  auto s = load(objects);
  EXPECT_EQ(s.ingresses.at("default/web").status_addresses,
            (std::vector<std::string>{"192.0.2.1", "2001:DB8::1", "lb.example.net"}));
  auto j = config::decode_json(R"({"apiVersion":"networking.k8s.io/v1","kind":"Ingress",
      "metadata":{"name":"x","namespace":"d"},"spec":{},
      "status":{"loadBalancer":{"ingress":[{"ip":"10.0.0.1","ports":[]},{"hostname":"h.example"}]}}})");
  ASSERT_TRUE(j.errors.empty());
  const auto& ing = std::get<config::ingress>(j.objects.at(0));
  EXPECT_EQ(ing.status_addresses, (std::vector<std::string>{"10.0.0.1", "h.example"}));
}

TEST(dns_sync_desired, served_hosts_in_zone_get_their_ingress_status_ips) {
  std::vector<std::string> notes;
  auto d = desired_records(load(objects), zone_opts(), &notes);
  ASSERT_EQ(d.size(), 2u) << "outside the zone, other classes and empty status give nothing";
  // Two Ingresses with the same host: the union of their addresses.
  EXPECT_EQ(d.at("web.example.com").v4, (std::set<std::string>{"192.0.2.1", "192.0.2.7"}));
  EXPECT_EQ(d.at("web.example.com").v6, (std::set<std::string>{"2001:db8::1"}));
  EXPECT_EQ(d.at("*.apps.example.com").v4, (std::set<std::string>{"192.0.2.1"}));
  EXPECT_EQ(d.count("theirs.example.com"), 0u);
  EXPECT_EQ(d.count("pending.example.com"), 0u);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("status hostname lb.example.net is not published"), std::string::npos);
}

TEST(dns_sync_desired, all_classes_takes_every_ingress_with_addresses) {
  auto o = zone_opts();
  o.all_classes = true;
  auto d = desired_records(load(objects), o);
  EXPECT_EQ(d.at("theirs.example.com").v4, (std::set<std::string>{"198.51.100.1"}));
}

TEST(dns_sync_desired, zone_apex_and_subzone_hosts) {
  auto o = zone_opts();
  o.zone = "apps.example.com";
  auto d = desired_records(load(objects), o);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d.begin()->first, "*.apps.example.com");
}
