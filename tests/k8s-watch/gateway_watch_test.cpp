// The Gateway API kinds through the API: watched beside Ingress when the cluster serves them,
// absent (404 / 403) without harm to Ingress, picked up when installed later; status written
// through the /status subresource by gateway_status_writer.
#include <gtest/gtest.h>

#include <iostream>

#include <boost/asio/co_spawn.hpp>
#include <boost/json.hpp>

#include "config/gateway_status.hpp"
#include "config/snapshot.hpp"
#include "k8s-watch/api_source.hpp"
#include "k8s-watch/gateway_status_writer.hpp"
#include "k8s-watch/status_writer.hpp"
#include "tests/k8s-watch/test_apiserver.hpp"

namespace portico::watch {
namespace {

namespace json = boost::json;
using testing::call;
using testing::run_until;
using testing::test_apiserver;

const std::string gw_api = "/apis/gateway.networking.k8s.io/v1";

const char* kIngressClass =
    R"({"apiVersion":"networking.k8s.io/v1","kind":"IngressClass","metadata":{"name":"portico"},"spec":{"controller":"portico.dev/ingress-controller"}})";
const char* kService =
    R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"app","namespace":"web"},"spec":{"ports":[{"name":"http","port":80,"targetPort":8080}]}})";
const char* kIngress =
    R"({"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"app","namespace":"web"},"spec":{"ingressClassName":"portico","rules":[{"host":"ing.test","http":{"paths":[{"path":"/","pathType":"Prefix","backend":{"service":{"name":"app","port":{"number":80}}}}]}}]}})";
const char* kGatewayClass =
    R"({"apiVersion":"gateway.networking.k8s.io/v1","kind":"GatewayClass","metadata":{"name":"portico"},"spec":{"controllerName":"portico.dev/gateway-controller"}})";
const char* kOtherClass =
    R"({"apiVersion":"gateway.networking.k8s.io/v1","kind":"GatewayClass","metadata":{"name":"other"},"spec":{"controllerName":"example.com/other"}})";
const char* kGateway =
    R"({"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway","metadata":{"name":"gw","namespace":"web"},"spec":{"gatewayClassName":"portico","listeners":[{"name":"http","port":80,"protocol":"HTTP"}]}})";
const char* kRoute =
    R"({"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"r","namespace":"web"},"spec":{"parentRefs":[{"name":"gw"}],"hostnames":["gw.test"],"rules":[{"backendRefs":[{"name":"app","port":80}]}]}})";

class gateway_watch_test : public ::testing::Test {
 protected:
  virtual std::vector<std::string> server_args() { return {}; }
  void SetUp() override {
    server_.emplace(server_args());
    admin_.emplace(io_.get_executor(), server_->admin_config());
  }
  api_response admin(std::string method, std::string target, std::string body = {}) {
    return call(io_, *admin_, std::move(method), std::move(target), std::move(body));
  }
  void create(const std::string& collection, const std::string& body) {
    auto r = admin("POST", collection, body);
    ASSERT_EQ(r.status, 201u) << collection << ": " << r.body;
  }
  void start_source() {
    client_.emplace(io_.get_executor(), load_kubeconfig(server_->kubeconfig()));
    api_source_options o;
    o.reflector.backoff_base = std::chrono::milliseconds(20);
    o.reflector.backoff_cap = std::chrono::milliseconds(200);
    o.reflector.absent_retry = std::chrono::milliseconds(200);
    o.coalesce_window = std::chrono::milliseconds(10);
    o.coalesce_min_interval = std::chrono::milliseconds(50);
    o.log = [this](const std::string& l) { log_.push_back(l); };
    source_.emplace(io_.get_executor(), *client_, o,
                    [this](const config::build_result& r, double) { last_ = r; });
    source_->start();
  }
  bool routes(const char* host) {
    config::request_attrs req;
    req.method = "GET";
    req.header = [](const void*, std::string_view) { return std::string_view(); };
    req.has_header = [](const void*, std::string_view) { return false; };
    return last_.snap && last_.snap->find(host, "/", req) != nullptr;
  }
  int log_lines(const std::string& part) const {
    int n = 0;
    for (const auto& l : log_) n += l.find(part) != std::string::npos;
    return n;
  }
  void settle(int ms = 300) {
    io_.restart();
    io_.run_for(std::chrono::milliseconds(ms));
  }
  void create_ingress_objects() {
    create("/apis/networking.k8s.io/v1/ingressclasses", kIngressClass);
    create("/api/v1/namespaces/web/services", kService);
    create("/apis/networking.k8s.io/v1/namespaces/web/ingresses", kIngress);
  }
  void create_gateway_objects() {
    create(gw_api + "/gatewayclasses", kGatewayClass);
    create(gw_api + "/namespaces/web/gateways", kGateway);
    create(gw_api + "/namespaces/web/httproutes", kRoute);
  }
  void TearDown() override {
    if (HasFailure()) {
      for (const auto& l : log_) std::cerr << "log: " << l << "\n";
      if (source_)
        std::cerr << "builds " << source_->builds() << " ingresses " << source_->state().ingresses.size()
                  << " routes " << (last_.snap ? last_.snap->routes().size() : 0) << " errors "
                  << last_.errors.size() << (last_.errors.empty() ? "" : last_.errors[0].to_string()) << "\n";
      if (last_.snap)
        for (const auto& r : last_.snap->routes()) std::cerr << "route host=" << r->host << " path=" << r->path << "\n";
    }
    if (source_) source_->stop();
    if (client_) client_->shutdown();
    EXPECT_TRUE(testing::drain(io_)) << "work still pending after stop";
  }

