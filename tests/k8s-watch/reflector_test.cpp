#include "k8s-watch/reflector.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace portico::watch {
namespace {

using config::object_kind;

// A sink that applies to a cluster_state, as api_source does, and records what happened.
struct state_sink : reflector_sink {
  config::cluster_state state;
  std::vector<std::string> errors;
  int replaces = 0;
  void replace_all(const resource_spec& spec, std::vector<config::any_object> objects) override {
    ++replaces;
    replace_kind(state, spec, std::move(objects));
  }
  void upsert(config::any_object obj) override { config::apply(state, std::move(obj)); }
  void erase(object_kind kind, const std::string& key) override { state.erase(kind, key); }
  void decode_failed(const config::decode_error& e) override { errors.push_back(e.to_string()); }
};

boost::json::value ev(const char* text) { return boost::json::parse(text); }

std::string svc_event(const char* type, const char* name, const char* rv, int port = 80) {
  return std::string(R"J({"type":")J") + type +
         R"J(","object":{"kind":"Service","apiVersion":"v1","metadata":{"name":")J" + name +
         R"J(","namespace":"web","resourceVersion":")J" + rv +
         R"J("},"spec":{"ports":[{"port":)J" + std::to_string(port) + "}]}}}";
}

TEST(watch_events, added_modified_deleted_apply_in_order_and_advance_the_version) {
  state_sink sink;
  std::string rv = "1";
  EXPECT_EQ(apply_watch_event(ev(svc_event("ADDED", "a", "5").c_str()), object_kind::service, sink, rv),
            event_outcome::applied);
  EXPECT_EQ(rv, "5");
  ASSERT_EQ(sink.state.services.count("web/a"), 1u);
  apply_watch_event(ev(svc_event("MODIFIED", "a", "6", 8080).c_str()), object_kind::service, sink, rv);
  EXPECT_EQ(sink.state.services.at("web/a").ports.at(0).port, 8080);
  apply_watch_event(ev(svc_event("ADDED", "b", "7").c_str()), object_kind::service, sink, rv);
  apply_watch_event(ev(svc_event("DELETED", "a", "8").c_str()), object_kind::service, sink, rv);
  EXPECT_EQ(rv, "8");
  EXPECT_EQ(sink.state.services.count("web/a"), 0u);
  EXPECT_EQ(sink.state.services.count("web/b"), 1u);
}

TEST(watch_events, bookmark_moves_the_version_without_touching_objects) {
  state_sink sink;
  std::string rv = "3";
  auto out = apply_watch_event(
      ev(R"J({"type":"BOOKMARK","object":{"kind":"Service","apiVersion":"v1","metadata":{"resourceVersion":"42"}}})J"),
      object_kind::service, sink, rv);
  EXPECT_EQ(out, event_outcome::bookmark);
  EXPECT_EQ(rv, "42");
  EXPECT_EQ(sink.state.size(), 0u);
}

TEST(watch_events, error_410_means_expired_and_other_errors_do_not) {
  state_sink sink;
  std::string rv = "3";
  std::string msg;
  auto gone = apply_watch_event(
      ev(R"J({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 3 (9)","reason":"Expired","code":410}})J"),
      object_kind::service, sink, rv, &msg);
  EXPECT_EQ(gone, event_outcome::expired);
  EXPECT_NE(msg.find("too old"), std::string::npos);
  EXPECT_EQ(rv, "3");
  auto other = apply_watch_event(
      ev(R"J({"type":"ERROR","object":{"kind":"Status","code":500,"message":"boom"}})J"),
      object_kind::service, sink, rv, &msg);
  EXPECT_EQ(other, event_outcome::error);
}

TEST(watch_events, an_invalid_modification_removes_the_object_and_reports_it_by_name) {
  state_sink sink;
  std::string rv;
  apply_watch_event(ev(svc_event("ADDED", "a", "5").c_str()), object_kind::service, sink, rv);
  auto bad = ev(R"J({"type":"MODIFIED","object":{"kind":"Service","apiVersion":"v1","metadata":{"name":"a","namespace":"web","resourceVersion":"6"},"spec":{"ports":"nope"}}})J");
  apply_watch_event(bad, object_kind::service, sink, rv);
  EXPECT_EQ(sink.state.services.count("web/a"), 0u);
  ASSERT_FALSE(sink.errors.empty());
  EXPECT_NE(sink.errors[0].find("web/a"), std::string::npos) << sink.errors[0];
}

TEST(watch_events, endpoint_slice_events_decode_with_their_service_label) {
  state_sink sink;
  std::string rv;
  apply_watch_event(ev(R"J({"type":"ADDED","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1",
    "metadata":{"name":"web-abc","namespace":"web","resourceVersion":"9","labels":{"kubernetes.io/service-name":"web"}},
    "addressType":"IPv4","endpoints":[{"addresses":["10.0.0.1"],"conditions":{"ready":true}}],"ports":[{"port":8080,"name":null}]}})J"),
                    object_kind::endpoint_slice, sink, rv);
  ASSERT_EQ(sink.state.endpoint_slices.count("web/web-abc"), 1u);
  const auto& s = sink.state.endpoint_slices.at("web/web-abc");
  EXPECT_EQ(s.meta.labels.at("kubernetes.io/service-name"), "web");
  EXPECT_EQ(s.endpoints.at(0).addresses.at(0), "10.0.0.1");
}

