// Decoding YAML and JSON into the model: every kind, Lists, unknown kinds and fields, wrong
// types and missing fields (errors naming object, field and line), Secrets' base64.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>

#include <boost/json.hpp>

#include "config/decode.hpp"
#include "config/decode_json.hpp"

namespace portico::config {
namespace {

template <class T>
const T* first(const decode_result& r) {
  for (const auto& o : r.objects) {
    if (auto p = std::get_if<T>(&o)) return p;
  }
  return nullptr;
}

std::string errors_text(const decode_result& r) {
  std::string s;
  for (const auto& e : r.errors) s += e.to_string() + "\n";
  return s;
}

constexpr const char* full_ingress = R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
  creationTimestamp: "2024-01-02T03:04:05Z"
  labels: {app: web}
  annotations:
    kubernetes.io/ingress.class: portico
spec:
  ingressClassName: portico
  defaultBackend:
    service: {name: fallback, port: {number: 8080}}
  tls:
  - hosts: [shop.example.com]
    secretName: shop-tls
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /api
        pathType: Prefix
        backend:
          service:
            name: api
            port: {name: http}
      - path: /exact
        pathType: Exact
        backend: {service: {name: api, port: {number: 80}}}
      - path: /impl
        pathType: ImplementationSpecific
        backend: {resource: {apiGroup: x, kind: Bucket, name: b}}
        unknownField: ignored
)";

TEST(decode_yaml, ingress_all_fields) {
  auto r = decode_yaml(full_ingress, "ing.yaml");
  ASSERT_TRUE(r.errors.empty()) << errors_text(r);
  auto* ing = first<ingress>(r);
  ASSERT_NE(ing, nullptr);
  EXPECT_EQ(ing->meta.name, "web");
  EXPECT_EQ(ing->meta.namespace_name, "shop");
  EXPECT_EQ(ing->meta.creation_timestamp, "2024-01-02T03:04:05Z");
  EXPECT_EQ(ing->meta.labels.at("app"), "web");
  EXPECT_EQ(ing->meta.annotations.at("kubernetes.io/ingress.class"), "portico");
  EXPECT_EQ(ing->ingress_class_name.value_or(""), "portico");
  ASSERT_TRUE(ing->default_backend);
  EXPECT_EQ(ing->default_backend->service_name, "fallback");
  EXPECT_EQ(ing->default_backend->port.number.value_or(0), 8080);
  ASSERT_EQ(ing->tls.size(), 1u);
  EXPECT_EQ(ing->tls[0].secret_name, "shop-tls");
  EXPECT_EQ(ing->tls[0].hosts, std::vector<std::string>{"shop.example.com"});
  ASSERT_EQ(ing->rules.size(), 1u);
  const auto& paths = ing->rules[0].paths;
  ASSERT_EQ(paths.size(), 3u);
  EXPECT_EQ(ing->rules[0].host, "shop.example.com");
  EXPECT_EQ(paths[0].type, path_type::prefix);
  EXPECT_EQ(paths[0].backend.port.name, "http");
  EXPECT_FALSE(paths[0].backend.port.number);
  EXPECT_EQ(paths[1].type, path_type::exact);
  EXPECT_EQ(paths[2].type, path_type::implementation_specific);
  EXPECT_TRUE(paths[2].backend.has_resource);
  EXPECT_FALSE(paths[2].backend.has_service);
}

TEST(decode_yaml, multi_document_all_kinds) {
  auto r = decode_yaml(R"(
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: portico
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec: {controller: portico.dev/ingress-controller}
---
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  type: ClusterIP
  clusterIP: 10.96.0.10
  ports:
  - {name: http, port: 80, targetPort: web}
  - {name: admin, port: 9000, targetPort: 9001, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: api-abc
  labels: {kubernetes.io/service-name: api}
addressType: IPv6
endpoints:
- addresses: ["fd00::1"]
  conditions: {ready: false, serving: true, terminating: true}
  nodeName: n1
  targetRef: {kind: Pod, namespace: default, name: api-1}
- addresses: ["fd00::2"]
ports:
- {name: http, port: 8080, protocol: TCP}
---
apiVersion: v1
kind: Endpoints
metadata: {name: api}
subsets:
- addresses: [{ip: 10.0.0.1, nodeName: n1}]
  notReadyAddresses: [{ip: 10.0.0.2}]
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: kube-system}
data: {use-gzip: "true"}
)", "all.yaml");
  ASSERT_TRUE(r.errors.empty()) << errors_text(r);
  ASSERT_EQ(r.objects.size(), 5u);
  auto* cls = first<ingress_class>(r);
  ASSERT_NE(cls, nullptr);
  EXPECT_EQ(cls->controller, "portico.dev/ingress-controller");
  EXPECT_EQ(cls->meta.namespace_name, "");  // cluster-scoped
  auto* svc = first<service>(r);
  ASSERT_NE(svc, nullptr);
  EXPECT_EQ(svc->meta.namespace_name, "default");
  ASSERT_EQ(svc->ports.size(), 2u);
  EXPECT_EQ(svc->ports[0].target_port_name, "web");
  EXPECT_EQ(svc->ports[1].target_port_number.value_or(0), 9001);
  auto* slice = first<endpoint_slice>(r);
  ASSERT_NE(slice, nullptr);
  EXPECT_EQ(slice->address_type, "IPv6");
  ASSERT_EQ(slice->endpoints.size(), 2u);
  EXPECT_EQ(slice->endpoints[0].conditions.ready, std::optional<bool>(false));
  EXPECT_EQ(slice->endpoints[0].conditions.terminating, std::optional<bool>(true));
  EXPECT_EQ(slice->endpoints[0].target_ref, "Pod/default/api-1");
  EXPECT_FALSE(slice->endpoints[1].conditions.ready.has_value());
  EXPECT_EQ(slice->ports[0].port.value_or(0), 8080);
  auto* eps = first<endpoints>(r);
  ASSERT_NE(eps, nullptr);
  EXPECT_EQ(eps->subsets[0].addresses[0].ip, "10.0.0.1");
  EXPECT_EQ(eps->subsets[0].not_ready_addresses[0].ip, "10.0.0.2");
  auto* cm = first<config_map>(r);
  ASSERT_NE(cm, nullptr);
  EXPECT_EQ(cm->data.at("use-gzip"), "true");
  EXPECT_EQ(kind_of(r.objects[1]), object_kind::service);
  EXPECT_EQ(meta_of(r.objects[1]).name, "api");
}

TEST(decode_yaml, unknown_kinds_skipped_silently_and_lists_expanded) {
  auto r = decode_yaml(R"(
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec: {replicas: 3}
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Service, metadata: {name: a}, spec: {ports: [{port: 80}]}}
- {apiVersion: v1, kind: Pod, metadata: {name: p}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}
)");
  ASSERT_TRUE(r.errors.empty()) << errors_text(r);
  ASSERT_EQ(r.objects.size(), 2u);
  EXPECT_EQ(kind_of(r.objects[0]), object_kind::service);
  EXPECT_EQ(kind_of(r.objects[1]), object_kind::config_map);
}

