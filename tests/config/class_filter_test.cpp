// Which Ingresses build() serves: spec.ingressClassName -> IngressClass.spec.controller,
// the legacy kubernetes.io/ingress.class annotation (which wins), the default IngressClass.
#include <gtest/gtest.h>

#include "state_fixture.hpp"

namespace portico::config {
namespace {

using testing::state_from_yaml;

constexpr const char* classes = R"(
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: portico}
spec: {controller: portico.dev/ingress-controller}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec: {controller: k8s.io/ingress-nginx}
)";

std::string ing(const std::string& name, const std::string& spec_class,
                const std::string& annotation) {
  std::string s = "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name + "\n";
  if (!annotation.empty()) s += "  annotations: {kubernetes.io/ingress.class: " + annotation + "}\n";
  s += "spec:\n";
  if (!spec_class.empty()) s += "  ingressClassName: " + spec_class + "\n";
  s += "  rules:\n  - host: " + name + ".example.com\n    http:\n      paths:\n"
       "      - {path: /, pathType: Prefix, backend: {service: {name: s, port: {number: 80}}}}\n";
  return s;
}

bool served(const cluster_state& st, const std::string& name, const build_options& opts = {}) {
  auto r = build(st, opts);
  return r.snap->find(name + ".example.com", "/") != nullptr;
}

TEST(class_filter, ingress_class_name_with_our_controller_is_served) {
  auto st = state_from_yaml(std::string(classes) + ing("a", "portico", ""));
  EXPECT_TRUE(served(st, "a"));
}

TEST(class_filter, ingress_class_name_of_other_controller_is_ignored_without_error) {
  auto st = state_from_yaml(std::string(classes) + ing("a", "nginx", ""));
  auto r = build(st);
  EXPECT_EQ(r.snap->find("a.example.com", "/"), nullptr);
  EXPECT_TRUE(r.snap->routes().empty());
  EXPECT_TRUE(r.errors.empty());
}

TEST(class_filter, ingress_class_name_without_such_class_is_ignored) {
  auto st = state_from_yaml(std::string(classes) + ing("a", "missing", ""));
  EXPECT_FALSE(served(st, "a"));
}

TEST(class_filter, legacy_annotation_is_served) {
  auto st = state_from_yaml(ing("a", "", "portico"));
  EXPECT_TRUE(served(st, "a"));
  auto other = state_from_yaml(ing("b", "", "nginx"));
  EXPECT_FALSE(served(other, "b"));
}

TEST(class_filter, legacy_annotation_wins_over_class_name) {
  auto st = state_from_yaml(std::string(classes) + ing("a", "portico", "nginx") +
                            ing("b", "nginx", "portico"));
  EXPECT_FALSE(served(st, "a"));
  EXPECT_TRUE(served(st, "b"));
}

TEST(class_filter, no_class_served_only_when_our_class_is_default) {
  auto without_default = state_from_yaml(std::string(classes) + ing("a", "", ""));
  EXPECT_FALSE(served(without_default, "a"));

  auto with_default = state_from_yaml(R"(
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: portico
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec: {controller: portico.dev/ingress-controller}
)" + ing("a", "", ""));
  EXPECT_TRUE(served(with_default, "a"));
}

TEST(class_filter, default_class_of_other_controller_does_not_make_us_serve) {
  auto st = state_from_yaml(R"(
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: nginx
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec: {controller: k8s.io/ingress-nginx}
)" + ing("a", "", ""));
  EXPECT_FALSE(served(st, "a"));
}

TEST(class_filter, flags_change_the_served_class) {
  auto st = state_from_yaml(std::string(classes) + ing("a", "nginx", "") + ing("b", "", "edge"));
  build_options opts;
  opts.controller_class = "k8s.io/ingress-nginx";
  opts.ingress_class = "edge";
  EXPECT_TRUE(served(st, "a", opts));
  EXPECT_TRUE(served(st, "b", opts));
  EXPECT_FALSE(served(st, "a"));
  EXPECT_FALSE(served(st, "b"));
}

}  // namespace
}  // namespace portico::config
