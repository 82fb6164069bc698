// The API client, reflectors and api_source against the test API server (HTTPS, token auth,
// paginated lists, chunked watches, fault injection).
#include "k8s-watch/api_source.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>

#include "tests/k8s-watch/test_apiserver.hpp"

namespace portico::watch {
namespace {

namespace json = boost::json;
using testing::call;
using testing::run_until;
using testing::test_apiserver;

std::string service_json(const std::string& ns, const std::string& name, int port = 80) {
  return R"({"apiVersion":"v1","kind":"Service","metadata":{"name":")" + name +
         R"(","namespace":")" + ns + R"("},"spec":{"ports":[{"name":"http","port":)" +
         std::to_string(port) + R"(,"targetPort":8080}]}})";
}

std::string slice_json(const std::string& name, const std::string& svc, const std::string& ip) {
  return R"({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":")" +
         name + R"(","namespace":"web","labels":{"kubernetes.io/service-name":")" + svc +
         R"("}},"addressType":"IPv4","endpoints":[{"addresses":[")" + ip +
         R"("],"conditions":{"ready":true}}],"ports":[{"name":"http","port":8080,"protocol":"TCP"}]})";
}

const char* kClass =
    R"({"apiVersion":"networking.k8s.io/v1","kind":"IngressClass","metadata":{"name":"portico"},"spec":{"controller":"portico.dev/ingress-controller"}})";

std::string ingress_json(const std::string& name, const std::string& host, const std::string& svc,
                         const std::string& cls = "portico") {
  return R"({"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":")" + name +
         R"(","namespace":"web"},"spec":{"ingressClassName":")" + cls +
         R"(","rules":[{"host":")" + host +
         R"(","http":{"paths":[{"path":"/","pathType":"Prefix","backend":{"service":{"name":")" +
         svc + R"(","port":{"number":80}}}}]}}]}})";
}

