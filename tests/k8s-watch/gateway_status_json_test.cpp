// The Gateway API status documents the leader writes: merged into what the object has,
// nothing written when nothing differs, other controllers' route parents left alone.
#include "k8s-watch/gateway_status_json.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace portico::watch {
namespace {

namespace json = boost::json;
using config::gw_condition;

const std::string t1 = "2026-01-01T00:00:00Z";
const std::string t2 = "2026-02-02T00:00:00Z";

TEST(gateway_status_json, rfc3339_is_utc_seconds) {
  EXPECT_EQ(rfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(rfc3339(1767225600), "2026-01-01T00:00:00Z");
}

TEST(gateway_status_json, a_condition_keeps_its_transition_time_while_its_status_stays) {
  auto first = merge_conditions(nullptr, {{"Accepted", "True", "Accepted", ""}}, 1, t1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].at("lastTransitionTime").as_string(), t1);
  EXPECT_EQ(first[0].at("observedGeneration").as_int64(), 1);
  json::value cur = first;
  auto same = merge_conditions(&cur, {{"Accepted", "True", "Accepted", "again"}}, 2, t2);
  EXPECT_EQ(same[0].at("lastTransitionTime").as_string(), t1);
  EXPECT_EQ(same[0].at("observedGeneration").as_int64(), 2);
  EXPECT_EQ(same[0].at("message").as_string(), "again");
  auto flipped = merge_conditions(&cur, {{"Accepted", "False", "NotAllowedByListeners", ""}}, 2, t2);
  EXPECT_EQ(flipped[0].at("lastTransitionTime").as_string(), t2);
  EXPECT_EQ(flipped[0].at("reason").as_string(), "NotAllowedByListeners");
}

TEST(gateway_status_json, gateway_class_is_accepted_and_not_rewritten_when_in_place) {
  json::value pending = json::parse(
      R"({"conditions":[{"type":"Accepted","status":"Unknown","reason":"Pending","message":"Waiting for controller","lastTransitionTime":"1970-01-01T00:00:00Z"}]})");
  auto next = gateway_class_status(pending, 3, t1);
  ASSERT_TRUE(next);
  const auto& c = next->at("conditions").as_array().at(0).as_object();
  EXPECT_EQ(c.at("status").as_string(), "True");
  EXPECT_EQ(c.at("reason").as_string(), "Accepted");
  EXPECT_EQ(c.at("lastTransitionTime").as_string(), t1);
  EXPECT_EQ(c.at("observedGeneration").as_int64(), 3);
  EXPECT_FALSE(gateway_class_status(*next, 3, t2)) << "in place: nothing to write";
  EXPECT_TRUE(gateway_class_status(*next, 4, t2)) << "a new generation is observed";
}

config::gw_gateway_status two_listeners() {
  config::gw_gateway_status g;
  g.namespace_name = "default";
  g.name = "gw";
  g.conditions = {{"Accepted", "True", "Accepted", ""}, {"Programmed", "True", "Programmed", ""}};
  g.listeners.push_back({"http", 2, {{"Accepted", "True", "Accepted", ""}}});
  g.listeners.push_back({"tcp", 0, {{"Accepted", "False", "UnsupportedProtocol", "TCP"}}});
  return g;
}

config::gateway spec_of_two_listeners() {
  config::gateway spec;
  spec.listeners.resize(2);
  spec.listeners[0].name = "http";
  spec.listeners[0].protocol = "HTTP";
  spec.listeners[1].name = "tcp";
  spec.listeners[1].protocol = "TCP";
  return spec;
}

TEST(gateway_status_json, gateway_addresses_listeners_and_supported_kinds) {
  auto next = gateway_object_status(json::object(), two_listeners(), spec_of_two_listeners(),
                                    {"lb.example", "192.0.2.9", "192.0.2.9"}, 5, t1);
  ASSERT_TRUE(next);
  EXPECT_EQ(json::serialize(next->at("addresses")),
            R"([{"type":"IPAddress","value":"192.0.2.9"},{"type":"Hostname","value":"lb.example"}])");
  const auto& ls = next->at("listeners").as_array();
  ASSERT_EQ(ls.size(), 2u);
  EXPECT_EQ(ls[0].at("attachedRoutes").as_int64(), 2);
  EXPECT_EQ(json::serialize(ls[0].at("supportedKinds")),
            R"([{"group":"gateway.networking.k8s.io","kind":"HTTPRoute"},)"
            R"({"group":"gateway.networking.k8s.io","kind":"GRPCRoute"}])");
  EXPECT_TRUE(ls[1].at("supportedKinds").as_array().empty());
  EXPECT_EQ(ls[1].at("conditions").as_array()[0].at("reason").as_string(), "UnsupportedProtocol");
  EXPECT_EQ(next->at("conditions").as_array()[1].at("type").as_string(), "Programmed");
  EXPECT_FALSE(gateway_object_status(*next, two_listeners(), spec_of_two_listeners(),
                                     {"192.0.2.9", "lb.example"}, 5, t2));
  auto fewer = two_listeners();
  fewer.listeners[0].attached_routes = 1;
  auto changed = gateway_object_status(*next, fewer, spec_of_two_listeners(),
                                       {"192.0.2.9", "lb.example"}, 5, t2);
  ASSERT_TRUE(changed);
  EXPECT_EQ(changed->at("listeners").as_array()[0].at("attachedRoutes").as_int64(), 1);
  EXPECT_EQ(changed->at("listeners").as_array()[0].at("conditions").as_array()[0].at(
                "lastTransitionTime").as_string(), t1);
}

config::gw_route_status route_with_parent(std::optional<std::string> section) {
  config::gw_route_status r;
  r.namespace_name = "apps";
  r.name = "web";
  r.parents.push_back({"default/gw", std::move(section),
                       {{"Accepted", "True", "Accepted", ""},
                        {"ResolvedRefs", "False", "RefNotPermitted", "no ReferenceGrant"}}});
  return r;
}

const char* ours = "portico.dev/gateway-controller";

TEST(gateway_status_json, route_parents_of_other_controllers_stay_as_they_are) {
  json::value cur = json::parse(R"({"parents":[
    {"parentRef":{"name":"theirs","namespace":"x"},"controllerName":"example.com/other",
     "conditions":[{"type":"Accepted","status":"True","reason":"Accepted","message":"",
                    "lastTransitionTime":"2025-01-01T00:00:00Z"}]},
    {"parentRef":{"name":"old","namespace":"default"},"controllerName":"portico.dev/gateway-controller",
     "conditions":[]}]})");
  auto r = route_with_parent("http");
  auto next = route_object_status(cur, &r, ours, 7, t1);
  ASSERT_TRUE(next);
  const auto& ps = next->at("parents").as_array();
  ASSERT_EQ(ps.size(), 2u) << json::serialize(*next);
  EXPECT_EQ(ps[0], cur.at("parents").as_array()[0]) << "another controller's entry, untouched";
  EXPECT_EQ(json::serialize(ps[1].at("parentRef")),
            R"({"group":"gateway.networking.k8s.io","kind":"Gateway","namespace":"default","name":"gw","sectionName":"http"})");
  EXPECT_EQ(ps[1].at("controllerName").as_string(), ours);
  EXPECT_EQ(ps[1].at("conditions").as_array()[1].at("reason").as_string(), "RefNotPermitted");
  EXPECT_EQ(ps[1].at("conditions").as_array()[1].at("observedGeneration").as_int64(), 7);
  EXPECT_FALSE(route_object_status(*next, &r, ours, 7, t2)) << "in place: nothing to write";

  auto removed = route_object_status(*next, nullptr, ours, 7, t2);
  ASSERT_TRUE(removed);
  ASSERT_EQ(removed->at("parents").as_array().size(), 1u);
  EXPECT_EQ(removed->at("parents").as_array()[0].at("controllerName").as_string(), "example.com/other");
}

TEST(gateway_status_json, a_route_parent_keeps_its_transition_times_across_writes) {
  auto r = route_with_parent(std::nullopt);
  auto first = route_object_status(json::object(), &r, ours, 1, t1);
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->at("parents").as_array()[0].at("parentRef").as_object().contains("sectionName"));
  r.parents[0].conditions[1] = {"ResolvedRefs", "True", "ResolvedRefs", ""};
  auto second = route_object_status(*first, &r, ours, 2, t2);
  ASSERT_TRUE(second);
  const auto& cs = second->at("parents").as_array()[0].at("conditions").as_array();
  EXPECT_EQ(cs[0].at("lastTransitionTime").as_string(), t1) << "Accepted stayed True";
  EXPECT_EQ(cs[1].at("lastTransitionTime").as_string(), t2) << "ResolvedRefs turned True";
}

}  // namespace
}  // namespace portico::watch