TEST(decode_yaml, wrong_type_names_object_field_and_line) {
  auto r = decode_yaml(R"(apiVersion: v1
kind: Service
metadata:
  name: api
  namespace: shop
spec:
  ports:
  - name: http
    port: "80"
)", "svc.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  const auto& e = r.errors[0];
  EXPECT_EQ(e.source, "svc.yaml");
  EXPECT_EQ(e.object, "Service shop/api");
  EXPECT_EQ(e.field, "spec.ports[0].port");
  EXPECT_EQ(e.line, 9);
  EXPECT_EQ(e.to_string().rfind("svc.yaml:9: Service shop/api: spec.ports[0].port: ", 0), 0u)
      << e.to_string();
  EXPECT_TRUE(r.objects.empty());
}

TEST(decode_yaml, map_where_list_required_is_error) {
  auto r = decode_yaml(R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
    host: a.com
)");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].field, "spec.rules");
  EXPECT_EQ(r.errors[0].object, "Ingress default/web");
  EXPECT_EQ(r.errors[0].line, 6);
}

TEST(decode_yaml, missing_name_is_error) {
  auto r = decode_yaml("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: x\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].field, "metadata.name");
  EXPECT_EQ(r.errors[0].message, "is required");
  EXPECT_TRUE(r.objects.empty());
}

constexpr const char* ingress_head = R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec:
  rules:
  - host: a.com
    http:
      paths:
      - path: /ok
        pathType: Prefix
        backend: {service: {name: s, port: {number: 80}}}
)";

