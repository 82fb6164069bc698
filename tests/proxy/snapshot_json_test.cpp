#include "proxy/snapshot_json.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "config/build.hpp"
#include "config/decode.hpp"

using namespace portico;

namespace {

const char* manifests = R"(
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: portico}
spec: {controller: portico.dev/ingress-controller}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: shop
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
  - addresses: ["10.0.0.7"]
    conditions: {ready: true}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: front, namespace: shop}
spec:
  ingressClassName: portico
  rules:
    - host: shop.test
      http:
        paths:
          - path: /cart
            pathType: Prefix
            backend: {service: {name: web, port: {number: 80}}}
)";

}  // namespace

TEST(snapshot_json, lists_routes_clusters_and_endpoints) {
  config::cluster_state st;
  auto decoded = config::decode_yaml(manifests);
  ASSERT_TRUE(decoded.errors.empty()) << decoded.errors.front().to_string();
  for (auto& o : decoded.objects) config::apply(st, std::move(o));
  auto built = config::build(st);
  ASSERT_EQ(built.snap->routes().size(), 1u);

  auto v = boost::json::parse(proxy::snapshot_to_json(*built.snap));
  const auto& routes = v.at("routes").as_array();
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0].at("host").as_string(), "shop.test");
  EXPECT_EQ(routes[0].at("path").as_string(), "/cart");
  EXPECT_EQ(routes[0].at("namespace").as_string(), "shop");
  EXPECT_EQ(routes[0].at("ingress").as_string(), "front");
  EXPECT_EQ(routes[0].at("service").as_string(), "web");
  const auto& clusters = v.at("clusters").as_array();
  ASSERT_EQ(clusters.size(), 1u);
  EXPECT_EQ(routes[0].at("cluster").as_string(), clusters[0].at("id").as_string());
  const auto& eps = clusters[0].at("endpoints").as_array();
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps[0].at("address").as_string(), "10.0.0.7:8080");
}

TEST(snapshot_json, empty_snapshot) {
  auto built = config::build(config::cluster_state{});
  auto v = boost::json::parse(proxy::snapshot_to_json(*built.snap));
  EXPECT_TRUE(v.at("routes").as_array().empty());
  EXPECT_TRUE(v.at("clusters").as_array().empty());
}
