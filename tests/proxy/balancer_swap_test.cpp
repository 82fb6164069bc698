// Snapshot swaps in the balancer: only changed clusters are refreshed, health state of kept
// endpoints survives, endpoints nothing uses are forgotten, clusters no request used cost
// nothing.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "proxy/balancer.hpp"

using namespace portico;
using namespace portico::proxy;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<const config::cluster> make_cluster(const std::string& id,
                                                    std::initializer_list<std::uint16_t> ports) {
  auto c = std::make_shared<config::cluster>();
  c->id = id;
  for (auto p : ports) c->endpoints.push_back(config::endpoint{"127.0.0.1", p, "", true});
  c->version = 0;
  for (auto p : ports) c->version = c->version * 131 + p + 1;
  return c;
}

config::snapshot make_snapshot(std::vector<std::shared_ptr<const config::cluster>> clusters) {
  return config::snapshot({}, std::move(clusters), nullptr, 0);
}

std::set<std::string> keys_of(balancer& b, const config::cluster& c, steady_time now) {
  std::set<std::string> out;
  for (std::size_t i = 0; i < 2 * c.endpoints.size(); ++i) out.insert(b.pick(c, {}, now)->key);
  return out;
}

struct balancer_swap : ::testing::Test {
  balancer b{{3, 5000ms, 20000ms}, 7};
  upstream_pool pool{4, 60s, nullptr};
  steady_time now = steady_time{} + 1h;
};

TEST_F(balancer_swap, changed_cluster_is_refreshed_and_its_dropped_endpoint_forgotten) {
  auto a1 = make_cluster("ns/a:80", {1, 2});
  auto b1 = make_cluster("ns/b:80", {3});
  b.retain_only(make_snapshot({a1, b1}), pool);
  keys_of(b, *a1, now);
  keys_of(b, *b1, now);
  EXPECT_EQ(b.endpoint_states(), 3u);

  auto a2 = make_cluster("ns/a:80", {2, 4});
  b.retain_only(make_snapshot({a2, b1}), pool);
  EXPECT_EQ(b.endpoint_states(), 3u) << "127.0.0.1:1 forgotten, 127.0.0.1:4 added";
  EXPECT_EQ(keys_of(b, *a2, now), (std::set<std::string>{"127.0.0.1:2", "127.0.0.1:4"}));
}

TEST_F(balancer_swap, health_of_a_kept_endpoint_survives_the_swap) {
  auto a1 = make_cluster("ns/a:80", {1, 2});
  b.retain_only(make_snapshot({a1}), pool);
  std::shared_ptr<endpoint_state> bad;
  while (!bad || bad->key != "127.0.0.1:2") bad = b.pick(*a1, {}, now);
  for (int i = 0; i < 3; ++i) b.on_failure(*bad, now);
  bad.reset();
  EXPECT_EQ(b.ejected_count(now), 1u);

  auto a2 = make_cluster("ns/a:80", {1, 2, 5});
  b.retain_only(make_snapshot({a2}), pool);
  for (int i = 0; i < 9; ++i) EXPECT_NE(b.pick(*a2, {}, now)->key, "127.0.0.1:2");
  EXPECT_EQ(b.ejected_count(now), 1u);
  EXPECT_EQ(b.ejected_count(now + 5001ms), 0u);
}

TEST_F(balancer_swap, removed_cluster_state_is_dropped) {
  auto a = make_cluster("ns/a:80", {1});
  auto c = make_cluster("ns/c:80", {9});
  b.retain_only(make_snapshot({a, c}), pool);
  keys_of(b, *a, now);
  keys_of(b, *c, now);
  EXPECT_EQ(b.cluster_states(), 2u);
  b.retain_only(make_snapshot({a}), pool);
  EXPECT_EQ(b.cluster_states(), 1u);
  EXPECT_EQ(b.endpoint_states(), 1u);
}

TEST_F(balancer_swap, endpoint_shared_by_two_clusters_stays_while_one_lists_it) {
  auto a = make_cluster("ns/a:80", {1});
  auto c = make_cluster("ns/c:80", {1, 2});
  b.retain_only(make_snapshot({a, c}), pool);
  keys_of(b, *a, now);
  keys_of(b, *c, now);
  EXPECT_EQ(b.endpoint_states(), 2u);
  auto a2 = make_cluster("ns/a:80", {3});
  b.retain_only(make_snapshot({a2, c}), pool);
  EXPECT_EQ(b.endpoint_states(), 3u) << "127.0.0.1:1 is still listed by ns/c:80";
  auto c2 = make_cluster("ns/c:80", {2});
  b.retain_only(make_snapshot({a2, c2}), pool);
  EXPECT_EQ(b.endpoint_states(), 2u);
}