TEST(decode_yaml, missing_path_type_names_field_path_and_line) {
  std::string text = std::string(ingress_head) + R"(      - path: /bad
        backend: {service: {name: s, port: {number: 80}}}
)";
  auto r = decode_yaml(text, "ing.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << errors_text(r);
  EXPECT_EQ(r.errors[0].field, "spec.rules[0].http.paths[1].pathType");
  EXPECT_EQ(r.errors[0].object, "Ingress shop/web");
  EXPECT_EQ(r.errors[0].line, 12);
}

TEST(decode_yaml, missing_backend_is_error) {
  std::string text = std::string(ingress_head) + "      - {path: /b, pathType: Exact}\n";
  auto r = decode_yaml(text);
  ASSERT_EQ(r.errors.size(), 1u) << errors_text(r);
  EXPECT_EQ(r.errors[0].field, "spec.rules[0].http.paths[1].backend");
}

TEST(decode_yaml, missing_port_number_or_name_is_error) {
  std::string text = std::string(ingress_head) +
                     "      - {path: /b, pathType: Exact, backend: {service: {name: s, port: {}}}}\n";
  auto r = decode_yaml(text);
  ASSERT_EQ(r.errors.size(), 1u) << errors_text(r);
  EXPECT_EQ(r.errors[0].field, "spec.rules[0].http.paths[1].backend.service.port");
}

TEST(decode_yaml, bad_path_type_value_is_error) {
  std::string text = std::string(ingress_head) +
                     "      - {path: /b, pathType: Regex, backend: {service: {name: s, port: {number: 1}}}}\n";
  auto r = decode_yaml(text);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].field, "spec.rules[0].http.paths[1].pathType");
}

TEST(decode_yaml, old_ingress_api_version_is_error) {
  auto r = decode_yaml("apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: old}\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].field, "apiVersion");
}

TEST(decode_yaml, one_bad_object_keeps_the_others) {
  auto r = decode_yaml(R"(apiVersion: v1
kind: ConfigMap
metadata: {name: good1}
---
apiVersion: v1
kind: Service
metadata: {name: bad}
spec: {ports: [{port: [1]}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: good2}
)");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].object, "Service default/bad");
  EXPECT_EQ(r.errors[0].line, 8);
  ASSERT_EQ(r.objects.size(), 2u);
  EXPECT_EQ(meta_of(r.objects[0]).name, "good1");
  EXPECT_EQ(meta_of(r.objects[1]).name, "good2");
}

TEST(decode_yaml, syntax_error_drops_only_its_document) {
  auto r = decode_yaml(R"(apiVersion: v1
kind: ConfigMap
metadata: {name: good1}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: [broken
---
apiVersion: v1
kind: ConfigMap
metadata: {name: good2}
)", "mixed.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].source, "mixed.yaml");
  EXPECT_GE(r.errors[0].line, 7);
  EXPECT_LE(r.errors[0].line, 8);
  ASSERT_EQ(r.objects.size(), 2u);
  EXPECT_EQ(meta_of(r.objects[1]).name, "good2");
}

TEST(decode_yaml, empty_documents_and_nulls_are_absent) {
  auto r = decode_yaml("---\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s, labels: ~}\nspec:\n  ports:\n");
  ASSERT_TRUE(r.errors.empty()) << errors_text(r);
  ASSERT_EQ(r.objects.size(), 1u);
}

TEST(decode_yaml, secret_data_base64_decoded_and_string_data_merged) {
  auto r = decode_yaml(R"(apiVersion: v1
kind: Secret
metadata: {name: tls}
type: kubernetes.io/tls
data:
  tls.crt: aGVsbG8=
  tls.key: YWI=
  other: YWJj
stringData:
  tls.key: plain
)");
  ASSERT_TRUE(r.errors.empty()) << errors_text(r);
  auto* s = first<secret>(r);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->type, "kubernetes.io/tls");
  EXPECT_EQ(s->data.at("tls.crt"), "hello");
  EXPECT_EQ(s->data.at("other"), "abc");
  EXPECT_EQ(s->data.at("tls.key"), "plain");
}

