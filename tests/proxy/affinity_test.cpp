// The pick backend phase (canary precedence, affinity cookies) and the balancer's sticky
// picks, checked against ingress-nginx's rules (rootfs/etc/nginx/lua/balancer.lua,
// balancer/sticky*.lua, util/nodemap.lua) written out here as plain cases.
#include <gtest/gtest.h>

#include <boost/beast/http/field.hpp>
#include <re2/re2.h>

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

// A request head over `fields` (views into them: `fields` must outlive it).
message_head head(const std::vector<std::pair<std::string, std::string>>& fields) {
  message_head h;
  for (const auto& [n, v] : fields)
    h.fields.push_back({boost::beast::http::string_to_field(n), n, v});
  return h;
}

std::shared_ptr<config::cluster> cluster(const std::string& svc, int endpoints) {
  auto c = std::make_shared<config::cluster>();
  c->id = "ns/" + svc + ":80";
  c->namespace_name = "ns";
  c->service_name = svc;
  c->service_port = "80";
  c->upstream_name = "ns-" + svc + "-80";
  c->affinity_key = config::md5_hex(config::md5_hex(c->upstream_name) + c->upstream_name);
  for (int i = 0; i < endpoints; ++i)
    c->endpoints.push_back({"10.0." + std::to_string(svc.size()) + "." + std::to_string(i + 1),
                            8080, "", true});
  c->version = static_cast<std::uint64_t>(endpoints) * 131 + svc.size();
  return c;
}

struct fixture {
  config::route r;
  std::shared_ptr<config::route_policy> main_policy = std::make_shared<config::route_policy>();
  std::shared_ptr<config::route_policy> canary_policy = std::make_shared<config::route_policy>();
  std::shared_ptr<config::canary_route> canary = std::make_shared<config::canary_route>();

  fixture() {
    r.path = "/";
    r.backend = cluster("main", 3);
    canary->backend = cluster("canary", 2);
    canary->upstream_name = "ns-canary-80";
    canary_policy->canary.enabled = true;
    canary->policy = canary_policy;
    r.policy = main_policy;
    r.canary = canary;
  }
  // Whether the canary takes a request with `fields`, for a weight draw `random`.
  bool to_canary(const std::vector<std::pair<std::string, std::string>>& fields,
                 std::uint64_t random = 0) {
    auto h = head(fields);
    backend_pick p;
    pick_backend_phase(r, h, random, p);
    EXPECT_EQ(p.cluster, p.canary ? canary->backend.get() : r.backend.get());
    return p.canary != nullptr;
  }
};

TEST(pick_backend, header_always_never_then_cookie_then_weight) {
  fixture f;
  auto& c = f.canary_policy->canary;
  c.header = "X-Canary";
  c.cookie = "canary";
  c.weight = 0;
  EXPECT_FALSE(f.to_canary({}));
  EXPECT_TRUE(f.to_canary({{"x-canary", "always"}}));  // header names match in any case
  EXPECT_FALSE(f.to_canary({{"X-Canary", "never"}}));
  // The header decides before the cookie.
  EXPECT_FALSE(f.to_canary({{"X-Canary", "never"}, {"Cookie", "canary=always"}}));
  EXPECT_TRUE(f.to_canary({{"X-Canary", "always"}, {"Cookie", "canary=never"}}));
  // Another header value falls through to the cookie, then to the weight.
  EXPECT_TRUE(f.to_canary({{"X-Canary", "maybe"}, {"Cookie", "a=1; canary=always"}}));
  EXPECT_FALSE(f.to_canary({{"X-Canary", "maybe"}, {"Cookie", "canary=never"}}));
  EXPECT_FALSE(f.to_canary({{"Cookie", "canary=sometimes"}}));
  c.weight = 100;
  EXPECT_TRUE(f.to_canary({{"Cookie", "canary=sometimes"}}));
  EXPECT_FALSE(f.to_canary({{"Cookie", "canary=never"}}));
  EXPECT_FALSE(f.to_canary({{"X-Canary", "never"}}));
}

TEST(pick_backend, header_value_and_pattern) {
  fixture f;
  auto& c = f.canary_policy->canary;
  c.header = "X-Region";
  c.header_value = "eu-west";
  EXPECT_TRUE(f.to_canary({{"X-Region", "eu-west"}}));
  EXPECT_FALSE(f.to_canary({{"X-Region", "always"}}));  // only the value counts then
  EXPECT_FALSE(f.to_canary({{"X-Region", "eu-west-2"}}));
  c.header_value.clear();
  c.header_pattern = "^eu-.*";
  c.pattern = std::make_shared<const re2::RE2>(c.header_pattern);
  EXPECT_TRUE(f.to_canary({{"X-Region", "eu-north"}}));
  EXPECT_FALSE(f.to_canary({{"X-Region", "us-east"}}));
  c.header_pattern = "north";  // a search, not a full match (ngx.re.match)
  c.pattern = std::make_shared<const re2::RE2>(c.header_pattern);
  EXPECT_TRUE(f.to_canary({{"X-Region", "eu-north-1"}}));
}