class api_source_test : public ::testing::Test {
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
    ASSERT_EQ(r.status, 201u) << r.body;
  }

  void start_source(std::size_t page_size = 500, std::string watch_namespace = "") {
    client_.emplace(io_.get_executor(), load_kubeconfig(server_->kubeconfig()));
    api_source_options o;
    o.reflector.page_size = page_size;
    o.watch_namespace = watch_namespace;
    o.reflector.backoff_base = std::chrono::milliseconds(20);
    o.reflector.backoff_cap = std::chrono::milliseconds(200);
    o.coalesce_window = std::chrono::milliseconds(10);
    o.coalesce_min_interval = std::chrono::milliseconds(50);
    o.log = [this](const std::string& l) { log_.push_back(l); };
    source_.emplace(io_.get_executor(), *client_, o,
                    [this](const config::build_result& r, double) { last_ = r; });
    source_->start();
  }

  const config::route* find(const char* host) {
    if (!last_.snap) return nullptr;
    return last_.snap->find(host, "/");
  }
  std::string target_of(const char* host) {
    auto* r = find(host);
    if (!r || r->backend->endpoints.empty()) return "";
    return r->backend->endpoints[0].to_string();
  }

  void TearDown() override {
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

TEST_F(api_source_test, lists_in_pages_over_tls_and_publishes_only_after_every_resource_synced) {
  json::array items;
  for (int i = 0; i < 250; ++i) items.push_back(json::parse(service_json("web", "s" + std::to_string(i))));
  json::object list{{"apiVersion", "v1"}, {"kind", "List"}, {"items", items}};
  ASSERT_EQ(admin("POST", "/_test/load", json::serialize(list)).status, 200u);
  auto before = json::parse(admin("GET", "/_test/state").body).at("requests").as_int64();

  start_source(100);
  EXPECT_FALSE(source_->synced());
  EXPECT_EQ(source_->builds(), 0u);
  ASSERT_TRUE(run_until(io_, [&] { return source_->builds() > 0; }));
  EXPECT_TRUE(source_->synced());
  EXPECT_EQ(source_->state().services.size(), 250u);

  auto reqs = json::parse(admin("GET", "/_test/requests?since=0").body).at("requests").as_array();
  int service_pages = 0;
  for (auto& r : reqs) {
    std::string url(r.at("url").as_string());
    if (url.starts_with("/api/v1/services?") && url.find("watch=") == std::string::npos) {
      ++service_pages;
      EXPECT_NE(url.find("limit=100"), std::string::npos) << url;
    }
  }
  EXPECT_EQ(service_pages, 3) << "250 services in pages of 100";
  (void)before;
}

TEST_F(api_source_test, watch_events_make_routes_live_change_targets_and_remove_them) {
  start_source();
  ASSERT_TRUE(run_until(io_, [&] { return source_->builds() > 0; }));
  EXPECT_EQ(find("app.test"), nullptr);

  create("/apis/networking.k8s.io/v1/ingressclasses", kClass);
  create("/api/v1/namespaces/web/services", service_json("web", "app"));
  create("/apis/discovery.k8s.io/v1/namespaces/web/endpointslices", slice_json("app-1", "app", "10.0.0.1"));
  create("/apis/networking.k8s.io/v1/namespaces/web/ingresses", ingress_json("app", "app.test", "app"));
  ASSERT_TRUE(run_until(io_, [&] { return target_of("app.test") == "10.0.0.1:8080"; }));

  auto slice = json::parse(slice_json("app-1", "app", "10.0.0.2"));
  auto r = admin("PUT", "/apis/discovery.k8s.io/v1/namespaces/web/endpointslices/app-1",
                 json::serialize(slice));
  ASSERT_EQ(r.status, 200u) << r.body;
  ASSERT_TRUE(run_until(io_, [&] { return target_of("app.test") == "10.0.0.2:8080"; }));

  ASSERT_EQ(admin("DELETE", "/apis/networking.k8s.io/v1/namespaces/web/ingresses/app").status, 200u);
  ASSERT_TRUE(run_until(io_, [&] { return find("app.test") == nullptr; }));
}

TEST_F(api_source_test, endpoint_changes_take_the_incremental_build_and_others_the_full_one) {
  start_source();
  ASSERT_TRUE(run_until(io_, [&] { return source_->builds() > 0; }));
  create("/apis/networking.k8s.io/v1/ingressclasses", kClass);
  create("/api/v1/namespaces/web/services", service_json("web", "app"));
  create("/apis/discovery.k8s.io/v1/namespaces/web/endpointslices", slice_json("app-1", "app", "10.0.0.1"));
  create("/apis/networking.k8s.io/v1/namespaces/web/ingresses", ingress_json("app", "app.test", "app"));
  ASSERT_TRUE(run_until(io_, [&] { return target_of("app.test") == "10.0.0.1:8080"; }));
  auto before = last_.snap;
  auto incremental = source_->incremental_builds();

  auto r = admin("PUT", "/apis/discovery.k8s.io/v1/namespaces/web/endpointslices/app-1",
                 slice_json("app-1", "app", "10.0.0.3"));
  ASSERT_EQ(r.status, 200u) << r.body;
  ASSERT_TRUE(run_until(io_, [&] { return target_of("app.test") == "10.0.0.3:8080"; }));
  EXPECT_TRUE(source_->last_build_incremental());
  EXPECT_GT(source_->incremental_builds(), incremental);
  EXPECT_EQ(last_.snap->hosts_ptr(), before->hosts_ptr()) << "the route table is shared";

  create("/apis/networking.k8s.io/v1/namespaces/web/ingresses", ingress_json("two", "two.test", "app"));
  ASSERT_TRUE(run_until(io_, [&] { return find("two.test") != nullptr; }));
  EXPECT_FALSE(source_->last_build_incremental());
}

TEST_F(api_source_test, an_ingress_status_update_rebuilds_nothing) {
  start_source();
  ASSERT_TRUE(run_until(io_, [&] { return source_->builds() > 0; }));
  create("/apis/networking.k8s.io/v1/ingressclasses", kClass);
  create("/api/v1/namespaces/web/services", service_json("web", "app"));
  create("/apis/networking.k8s.io/v1/namespaces/web/ingresses", ingress_json("app", "app.test", "app"));
  ASSERT_TRUE(run_until(io_, [&] { return find("app.test") != nullptr; }));
  io_.restart();
  io_.run_for(std::chrono::milliseconds(300));
  auto builds = source_->builds();
  auto target = "/apis/networking.k8s.io/v1/namespaces/web/ingresses/app";
  auto obj = json::parse(admin("GET", target).body);
  obj.as_object()["status"] = json::parse(R"({"loadBalancer":{"ingress":[{"ip":"192.0.2.1"}]}})");
  ASSERT_EQ(admin("PUT", std::string(target) + "/status", json::serialize(obj)).status, 200u);
  ASSERT_TRUE(run_until(io_, [&] {
    auto it = source_->state().ingresses.find("web/app");
    return it != source_->state().ingresses.end() && !it->second.status_addresses.empty();
  }));
  io_.restart();
  io_.run_for(std::chrono::milliseconds(300));
  EXPECT_EQ(source_->builds(), builds) << "status never affects routing";
}

TEST_F(api_source_test, a_burst_of_events_is_coalesced_into_few_rebuilds) {
  start_source();
  ASSERT_TRUE(run_until(io_, [&] { return source_->builds() > 0; }));
  auto before = source_->builds();
  json::array items;
  for (int i = 0; i < 300; ++i) items.push_back(json::parse(service_json("web", "b" + std::to_string(i))));
  json::object list{{"apiVersion", "v1"}, {"kind", "List"}, {"items", items}};
  ASSERT_EQ(admin("POST", "/_test/load", json::serialize(list)).status, 200u);
  ASSERT_TRUE(run_until(io_, [&] { return source_->state().services.size() == 300; }));
  ASSERT_TRUE(run_until(io_, [&] { return source_->builds() > before; }));
  io_.restart();
  io_.run_for(std::chrono::milliseconds(300));
  EXPECT_LT(source_->builds() - before, 100u) << "300 watch events must not give 300 rebuilds";
}

TEST_F(api_source_test, watch_namespace_limits_namespaced_resources) {
  create("/api/v1/namespaces/web/services", service_json("web", "in"));
  create("/api/v1/namespaces/other/services", service_json("other", "out"));
  create("/apis/networking.k8s.io/v1/ingressclasses", kClass);
  start_source(500, "web");
  ASSERT_TRUE(run_until(io_, [&] { return source_->builds() > 0; }));
  create("/api/v1/namespaces/other/services", service_json("other", "later"));
  create("/api/v1/namespaces/web/services", service_json("web", "later"));
  ASSERT_TRUE(run_until(io_, [&] { return source_->state().services.count("web/later") == 1; }));
  EXPECT_EQ(source_->state().services.count("web/in"), 1u);
  EXPECT_EQ(source_->state().services.count("other/out"), 0u);
  EXPECT_EQ(source_->state().services.count("other/later"), 0u);
  EXPECT_EQ(source_->state().ingress_classes.count("portico"), 1u) << "cluster-scoped: not limited";
}

TEST_F(api_source_test, an_ingress_of_another_class_is_ignored) {
  create("/apis/networking.k8s.io/v1/ingressclasses", kClass);
  create("/apis/networking.k8s.io/v1/ingressclasses",
         R"({"apiVersion":"networking.k8s.io/v1","kind":"IngressClass","metadata":{"name":"nginx"},"spec":{"controller":"k8s.io/ingress-nginx"}})");
  create("/api/v1/namespaces/web/services", service_json("web", "app"));
  create("/apis/networking.k8s.io/v1/namespaces/web/ingresses", ingress_json("other", "other.test", "app", "nginx"));
  create("/apis/networking.k8s.io/v1/namespaces/web/ingresses", ingress_json("mine", "mine.test", "app"));
  start_source();
  ASSERT_TRUE(run_until(io_, [&] { return find("mine.test") != nullptr; }));
  EXPECT_EQ(find("other.test"), nullptr);
  EXPECT_EQ(source_->state().ingresses.size(), 2u);
}

TEST_F(api_source_test, relist_after_expired_history_drops_objects_deleted_while_disconnected) {
  create("/api/v1/namespaces/web/services", service_json("web", "keep"));
  create("/api/v1/namespaces/web/services", service_json("web", "gone"));
  start_source();
  ASSERT_TRUE(run_until(io_, [&] { return source_->builds() > 0; }));
  ASSERT_EQ(source_->state().services.count("web/gone"), 1u);
  // The first build follows the lists; on a busy machine the services watch may not be open
  // yet, and one that opens after the cut sees the delete as an event instead of relisting.
  // Wait until it is: a bookmark reaches every open watch of the resource and is counted.
  ASSERT_TRUE(run_until(io_, [&] {
    return admin("POST", "/_test/bookmark", R"({"resource":"services"})")
               .body.find("\"signalled\":0}") == std::string::npos;
  }));

  // Refuse new connections, cut every watch, delete while we are away, forget history.
  admin("POST", "/_test/refuse", R"({"seconds":1.5})");
  admin("POST", "/_test/drop-watches", R"({"mode":"abrupt"})");
  ASSERT_EQ(admin("DELETE", "/api/v1/namespaces/web/services/gone").status, 200u);
  create("/api/v1/namespaces/web/services", service_json("web", "added"));
  admin("POST", "/_test/compact", "{}");

  ASSERT_TRUE(run_until(io_, [&] {
    return source_->state().services.count("web/gone") == 0 &&
           source_->state().services.count("web/added") == 1;
  })) << "log: " << (log_.empty() ? "" : log_.back());
  EXPECT_EQ(source_->state().services.count("web/keep"), 1u);
  bool relisted = false;
  for (auto& l : log_) relisted |= l.find("expired") != std::string::npos;
  EXPECT_TRUE(relisted) << "the resume from a compacted version must relist";
}

TEST_F(api_source_test, expire_error_event_on_the_stream_relists) {
  create("/api/v1/namespaces/web/services", service_json("web", "a"));
  start_source();
  ASSERT_TRUE(run_until(io_, [&] { return source_->builds() > 0; }));
  // The first build follows the lists; the services watch may not be open yet on a busy
  // machine: expire it once it is (the server says how many watches it dropped).
  ASSERT_TRUE(run_until(io_, [&] {
    return admin("POST", "/_test/drop-watches", R"({"mode":"expire","resource":"services"})")
               .body.find("\"dropped\":0}") == std::string::npos;
  }));
  create("/api/v1/namespaces/web/services", service_json("web", "b"));
  ASSERT_TRUE(run_until(io_, [&] { return source_->state().services.count("web/b") == 1; }));
  bool relisted = false;
  for (auto& l : log_) relisted |= l.find("services: resourceVersion") != std::string::npos;
  EXPECT_TRUE(relisted);
}

TEST_F(api_source_test, server_errors_are_retried_with_backoff_until_the_list_succeeds) {
  create("/api/v1/namespaces/web/services", service_json("web", "a"));
  admin("POST", "/_test/fail", R"({"path":"/api/v1/services","code":500,"count":3})");
  start_source();
  ASSERT_TRUE(run_until(io_, [&] { return source_->synced(); }));
  EXPECT_EQ(source_->state().services.count("web/a"), 1u);
  int failures = 0;
  for (auto& l : log_) failures += l.find("HTTP 500") != std::string::npos;
  EXPECT_EQ(failures, 3);
}

TEST_F(api_source_test, client_reports_connection_refused_as_api_error) {
  kube_config c = load_kubeconfig(server_->kubeconfig());
  server_->stop();
  api_client client(io_.get_executor(), c);
  EXPECT_THROW(call(io_, client, "GET", "/api/v1/services"), api_error);
}

TEST_F(api_source_test, wrong_token_is_a_401_not_a_network_error) {
  kube_config c = load_kubeconfig(server_->kubeconfig());
  c.token = "wrong";
  api_client client(io_.get_executor(), c);
  EXPECT_EQ(call(io_, client, "GET", "/api/v1/services").status, 401u);
}

TEST_F(api_source_test, tls_verification_rejects_an_unknown_ca_unless_told_to_skip) {
  kube_config c = load_kubeconfig(server_->kubeconfig());
  c.ca_pem.clear();  // the system store does not know the test CA
  {
    api_client client(io_.get_executor(), c);
    EXPECT_THROW(call(io_, client, "GET", "/api/v1/services"), api_error);
  }
  c.insecure_skip_tls_verify = true;
  api_client client(io_.get_executor(), c);
  EXPECT_EQ(call(io_, client, "GET", "/api/v1/services").status, 200u);
}

TEST_F(api_source_test, token_file_is_reread_after_its_interval) {
  kube_config c = load_kubeconfig(server_->kubeconfig());
  auto file = server_->dir() / "token";
  std::ofstream(file) << "stale\n";
  c.token.clear();
  c.token_file = file.string();
  c.token_reread = std::chrono::seconds(0);
  api_client client(io_.get_executor(), c);
  EXPECT_EQ(call(io_, client, "GET", "/api/v1/services").status, 401u);
  std::ofstream(file) << "unit-token\n";
  EXPECT_EQ(call(io_, client, "GET", "/api/v1/services").status, 200u);
}

// Watch events split across tiny chunks (and chunks holding parts of two events) must be
// reassembled by the incremental parser.
class split_chunks_test : public api_source_test {
  std::vector<std::string> server_args() override { return {"--watch-chunk-bytes", "7"}; }
};

TEST_F(split_chunks_test, events_split_across_chunks_are_reassembled) {
  start_source();
  ASSERT_TRUE(run_until(io_, [&] { return source_->builds() > 0; }));
  for (int i = 0; i < 5; ++i) create("/api/v1/namespaces/web/services", service_json("web", "s" + std::to_string(i), 80 + i));
  ASSERT_TRUE(run_until(io_, [&] { return source_->state().services.size() == 5; }));
  EXPECT_EQ(source_->state().services.at("web/s4").ports.at(0).port, 84);
}

class client_cert_test : public api_source_test {
  std::vector<std::string> server_args() override { return {"--client-cert-auth"}; }
};

TEST_F(client_cert_test, a_client_certificate_from_the_kubeconfig_authenticates) {
  kube_config c = load_kubeconfig(server_->kubeconfig());
  ASSERT_FALSE(c.client_cert_pem.empty()) << "the kubeconfig names a client certificate";
  c.token.clear();
  api_client with_cert(io_.get_executor(), c);
  EXPECT_EQ(call(io_, with_cert, "GET", "/api/v1/services").status, 200u);
  c.client_cert_pem.clear();
  c.client_key_pem.clear();
  api_client without(io_.get_executor(), c);
  EXPECT_EQ(call(io_, without, "GET", "/api/v1/services").status, 403u) << "anonymous";
}

}  // namespace
}  // namespace portico::watch