TEST(decode_yaml, secret_invalid_base64_is_error) {
  for (const char* bad : {"aGVsbG8", "aGV$bG8=", "aG=sbG8=", "YQ=", "Y==="}) {
    std::string text = std::string("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  k: \"") +
                       bad + "\"\n";
    auto r = decode_yaml(text);
    ASSERT_EQ(r.errors.size(), 1u) << bad;
    EXPECT_EQ(r.errors[0].field, "data.k") << bad;
    EXPECT_TRUE(r.objects.empty());
  }
}

TEST(decode_yaml, yaml_1_1_booleans_accepted_quoted_rejected) {
  auto r = decode_yaml(R"(apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: e}
addressType: IPv4
endpoints:
- addresses: [10.0.0.1]
  conditions: {ready: yes, serving: On, terminating: no}
)");
  ASSERT_TRUE(r.errors.empty()) << errors_text(r);
  auto* s = first<endpoint_slice>(r);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->endpoints[0].conditions.ready, std::optional<bool>(true));
  EXPECT_EQ(s->endpoints[0].conditions.serving, std::optional<bool>(true));
  EXPECT_EQ(s->endpoints[0].conditions.terminating, std::optional<bool>(false));
  auto bad = decode_yaml("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\n"
                         "endpoints:\n- addresses: [10.0.0.1]\n  conditions: {ready: \"true\"}\n");
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_EQ(bad.errors[0].field, "endpoints[0].conditions.ready");
}

TEST(decode_json, ingress_from_json_text_with_nulls) {
  auto r = decode_json(R"({"apiVersion":"networking.k8s.io/v1","kind":"Ingress",
    "metadata":{"name":"web","namespace":"shop","annotations":null},
    "spec":{"ingressClassName":null,"defaultBackend":null,"rules":[{"host":"a.com","http":{"paths":[
      {"path":"/","pathType":"Prefix","backend":{"service":{"name":"s","port":{"number":80}}}}]}}]},
    "status":{"loadBalancer":{}}})");
  ASSERT_TRUE(r.errors.empty()) << errors_text(r);
  auto* ing = first<ingress>(r);
  ASSERT_NE(ing, nullptr);
  EXPECT_FALSE(ing->ingress_class_name);
  EXPECT_FALSE(ing->default_backend);
  EXPECT_EQ(ing->rules[0].paths[0].backend.port.number.value_or(0), 80);
}

TEST(decode_json, wrong_type_is_error_with_field) {
  auto r = decode_json(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},
    "spec":{"ports":[{"port":"80"}]}})", "api");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].field, "spec.ports[0].port");
  EXPECT_EQ(r.errors[0].line, 0);
  EXPECT_EQ(r.errors[0].object, "Service default/s");
}

TEST(decode_json, syntax_error_reports_line) {
  auto r = decode_json("{\n\"kind\": \"Service\",\n\"x\": [1,\n}\n", "f.json");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 4);
}

TEST(decode_json, api_list_items_take_the_expected_kind) {
  boost::json::value v = boost::json::parse(R"({"kind":"ServiceList","apiVersion":"v1",
    "metadata":{"resourceVersion":"42"},
    "items":[{"metadata":{"name":"a","namespace":"x"},"spec":{"ports":[{"port":80}]}},
             {"metadata":{"name":"b","namespace":"x"},"spec":{"ports":[{"port":81}]}}]})");
  auto r = decode_json_value(v, "list");
  ASSERT_TRUE(r.errors.empty()) << errors_text(r);
  ASSERT_EQ(r.objects.size(), 2u);
  EXPECT_EQ(kind_of(r.objects[1]), object_kind::service);
  EXPECT_EQ(meta_of(r.objects[1]).name, "b");

  boost::json::value item = boost::json::parse(
      R"({"metadata":{"name":"e","namespace":"x","labels":{"kubernetes.io/service-name":"a"}},
          "addressType":"IPv4","endpoints":null,"ports":null})");
  auto r2 = decode_json_value(item, object_kind::endpoint_slice);
  ASSERT_TRUE(r2.errors.empty()) << errors_text(r2);
  ASSERT_EQ(r2.objects.size(), 1u);
  EXPECT_EQ(kind_of(r2.objects[0]), object_kind::endpoint_slice);
}