  boost::asio::io_context io_;
  std::optional<test_apiserver> server_;
  std::optional<api_client> admin_;
  std::optional<api_client> client_;
  std::optional<api_source> source_;
  config::build_result last_;
  std::vector<std::string> log_;
};

TEST_F(gateway_watch_test, gateway_objects_route_beside_ingresses) {
  start_source();
  ASSERT_TRUE(run_until(io_, [&] { return source_->builds() > 0; }));
  create_ingress_objects();
  create_gateway_objects();
  ASSERT_TRUE(run_until(io_, [&] { return routes("gw.test") && routes("ing.test"); }));
  EXPECT_TRUE(source_->absent().empty());
  EXPECT_EQ(log_lines("Gateway API:"), 0);
  ASSERT_TRUE(admin("DELETE", gw_api + "/namespaces/web/httproutes/r").status == 200u);
  ASSERT_TRUE(run_until(io_, [&] { return !routes("gw.test"); }));
  EXPECT_TRUE(routes("ing.test"));
}

TEST_F(gateway_watch_test, a_gateway_status_update_rebuilds_nothing) {
  start_source();
  create_ingress_objects();
  create_gateway_objects();
  ASSERT_TRUE(run_until(io_, [&] { return routes("gw.test"); }));
  settle();
  auto builds = source_->builds();
  std::string target = gw_api + "/namespaces/web/gateways/gw";
  auto obj = json::parse(admin("GET", target).body);
  const std::string rv_before(obj.at("metadata").at("resourceVersion").as_string());
  obj.as_object()["status"] = json::parse(R"({"conditions":[]})");
  ASSERT_EQ(admin("PUT", target + "/status", json::serialize(obj)).status, 200u);
  ASSERT_TRUE(run_until(io_, [&] {
    return source_->state().gateways.at("web/gw").meta.resource_version != rv_before;
  }));
  settle();
  EXPECT_EQ(source_->builds(), builds) << "status never affects routing";
}

class no_gateway_api_test : public gateway_watch_test {
  std::vector<std::string> server_args() override { return {"--no-gateway-api"}; }
};

TEST_F(no_gateway_api_test, ingress_is_served_one_line_says_why_and_installing_the_crds_later_starts_the_watch) {
  start_source();
  create_ingress_objects();
  ASSERT_TRUE(run_until(io_, [&] { return routes("ing.test"); }));
  EXPECT_EQ(source_->absent().count("gateways"), 1u);
  EXPECT_EQ(source_->absent().count("namespaces"), 0u) << "Namespaces are core: served";
  settle(1000);  // several retries (every 200 ms here)
  EXPECT_EQ(log_lines("Gateway API:"), 1) << "one line, not one per retry";
  EXPECT_EQ(log_lines("HTTP 404"), 1);
  ASSERT_EQ(admin("POST", "/_test/install-gateway-api").status, 200u);
  create_gateway_objects();
  ASSERT_TRUE(run_until(io_, [&] { return routes("gw.test"); }));
  // Each absent kind is retried on its own: the routes can come before the last of the five
  // kinds (GRPCRoute, ReferenceGrant) is found again.
  EXPECT_TRUE(run_until(io_, [&] { return source_->absent().empty(); }));
  EXPECT_EQ(log_lines("every kind is served now"), 1);
  EXPECT_TRUE(routes("ing.test"));
}

