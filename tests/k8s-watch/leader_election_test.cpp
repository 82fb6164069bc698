// Lease election and the Ingress status writer against the test API server.
#include "k8s-watch/leader_election.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "k8s-watch/status_writer.hpp"
#include "tests/k8s-watch/test_apiserver.hpp"

namespace portico::watch {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using testing::call;
using testing::run_until;
using testing::test_apiserver;

leader_election_options fast(const std::string& id) {
  leader_election_options o;
  o.identity = id;
  o.lease_name = "unit-leader";
  o.lease_duration = 3s;
  o.renew_interval = 300ms;
  o.renew_deadline = 2s;
  o.retry_period = 200ms;
  o.log = [](const std::string&) {};
  return o;
}

class election_test : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.emplace();
    admin_.emplace(io_.get_executor(), server_->admin_config());
    client_.emplace(io_.get_executor(), load_kubeconfig(server_->kubeconfig()));
  }
  void TearDown() override {
    client_->shutdown();
    EXPECT_TRUE(testing::drain(io_)) << "work still pending after stop";
  }
  std::string holder() {
    auto r = call(io_, *admin_, "GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/unit-leader");
    if (r.status != 200) return "";
    auto v = json::parse(r.body);
    auto* h = v.at("spec").as_object().if_contains("holderIdentity");
    return h && h->is_string() ? std::string(h->as_string()) : "";
  }

  boost::asio::io_context io_;
  std::optional<test_apiserver> server_;
  std::optional<api_client> admin_;
  std::optional<api_client> client_;
};

TEST_F(election_test, exactly_one_of_two_candidates_leads_and_release_hands_over) {
  std::vector<std::string> changes;
  auto a = std::make_shared<leader_election>(io_.get_executor(), *client_, fast("a"),
                                             [&](bool l) { changes.push_back(std::string("a:") + (l ? "1" : "0")); });
  auto b = std::make_shared<leader_election>(io_.get_executor(), *client_, fast("b"),
                                             [&](bool l) { changes.push_back(std::string("b:") + (l ? "1" : "0")); });
  a->start();
  ASSERT_TRUE(run_until(io_, [&] { return a->leading(); }));
  b->start();
  // Several renew periods: b never leads while a renews.
  auto until = std::chrono::steady_clock::now() + 1500ms;
  run_until(io_, [&] { return b->leading() || std::chrono::steady_clock::now() > until; });
  EXPECT_TRUE(a->leading());
  EXPECT_FALSE(b->leading());
  EXPECT_EQ(holder(), "a");

  bool stopped = false;
  a->stop([&] { stopped = true; });
  ASSERT_TRUE(run_until(io_, [&] { return stopped; }));
  EXPECT_FALSE(a->leading());
  ASSERT_TRUE(run_until(io_, [&] { return b->leading(); }));
  EXPECT_EQ(holder(), "b");
  EXPECT_EQ(changes, (std::vector<std::string>{"a:1", "a:0", "b:1"}));
  b->stop();
  run_until(io_, [&] { return !b->leading(); });
}

TEST_F(election_test, a_leader_that_cannot_renew_steps_down_and_an_expired_lease_is_taken) {
  auto a = std::make_shared<leader_election>(io_.get_executor(), *client_, fast("a"), nullptr);
  a->start();
  ASSERT_TRUE(run_until(io_, [&] { return a->leading(); }));
  // Every lease request fails: a must give up after the renew deadline.
  call(io_, *admin_, "POST", "/_test/fail", R"({"path":"leases","code":500,"count":-1})");
  ASSERT_TRUE(run_until(io_, [&] { return !a->leading(); }));
  call(io_, *admin_, "POST", "/_test/clear-faults", "{}");
  a->stop();
  run_until(io_, [&] { return false; }, std::chrono::seconds(0));

  // The record still names "a" (it could not release); "c" takes it once it has expired.
  ASSERT_EQ(holder(), "a");
  api_client other(io_.get_executor(), load_kubeconfig(server_->kubeconfig()));
  auto c = std::make_shared<leader_election>(io_.get_executor(), other, fast("c"), nullptr);
  c->start();
  ASSERT_TRUE(run_until(io_, [&] { return c->leading(); }));
  EXPECT_EQ(holder(), "c");
  c->stop();
  run_until(io_, [&] { return !c->leading(); });
}