TEST(decode_json, missing_path_type_and_map_for_list_are_errors) {
  auto r = decode_json(R"({"apiVersion":"networking.k8s.io/v1","kind":"Ingress",
    "metadata":{"name":"web","namespace":"shop"},
    "spec":{"rules":[{"host":"a.com","http":{"paths":[
      {"path":"/","pathType":"Prefix","backend":{"service":{"name":"s","port":{"number":80}}}},
      {"path":"/x","backend":{"service":{"name":"s","port":{"name":"http"}}}}]}},
      {"host":"b.com","http":{"paths":{"path":"/"}}}]}})");
  ASSERT_EQ(r.errors.size(), 2u) << errors_text(r);
  EXPECT_EQ(r.errors[0].field, "spec.rules[0].http.paths[1].pathType");
  EXPECT_EQ(r.errors[1].field, "spec.rules[1].http.paths");
  EXPECT_EQ(r.errors[0].object, "Ingress shop/web");
  EXPECT_TRUE(r.objects.empty());
}

TEST(decode_json, list_text_unknown_fields_and_kinds) {
  auto r = decode_json(R"({"kind":"List","apiVersion":"v1","items":[
    {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","managedFields":[{}]},"data":{"k":"v"},"extra":1},
    {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"}},
    {"apiVersion":"networking.k8s.io/v1","kind":"IngressClass","metadata":{"name":"c"},"spec":{"controller":"x","parameters":null}}]})");
  ASSERT_TRUE(r.errors.empty()) << errors_text(r);
  ASSERT_EQ(r.objects.size(), 2u);
  EXPECT_EQ(kind_of(r.objects[0]), object_kind::config_map);
  EXPECT_EQ(kind_of(r.objects[1]), object_kind::ingress_class);
  EXPECT_EQ(std::get<ingress_class>(r.objects[1]).controller, "x");
}

TEST(decode_json, endpoint_conditions_booleans_must_be_booleans) {
  auto r = decode_json(R"({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice",
    "metadata":{"name":"e"},"addressType":"IPv4",
    "endpoints":[{"addresses":["10.0.0.1"],"conditions":{"ready":"yes"}}]})");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].field, "endpoints[0].conditions.ready");
}

TEST(decode, apply_upserts_into_cluster_state) {
  auto r = decode_yaml("apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: n}\n");
  cluster_state st;
  for (auto& o : r.objects) apply(st, std::move(o));
  EXPECT_EQ(st.size(), 1u);
  EXPECT_EQ(st.services.count("n/s"), 1u);
  st.erase(object_kind::service, "n/s");
  EXPECT_EQ(st.size(), 0u);
}

TEST(decode_json, a_malformed_status_does_not_make_the_ingress_invalid) {
  auto r = decode_json(R"({"apiVersion":"networking.k8s.io/v1","kind":"Ingress",
    "metadata":{"name":"web","namespace":"shop"},
    "spec":{"rules":[{"host":"a.com","http":{"paths":[
      {"path":"/","pathType":"Prefix","backend":{"service":{"name":"s","port":{"number":80}}}}]}}]},
    "status":{"loadBalancer":{"ingress":[{"ip":"10.0.0.9"},{"ip":7}]}}})");
  ASSERT_TRUE(r.errors.empty()) << errors_text(r);
  auto* ing = first<ingress>(r);
  ASSERT_NE(ing, nullptr);
  EXPECT_EQ(ing->rules.size(), 1u);
  // Unknown: the status is rewritten by the leader rather than trusted in part.
  EXPECT_TRUE(ing->status_addresses.empty());

  auto good = decode_yaml(R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec: {}
status: {loadBalancer: {ingress: [{ip: 10.0.0.9}, {hostname: lb.example}]}}
)");
  ASSERT_TRUE(good.errors.empty()) << errors_text(good);
  auto* g = first<ingress>(good);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->status_addresses, (std::vector<std::string>{"10.0.0.9", "lb.example"}));
}