TEST_F(balancer_swap, endpoint_held_by_a_request_is_forgotten_after_it_is_released) {
  auto a1 = make_cluster("ns/a:80", {1});
  b.retain_only(make_snapshot({a1}), pool);
  auto held = b.pick(*a1, {}, now);
  b.retain_only(make_snapshot({make_cluster("ns/a:80", {2})}), pool);
  EXPECT_EQ(b.endpoint_states(), 2u) << "the request still holds 127.0.0.1:1";
  EXPECT_EQ(held->key, "127.0.0.1:1");
  held.reset();
  b.retain_only(make_snapshot({make_cluster("ns/a:80", {2})}), pool);
  EXPECT_EQ(b.endpoint_states(), 1u) << "127.0.0.1:1 forgotten once released";
}

TEST_F(balancer_swap, clusters_no_request_used_cost_no_state) {
  std::vector<std::shared_ptr<const config::cluster>> many;
  for (int i = 0; i < 1000; ++i) many.push_back(make_cluster("ns/s" + std::to_string(1000 + i) + ":80", {1, 2, 3}));
  b.retain_only(make_snapshot(many), pool);
  many[500] = make_cluster(many[500]->id, {4});
  b.retain_only(make_snapshot(many), pool);
  EXPECT_EQ(b.cluster_states(), 0u);
  EXPECT_EQ(b.endpoint_states(), 0u);
}

TEST_F(balancer_swap, a_request_on_the_older_snapshot_does_not_lose_endpoints) {
  auto a1 = make_cluster("ns/a:80", {1, 2});
  auto a2 = make_cluster("ns/a:80", {2, 3});
  b.retain_only(make_snapshot({a1}), pool);
  keys_of(b, *a1, now);
  b.retain_only(make_snapshot({a2}), pool);
  // A request pinned to the old Snapshot still picks among the old endpoints.
  EXPECT_EQ(keys_of(b, *a1, now), (std::set<std::string>{"127.0.0.1:1", "127.0.0.1:2"}));
  EXPECT_EQ(keys_of(b, *a2, now), (std::set<std::string>{"127.0.0.1:2", "127.0.0.1:3"}));
  b.retain_only(make_snapshot({a2}), pool);
  EXPECT_EQ(b.endpoint_states(), 2u) << "127.0.0.1:1 forgotten at the next swap";
}

}  // namespace

// A successor that shares every chunk of its cluster list but one (an endpoint-only build,
// config/chunked_ptrs.hpp): the shared chunks are skipped whole, and the changed cluster in
// the written chunk is still refreshed by the swap itself (before any request picks it).
TEST_F(balancer_swap, chunked_successor_refreshes_the_cluster_in_its_written_chunk) {
  std::vector<std::shared_ptr<const config::cluster>> list;
  const std::size_t count = 2 * config::cluster_list::chunk_size + 3;
  for (std::size_t i = 0; i < count; ++i) {
    list.push_back(make_cluster("ns/c" + std::to_string(1000 + i) + ":80",
                                {static_cast<std::uint16_t>(1000 + i)}));
  }
  const config::cluster_list first(list);
  b.retain_only(config::snapshot({}, first, nullptr, 0), pool);
  const std::size_t changed = config::cluster_list::chunk_size + 7;
  keys_of(b, *list[changed], now);
  keys_of(b, *list[0], now);
  EXPECT_EQ(b.endpoint_states(), 2u);

  config::cluster_list next = first;
  auto fresh = make_cluster(list[changed]->id, {2, 3});
  next.set(changed, fresh);
  ASSERT_EQ(next.chunks()[0], first.chunks()[0]);
  ASSERT_NE(next.chunks()[1], first.chunks()[1]);
  b.retain_only(config::snapshot({}, next, nullptr, 0), pool);
  EXPECT_EQ(b.endpoint_states(), 3u) << "the changed cluster's two endpoints and c1000's";
  EXPECT_EQ(keys_of(b, *fresh, now), (std::set<std::string>{"127.0.0.1:2", "127.0.0.1:3"}));
}
