// upstream-hash-by (chash and chashsubset) and load-balance ewma in the balancer, and the
// hash key built from request variables.
#include <gtest/gtest.h>

#include <boost/beast/http/field.hpp>

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "proxy/balancer.hpp"
#include "proxy/phases.hpp"

using namespace portico;
using namespace portico::proxy;
using namespace std::chrono_literals;

namespace {

config::cluster make(const std::string& id, int endpoints) {
  config::cluster c;
  c.id = id;
  c.upstream_name = id;
  for (int i = 0; i < endpoints; ++i)
    c.endpoints.push_back({"10.1.0." + std::to_string(i + 1), 80, "", true});
  c.version = static_cast<std::uint64_t>(endpoints);
  return c;
}

health_options opts() { return {3, 5000ms, 20000ms}; }

TEST(hash_by, the_same_key_always_reaches_the_same_endpoint) {
  balancer b1(opts(), 1), b2(opts(), 99);  // two workers agree
  auto c = make("ns/web:80", 5);
  std::set<std::string> used;
  for (int i = 0; i < 200; ++i) {
    const std::string key = "/item/" + std::to_string(i);
    auto a = b1.pick_hash(c, key, 0, {});
    EXPECT_EQ(a, b1.pick_hash(c, key, 0, {}));
    EXPECT_EQ(a->key, b2.pick_hash(c, key, 0, {})->key);
    used.insert(a->key);
  }
  EXPECT_EQ(used.size(), 5u);
}

TEST(hash_by, removing_an_endpoint_moves_only_its_keys) {
  balancer b(opts(), 1);
  auto five = make("ns/a:80", 5);
  auto four = make("ns/b:80", 4);  // the same endpoints but the fifth
  int moved = 0, on_fifth = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string key = "k" + std::to_string(i);
    auto before = b.pick_hash(five, key, 0, {});
    auto after = b.pick_hash(four, key, 0, {});
    if (before->key == "10.1.0.5:80") ++on_fifth;
    else if (before->key != after->key) ++moved;
  }
  EXPECT_EQ(moved, 0);  // keys of the remaining endpoints stay where they were
  EXPECT_GT(on_fifth, 2000 / 5 / 2);
  EXPECT_LT(on_fifth, 2000 / 5 * 2);
}

TEST(hash_by, a_retry_goes_to_another_endpoint) {
  balancer b(opts(), 1);
  auto c = make("ns/web:80", 3);
  tried_set tried;
  auto first = b.pick_hash(c, "key", 0, tried);
  tried.add(first.get());
  auto second = b.pick_hash(c, "key", 0, tried);
  EXPECT_NE(first, second);
  EXPECT_EQ(second, b.pick_hash(c, "key", 0, tried));  // deterministic too
}

TEST(hash_by, subsets_keep_a_key_within_its_subset) {
  balancer b(opts(), 5);
  auto c = make("ns/web:80", 7);  // subsets of 3: {1,2,3} {4,5,6} {7,1,2}
  const std::vector<std::set<std::string>> sets = {
      {"10.1.0.1:80", "10.1.0.2:80", "10.1.0.3:80"},
      {"10.1.0.4:80", "10.1.0.5:80", "10.1.0.6:80"},
      {"10.1.0.7:80", "10.1.0.1:80", "10.1.0.2:80"}};
  std::set<std::size_t> subsets_used;
  for (int i = 0; i < 100; ++i) {
    const std::string key = "user" + std::to_string(i);
    std::set<std::string> seen;
    for (int j = 0; j < 30; ++j) seen.insert(b.pick_hash(c, key, 3, {})->key);
    std::size_t which = sets.size();
    for (std::size_t s = 0; s < sets.size(); ++s) {
      bool inside = true;
      for (const auto& k : seen) inside = inside && sets[s].count(k);
      if (inside) which = s;
    }
    ASSERT_LT(which, sets.size()) << key;
    EXPECT_GT(seen.size(), 1u) << key;  // random within the subset
    subsets_used.insert(which);
  }
  EXPECT_EQ(subsets_used.size(), 3u);
}

TEST(ewma, prefers_the_faster_endpoint_and_forgets_slowly) {
  balancer b(opts(), 3);
  auto c = make("ns/web:80", 2);
  const auto t0 = steady_time{} + 1h;
  auto slow = b.pick(c, {}, t0);
  auto fast = b.pick(c, {}, t0);
  ASSERT_NE(slow, fast);
  balancer::observe_ewma(*slow, 0.200, t0);
  balancer::observe_ewma(*fast, 0.010, t0);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(b.pick_ewma(c, {}, t0 + 1s), fast);
  // A retry never picks the endpoint already tried.
  tried_set tried;
  tried.add(fast.get());
  EXPECT_EQ(b.pick_ewma(c, tried, t0 + 1s), slow);
  // Decay: 10 s time constant.
  EXPECT_NEAR(balancer::ewma_score(*slow, t0 + 10s), 0.200 * std::exp(-1.0), 1e-9);
  balancer::observe_ewma(*slow, 0.0, t0 + 10s);
  EXPECT_NEAR(slow->ewma, 0.200 * std::exp(-1.0), 1e-9);
}

