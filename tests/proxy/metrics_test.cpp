// metrics_registry::render(): ingress-nginx's names, labels, buckets; shards summed.
#include "proxy/metrics.hpp"

#include <gtest/gtest.h>

#include "proxy/metric_shards.hpp"
#include "tests/proxy/observe_fixtures.hpp"
#include "tests/proxy/prom_text.hpp"

namespace portico::proxy {
namespace {

using test::find_samples;
using test::parse_prom_text;
using test::sample_value;

server_options quiet_options() {
  server_options o;
  o.access_log = false;
  o.controller_namespace = "ingress";
  o.controller_class = "k8s.io/ingress-nginx";
  o.controller_pod = "portico-abc";
  return o;
}

const std::map<std::string, std::string> web_labels = {
    {"namespace", "default"}, {"ingress", "web"},      {"service", "web-svc"},
    {"host", "a.example"},    {"path", "/api"},        {"canary", ""},
    {"method", "GET"},        {"status", "200"},       {"controller_namespace", "ingress"},
    {"controller_class", "k8s.io/ingress-nginx"},      {"controller_pod", "portico-abc"}};

class metrics_test : public ::testing::Test {
 protected:
  server_options opts = quiet_options();
  metrics_registry reg{opts};
  std::shared_ptr<const config::route> web =
      test::make_route(0, "default", "web", "web-svc", "a.example", "/api");
  config::snapshot_ptr snap = test::make_snapshot({web}, 42);
};

TEST_F(metrics_test, requests_are_summed_across_worker_shards) {
  worker_observer w1(reg, opts, 0), w2(reg, opts, 1);
  w1.on_snapshot(*snap);
  w2.on_snapshot(*snap);
  for (int i = 0; i < 3; ++i) w1.on_request(test::upstream_record(web.get()));
  for (int i = 0; i < 4; ++i) w2.on_request(test::upstream_record(web.get()));
  w2.on_request(test::upstream_record(web.get(), 502));

  auto samples = parse_prom_text(reg.render());
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_requests", web_labels), 7.0);
  auto bad = web_labels;
  bad["status"] = "502";
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_requests", bad), 1.0);
  EXPECT_EQ(find_samples(samples, "nginx_ingress_controller_requests", {}).size(), 2u);
}

TEST_F(metrics_test, exposition_declares_ingress_nginx_types) {
  worker_observer w(reg, opts, 0);
  w.on_snapshot(*snap);
  w.on_request(test::upstream_record(web.get()));
  std::string text = reg.render();
  for (const char* line : {
           "# TYPE nginx_ingress_controller_requests counter",
           "# TYPE nginx_ingress_controller_request_duration_seconds histogram",
           "# TYPE nginx_ingress_controller_response_duration_seconds histogram",
           "# TYPE nginx_ingress_controller_connect_duration_seconds histogram",
           "# TYPE nginx_ingress_controller_header_duration_seconds histogram",
           "# TYPE nginx_ingress_controller_request_size histogram",
           "# TYPE nginx_ingress_controller_response_size histogram",
           "# TYPE nginx_ingress_controller_config_hash gauge",
           "# TYPE nginx_ingress_controller_config_last_reload_successful gauge",
           "# TYPE nginx_ingress_controller_config_last_reload_successful_timestamp_seconds gauge",
           "# TYPE nginx_ingress_controller_success counter",
           "# TYPE nginx_ingress_controller_errors counter",
           "# TYPE nginx_ingress_controller_build_info gauge",
           "# TYPE portico_client_connections gauge",
           "# TYPE portico_tunnels gauge",
           "# TYPE portico_pooled_upstream_connections gauge",
           "# TYPE portico_ejected_endpoints gauge",
           "# TYPE portico_snapshot_build_seconds gauge",
       }) {
    EXPECT_NE(text.find(std::string(line) + "\n"), std::string::npos) << line;
  }
  // Counters keep ingress-nginx's names: no "_total" suffix.
  EXPECT_EQ(text.find("nginx_ingress_controller_requests_total"), std::string::npos);
}

TEST_F(metrics_test, request_duration_buckets_are_cumulative_with_prometheus_default_bounds) {
  worker_observer w(reg, opts, 0);
  w.on_snapshot(*snap);
  for (double s : {0.003, 0.02, 0.7, 20.0}) w.on_request(test::upstream_record(web.get(), 200, s));

  auto samples = parse_prom_text(reg.render());
  const std::string name = "nginx_ingress_controller_request_duration_seconds";
  auto bucket = [&](const std::string& le) {
    auto want = web_labels;
    want["le"] = le;
    return sample_value(samples, name + "_bucket", want);
  };
  EXPECT_EQ(bucket("0.005"), 1.0);
  EXPECT_EQ(bucket("0.01"), 1.0);
  EXPECT_EQ(bucket("0.025"), 2.0);
  EXPECT_EQ(bucket("0.5"), 2.0);
  EXPECT_EQ(bucket("1"), 3.0);
  EXPECT_EQ(bucket("10"), 3.0);
  EXPECT_EQ(bucket("+Inf"), 4.0);
  EXPECT_EQ(find_samples(samples, name + "_bucket", web_labels).size(), 12u);
  EXPECT_EQ(sample_value(samples, name + "_count", web_labels), 4.0);
  EXPECT_NEAR(*sample_value(samples, name + "_sum", web_labels), 20.723, 1e-9);
}

TEST_F(metrics_test, size_histograms_use_ingress_nginx_length_buckets) {
  worker_observer w(reg, opts, 0);
  w.on_snapshot(*snap);
  for (std::uint64_t bytes : {5u, 50u, 500u}) {
    auto rec = test::upstream_record(web.get());
    rec.request_bytes = bytes;
    rec.response_bytes = bytes * 2;
    w.on_request(rec);
  }
  auto samples = parse_prom_text(reg.render());
  auto bucket = [&](const std::string& name, const std::string& le) {
    auto want = web_labels;
    want["le"] = le;
    return sample_value(samples, "nginx_ingress_controller_" + name + "_bucket", want);
  };
  EXPECT_EQ(bucket("request_size", "10"), 1.0);
  EXPECT_EQ(bucket("request_size", "50"), 2.0);
  EXPECT_EQ(bucket("request_size", "100"), 2.0);
  EXPECT_EQ(bucket("request_size", "+Inf"), 3.0);
  EXPECT_EQ(bucket("response_size", "10"), 1.0);
  EXPECT_EQ(bucket("response_size", "90"), 1.0);
  EXPECT_EQ(bucket("response_size", "100"), 2.0);
  EXPECT_EQ(find_samples(samples, "nginx_ingress_controller_request_size_bucket", web_labels).size(),
            11u);
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_response_size_sum", web_labels), 1110.0);
}

TEST_F(metrics_test, upstream_histograms_only_count_requests_that_reached_an_upstream) {
  worker_observer w(reg, opts, 0);
  w.on_snapshot(*snap);
  w.on_request(test::upstream_record(web.get()));
  w.on_request(test::local_record(web.get(), 200));  // e.g. answered without an upstream
  auto samples = parse_prom_text(reg.render());
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_requests", web_labels), 2.0);
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_request_duration_seconds_count",
                         web_labels), 2.0);
  for (const char* h : {"connect", "header", "response"}) {
    EXPECT_EQ(sample_value(samples,
                           std::string("nginx_ingress_controller_") + h + "_duration_seconds_count",
                           web_labels), 1.0) << h;
  }
}