// Found by the JSON decoder fuzzer: errors about a whole document named neither a line nor a
// field, so a bad item in a List of hundreds could not be found.
TEST(decode_json, a_list_item_that_is_not_an_object_is_named_by_its_index) {
  auto r = decode_json(R"({"kind":"List","apiVersion":"v1","items":[
    {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}},
    5,
    {"apiVersion":"v1","metadata":{"name":"no-kind"}}]})");
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].field, "items[1]");
  EXPECT_NE(r.errors[0].message.find("must be a map"), std::string::npos);
  EXPECT_EQ(r.errors[1].field, "items[2].kind");
  EXPECT_EQ(r.objects.size(), 1u);
}

TEST(decode_json, a_document_that_is_not_an_object_names_its_line) {
  auto r = decode_json("\n\n  1\n", "api.json");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 3);
  EXPECT_EQ(r.errors[0].to_string(), "api.json:3: a Kubernetes object must be a map, got a number");
}

TEST(decode_yaml, a_list_item_without_kind_is_named_by_its_index) {
  auto r = decode_yaml("kind: List\nitems:\n- metadata: {name: a}\n- [1]\n", "l.yaml");
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].field, "items[0].kind");
  EXPECT_EQ(r.errors[0].line, 3);
  EXPECT_EQ(r.errors[1].field, "items[1]");
  EXPECT_EQ(r.errors[1].line, 4);
}

// Found by the YAML decoder fuzzer: yaml-cpp 0.7's LoadAll() loops forever, allocating until
// the process dies, on a document that starts with "," (jbeder/yaml-cpp#1040). A file in the
// watched directory must not take the controller down: it is a syntax error of its document.
TEST(decode_yaml, a_document_starting_with_a_comma_is_a_syntax_error_not_a_hang) {
  for (const char* text : {",", ",a: b\n", "kind: Service\nmetadata: {name: a}\n---\n,\n",
                           "- a\n,\n"}) {
    auto done = std::async(std::launch::async, [text] { return decode_yaml(text, "bad.yaml"); });
    if (done.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
      // The decode cannot be stopped and would exhaust memory: end the test binary here.
      std::fprintf(stderr, "decode_yaml(\"%s\") did not return\n", text);
      std::_Exit(1);
    }
    auto r = done.get();
    ASSERT_FALSE(r.errors.empty()) << text;
    EXPECT_NE(r.errors[0].message.find("YAML syntax error"), std::string::npos) << text;
    EXPECT_GT(r.errors[0].line, 0) << text;
  }
  auto r = decode_yaml("kind: ConfigMap\nmetadata: {name: a}\n---\n,\n", "bad.yaml");
  EXPECT_EQ(r.objects.size(), 1u);  // the good document before it is kept
}

// Found by the JSON decoder fuzzer: an object whose metadata.name was "" was accepted, and
// stored under the key "default/".
TEST(decode_json, an_empty_name_is_an_error) {
  auto r = decode_json(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":""}})", "api");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].field, "metadata.name");
  EXPECT_TRUE(r.objects.empty());
  auto y = decode_yaml("kind: ConfigMap\nmetadata: {name: \"\", namespace: x}\n", "f.yaml");
  ASSERT_EQ(y.errors.size(), 1u);
  EXPECT_EQ(y.errors[0].field, "metadata.name");
  EXPECT_EQ(y.errors[0].line, 2);
  EXPECT_TRUE(y.objects.empty());
}