TEST_F(gateway_watch_test, forbidden_gateway_kinds_count_as_absent) {
  // As with a ClusterRole without the Gateway API rules.
  auto r = admin("POST", "/_test/fail",
                 R"({"path":"gateway\\.networking\\.k8s\\.io","code":403,"count":-1})");
  ASSERT_EQ(r.status, 200u) << r.body;
  start_source();
  create_ingress_objects();
  ASSERT_TRUE(run_until(io_, [&] { return routes("ing.test"); }));
  EXPECT_EQ(source_->absent().size(), 5u);  // GatewayClass, Gateway, HTTPRoute, GRPCRoute, ReferenceGrant
  EXPECT_EQ(log_lines("HTTP 403"), 1);
  ASSERT_EQ(admin("POST", "/_test/clear-faults").status, 200u);
  create_gateway_objects();
  ASSERT_TRUE(run_until(io_, [&] { return routes("gw.test"); }));
}

// One writer pass, run to completion on the test's io_context.
void run_sync(boost::asio::io_context& io, gateway_status_writer& w,
              const std::vector<std::string>& addrs) {
  bool done = false;
  boost::asio::co_spawn(io, w.sync(addrs, [] { return true; }),
                        [&](std::exception_ptr) { done = true; });
  ASSERT_TRUE(run_until(io, [&] { return done; }));
}

json::value status_of(const api_response& r) { return json::parse(r.body).at("status"); }

TEST_F(gateway_watch_test, the_writer_puts_our_status_in_place_once_and_leaves_other_controllers_alone) {
  start_source();
  create_ingress_objects();
  create_gateway_objects();
  create(gw_api + "/gatewayclasses", kOtherClass);
  // Another controller's entry in the route's parents, written before ours.
  std::string route = gw_api + "/namespaces/web/httproutes/r";
  auto obj = json::parse(admin("GET", route).body);
  obj.as_object()["status"] = json::parse(
      R"({"parents":[{"parentRef":{"name":"elsewhere"},"controllerName":"example.com/other","conditions":[]}]})");
  ASSERT_EQ(admin("PUT", route + "/status", json::serialize(obj)).status, 200u);
  ASSERT_TRUE(run_until(io_, [&] { return routes("gw.test"); }));
  settle();
  gateway_status_writer w(*client_, source_->state(), source_->build_options(),
                          [this](const std::string& l) { log_.push_back(l); });
  w.set_status(last_.snap->gateway_status_ptr());
  run_sync(io_, w, {"192.0.2.7"});
  EXPECT_EQ(w.writes(), 3u) << "GatewayClass, Gateway, HTTPRoute";

  auto gc = status_of(admin("GET", gw_api + "/gatewayclasses/portico"));
  EXPECT_EQ(gc.at("conditions").as_array()[0].at("status").as_string(), "True");
  auto other = status_of(admin("GET", gw_api + "/gatewayclasses/other"));
  EXPECT_EQ(other.at("conditions").as_array()[0].at("reason").as_string(), "Pending")
      << "another controller's class is not ours to accept";
  auto gw = status_of(admin("GET", gw_api + "/namespaces/web/gateways/gw"));
  EXPECT_EQ(json::serialize(gw.at("addresses")), R"([{"type":"IPAddress","value":"192.0.2.7"}])");
  EXPECT_EQ(gw.at("conditions").as_array()[1].at("type").as_string(), "Programmed");
  EXPECT_EQ(gw.at("conditions").as_array()[1].at("status").as_string(), "True");
  EXPECT_EQ(gw.at("listeners").as_array()[0].at("attachedRoutes").as_int64(), 1);
  auto rt = status_of(admin("GET", route));
  const auto& parents = rt.at("parents").as_array();
  ASSERT_EQ(parents.size(), 2u) << json::serialize(rt);
  EXPECT_EQ(parents[0].at("controllerName").as_string(), "example.com/other");
  EXPECT_EQ(parents[1].at("controllerName").as_string(), "portico.dev/gateway-controller");
  EXPECT_EQ(parents[1].at("conditions").as_array()[0].at("observedGeneration").as_int64(), 1);

  // The watch brings our own writes back; a second pass finds everything in place.
  settle(500);
  run_sync(io_, w, {"192.0.2.7"});
  EXPECT_EQ(w.writes(), 3u);
  // A new address: the Gateway alone is written again.
  run_sync(io_, w, {"192.0.2.8"});
  EXPECT_EQ(w.writes(), 4u);
}