TEST_F(election_test, status_writer_writes_served_ingresses_once_and_only_while_leading) {
  const char* cls = R"({"apiVersion":"networking.k8s.io/v1","kind":"IngressClass","metadata":{"name":"portico"},"spec":{"controller":"portico.dev/ingress-controller"}})";
  ASSERT_EQ(call(io_, *admin_, "POST", "/apis/networking.k8s.io/v1/ingressclasses", cls).status, 201u);
  auto ing = [](const char* name, const char* cls) {
    return std::string(R"({"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":")") + name +
           R"(","namespace":"web"},"spec":{"ingressClassName":")" + cls +
           R"(","defaultBackend":{"service":{"name":"s","port":{"number":80}}}}})";
  };
  ASSERT_EQ(call(io_, *admin_, "POST", "/apis/networking.k8s.io/v1/namespaces/web/ingresses", ing("mine", "portico")).status, 201u);
  ASSERT_EQ(call(io_, *admin_, "POST", "/apis/networking.k8s.io/v1/namespaces/web/ingresses", ing("theirs", "nginx")).status, 201u);

  // The state as api_source would hold it.
  config::cluster_state state;
  config::ingress_class ic;
  ic.meta.name = "portico";
  ic.controller = "portico.dev/ingress-controller";
  state.upsert(ic);
  for (const char* n : {"mine", "theirs"}) {
    config::ingress i;
    i.meta.name = n;
    i.meta.namespace_name = "web";
    i.ingress_class_name = std::string(n) == "mine" ? "portico" : "nginx";
    state.upsert(i);
  }
  config::build_options bo;
  status_writer_options so;
  so.publish_addresses = {"192.0.2.10", "lb.example.com"};
  so.log = [](const std::string&) {};
  auto w = std::make_shared<status_writer>(io_.get_executor(), *client_, state, bo, so);
  w->start();
  auto status_of = [&](const char* name) {
    auto r = call(io_, *admin_, "GET", std::string("/apis/networking.k8s.io/v1/namespaces/web/ingresses/") + name);
    auto v = json::parse(r.body);
    auto* st = v.as_object().if_contains("status");
    auto* lb = st && st->is_object() ? st->as_object().if_contains("loadBalancer") : nullptr;
    auto* in = lb && lb->is_object() ? lb->as_object().if_contains("ingress") : nullptr;
    return in ? json::serialize(*in) : std::string("[]");
  };
  run_until(io_, [] { return false; }, std::chrono::seconds(1));
  EXPECT_EQ(w->writes(), 0u) << "a follower writes nothing";

  w->set_leader(true);
  ASSERT_TRUE(run_until(io_, [&] { return w->writes() == 1; }));
  EXPECT_EQ(status_of("mine"), R"([{"ip":"192.0.2.10"},{"hostname":"lb.example.com"}])");
  EXPECT_EQ(status_of("theirs"), "[]");

  // A rebuild with nothing new writes nothing; a new term re-reads and finds it in place.
  w->state_changed();
  w->set_leader(false);
  w->set_leader(true);
  run_until(io_, [] { return false; }, std::chrono::seconds(1));
  EXPECT_EQ(w->writes(), 1u);
  w->stop();
  io_.restart();
  io_.run_for(50ms);
}

TEST_F(election_test, status_writer_publishes_the_load_balancer_of_the_publish_service) {
  const char* cls = R"({"apiVersion":"networking.k8s.io/v1","kind":"IngressClass","metadata":{"name":"portico"},"spec":{"controller":"portico.dev/ingress-controller"}})";
  ASSERT_EQ(call(io_, *admin_, "POST", "/apis/networking.k8s.io/v1/ingressclasses", cls).status, 201u);
  ASSERT_EQ(call(io_, *admin_, "POST", "/apis/networking.k8s.io/v1/namespaces/web/ingresses",
                 R"({"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"app","namespace":"web"},"spec":{"ingressClassName":"portico","defaultBackend":{"service":{"name":"s","port":{"number":80}}}}})")
                .status, 201u);
  auto svc = call(io_, *admin_, "POST", "/api/v1/namespaces/ingress/services",
                  R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"portico","namespace":"ingress"},"spec":{"type":"LoadBalancer","ports":[{"port":80}]}})");
  ASSERT_EQ(svc.status, 201u) << svc.body;
  auto obj = json::parse(svc.body);
  obj.as_object()["status"] = json::parse(R"({"loadBalancer":{"ingress":[{"ip":"203.0.113.7"}]}})");
  ASSERT_EQ(call(io_, *admin_, "PUT", "/api/v1/namespaces/ingress/services/portico/status", json::serialize(obj)).status, 200u);

  config::cluster_state state;
  config::ingress_class ic;
  ic.meta.name = "portico";
  ic.controller = "portico.dev/ingress-controller";
  state.upsert(ic);
  config::ingress i;
  i.meta.name = "app";
  i.meta.namespace_name = "web";
  i.ingress_class_name = "portico";
  state.upsert(i);
  config::build_options bo;
  status_writer_options so;
  so.publish_service = "ingress/portico";
  so.log = [](const std::string&) {};
  auto w = std::make_shared<status_writer>(io_.get_executor(), *client_, state, bo, so);
  w->start();
  w->set_leader(true);
  ASSERT_TRUE(run_until(io_, [&] { return w->writes() == 1; }));
  auto got = json::parse(call(io_, *admin_, "GET", "/apis/networking.k8s.io/v1/namespaces/web/ingresses/app").body);
  EXPECT_EQ(json::serialize(got.at("status").at("loadBalancer").at("ingress")), R"([{"ip":"203.0.113.7"}])");
  w->stop();
  io_.restart();
  io_.run_for(50ms);
}

TEST(load_balancer_json, sorts_by_address_deduplicates_and_tells_ips_from_host_names) {
  EXPECT_EQ(load_balancer_json({"10.0.0.2", "10.0.0.1", "10.0.0.2", "fd00::1", "a.example"}),
            R"([{"ip":"10.0.0.1"},{"ip":"10.0.0.2"},{"hostname":"a.example"},{"ip":"fd00::1"}])");
}

}  // namespace
}  // namespace portico::watch