TEST(ewma, new_endpoints_start_at_the_average) {
  balancer b(opts(), 3);
  auto c = make("ns/web:80", 3);
  const auto t0 = steady_time{} + 1h;
  std::vector<std::shared_ptr<endpoint_state>> eps;
  for (int i = 0; i < 3; ++i) eps.push_back(b.pick(c, {}, t0));
  balancer::observe_ewma(*eps[0], 0.100, t0);
  balancer::observe_ewma(*eps[1], 0.300, t0);
  // eps[2] has no sample: it scores 0.2, so it wins against eps[1] and loses to eps[0].
  std::map<std::string, int> n;
  for (int i = 0; i < 300; ++i) n[b.pick_ewma(c, {}, t0)->key]++;
  EXPECT_EQ(n[eps[1]->key], 0);
  EXPECT_GT(n[eps[0]->key], n[eps[2]->key]);
  EXPECT_GT(n[eps[2]->key], 0);
}

TEST(hash_key, nginx_variables) {
  using K = config::hash_part::kind;
  const std::vector<std::pair<std::string, std::string>> fields = {
      {"Host", "Shop.Test:8080"}, {"X-User", "alice"}, {"Cookie", "a=1; sid=xyz"}};
  message_head h;
  for (const auto& [n, v] : fields) h.fields.push_back({boost::beast::http::string_to_field(n), n, v});
  const hash_inputs in{"/a/../b?id=7&x=1", "/b", "Shop.Test:8080", "192.0.2.1", "GET", true, "", "8443"};
  std::string out;
  auto key = [&](std::vector<config::hash_part> parts) {
    hash_key(parts, h, in, out);
    return out;
  };
  EXPECT_EQ(key({{K::request_uri, ""}}), "/a/../b?id=7&x=1");
  EXPECT_EQ(key({{K::uri, ""}}), "/b");
  EXPECT_EQ(key({{K::args, ""}}), "id=7&x=1");
  EXPECT_EQ(key({{K::remote_addr, ""}}), "192.0.2.1");
  EXPECT_EQ(key({{K::host, ""}, {K::literal, "|"}, {K::scheme, ""}, {K::method, ""}}),
            "shop.test|httpsGET");
  EXPECT_EQ(key({{K::http, "x-user"}, {K::literal, "-"}, {K::cookie, "sid"}, {K::literal, "-"},
                 {K::arg, "id"}, {K::arg, "none"}}),
            "alice-xyz-7");
  EXPECT_EQ(key({{K::server_port, ""}, {K::literal, "|"}, {K::pass_access_scheme, ""}}), "8443|https");
  hash_inputs fwd = in;
  fwd.pass_scheme = "http";  // a trusted X-Forwarded-Proto wins over the connection's scheme
  hash_key({{K::pass_access_scheme, ""}, {K::is_args, ""}}, h, fwd, out);
  EXPECT_EQ(out, "http?");
}

TEST(rate_allowance, nginx_limit_rate_arithmetic) {
  // 100 KiB/s after 50 KiB: at the start one second of credit plus the free part.
  EXPECT_DOUBLE_EQ(rate_allowance(102400, 51200, 0.0, 0), 153600.0);
  EXPECT_DOUBLE_EQ(rate_allowance(102400, 51200, 0.0, 153600), 0.0);
  EXPECT_DOUBLE_EQ(rate_allowance(102400, 51200, 1.5, 153600), 153600.0);
  EXPECT_LT(rate_allowance(1024, 0, 0.5, 4096), 0.0);  // ahead of its rate: wait
  // A 300,000-byte response at 100 KiB/s after 50 KiB is allowed out at 1.43 s.
  EXPECT_NEAR((300000.0 - 51200.0) / 102400.0 - 1.0, 1.43, 0.01);
  EXPECT_GE(rate_allowance(102400, 51200, 1.43, 300000), 0.0);
  EXPECT_LT(rate_allowance(102400, 51200, 1.40, 300000), 0.0);
  EXPECT_DOUBLE_EQ(rate_allowance(1000, 0, -3.0, 0), 1000.0);  // a clock step back: no credit lost
}

}  // namespace