// Field paths are spelt out only when an error names them (config/decode_fields.hpp's
// field_path): an error deep in nested lists still names every index exactly, multi-digit
// ones too, and the object it belongs to.
TEST(decode_json, an_error_deep_in_nested_lists_names_every_index) {
  std::string eps;
  for (int i = 0; i < 12; ++i) {
    if (i) eps += ",";
    eps += i == 11 ? R"({"addresses":["10.0.0.1","10.0.0.2",7]})"
                   : R"({"addresses":["10.0.0.1"],"conditions":{"ready":true}})";
  }
  boost::json::value list = boost::json::parse(
      R"({"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","items":[)" +
      std::string(R"({"metadata":{"name":"ok","namespace":"ns1"},"endpoints":[]},)") +
      R"({"metadata":{"name":"bad","namespace":"ns2"},"endpoints":[)" + eps + "]}]}");
  auto r = decode_json_value(list, "list");
  ASSERT_EQ(r.errors.size(), 1u) << errors_text(r);
  EXPECT_EQ(r.errors[0].field, "endpoints[11].addresses[2]");
  EXPECT_EQ(r.errors[0].object, "EndpointSlice ns2/bad");
  EXPECT_EQ(r.errors[0].to_string(),
            "list: EndpointSlice ns2/bad: endpoints[11].addresses[2]: must be a string, got a number");
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(meta_of(r.objects[0]).name, "ok");

  auto ing = decode_json(R"({"apiVersion":"networking.k8s.io/v1","kind":"Ingress",
    "metadata":{"name":"web","namespace":"shop"},"spec":{"rules":[
      {"host":"a.com"},{"host":"b.com"},
      {"host":"c.com","http":{"paths":[
        {"path":"/","pathType":"Prefix","backend":{"service":{"name":"s","port":{"number":80}}}},
        {"path":"/x","pathType":"Prefix","backend":{"service":{"name":"s","port":{"number":"80"}}}}]}}],
    "tls":[{"hosts":["a.com",{"x":1}]}]}})", "api");
  ASSERT_EQ(ing.errors.size(), 2u) << errors_text(ing);
  EXPECT_EQ(ing.errors[0].field, "spec.rules[2].http.paths[1].backend.service.port.number");
  EXPECT_EQ(ing.errors[0].object, "Ingress shop/web");
  EXPECT_EQ(ing.errors[1].field, "spec.tls[0].hosts[1]");
  EXPECT_EQ(ing.errors[1].object, "Ingress shop/web");
}

TEST(decode_yaml, an_error_deep_in_nested_lists_names_every_index_and_its_line) {
  auto r = decode_yaml(R"(apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a}
  spec: {ports: [{port: 80}]}
- apiVersion: v1
  kind: Service
  metadata: {name: b, namespace: n}
  spec:
    ports:
    - {port: 80}
    - {port: 81, targetPort: [1]}
)", "s.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << errors_text(r);
  EXPECT_EQ(r.errors[0].field, "spec.ports[1].targetPort");
  EXPECT_EQ(r.errors[0].object, "Service n/b");
  EXPECT_EQ(r.errors[0].line, 14);
  EXPECT_EQ(r.objects.size(), 1u);
}

// Decoding a list's items into one result (what the reflector does page by page): each
// error names its own object, and a good object after a bad one is kept.
TEST(decode_json, list_items_decoded_into_one_result_name_their_own_objects) {
  decode_result out;
  for (const char* item : {
           R"({"metadata":{"name":"a","namespace":"x"},"spec":{"ports":[{"port":80}]}})",
           R"({"metadata":{"name":"b","namespace":"y"},"spec":{"ports":[{"port":80},{"port":true}]}})",
           R"({"metadata":{"name":"c"},"spec":{"ports":[{"name":5,"port":80}]}})",
           R"({"metadata":{"name":"d","namespace":"x"},"spec":{"ports":[{"port":81}]}})"}) {
    decode_json_value(boost::json::parse(item), object_kind::service, "list", out);
  }
  ASSERT_EQ(out.errors.size(), 2u) << errors_text(out);
  EXPECT_EQ(out.errors[0].to_string(), "list: Service y/b: spec.ports[1].port: must be an integer, got a boolean");
  EXPECT_EQ(out.errors[1].to_string(), "list: Service default/c: spec.ports[0].name: must be a string, got a number");
  ASSERT_EQ(out.objects.size(), 2u);
  EXPECT_EQ(meta_of(out.objects[0]).name, "a");
  EXPECT_EQ(meta_of(out.objects[1]).name, "d");
}

}  // namespace
}  // namespace portico::config
