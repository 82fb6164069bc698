#include "proxy/balancer.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

using namespace portico;
using namespace portico::proxy;
using namespace std::chrono_literals;

namespace {

config::cluster make_cluster(std::initializer_list<std::uint16_t> ports, std::uint64_t version = 1) {
  config::cluster c;
  c.id = "default/web:80";
  c.version = version;
  for (auto p : ports) c.endpoints.push_back(config::endpoint{"127.0.0.1", p, "", true});
  return c;
}

health_options opts() { return {3, 5000ms, 20000ms}; }

}  // namespace

TEST(balancer, round_robin_visits_every_endpoint_evenly) {
  balancer b(opts(), 42);
  auto c = make_cluster({1, 2, 3});
  std::map<std::string, int> seen;
  const auto now = steady_time{} + 1h;
  for (int i = 0; i < 30; ++i) seen[b.pick(c, {}, now)->key]++;
  ASSERT_EQ(seen.size(), 3u);
  for (auto& [k, n] : seen) EXPECT_EQ(n, 10) << k;
}

TEST(balancer, workers_start_at_different_places) {
  auto c = make_cluster({1, 2, 3, 4, 5, 6, 7, 8});
  std::set<std::string> firsts;
  for (std::uint64_t seed = 1; seed <= 16; ++seed) {
    balancer b(opts(), seed * 7919);
    firsts.insert(b.pick(c, {}, steady_time{})->key);
  }
  EXPECT_GT(firsts.size(), 1u);
}

TEST(balancer, skips_tried_endpoints) {
  balancer b(opts(), 1);
  auto c = make_cluster({1, 2});
  tried_set tried;
  auto first = b.pick(c, tried, steady_time{});
  tried.add(first.get());
  auto second = b.pick(c, tried, steady_time{});
  EXPECT_NE(first->key, second->key);
}

TEST(balancer, ejects_after_consecutive_failures_and_returns_by_itself) {
  balancer b(opts(), 3);
  auto c = make_cluster({1, 2});
  auto now = steady_time{} + 1h;
  auto bad = b.pick(c, {}, now);
  EXPECT_FALSE(b.on_failure(*bad, now));
  EXPECT_FALSE(b.on_failure(*bad, now));
  EXPECT_TRUE(b.on_failure(*bad, now));
  EXPECT_EQ(b.ejected_count(now), 1u);
  for (int i = 0; i < 10; ++i) EXPECT_NE(b.pick(c, {}, now)->key, bad->key);
  // Back after eject_base.
  EXPECT_EQ(b.ejected_count(now + 5001ms), 0u);
  std::set<std::string> later;
  for (int i = 0; i < 4; ++i) later.insert(b.pick(c, {}, now + 5001ms)->key);
  EXPECT_EQ(later.size(), 2u);
}

TEST(balancer, ejection_backoff_doubles_up_to_the_cap_and_success_resets_it) {
  balancer b(opts(), 3);
  auto c = make_cluster({1});
  auto now = steady_time{} + 1h;
  auto ep = b.pick(c, {}, now);
  auto eject = [&] {
    for (int i = 0; i < 3; ++i) b.on_failure(*ep, now);
    return ep->ejected_until - now;
  };
  EXPECT_EQ(eject(), 5000ms);
  EXPECT_EQ(eject(), 10000ms);
  EXPECT_EQ(eject(), 20000ms);
  EXPECT_EQ(eject(), 20000ms);  // capped
  b.on_success(*ep);
  EXPECT_EQ(eject(), 5000ms);
}

TEST(balancer, all_ejected_still_answers) {
  balancer b(opts(), 3);
  auto c = make_cluster({1});
  auto now = steady_time{} + 1h;
  auto ep = b.pick(c, {}, now);
  for (int i = 0; i < 3; ++i) b.on_failure(*ep, now);
  EXPECT_EQ(b.pick(c, {}, now)->key, ep->key);
}

TEST(balancer, state_survives_a_snapshot_swap) {
  balancer b(opts(), 3);
  auto now = steady_time{} + 1h;
  auto c1 = make_cluster({1, 2}, 1);
  auto bad = b.pick(c1, {}, now);
  for (int i = 0; i < 3; ++i) b.on_failure(*bad, now);
  // Same cluster id, new endpoint list (one added): the ejection is kept.
  auto c2 = make_cluster({1, 2, 3}, 2);
  for (int i = 0; i < 9; ++i) EXPECT_NE(b.pick(c2, {}, now)->key, bad->key);
}

TEST(balancer, empty_cluster_has_no_pick) {
  balancer b(opts(), 3);
  config::cluster c;
  c.id = "x";
  EXPECT_EQ(b.pick(c, {}, steady_time{}), nullptr);
}

TEST(balancer, ipv6_endpoint_key) {
  EXPECT_EQ(endpoint_key(config::endpoint{"fd00::1", 8080, "", true}), "[fd00::1]:8080");
  EXPECT_EQ(endpoint_key(config::endpoint{"10.0.0.1", 80, "", true}), "10.0.0.1:80");
}
