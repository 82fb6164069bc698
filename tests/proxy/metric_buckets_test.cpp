// ingress-nginx's --time-buckets and --length-buckets (parse_buckets, bucket_bounds), and the
// exposition text the scrape writes from pre-rendered label sets.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "proxy/metric_shards.hpp"
#include "proxy/metrics.hpp"
#include "tests/proxy/observe_fixtures.hpp"
#include "tests/proxy/prom_text.hpp"

namespace portico::proxy {
namespace {

using test::find_samples;
using test::parse_prom_text;
using test::sample_value;

const std::string prefix = "nginx_ingress_controller_";

std::vector<double> parse(std::vector<std::string> values) {
  return parse_buckets("--time-buckets", values);
}

// The message of the std::invalid_argument parse_buckets throws, "" when it accepts.
std::string refusal(std::vector<std::string> values) {
  try {
    parse_buckets("--length-buckets", values);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(parse_buckets, reads_comma_separated_numbers_as_ingress_nginx_does) {
  EXPECT_EQ(parse({"0.005,0.01,0.025"}), (std::vector<double>{0.005, 0.01, 0.025}));
  EXPECT_EQ(parse({"10, 100 ,1e+06"}), (std::vector<double>{10, 100, 1e6}));
  EXPECT_EQ(parse({"-1,+2,3E2"}), (std::vector<double>{-1, 2, 300}));
  // The flag given twice appends (pflag's Float64Slice after its first Set).
  EXPECT_EQ(parse({"1,2", "3"}), (std::vector<double>{1, 2, 3}));
}

TEST(parse_buckets, a_last_inf_is_dropped_as_the_inf_bucket_is_implicit) {
  EXPECT_EQ(parse({"1,2,+Inf"}), (std::vector<double>{1, 2}));
  EXPECT_EQ(parse({"1,inf"}), (std::vector<double>{1}));
  EXPECT_TRUE(parse({"+Inf"}).empty());  // one bucket: +Inf
  EXPECT_EQ(parse({"-Inf,0"}), (std::vector<double>{-std::numeric_limits<double>::infinity(), 0}));
}

TEST(parse_buckets, refuses_what_client_golang_or_strconv_would_refuse) {
  EXPECT_NE(refusal({""}).find("--length-buckets: '' has an empty item"), std::string::npos);
  EXPECT_NE(refusal({"1,,2"}).find("'1,,2' has an empty item"), std::string::npos);
  EXPECT_NE(refusal({"1,"}).find("has an empty item"), std::string::npos);
  EXPECT_NE(refusal({"10,ten"}).find("'ten' is not a number"), std::string::npos);
  EXPECT_NE(refusal({"1s"}).find("'1s' is not a number"), std::string::npos);
  EXPECT_NE(refusal({"++1"}).find("is not a number"), std::string::npos);
  EXPECT_NE(refusal({"NaN"}).find("'NaN' is not a bucket bound"), std::string::npos);
  EXPECT_NE(refusal({"1,3,2"}).find("'2' is not above the bound before it"), std::string::npos);
  EXPECT_NE(refusal({"1,1"}).find("'1' is not above"), std::string::npos);
  EXPECT_NE(refusal({"5", "1"}).find("'1' is not above"), std::string::npos);
  EXPECT_NE(refusal({"1,+Inf,2"}).find("'2' is not above"), std::string::npos);
  EXPECT_EQ(refusal({"1,2,3"}), "");
}

TEST(bucket_bounds, an_observation_on_a_bound_falls_in_that_bound_s_bucket) {
  bucket_bounds b(default_time_buckets);
  EXPECT_EQ(b.index(0), 0u);
  EXPECT_EQ(b.index(0.005), 0u);  // le is "less than or equal"
  EXPECT_EQ(b.index(0.0051), 1u);
  EXPECT_EQ(b.index(10), 10u);
  EXPECT_EQ(b.index(10.5), 11u);  // +Inf
  EXPECT_EQ(bucket_bounds().index(42), 0u);
}

TEST(bucket_bounds, the_binary_search_of_long_lists_agrees_with_a_scan) {
  std::vector<double> upper;
  for (int i = 0; i < 40; ++i) upper.push_back(0.5 * i * i);
  bucket_bounds b(upper);
  for (double v = -1; v < 800; v += 0.25) {
    std::size_t want = 0;
    while (want < upper.size() && v > upper[want]) ++want;
    ASSERT_EQ(b.index(v), want) << v;
  }
}

struct rig {
  explicit rig(server_options o) : opts(std::move(o)), reg(opts), w(reg, opts, 0) {
    w.on_snapshot(*snap);
    reg.on_publish(*snap, 0.1, true);
  }
  server_options opts;
  metrics_registry reg;
  std::shared_ptr<const config::route> web =
      test::make_route(0, "default", "web", "web-svc", "a.example", "/api");
  config::snapshot_ptr snap = test::make_snapshot({web});
  worker_observer w;
};

server_options with_buckets(std::vector<double> time, std::vector<double> length) {
  server_options o;
  o.access_log = false;
  o.time_buckets = std::move(time);
  o.length_buckets = std::move(length);
  return o;
}

std::vector<std::string> les(const std::vector<test::prom_sample>& samples,
                             const std::string& name) {
  std::vector<std::string> out;
  for (const auto& s : find_samples(samples, name + "_bucket", {{"ingress", "web"}}))
    out.push_back(s.labels.at("le"));
  return out;
}

TEST(metric_buckets, time_buckets_bound_the_four_duration_histograms) {
  rig r(with_buckets({0.1, 1, 60}, {1000, 1e6}));
  for (double seconds : {0.05, 0.1, 0.5, 2.0, 100.0})
    r.w.on_request(test::upstream_record(r.web.get(), 200, seconds));
  auto samples = parse_prom_text(r.reg.render());
  for (const char* family : {"request_duration_seconds", "response_duration_seconds",
                             "connect_duration_seconds", "header_duration_seconds"})
    EXPECT_EQ(les(samples, prefix + family),
              (std::vector<std::string>{"0.1", "1", "60", "+Inf"}))
        << family;
  auto bucket = [&](const std::string& le) {
    return sample_value(samples, prefix + "request_duration_seconds_bucket",
                        {{"ingress", "web"}, {"le", le}});
  };
  EXPECT_EQ(bucket("0.1"), 2.0);  // 0.05 and 0.1 (on the bound)
  EXPECT_EQ(bucket("1"), 3.0);
  EXPECT_EQ(bucket("60"), 4.0);
  EXPECT_EQ(bucket("+Inf"), 5.0);
  EXPECT_EQ(sample_value(samples, prefix + "request_duration_seconds_count", {{"ingress", "web"}}),
            5.0);
  // header = seconds / 2 (the fixture): 0.025, 0.05, 0.25, 1, 50.
  EXPECT_EQ(sample_value(samples, prefix + "header_duration_seconds_bucket",
                         {{"ingress", "web"}, {"le", "1"}}),
            4.0);
}

TEST(metric_buckets, length_buckets_bound_request_and_response_size) {
  rig r(with_buckets({1}, {1000, 1e6}));
  for (std::uint64_t bytes : {10u, 1000u, 5000u, 2000000u}) {
    auto rec = test::upstream_record(r.web.get());
    rec.request_bytes = bytes;
    rec.response_bytes = bytes;
    r.w.on_request(rec);
  }
  auto samples = parse_prom_text(r.reg.render());
  for (const char* family : {"request_size", "response_size"}) {
    // 1e6 is written as prometheus-cpp writes doubles (%.16g): 1000000.
    EXPECT_EQ(les(samples, prefix + family),
              (std::vector<std::string>{"1000", "1000000", "+Inf"}))
        << family;
    auto bucket = [&](const std::string& le) {
      return sample_value(samples, prefix + family + "_bucket", {{"ingress", "web"}, {"le", le}});
    };
    EXPECT_EQ(bucket("1000"), 2.0) << family;
    EXPECT_EQ(bucket("1000000"), 3.0) << family;
    EXPECT_EQ(bucket("+Inf"), 4.0) << family;
  }
}

TEST(metric_buckets, only_an_inf_bucket_when_the_list_was_just_inf) {
  rig r(with_buckets({}, {}));
  r.w.on_request(test::upstream_record(r.web.get()));
  auto samples = parse_prom_text(r.reg.render());
  EXPECT_EQ(les(samples, prefix + "request_duration_seconds"), (std::vector<std::string>{"+Inf"}));
  EXPECT_EQ(les(samples, prefix + "response_size"), (std::vector<std::string>{"+Inf"}));
  EXPECT_EQ(sample_value(samples, prefix + "response_size_count", {{"ingress", "web"}}), 1.0);
}

// The exact text of one series, as prometheus-cpp's TextSerializer wrote it before the
// request families were written from pre-rendered labels: label order (alphabetical, le
// last), escaping of \, " and line feed in values, numbers as %.16g, the +Inf bucket.
TEST(metric_exposition, one_series_is_written_as_the_text_format_0_0_4) {
  server_options o = with_buckets({0.5}, {100});
  o.controller_namespace = "ns";
  o.controller_class = "k8s.io/ingress-nginx";
  o.controller_pod = "pod\"1";
  metrics_registry reg(o);
  worker_observer w(reg, o, 0);
  auto route = test::make_route(0, "default", "web", "web-svc", "a.example", "/a\\b\nc");
  auto snap = test::make_snapshot({route});
  w.on_snapshot(*snap);
  reg.on_publish(*snap, 0.1, true);
  auto rec = test::upstream_record(route.get(), 201, 0.25);
  rec.method = "PATCH";
  rec.request_bytes = 150;
  w.on_request(rec);
  w.on_request(rec);
  const std::string text = reg.render();
  const std::string labels =
      "canary=\"\",controller_class=\"k8s.io/ingress-nginx\",controller_namespace=\"ns\","
      "controller_pod=\"pod\\\"1\",host=\"a.example\",ingress=\"web\",method=\"PATCH\","
      "namespace=\"default\",path=\"/a\\\\b\\nc\",service=\"web-svc\",status=\"201\"";
  const std::string requests =
      "# HELP nginx_ingress_controller_requests The total number of client requests\n"
      "# TYPE nginx_ingress_controller_requests counter\n"
      "nginx_ingress_controller_requests{" + labels + "} 2\n";
  EXPECT_NE(text.find(requests), std::string::npos) << text.substr(0, 4000);
  const std::string n = "nginx_ingress_controller_request_size";
  const std::string size =
      "# HELP " + n + " The request length (including request line, header, and request body)\n"
      "# TYPE " + n + " histogram\n" +
      n + "_count{" + labels + "} 2\n" +
      n + "_sum{" + labels + "} 300\n" +
      n + "_bucket{" + labels + ",le=\"100\"} 0\n" +
      n + "_bucket{" + labels + ",le=\"+Inf\"} 2\n";
  EXPECT_NE(text.find(size), std::string::npos);
  const std::string d = "nginx_ingress_controller_request_duration_seconds";
  EXPECT_NE(text.find(d + "_sum{" + labels + "} 0.5\n" + d + "_bucket{" + labels +
                      ",le=\"0.5\"} 2\n"),
            std::string::npos);
}

// A second scrape writes into the buffer the first one's text was given back in, and says
// the same thing.
TEST(metric_exposition, a_recycled_buffer_gives_the_same_text) {
  rig r(with_buckets({0.1, 1}, {100}));
  r.w.on_request(test::upstream_record(r.web.get()));
  std::string first = r.reg.render();
  const std::string copy = first;
  r.reg.recycle(std::move(first));
  std::string second = r.reg.render();
  // Only the process gauges (CPU seconds, memory) may differ between the two.
  auto request_lines = [](const std::string& t) {
    return t.substr(0, t.find("# HELP nginx_ingress_controller_nginx_process_connections"));
  };
  EXPECT_EQ(request_lines(second), request_lines(copy));
  EXPECT_NE(request_lines(second).find("nginx_ingress_controller_requests{"), std::string::npos);
}

}  // namespace
}  // namespace portico::proxy