TEST(pick_backend, weight_is_a_draw_out_of_the_total) {
  fixture f;
  auto& c = f.canary_policy->canary;
  // math.random(total) <= weight: draws 1..total; the phase maps random to random % total + 1.
  c.weight = 30;
  int hits = 0;
  for (std::uint64_t i = 0; i < 100; ++i) hits += f.to_canary({}, i) ? 1 : 0;
  EXPECT_EQ(hits, 30);
  c.weight_total = 1000;
  hits = 0;
  for (std::uint64_t i = 0; i < 1000; ++i) hits += f.to_canary({}, i) ? 1 : 0;
  EXPECT_EQ(hits, 30);
  c.weight_total = 10;  // below 100 counts as 100, as in ingress-nginx
  hits = 0;
  for (std::uint64_t i = 0; i < 100; ++i) hits += f.to_canary({}, i) ? 1 : 0;
  EXPECT_EQ(hits, 30);
}

TEST(pick_backend, an_affinity_cookie_keeps_the_client_on_its_backend) {
  fixture f;
  f.main_policy->affinity.enabled = true;
  f.canary_policy->canary.weight = 100;
  const std::string to_main = "INGRESSCOOKIE=k1|" + f.r.backend->affinity_key;
  const std::string to_canary = "INGRESSCOOKIE=k2|" + f.canary->backend->affinity_key;
  EXPECT_FALSE(f.to_canary({{"Cookie", to_main}}));  // weight 100, but tied to main
  f.canary_policy->canary.weight = 0;
  EXPECT_TRUE(f.to_canary({{"Cookie", to_canary}}));  // weight 0, but tied to the canary
  EXPECT_FALSE(f.to_canary({{"Cookie", "INGRESSCOOKIE=k3|unknown"}}));

  const std::vector<std::pair<std::string, std::string>> fields = {{"Cookie", to_canary}};
  auto h = head(fields);
  backend_pick p;
  pick_backend_phase(f.r, h, 0, p);
  EXPECT_EQ(p.sticky_key, "k2");
  EXPECT_EQ(p.affinity, &f.main_policy->affinity);  // sticky behaviour: the main's affinity

  // affinity-canary-behavior "legacy": the canary has only its own affinity (none here).
  f.canary_policy->affinity.canary_legacy = true;
  EXPECT_FALSE(f.to_canary({{"Cookie", to_canary}}));
}

TEST(pick_backend, without_a_canary_the_cookie_key_is_passed_on) {
  fixture f;
  f.r.canary = nullptr;
  f.main_policy->affinity.enabled = true;
  f.main_policy->affinity.cookie_name = "SERVERID";
  const std::vector<std::pair<std::string, std::string>> fields = {
      {"Cookie", "other=1; SERVERID=\"abc|def\""}};
  auto h = head(fields);
  backend_pick p;
  pick_backend_phase(f.r, h, 0, p);
  EXPECT_EQ(p.cluster, f.r.backend.get());
  EXPECT_EQ(p.sticky_key, "abc");
  const std::vector<std::pair<std::string, std::string>> lower = {{"Cookie", "serverid=abc"}};
  auto none = head(lower);  // cookie names are case-sensitive here
  pick_backend_phase(f.r, none, 0, p);
  EXPECT_EQ(p.sticky_key, "");
}