TEST(relist, replaces_the_kind_as_a_whole_and_leaves_other_kinds_alone) {
  state_sink sink;
  std::string rv;
  apply_watch_event(ev(svc_event("ADDED", "gone-while-away", "1").c_str()), object_kind::service, sink, rv);
  apply_watch_event(ev(svc_event("ADDED", "kept", "2").c_str()), object_kind::service, sink, rv);
  config::ingress_class ic;
  ic.meta.name = "portico";
  sink.state.upsert(ic);

  std::vector<config::any_object> fresh;
  config::service kept;
  kept.meta.name = "kept";
  kept.meta.namespace_name = "web";
  kept.ports.push_back({});
  kept.ports.back().port = 9090;
  fresh.emplace_back(kept);
  config::service added;
  added.meta.name = "new";
  added.meta.namespace_name = "web";
  fresh.emplace_back(added);
  sink.replace_all(resource_spec{object_kind::service, "/api/v1", "services", true, "", ""},
                   std::move(fresh));

  EXPECT_EQ(sink.state.services.count("web/gone-while-away"), 0u);
  EXPECT_EQ(sink.state.services.at("web/kept").ports.at(0).port, 9090);
  EXPECT_EQ(sink.state.services.count("web/new"), 1u);
  EXPECT_EQ(sink.state.ingress_classes.count("portico"), 1u);
}

// Two reflectors of one kind (the watch namespace's ConfigMaps, and the controller's
// ConfigMap by name in another namespace): a relist of one replaces only what it covers.
TEST(relist, replaces_only_the_objects_the_reflector_covers) {
  state_sink sink;
  auto cm = [](const char* ns, const char* name) {
    config::config_map c;
    c.meta.namespace_name = ns;
    c.meta.name = name;
    return config::any_object(c);
  };
  sink.upsert(cm("team-a", "one"));
  sink.upsert(cm("ingress", "portico"));
  sink.upsert(cm("ingress", "other"));
  const resource_spec team{object_kind::config_map, "/api/v1", "configmaps", true, "team-a", ""};
  const resource_spec named{object_kind::config_map, "/api/v1", "configmaps", true, "ingress",
                            "metadata.name=portico"};
  std::vector<config::any_object> fresh;
  fresh.push_back(cm("team-a", "two"));
  sink.replace_all(team, std::move(fresh));
  EXPECT_EQ(sink.state.config_maps.count("team-a/one"), 0u);
  EXPECT_EQ(sink.state.config_maps.count("team-a/two"), 1u);
  EXPECT_EQ(sink.state.config_maps.count("ingress/portico"), 1u);
  sink.replace_all(named, {});
  EXPECT_EQ(sink.state.config_maps.count("ingress/portico"), 0u);
  EXPECT_EQ(sink.state.config_maps.count("ingress/other"), 1u);  // not the named one's
  EXPECT_EQ(sink.state.config_maps.count("team-a/two"), 1u);
}

TEST(backoff, doubles_from_the_base_with_jitter_and_stops_at_the_cap) {
  using std::chrono::milliseconds;
  backoff b(milliseconds(100), milliseconds(1000), 7);
  milliseconds expected_max(100);
  for (int i = 0; i < 10; ++i) {
    auto d = b.next();
    EXPECT_GE(d, expected_max / 2) << "attempt " << i;
    EXPECT_LE(d, expected_max) << "attempt " << i;
    expected_max = std::min(expected_max * 2, milliseconds(1000));
  }
  b.reset();
  EXPECT_LE(b.next(), milliseconds(100));
}

TEST(backoff, jitter_spreads_delays) {
  using std::chrono::milliseconds;
  backoff a(milliseconds(1000), milliseconds(30000), 1);
  std::set<long long> seen;
  for (int i = 0; i < 20; ++i) {
    a.reset();
    for (int k = 0; k < 5; ++k) a.next();
    seen.insert(a.next().count());
  }
  EXPECT_GT(seen.size(), 10u);
  for (auto v : seen) {
    EXPECT_GE(v, 15000);
    EXPECT_LE(v, 30000);
  }
}

TEST(resources, namespace_and_field_selectors_shape_the_paths) {
  auto all = standard_resources("team-a", "ingress/portico");
  ASSERT_EQ(all.size(), 8u);
  EXPECT_EQ(all[0].collection_path(), "/apis/networking.k8s.io/v1/ingressclasses");
  EXPECT_EQ(all[1].collection_path(), "/apis/networking.k8s.io/v1/namespaces/team-a/ingresses");
  EXPECT_EQ(all[3].collection_path(), "/apis/discovery.k8s.io/v1/namespaces/team-a/endpointslices");
  EXPECT_EQ(all[4].field_selector, "type=kubernetes.io/tls");
  EXPECT_EQ(all[5].field_selector, "type=Opaque");
  EXPECT_EQ(all[6].collection_path(), "/api/v1/namespaces/team-a/configmaps");
  EXPECT_EQ(all[7].collection_path(), "/api/v1/namespaces/ingress/configmaps");
  EXPECT_EQ(all[7].field_selector, "metadata.name=portico");
  EXPECT_EQ(url_encode("type=kubernetes.io/tls"), "type%3Dkubernetes.io%2Ftls");
  EXPECT_EQ(standard_resources("", "").size(), 7u);
  EXPECT_EQ(standard_resources("", "ingress/portico").size(), 7u);  // all namespaces cover it
  EXPECT_EQ(standard_resources("team-a", "team-a/portico").size(), 7u);
  EXPECT_EQ(standard_resources("", "")[1].collection_path(), "/apis/networking.k8s.io/v1/ingresses");
}

}  // namespace
}  // namespace portico::watch
