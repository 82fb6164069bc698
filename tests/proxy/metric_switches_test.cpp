// The request metrics' cardinality switches (ingress-nginx's --metrics-per-host,
// --metrics-per-undefined-host, --report-status-classes, --exclude-socket-metrics): which
// label sets and families a scrape writes.
#include <gtest/gtest.h>

#include <stdexcept>

#include "proxy/metric_shards.hpp"
#include "proxy/metrics.hpp"
#include "tests/proxy/observe_fixtures.hpp"
#include "tests/proxy/prom_text.hpp"

namespace portico::proxy {
namespace {

using test::find_samples;
using test::parse_prom_text;
using test::prom_sample;
using test::sample_value;

const std::string requests = "nginx_ingress_controller_requests";

server_options quiet() {
  server_options o;
  o.access_log = false;
  return o;
}

proxy::request_record unrouted(std::string_view host, unsigned status = 404) {
  proxy::request_record rec = test::local_record(nullptr, status);
  rec.host = host;
  return rec;
}

// One registry and one worker on a Snapshot with Ingress default/web for a.example/api and
// default/other for b.example/api.
struct rig {
  explicit rig(server_options o) : opts(std::move(o)), reg(opts), w(reg, opts, 0) {
    w.on_snapshot(*snap);
    reg.on_publish(*snap, 0.1, true);
  }
  std::vector<prom_sample> scrape() { return parse_prom_text(reg.render()); }

  server_options opts;
  metrics_registry reg;
  std::shared_ptr<const config::route> web =
      test::make_route(0, "default", "web", "web-svc", "a.example", "/api");
  std::shared_ptr<const config::route> other =
      test::make_route(1, "default", "web", "web-svc", "b.example", "/api");
  config::snapshot_ptr snap = test::make_snapshot({web, other});
  worker_observer w;
};

std::size_t with_label(const std::vector<prom_sample>& samples, const std::string& label) {
  std::size_t n = 0;
  for (const auto& s : samples)
    if (s.labels.contains(label)) ++n;
  return n;
}

TEST(metric_switches, defaults_hide_the_default_backend_for_hosts_no_rule_names) {
  rig r(quiet());
  r.w.on_request(unrouted("unknown.example"));
  r.w.on_request(unrouted("unknown.example"));
  r.w.on_request(unrouted(""));
  r.w.on_request(unrouted("A.Example:8080"));  // a named host, no path matched
  auto samples = r.scrape();
  auto all = find_samples(samples, requests, {});
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].labels.at("host"), "a.example");
  EXPECT_EQ(all[0].labels.at("ingress"), "");
  EXPECT_EQ(all[0].value, 1.0);
  EXPECT_TRUE(find_samples(samples, "nginx_ingress_controller_request_duration_seconds_count",
                           {{"host", "unknown.example"}}).empty());
  // Still counted among every request nginx's stub_status would see.
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_nginx_process_requests_total", {}),
            4.0);
}

TEST(metric_switches, a_host_stops_being_labelled_once_no_rule_names_it) {
  rig r(quiet());
  auto only_b = test::make_snapshot({r.other}, 2);
  r.w.on_snapshot(*only_b);
  r.w.on_request(unrouted("a.example"));
  r.w.on_request(unrouted("b.example"));
  auto samples = r.scrape();
  EXPECT_TRUE(find_samples(samples, requests, {{"host", "a.example"}}).empty());
  EXPECT_EQ(sample_value(samples, requests, {{"host", "b.example"}, {"ingress", ""}}), 1.0);
}

TEST(metric_switches, per_undefined_host_labels_every_host_the_default_backend_answers) {
  server_options o = quiet();
  o.metrics_per_undefined_host = true;
  rig r(o);
  r.w.on_request(unrouted("Unknown.Example:8080"));
  r.w.on_request(unrouted("unknown.example."));
  r.w.on_request(unrouted("x.test", 400));
  r.w.on_request(unrouted(""));
  auto samples = r.scrape();
  const std::map<std::string, std::string> empty_route = {
      {"namespace", ""}, {"ingress", ""}, {"service", ""}, {"path", ""}, {"canary", ""}};
  auto unknown = empty_route;
  unknown["host"] = "unknown.example";
  EXPECT_EQ(sample_value(samples, requests, unknown), 2.0);
  auto x = empty_route;
  x["host"] = "x.test";
  x["status"] = "400";
  EXPECT_EQ(sample_value(samples, requests, x), 1.0);
  auto none = empty_route;
  none["host"] = "";
  EXPECT_EQ(sample_value(samples, requests, none), 1.0);
  EXPECT_EQ(find_samples(samples, requests, {}).size(), 3u);
}

TEST(metric_switches, without_per_host_no_series_has_a_host_label_and_hosts_are_summed) {
  server_options o = quiet();
  o.metrics_per_host = false;
  rig r(o);
  r.w.on_request(test::upstream_record(r.web.get()));
  r.w.on_request(test::upstream_record(r.other.get()));
  r.w.on_request(test::upstream_record(r.other.get()));
  r.w.on_request(unrouted("unknown.example"));
  auto samples = r.scrape();
  EXPECT_EQ(with_label(samples, "host"), 0u);  // absent, not host=""
  EXPECT_EQ(sample_value(samples, requests, {{"ingress", "web"}, {"path", "/api"}}), 3.0);
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_request_duration_seconds_count",
                         {{"ingress", "web"}}), 3.0);
  // Hosts no rule names are exported then, as ingress-nginx does without per-host metrics.
  EXPECT_EQ(sample_value(samples, requests, {{"ingress", ""}, {"status", "404"}}), 1.0);
  EXPECT_EQ(find_samples(samples, requests, {}).size(), 2u);
  // ... and the live-route filter still knows the routes under their host-less labels.
  EXPECT_EQ(find_samples(samples, "nginx_ingress_controller_response_size_count", {}).size(), 2u);
}