// No path of a.example matched: the built-in default backend's labels (all empty) with the
// host, which a rule names (see metric_switches_test.cpp for hosts no rule names).
TEST_F(metrics_test, default_backend_reports_empty_route_labels_and_the_named_host) {
  worker_observer w(reg, opts, 0);
  w.on_snapshot(*snap);
  w.on_request(test::local_record(nullptr, 404));
  auto samples = parse_prom_text(reg.render());
  std::map<std::string, std::string> want = {{"namespace", ""},  {"ingress", ""},
                                             {"service", ""},    {"host", "a.example"},
                                             {"path", ""},       {"canary", ""},
                                             {"status", "404"},  {"method", "GET"}};
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_requests", want), 1.0);
  EXPECT_TRUE(find_samples(samples, "nginx_ingress_controller_connect_duration_seconds_count", want)
                  .empty());
}

TEST_F(metrics_test, unknown_methods_share_one_series) {
  worker_observer w(reg, opts, 0);
  w.on_snapshot(*snap);
  for (const char* m : {"BREW", "PROPFIND", "X"}) {
    auto rec = test::upstream_record(web.get());
    rec.method = m;
    w.on_request(rec);
  }
  auto want = web_labels;
  want["method"] = "OTHER";
  auto samples = parse_prom_text(reg.render());
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_requests", want), 3.0);
}

