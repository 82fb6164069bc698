// worker_observer: per-route handles resolved per Snapshot, counters that survive swaps,
// concurrent scrapes, and the access log switch.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <optional>
#include <cstdio>
#include <thread>

#include "proxy/metrics.hpp"
#include "tests/proxy/observe_fixtures.hpp"
#include "tests/proxy/prom_text.hpp"

namespace portico::proxy {
namespace {

using test::parse_prom_text;
using test::sample_value;

server_options quiet() {
  server_options o;
  o.access_log = false;
  return o;
}

std::optional<double> requests_of(metrics_registry& reg, const std::string& ingress,
                                  const std::string& status = "200") {
  return sample_value(parse_prom_text(reg.render()), "nginx_ingress_controller_requests",
                      {{"ingress", ingress}, {"status", status}});
}

TEST(observer, counters_survive_a_snapshot_swap_for_the_same_route_labels) {
  server_options opts = quiet();
  metrics_registry reg(opts);
  worker_observer w(reg, opts, 0);

  auto web_a = test::make_route(0, "default", "web", "web-svc", "a.example", "/");
  auto snap_a = test::make_snapshot({web_a});
  w.on_snapshot(*snap_a);
  w.on_request(test::upstream_record(web_a.get()));
  w.on_request(test::upstream_record(web_a.get()));

  // The next Snapshot has a new route in front: the same label set now has index 1.
  auto api_b = test::make_route(0, "default", "api", "api-svc", "a.example", "/api");
  auto web_b = test::make_route(1, "default", "web", "web-svc", "a.example", "/");
  auto snap_b = test::make_snapshot({api_b, web_b});
  w.on_snapshot(*snap_b);
  w.on_request(test::upstream_record(web_b.get()));
  w.on_request(test::upstream_record(api_b.get()));

  EXPECT_EQ(requests_of(reg, "web"), 3.0);
  EXPECT_EQ(requests_of(reg, "api"), 1.0);
}

TEST(observer, a_request_that_started_on_the_old_snapshot_counts_under_its_own_route) {
  server_options opts = quiet();
  metrics_registry reg(opts);
  worker_observer w(reg, opts, 0);

  auto web_a = test::make_route(0, "default", "web", "web-svc", "a.example", "/");
  auto snap_a = test::make_snapshot({web_a});
  w.on_snapshot(*snap_a);

  // Index 0 now means another route; a request pinned to snap_a finishes afterwards.
  auto api_b = test::make_route(0, "default", "api", "api-svc", "a.example", "/api");
  auto snap_b = test::make_snapshot({api_b});
  w.on_snapshot(*snap_b);
  w.on_request(test::upstream_record(web_a.get()));

  EXPECT_EQ(requests_of(reg, "web"), 1.0);
  EXPECT_EQ(requests_of(reg, "api"), std::nullopt);
}

TEST(observer, an_endpoint_only_successor_counts_its_new_route_objects_under_the_same_labels) {
  server_options opts = quiet();
  metrics_registry reg(opts);
  worker_observer w(reg, opts, 0);
  auto web = test::make_route(0, "default", "web", "web-svc", "a.example", "/");
  auto api = test::make_route(1, "default", "api", "api-svc", "a.example", "/api");
  auto snap_a = test::make_snapshot({web, api});
  reg.on_publish(*snap_a, 0.001, true);
  w.on_snapshot(*snap_a);
  w.on_request(test::upstream_record(web.get()));

  // What config::build_incremental() makes of an endpoint change: the same host table, the
  // web route a new object with a new backend.
  auto backend = std::make_shared<config::cluster>(*web->backend);
  backend->endpoints[0].ip = "10.0.0.2";
  auto web2 = std::make_shared<config::route>(*web);
  web2->backend = backend;
  auto snap_b = std::make_shared<const config::snapshot>(
      std::vector<std::shared_ptr<const config::route>>{web2, api},
      std::vector<std::shared_ptr<const config::cluster>>{}, snap_a->hosts_ptr(), 2);
  reg.on_publish(*snap_b, 0.001, true);
  w.on_snapshot(*snap_b);
  w.on_request(test::upstream_record(web2.get()));
  w.on_request(test::upstream_record(web.get()));  // a request pinned to snap_a
  w.on_request(test::upstream_record(api.get()));

  EXPECT_EQ(requests_of(reg, "web"), 3.0);
  EXPECT_EQ(requests_of(reg, "api"), 1.0);

  // A full build after it (a new host table) without the api route: its series go.
  auto web3 = test::make_route(0, "default", "web", "web-svc", "a.example", "/");
  auto snap_c = test::make_snapshot({web3});
  reg.on_publish(*snap_c, 0.001, true);
  w.on_snapshot(*snap_c);
  w.on_request(test::upstream_record(web3.get()));
  EXPECT_EQ(requests_of(reg, "web"), 4.0);
}

TEST(observer, counters_outlive_the_observer_that_wrote_them) {
  server_options opts = quiet();
  metrics_registry reg(opts);
  auto web = test::make_route(0, "default", "web", "web-svc", "a.example", "/");
  auto snap = test::make_snapshot({web});
  {
    worker_observer w(reg, opts, 0);
    w.on_snapshot(*snap);
    w.on_request(test::upstream_record(web.get()));
  }
  worker_observer w2(reg, opts, 0);
  w2.on_snapshot(*snap);
  w2.on_request(test::upstream_record(web.get()));
  EXPECT_EQ(requests_of(reg, "web"), 2.0);
}

TEST(observer, scrapes_during_traffic_see_monotonic_counts_and_the_exact_final_sum) {
  server_options opts = quiet();
  metrics_registry reg(opts);
  auto web = test::make_route(0, "default", "web", "web-svc", "a.example", "/");
  auto snap = test::make_snapshot({web});
  constexpr int per_worker = 20000;
  worker_observer w1(reg, opts, 0), w2(reg, opts, 1);
  w1.on_snapshot(*snap);
  w2.on_snapshot(*snap);

  std::atomic<int> running{2};
  auto drive = [&](worker_observer& w) {
    for (int i = 0; i < per_worker; ++i) {
      // New (method, status) cells appear while the scrape runs.
      w.on_request(test::upstream_record(web.get(), i % 50 == 0 ? 500 + (i / 50) % 20 : 200));
    }
    running.fetch_sub(1);
  };
  std::thread t1(drive, std::ref(w1)), t2(drive, std::ref(w2));
  double last = 0;
  for (int scrapes = 0; running.load() > 0 && scrapes < 2000; ++scrapes) {
    auto v = requests_of(reg, "web").value_or(0);
    EXPECT_GE(v, last);
    last = v;
  }
  t1.join();
  t2.join();

  double total = 0;
  for (const auto& s : test::find_samples(parse_prom_text(reg.render()),
                                          "nginx_ingress_controller_requests", {{"ingress", "web"}}))
    total += s.value;
  EXPECT_EQ(total, 2.0 * per_worker);
}

TEST(observer, scrapes_off_the_control_thread_while_snapshots_are_published) {
  server_options opts = quiet();
  metrics_registry reg(opts);
  auto web = test::make_route(0, "default", "web", "web-svc", "a.example", "/");
  auto other = test::make_route(0, "default", "other", "other-svc", "b.example", "/");
  auto with = test::make_snapshot({web}, 1), without = test::make_snapshot({other}, 2);
  worker_observer w(reg, opts, 0);
  w.on_snapshot(*with);
  w.on_request(test::upstream_record(web.get()));

  std::atomic<bool> done{false};
  std::thread scraper([&] {
    for (int i = 0; i < 200 && !done.load(); ++i) {
      std::string text = reg.render();
      EXPECT_NE(text.find("nginx_ingress_controller_config_hash"), std::string::npos);
    }
  });
  for (int i = 0; i < 200; ++i) {
    reg.on_publish(i % 2 ? *without : *with, 0.01, true);
    if (i % 10 == 0) reg.set_leader(i % 20 == 0);
  }
  reg.on_publish(*with, 0.01, true);
  done = true;
  scraper.join();
  EXPECT_EQ(requests_of(reg, "web"), 1.0);
  EXPECT_EQ(sample_value(parse_prom_text(reg.render()), "nginx_ingress_controller_success", {}),
            201.0);
}

// Runs `fn` with fd 1 redirected into a pipe; returns what was written.
std::string capture_stdout(const std::function<void()>& fn) {
  std::fflush(stdout);
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  int saved = ::dup(1);
  ::dup2(fds[1], 1);
  fn();
  ::dup2(saved, 1);
  ::close(saved);
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, n);
  ::close(fds[0]);
  return out;
}

TEST(observer, access_log_lines_reach_stdout_on_flush) {
  server_options opts;  // access_log on by default
  metrics_registry reg(opts);
  auto web = test::make_route(0, "default", "web", "web-svc", "a.example", "/");
  auto snap = test::make_snapshot({web});
  std::string out = capture_stdout([&] {
    worker_observer w(reg, opts, 0);
    w.on_snapshot(*snap);
    w.on_request(test::upstream_record(web.get()));
    w.on_request(test::local_record(nullptr, 404));
    w.flush();
  });
  ASSERT_EQ(std::count(out.begin(), out.end(), '\n'), 2);
  EXPECT_NE(out.find("\"ingress\":\"web\""), std::string::npos);
  EXPECT_NE(out.find("\"status\":404"), std::string::npos);
}

// --access-log=false reaches the observer through the Snapshot, as the builder makes it: the
// settings' enable_access_log (unrouted requests) and each route's policy (routed ones).
TEST(observer, access_log_off_writes_nothing) {
  server_options opts = quiet();
  metrics_registry reg(opts);
  auto settings = std::make_shared<config::controller_config>(settings_from(opts));
  ASSERT_FALSE(settings->enable_access_log);
  auto route = std::const_pointer_cast<config::route>(
      test::make_route(0, "default", "web", "web-svc", "a.example", "/"));
  auto policy = std::make_shared<config::route_policy>(*route->policy);
  policy->access_log = false;
  route->policy = policy;
  std::shared_ptr<const config::route> web = route;
  auto snap = std::make_shared<const config::snapshot>(
      std::vector<std::shared_ptr<const config::route>>{web},
      std::vector<std::shared_ptr<const config::cluster>>{}, nullptr, 1, nullptr, settings);
  std::string out = capture_stdout([&] {
    worker_observer w(reg, opts, 0);
    w.on_snapshot(*snap);
    w.on_request(test::upstream_record(web.get()));
    w.on_request(test::local_record(nullptr, 404));
    w.flush();
  });
  EXPECT_TRUE(out.empty()) << out;
  EXPECT_EQ(requests_of(reg, "web"), 1.0);
}

// enable-access-log: "false" on one Ingress silences its routes only.
TEST(observer, route_policy_can_turn_the_access_log_off_for_one_route) {
  server_options opts;
  metrics_registry reg(opts);
  auto route = std::const_pointer_cast<config::route>(
      test::make_route(0, "default", "quiet", "web-svc", "a.example", "/"));
  auto policy = std::make_shared<config::route_policy>(*route->policy);
  policy->access_log = false;
  route->policy = policy;
  std::shared_ptr<const config::route> quiet_route = route;
  auto loud = test::make_route(1, "default", "loud", "web-svc", "b.example", "/");
  auto snap = test::make_snapshot({quiet_route, loud});
  std::string out = capture_stdout([&] {
    worker_observer w(reg, opts, 0);
    w.on_snapshot(*snap);
    w.on_request(test::upstream_record(quiet_route.get()));
    w.on_request(test::upstream_record(loud.get()));
    w.flush();
  });
  ASSERT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_NE(out.find("\"ingress\":\"loud\""), std::string::npos);
}

}  // namespace
}  // namespace portico::proxy