TEST(affinity_cookie, attributes_in_ingress_nginx_order) {
  config::affinity_policy a;
  a.enabled = true;
  std::string out;
  affinity_cookie(a, "k", "b", "/app", false, "", 0, out);
  EXPECT_EQ(out, "INGRESSCOOKIE=k|b; Path=/app; HttpOnly");
  affinity_cookie(a, "k", "b", "/app", true, "", 0, out);
  EXPECT_EQ(out, "INGRESSCOOKIE=k|b; Path=/app; Secure; HttpOnly");
  a.expires = "172800";
  a.max_age = "259200";
  a.domain = "foo.bar";
  a.path = "/p";
  a.secure = true;
  a.samesite = "Lax";
  affinity_cookie(a, "k", "b", "/app", false, "", 1'000'000'000, out);
  // 1,000,000,000 s = Sun, 09 Sep 2001 01:46:40 UTC; + 172,800 s (2 days)
  EXPECT_EQ(out,
            "INGRESSCOOKIE=k|b; Expires=Tue, 11-Sep-2001 01:46:40 GMT; Max-Age=259200; "
            "Domain=foo.bar; Path=/p; Secure; HttpOnly; SameSite=Lax");
}

TEST(affinity_cookie, conditional_samesite_none_skips_incompatible_browsers) {
  config::affinity_policy a;
  a.samesite = "None";
  a.conditional_samesite_none = true;
  std::string out;
  const std::string chrome59 =
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/59.0 Safari/537.36";
  const std::string ios12 =
      "Mozilla/5.0 (iPhone; CPU iPhone OS 12_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148";
  const std::string safari_mojave =
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) AppleWebKit/605.1.15 Version/12.1 Safari/605.1.15";
  const std::string chrome120 =
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
  for (const auto& ua : {chrome59, ios12, safari_mojave}) {
    affinity_cookie(a, "k", "b", "/", false, ua, 0, out);
    EXPECT_EQ(out.find("SameSite"), std::string::npos) << ua;
  }
  affinity_cookie(a, "k", "b", "/", false, chrome120, 0, out);
  EXPECT_NE(out.find("; SameSite=None"), std::string::npos);
  a.conditional_samesite_none = false;
  affinity_cookie(a, "k", "b", "/", false, chrome59, 0, out);
  EXPECT_NE(out.find("; SameSite=None"), std::string::npos);
}

health_options opts() { return {3, 5000ms, 20000ms}; }

TEST(sticky, persistent_keys_are_ingress_nginx_nodemap_keys) {
  balancer b(opts(), 7);
  auto c = cluster("main", 3);
  for (const auto& e : c->endpoints) {
    // util/nodemap.lua: ngx.md5(salt .. endpoint), salt = the backend (upstream) name.
    const std::string key = config::md5_hex(c->upstream_name + e.ip + ":8080");
    auto ep = b.pick_sticky(*c, true, key);
    ASSERT_NE(ep, nullptr);
    EXPECT_EQ(ep->key, e.ip + ":8080");
  }
  EXPECT_EQ(b.pick_sticky(*c, true, "0123"), nullptr);
  EXPECT_EQ(b.pick_sticky(*c, true, ""), nullptr);
}

TEST(sticky, a_new_pick_names_its_endpoint_and_avoids_tried_ones) {
  for (bool persistent : {true, false}) {
    balancer b(opts(), 11);
    auto c = cluster("main", 3);
    std::set<std::string> seen;
    for (int i = 0; i < 60; ++i) {
      std::string key;
      auto ep = b.pick_new_sticky(*c, persistent, {}, steady_time{}, key);
      ASSERT_NE(ep, nullptr);
      EXPECT_EQ(b.pick_sticky(*c, persistent, key), ep) << persistent << " " << key;
      seen.insert(ep->key);
    }
    EXPECT_EQ(seen.size(), 3u) << persistent;  // new clients spread over the endpoints
    tried_set tried;
    std::string key;
    auto first = b.pick_new_sticky(*c, persistent, tried, steady_time{}, key);
    tried.add(first.get());
    for (int i = 0; i < 20; ++i) {
      auto next = b.pick_new_sticky(*c, persistent, tried, steady_time{}, key);
      EXPECT_NE(next, first) << persistent;
    }
  }
}

TEST(sticky, balanced_keys_move_little_when_an_endpoint_is_added) {
  balancer b(opts(), 3);
  auto before = cluster("main", 8);
  auto after = cluster("main", 9);
  after->id = "ns/main-after:80";  // a separate balancer state for the grown cluster
  int moved = 0;
  std::map<std::string, int> load;
  const int keys = 4000;
  for (int i = 0; i < keys; ++i) {
    const std::string k = "client-" + std::to_string(i);
    auto a = b.pick_sticky(*before, false, k);
    auto z = b.pick_sticky(*after, false, k);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(z, nullptr);
    if (a->key != z->key) ++moved;
    load[a->key]++;
  }
  // Ideal: 1/9 of the keys move (to the new endpoint); a modulo hash would move 8/9.
  EXPECT_GT(moved, keys / 20);
  EXPECT_LT(moved, keys / 5);
  ASSERT_EQ(load.size(), 8u);
  for (const auto& [k, n] : load) {
    EXPECT_GT(n, keys / 8 / 2) << k;  // within 2x of an even share
    EXPECT_LT(n, keys / 8 * 2) << k;
  }
}

}  // namespace