// A term that begins before the first Snapshot (the lease can come before the lists end)
// sweeps stale entries once a Snapshot's status is there, not against the half-listed state.
TEST_F(gateway_watch_test, the_new_term_sweep_waits_for_a_snapshot) {
  start_source();
  create_ingress_objects();
  create_gateway_objects();
  ASSERT_TRUE(run_until(io_, [&] { return routes("gw.test"); }));
  gateway_status_writer w(*client_, source_->state(), source_->build_options(),
                          [this](const std::string& l) { log_.push_back(l); });
  run_sync(io_, w, {"192.0.2.7"});  // no Snapshot status yet: nothing to sweep against
  // A Route of another class's Gateway with an entry of ours, as an earlier leader left it.
  create(gw_api + "/namespaces/web/httproutes",
         R"({"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"stale","namespace":"web"},"spec":{"parentRefs":[{"name":"elsewhere"}],"rules":[{"backendRefs":[{"name":"app","port":80}]}]}})");
  const std::string stale = gw_api + "/namespaces/web/httproutes/stale";
  auto obj = json::parse(admin("GET", stale).body);
  obj.as_object()["status"] = json::parse(
      R"({"parents":[{"parentRef":{"name":"gw"},"controllerName":"portico.dev/gateway-controller","conditions":[]}]})");
  auto put = admin("PUT", stale + "/status", json::serialize(obj));
  ASSERT_EQ(put.status, 200u) << put.body;
  const std::string rv(json::parse(put.body).at("metadata").at("resourceVersion").as_string());
  ASSERT_TRUE(run_until(io_, [&] {
    auto it = source_->state().http_routes.find("web/stale");
    return it != source_->state().http_routes.end() && it->second.meta.resource_version == rv;
  }));
  w.set_status(last_.snap->gateway_status_ptr());
  run_sync(io_, w, {"192.0.2.7"});
  auto got = json::parse(admin("GET", stale).body);
  const auto* st = got.as_object().if_contains("status");
  const auto* parents = st && st->is_object() ? st->as_object().if_contains("parents") : nullptr;
  EXPECT_TRUE(parents == nullptr || parents->as_array().empty()) << json::serialize(got);
}

const char* kRoute2 =
    R"({"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"r2","namespace":"web"},"spec":{"parentRefs":[{"name":"gw"}],"hostnames":["r2.test"],"rules":[{"backendRefs":[{"name":"app","port":80}]}]}})";

// status_writer's loop, as the controller drives it: a rebuild that lands while a status pass
// is still out gets a pass of its own, not one at the next resync (an hour here).
TEST_F(gateway_watch_test, a_rebuild_during_a_status_pass_gets_a_pass_of_its_own) {
  start_source();
  create_ingress_objects();
  create_gateway_objects();
  ASSERT_TRUE(run_until(io_, [&] { return routes("gw.test"); }));
  settle();
  status_writer_options o;
  o.publish_addresses = {"192.0.2.7"};
  o.resync = std::chrono::hours(1);
  o.log = [this](const std::string& l) { log_.push_back(l); };
  auto sw = std::make_shared<status_writer>(io_.get_executor(), *client_, source_->state(),
                                            source_->build_options(), o);
  sw->set_gateway_status(last_.snap->gateway_status_ptr());
  // The pass's read of route r waits until the faults are cleared (1.5 s per attempt).
  auto f = admin("POST", "/_test/stall", R"({"path":"/httproutes/r$","method":"GET","ms":1500,"count":-1})");
  ASSERT_EQ(f.status, 200u) << f.body;
  sw->start();
  sw->set_leader(true);
  auto stalled_hits = [&] {
    auto st = json::parse(admin("GET", "/_test/state").body);
    return st.at("faults").as_array().at(0).at("hits").as_int64();
  };
  ASSERT_TRUE(run_until(io_, [&] { return stalled_hits() >= 1; })) << "the pass reached route r";
  // Meanwhile: a second route, its rebuild, and the writer told as the controller tells it.
  create(gw_api + "/namespaces/web/httproutes", kRoute2);
  ASSERT_TRUE(run_until(io_, [&] { return routes("r2.test"); }));
  sw->set_gateway_status(last_.snap->gateway_status_ptr());
  sw->state_changed();
  ASSERT_EQ(admin("POST", "/_test/clear-faults").status, 200u);
  auto r2_has_status = [&] {
    auto obj = json::parse(admin("GET", gw_api + "/namespaces/web/httproutes/r2").body);
    const auto* st = obj.as_object().if_contains("status");
    return st != nullptr && st->is_object() && st->as_object().if_contains("parents") != nullptr &&
           !st->at("parents").as_array().empty();
  };
  EXPECT_TRUE(run_until(io_, r2_has_status, std::chrono::seconds(20)));
  sw->stop();
  settle(100);
}

}  // namespace
}  // namespace portico::watch