TEST(metric_switches, status_classes_sum_codes_of_one_class) {
  server_options o = quiet();
  o.report_status_classes = true;
  rig r(o);
  r.w.on_request(test::upstream_record(r.web.get(), 200));
  r.w.on_request(test::upstream_record(r.web.get(), 204));
  r.w.on_request(test::upstream_record(r.web.get(), 503));
  r.w.on_request(unrouted("a.example", 404));
  auto samples = r.scrape();
  EXPECT_EQ(sample_value(samples, requests, {{"ingress", "web"}, {"status", "2xx"}}), 2.0);
  EXPECT_EQ(sample_value(samples, requests, {{"ingress", "web"}, {"status", "5xx"}}), 1.0);
  EXPECT_EQ(sample_value(samples, requests, {{"ingress", ""}, {"status", "4xx"}}), 1.0);
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_request_duration_seconds_count",
                         {{"ingress", "web"}, {"status", "2xx"}}), 2.0);
  EXPECT_EQ(find_samples(samples, requests, {}).size(), 3u);
  EXPECT_TRUE(find_samples(samples, requests, {{"status", "200"}}).empty());
}

TEST(metric_switches, status_codes_by_default) {
  rig r(quiet());
  r.w.on_request(test::upstream_record(r.web.get(), 200));
  r.w.on_request(test::upstream_record(r.web.get(), 204));
  auto samples = r.scrape();
  EXPECT_EQ(sample_value(samples, requests, {{"status", "200"}}), 1.0);
  EXPECT_EQ(sample_value(samples, requests, {{"status", "204"}}), 1.0);
}

TEST(metric_switches, excluded_families_are_neither_declared_nor_sampled) {
  server_options o = quiet();
  o.exclude_socket_metrics = {"nginx_ingress_controller_request_size", "header_duration_seconds",
                              "no_such_metric"};
  rig r(o);
  r.w.on_request(test::upstream_record(r.web.get()));
  std::string text = r.reg.render();
  auto samples = parse_prom_text(text);
  for (const std::string name : {"nginx_ingress_controller_request_size",
                                 "nginx_ingress_controller_header_duration_seconds"}) {
    EXPECT_EQ(text.find("# TYPE " + name + " "), std::string::npos) << name;
    EXPECT_TRUE(find_samples(samples, name + "_count", {}).empty()) << name;
    EXPECT_TRUE(find_samples(samples, name + "_bucket", {}).empty()) << name;
  }
  for (const std::string name : {"nginx_ingress_controller_response_size",
                                 "nginx_ingress_controller_request_duration_seconds",
                                 "nginx_ingress_controller_connect_duration_seconds"})
    EXPECT_EQ(sample_value(samples, name + "_count", {{"ingress", "web"}}), 1.0) << name;
  EXPECT_EQ(sample_value(samples, requests, {{"ingress", "web"}}), 1.0);
}

TEST(metric_switches, excluding_the_counter_keeps_the_histograms) {
  server_options o = quiet();
  o.exclude_socket_metrics = {"requests"};
  rig r(o);
  r.w.on_request(test::upstream_record(r.web.get()));
  std::string text = r.reg.render();
  auto samples = parse_prom_text(text);
  EXPECT_EQ(text.find("# TYPE nginx_ingress_controller_requests "), std::string::npos);
  EXPECT_TRUE(find_samples(samples, requests, {}).empty());
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_request_size_count", {}), 1.0);
  EXPECT_EQ(sample_value(samples, "nginx_ingress_controller_nginx_process_requests_total", {}),
            1.0);
}

TEST(metric_switches, resolve_accepts_ingress_nginx_names_and_lists_the_others) {
  server_options o;
  o.exclude_socket_metrics = {"nginx_ingress_controller_requests", "response_size",
                              "nginx_ingress_controller_bytes_sent",
                              "ingress_upstream_latency_seconds", "nginx_ingress_controller_typo",
                              "nginx_ingress_controller_success"};
  std::vector<std::string> ignored;
  metric_options m = resolve_metric_options(o, &ignored);
  EXPECT_TRUE(m.family_excluded(0));
  EXPECT_TRUE(m.family_excluded(6));
  for (std::size_t i = 1; i < 6; ++i) EXPECT_FALSE(m.family_excluded(i)) << i;
  EXPECT_EQ(ignored, (std::vector<std::string>{"nginx_ingress_controller_typo",
                                               "nginx_ingress_controller_success"}));
  EXPECT_TRUE(m.per_host);
  EXPECT_FALSE(m.per_undefined_host);
  EXPECT_FALSE(m.status_classes);
}

TEST(metric_switches, per_undefined_host_without_per_host_is_refused) {
  server_options o;
  o.metrics_per_host = false;
  o.metrics_per_undefined_host = true;
  EXPECT_THROW(resolve_metric_options(o), std::invalid_argument);
  o.metrics_per_undefined_host = false;
  EXPECT_NO_THROW(resolve_metric_options(o));
}

}  // namespace
}  // namespace portico::proxy