TEST_F(metrics_test, publish_sets_reload_status_hash_and_build_time) {
  reg.on_publish(*snap, 0.25, true);
  auto samples = parse_prom_text(reg.render());
  std::map<std::string, std::string> ctl = {{"controller_namespace", "ingress"},
                                            {"controller_class", "k8s.io/ingress-nginx"},
                                            {"controller_pod", "portico-abc"}};
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_config_hash", ctl), 42.0);
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_config_last_reload_successful", ctl), 1.0);
  EXPECT_GT(*sample_value(samples,
                          "nginx_ingress_controller_config_last_reload_successful_timestamp_seconds",
                          ctl), 1.7e9);
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_success", ctl), 1.0);
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_errors", ctl), 0.0);
  EXPECT_EQ(sample_value(samples, "portico_snapshot_build_seconds", ctl), 0.25);
  auto info = find_samples(samples, "nginx_ingress_controller_build_info", ctl);
  ASSERT_EQ(info.size(), 1u);
  EXPECT_EQ(info[0].value, 1.0);
  EXPECT_TRUE(info[0].labels.contains("release"));
  EXPECT_TRUE(info[0].labels.contains("build"));
  EXPECT_TRUE(info[0].labels.contains("repository"));

  reg.on_reload_failed();
  samples = parse_prom_text(reg.render());
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_config_last_reload_successful", ctl), 0.0);
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_errors", ctl), 1.0);
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_config_hash", ctl), 42.0);
}

TEST_F(metrics_test, leader_election_status_follows_set_leader) {
  auto samples = parse_prom_text(reg.render());
  EXPECT_TRUE(find_samples(samples, "nginx_ingress_controller_leader_election_status", {}).empty());
  reg.set_leader(true, "portico-leader");
  samples = parse_prom_text(reg.render());
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_leader_election_status",
                         {{"name", "portico-leader"}, {"controller_pod", "portico-abc"}}), 1.0);
  reg.set_leader(false, "portico-leader");
  samples = parse_prom_text(reg.render());
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_leader_election_status",
                         {{"name", "portico-leader"}}), 0.0);
}

TEST_F(metrics_test, worker_gauges_are_summed_at_scrape) {
  worker_observer w1(reg, opts, 0), w2(reg, opts, 1);
  worker_gauges extra;
  reg.add_worker_gauges(&extra);
  w1.gauges().client_connections.store(3);
  w2.gauges().client_connections.store(2);
  extra.client_connections.store(1);
  w1.gauges().tunnels.store(1);
  w2.gauges().pooled_upstream_connections.store(7);
  w1.gauges().ejected_endpoints.store(2);
  auto samples = parse_prom_text(reg.render());
  EXPECT_EQ(sample_value(samples, "portico_client_connections", {}), 6.0);
  EXPECT_EQ(sample_value(samples, "portico_tunnels", {}), 1.0);
  EXPECT_EQ(sample_value(samples, "portico_pooled_upstream_connections", {}), 7.0);
  EXPECT_EQ(sample_value(samples, "portico_ejected_endpoints", {}), 2.0);
}

