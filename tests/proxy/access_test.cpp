// The access phases: source lists, CORS origin matching and headers, basic credentials and
// password hashes (the fixtures were made by the real tools: htpasswd -B/-m/-s/-d, openssl
// passwd -1/-5/-6).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "config/htpasswd.hpp"
#include "config/ip_set.hpp"
#include "proxy/basic_auth.hpp"
#include "proxy/phases.hpp"

namespace portico::proxy {
namespace {

config::route route_with(std::shared_ptr<config::route_policy> p) {
  config::route r;
  r.policy = std::move(p);
  return r;
}

unsigned access_status(const config::route& r, std::string_view ip) {
  request_view req{"GET", "a.test", "/", "/", false, 443, ip};
  local_answer out;
  return access_phase(r, req, out) == phase_result::answered ? out.status : 0;
}

TEST(access_phase, deny_first_then_allow) {
  auto p = std::make_shared<config::route_policy>();
  auto allow = std::make_shared<config::ip_set>();
  auto deny = std::make_shared<config::ip_set>();
  ASSERT_TRUE(config::add_ip_list("127.0.0.0/24, ::1", *allow).empty());
  ASSERT_TRUE(config::add_ip_list("127.0.0.9", *deny).empty());
  p->source.allow = allow;
  p->source.deny = deny;
  auto r = route_with(p);
  EXPECT_EQ(access_status(r, "127.0.0.2"), 0u);
  EXPECT_EQ(access_status(r, "::1"), 0u);
  EXPECT_EQ(access_status(r, "127.0.0.9"), 403u);  // in both: denied
  EXPECT_EQ(access_status(r, "127.0.1.2"), 403u);
  EXPECT_EQ(access_status(r, ""), 403u);
  p->source.allow = nullptr;
  EXPECT_EQ(access_status(r, "127.0.1.2"), 0u);  // no allow-list: everyone not denied
  p->denied = "a protection is not applied";
  EXPECT_EQ(access_status(r, "127.0.0.2"), 503u);
}

config::cors_policy origins(std::initializer_list<const char*> list) {
  config::cors_policy c;
  c.enabled = true;
  c.any_origin = false;
  for (auto o : list) c.origins.emplace_back(o);
  return c;
}

// ingress-nginx's e2e cases (test/e2e/annotations/cors.go), whole-origin matches.
TEST(cors, origin_matching_table) {
  struct row {
    const char* origin;
    bool allowed;
  };
  const auto c = origins({"https://origin.cors.com:8080", "http://*.origin.cors.com",
                          "http://*.origin.com:8080", "null"});
  for (const row& t : std::initializer_list<row>{
           {"https://origin.cors.com:8080", true},
           {"HTTPS://ORIGIN.CORS.COM:8080", true},
           {"https://origin.cors.com", false},       // the port is required
           {"https://origin.cors.com:8081", false},
           {"http://origin.cors.com:8080", false},   // the scheme too
           {"http://foo.origin.cors.com", true},
           {"http://bar-foo.origin.cors.com", true},
           {"http://bar.foo.origin.cors.com", false},  // one label only
           {"http://.origin.cors.com", false},
           {"http://foo.origin.com:8080", true},
           {"http://foo.origin.com", false},         // wildcard with a port: the port is required
           {"https://fooxorigin.cors.com:8080", false},
           {"xhttps://origin.cors.com:8080", false},  // the whole origin, not a suffix
           {"https://origin.cors.com:8080x", false},
           {"null", true},
           {"", false},
       })
    EXPECT_EQ(cors_origin_allowed(c, t.origin), t.allowed) << t.origin;
}

TEST(cors, headers_echo_the_origin_or_say_star) {
  std::vector<std::pair<std::string_view, std::string_view>> h;
  config::cors_policy any;
  any.enabled = true;
  ASSERT_TRUE(cors_phase(any, "", h));
  ASSERT_EQ(h.size(), 5u);
  EXPECT_EQ(h[0], (std::pair<std::string_view, std::string_view>{"Access-Control-Allow-Origin", "*"}));
  EXPECT_EQ(h[1].first, "Access-Control-Allow-Credentials");
  EXPECT_EQ(h[4], (std::pair<std::string_view, std::string_view>{"Access-Control-Max-Age", "1728000"}));
  h.clear();
  auto list = origins({"https://a.test"});
  list.credentials = false;
  list.expose = "X-Total";
  EXPECT_FALSE(cors_phase(list, "https://b.test", h));
  EXPECT_TRUE(h.empty());
  ASSERT_TRUE(cors_phase(list, "https://A.test", h));
  EXPECT_EQ(h[0].second, "https://A.test");  // echoed as sent
  for (const auto& [n, v] : h) EXPECT_NE(n, "Access-Control-Allow-Credentials");
  EXPECT_EQ(h.back().first, "Access-Control-Max-Age");
  EXPECT_EQ(h[h.size() - 2], (std::pair<std::string_view, std::string_view>{"Access-Control-Expose-Headers", "X-Total"}));
  h.clear();
  list.enabled = false;
  EXPECT_FALSE(cors_phase(list, "https://a.test", h));
}

TEST(basic_credentials, parsing) {
  std::string u, p;
  ASSERT_TRUE(parse_basic_credentials("Basic YWxpY2U6czNjcmV0", u, p));  // alice:s3cret
  EXPECT_EQ(u, "alice");
  EXPECT_EQ(p, "s3cret");
  ASSERT_TRUE(parse_basic_credentials("  basic   Y2Fyb2w6cGE6c3M=  ", u, p));  // carol:pa:ss
  EXPECT_EQ(u, "carol");
  EXPECT_EQ(p, "pa:ss");
  ASSERT_TRUE(parse_basic_credentials("Basic OnB3", u, p));  // ":pw": an empty user
  EXPECT_EQ(u, "");
  for (auto bad : {"", "Basic", "Basic ", "Bearer YWxpY2U6czNjcmV0", "BasicYWxpY2U6czNjcmV0",
                   "Basic YWxpY2U", "Basic YWxpY2U6czNjcmV0!", "Basic bm9jb2xvbg=="})
    EXPECT_FALSE(parse_basic_credentials(bad, u, p)) << bad;
}

TEST(password_hashes, every_format_verifies_and_refuses) {
  struct row {
    const char* hash;
    const char* password;
  };
  for (const row& t : std::initializer_list<row>{
           {"$2y$05$TKxfqWbcOTjrsY6r23OI8urgkcAynUxDgDVYncohKMyLD3Lnilb..", "s3cret"},
           {"$2y$04$x37euyaoW.ohemYXxfRKCORVJOBH5w8vsBhzQ9yJJUj1bgrtwhZni", "fast"},
           {"$apr1$M90gfCBV$lcGgMnR8NYdQi7MDRKrbx/", "hunter2"},
           {"{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68=", "pa:ss"},
           {"9EyXsyVbLyVu.", "crypted"},
           {"$1$abcdefgh$7.lm.6ee9.UHlcakym0SR.", "one"},
           {"$5$abcdefgh$cpouTZng4DxeErYcbTqYmTV05bcExGOAVGy40uuBSZ0", "five"},
           {"$6$abcdefgh$RuHMAEAY4rhIgrNJMoDyPk49qTV66r6Tjlt3Vg1bkAsQhskGOXluw1ZCkWpc.oOlVD2BoVsAOHbhVn3F9Jb/x/",
            "six"},
           {"$y$j9T$F5Jx5fExrKuPp53xLKQ..1$rcY.sqsUoG/SGw/FPteloCsldYkxZWdAV7MUEZonz53", "yes"},
       }) {
    EXPECT_TRUE(password_matches(t.password, t.hash)) << t.hash;
    EXPECT_FALSE(password_matches(std::string(t.password) + "x", t.hash)) << t.hash;
    EXPECT_FALSE(password_matches("", t.hash)) << t.hash;
  }
  EXPECT_FALSE(password_matches("s3cret", "$2y$05$TKxfqWbcOTjrsY6r23OI8u"));  // truncated hash
  EXPECT_FALSE(password_matches(std::string("s3cret\0x", 8), "$2y$05$TKxfqWbcOTjrsY6r23OI8urgkcAynUxDgDVYncohKMyLD3Lnilb.."));
}

TEST(credential_cache, verifies_caches_successes_and_follows_the_current_hash) {
  config::htpasswd users;
  users.users = {{"alice", "$2y$04$x37euyaoW.ohemYXxfRKCORVJOBH5w8vsBhzQ9yJJUj1bgrtwhZni"}};  // "fast"
  credential_cache cache;
  const std::string ok = "Basic YWxpY2U6ZmFzdA==";  // alice:fast
  EXPECT_TRUE(cache.verify(users, ok));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_TRUE(cache.verify(users, ok));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_FALSE(cache.verify(users, "Basic YWxpY2U6c2xvdw=="));  // alice:slow
  EXPECT_EQ(cache.size(), 1u);  // failures are not cached
  EXPECT_FALSE(cache.verify(users, "Basic Ym9iOmZhc3Q="));  // bob:fast, no such user
  // The password changed in the Secret: the cached success no longer applies.
  users.users[0].second = "$apr1$M90gfCBV$lcGgMnR8NYdQi7MDRKrbx/";  // "hunter2"
  EXPECT_FALSE(cache.verify(users, ok));
  EXPECT_TRUE(cache.verify(users, "Basic YWxpY2U6aHVudGVyMg=="));  // alice:hunter2
  users.users.clear();  // the user was removed
  EXPECT_FALSE(cache.verify(users, "Basic YWxpY2U6aHVudGVyMg=="));
}

}  // namespace
}  // namespace portico::proxy