TEST_F(metrics_test, series_of_a_deleted_route_disappear_after_publish_and_resume_when_back) {
  worker_observer w(reg, opts, 0);
  reg.on_publish(*snap, 0.1, true);
  w.on_snapshot(*snap);
  w.on_request(test::upstream_record(web.get()));

  auto other = test::make_route(0, "default", "other", "other-svc", "b.example", "/");
  auto without = test::make_snapshot({other}, 43);
  reg.on_publish(*without, 0.1, true);
  w.on_snapshot(*without);
  auto samples = parse_prom_text(reg.render());
  EXPECT_TRUE(find_samples(samples, "nginx_ingress_controller_requests", {{"ingress", "web"}}).empty());

  auto again = test::make_snapshot({other, test::make_route(1, "default", "web", "web-svc",
                                                            "a.example", "/api")}, 44);
  reg.on_publish(*again, 0.1, true);
  w.on_snapshot(*again);
  w.on_request(test::upstream_record(again->routes()[1].get()));
  samples = parse_prom_text(reg.render());
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_requests", web_labels), 2.0);
}

TEST_F(metrics_test, label_values_are_escaped_in_the_exposition) {
  auto odd = test::make_route(0, "default", "web", "web-svc", "a.example", "/a\"b\\c");
  auto s = test::make_snapshot({odd});
  worker_observer w(reg, opts, 0);
  w.on_snapshot(*s);
  w.on_request(test::upstream_record(odd.get()));
  auto samples = parse_prom_text(reg.render());
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_requests", {{"path", "/a\"b\\c"}}), 1.0);
}

}  // namespace
}  // namespace portico::proxy

#include "proxy/process_stats.hpp"

namespace portico::proxy {
namespace {

TEST_F(metrics_test, process_families_feed_ingress_nginx_dashboards) {
  worker_observer w(reg, opts, 0);
  w.on_snapshot(*snap);
  w.gauges().client_connections.store(4);
  w.on_request(test::upstream_record(web.get()));
  w.on_request(test::local_record(nullptr, 404));
  auto samples = parse_prom_text(reg.render());
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_nginx_process_connections",
                         {{"state", "active"}, {"controller_pod", "portico-abc"}}), 4.0);
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_nginx_process_requests_total", {}), 2.0);
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_nginx_process_num_procs", {}), 1.0);
  EXPECT_GT(*sample_value(samples, "nginx_ingress_controller_nginx_process_resident_memory_bytes",
                          {{"controller_class", "k8s.io/ingress-nginx"}}), 1e5);
  EXPECT_GE(*sample_value(samples, "nginx_ingress_controller_nginx_process_cpu_seconds_total", {}), 0.0);
  EXPECT_GT(*sample_value(samples, "nginx_ingress_controller_nginx_process_oldest_start_time_seconds",
                          {}), 1.7e9);
}

TEST(process_stats, parses_proc_stat_with_an_awkward_command_name) {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
  // utime stime cutime cstime priority nice threads itrealvalue starttime vsize rss ...
  std::string stat =
      "42 (a) b (c)) S 1 42 42 0 -1 4194304 10 0 0 0 250 150 0 0 20 0 3 0 1000 "
      "123456789 300 18446744073709551615 1 2 3 0 0";
  auto s = parse_proc_stat(stat, 1'700'000'000, 100, 4096);
  ASSERT_TRUE(s);
  EXPECT_DOUBLE_EQ(s->cpu_seconds, 4.0);
  EXPECT_DOUBLE_EQ(s->start_time_seconds, 1'700'000'010.0);
  EXPECT_EQ(s->virtual_bytes, 123456789u);
  EXPECT_EQ(s->resident_bytes, 300u * 4096);
  EXPECT_FALSE(parse_proc_stat("42 (x) S 1 2", 0, 100, 4096));
  EXPECT_FALSE(parse_proc_stat("no parenthesis", 0, 100, 4096));
}

}  // namespace
}  // namespace portico::proxy
