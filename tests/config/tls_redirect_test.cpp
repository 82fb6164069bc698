// route::ssl_redirect: on by default for hosts with TLS configured (ingress-nginx redirects per
// server), off with ssl-redirect "false", forced by force-ssl-redirect "true"; bad values are
// named errors with the default applied; the config hash follows the flag.
#include <gtest/gtest.h>

#include "config/tls_annotations.hpp"
#include "state_fixture.hpp"
#include "tls_test_certs.hpp"

namespace portico::config {
namespace {

using testing::make_cert_for;
using testing::tls_ingress;
using testing::tls_now;
using testing::tls_secret;

constexpr const char* t1 = "2024-01-01T00:00:00Z";
constexpr const char* t2 = "2024-02-01T00:00:00Z";
const std::string ssl_redirect = "nginx.ingress.kubernetes.io/ssl-redirect";
const std::string force = "nginx.ingress.kubernetes.io/force-ssl-redirect";

build_result build_of(const std::string& ingresses, const std::vector<secret>& secrets = {}) {
  auto st = testing::state_from_yaml(std::string(testing::our_class) + testing::tls_services +
                                     ingresses);
  for (const auto& s : secrets) st.upsert(s);
  build_options o;
  o.now = tls_now;
  return build(st, o);
}

bool redirects(const build_result& r, std::string_view host, std::string_view path = "/") {
  const route* rt = r.snap->find(host, path);
  EXPECT_TRUE(rt) << host;
  return rt && rt->ssl_redirect;
}

TEST(tls_redirect, tls_host_redirects_by_default_plain_host_does_not) {
  auto r = build_of(tls_ingress("ns", "tls", t1, {"secure.com"}, {{{"secure.com"}, "s"}}) +
                        tls_ingress("ns", "plain", t1, {"plain.com"}, {}),
                    {tls_secret("ns", "s", make_cert_for({"secure.com"}))});
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  EXPECT_TRUE(redirects(r, "secure.com"));
  EXPECT_FALSE(redirects(r, "plain.com"));
}

TEST(tls_redirect, broken_secret_still_redirects_to_the_default_certificate) {
  // As ingress-nginx: the host is a TLS server either way (it falls back to the default
  // certificate); the broken Secret is reported, not silently downgraded to plain HTTP.
  auto r = build_of(tls_ingress("ns", "tls", t1, {"secure.com"}, {{{"secure.com"}, "missing"}}));
  EXPECT_TRUE(redirects(r, "secure.com"));
}

TEST(tls_redirect, ssl_redirect_false_turns_it_off_for_that_ingress_only) {
  auto r = build_of(
      tls_ingress("ns", "off", t1, {"secure.com"}, {{{"secure.com"}, "s"}},
                  {{ssl_redirect, "false"}}) +
          tls_ingress("ns", "on", t1, {"other.com"}, {{{"other.com"}, "s"}}),
      {tls_secret("ns", "s", make_cert_for({"secure.com", "other.com"}))});
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  EXPECT_FALSE(redirects(r, "secure.com"));
  EXPECT_TRUE(redirects(r, "other.com"));
}

TEST(tls_redirect, force_ssl_redirect_without_tls_section) {
  auto r = build_of(tls_ingress("ns", "forced", t1, {"plain.com"}, {}, {{force, "true"}}) +
                    tls_ingress("ns", "anyhost", t1, {""}, {}, {{force, "True"}}, "b"));
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  EXPECT_TRUE(redirects(r, "plain.com"));
  EXPECT_TRUE(redirects(r, "unknown.example"));  // the host-less rule of "anyhost"
}

TEST(tls_redirect, force_wins_over_ssl_redirect_false) {
  auto r = build_of(tls_ingress("ns", "i", t1, {"a.com"}, {{{"a.com"}, "s"}},
                                {{ssl_redirect, "false"}, {force, "true"}}),
                    {tls_secret("ns", "s", make_cert_for({"a.com"}))});
  EXPECT_TRUE(redirects(r, "a.com"));
}

TEST(tls_redirect, host_with_tls_from_an_older_ingress_redirects_paths_of_a_younger_one) {
  // ingress-nginx decides per server (host): every location of a TLS host redirects.
  std::string younger = tls_ingress("ns", "api", t2, {"shop.com"}, {}, {}, "b");
  younger.replace(younger.find("- path: /"), 9, "- path: /api");
  auto r = build_of(tls_ingress("ns", "web", t1, {"shop.com"}, {{{"shop.com"}, "s"}}) + younger,
                    {tls_secret("ns", "s", make_cert_for({"shop.com"}))});
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  EXPECT_TRUE(redirects(r, "shop.com", "/"));
  EXPECT_TRUE(redirects(r, "shop.com", "/api"));
  EXPECT_EQ(testing::target(*r.snap, "shop.com", "/api"), "ns/api b:80");
}

TEST(tls_redirect, wildcard_tls_host_covers_matching_rule_hosts_of_other_ingresses) {
  auto r = build_of(tls_ingress("ns", "wild", t1, {"a.shop.com"}, {{{"*.shop.com"}, "w"}}) +
                        tls_ingress("ns", "b", t1, {"b.shop.com", "shop.com"}, {}),
                    {tls_secret("ns", "w", make_cert_for({"*.shop.com"}))});
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  EXPECT_TRUE(redirects(r, "a.shop.com"));
  EXPECT_TRUE(redirects(r, "b.shop.com"));
  EXPECT_FALSE(redirects(r, "shop.com"));
}

TEST(tls_redirect, bad_boolean_is_an_error_and_the_default_applies) {
  auto r = build_of(tls_ingress("ns", "i", t1, {"a.com"}, {{{"a.com"}, "s"}},
                                {{ssl_redirect, "nope"}, {force, "yes"}}),
                    {tls_secret("ns", "s", make_cert_for({"a.com"}))});
  ASSERT_EQ(r.errors.size(), 2u) << testing::errors_text(r.errors);
  EXPECT_EQ(r.errors[0].field, "metadata.annotations[nginx.ingress.kubernetes.io/ssl-redirect]");
  EXPECT_NE(r.errors[0].message.find("\"nope\""), std::string::npos);
  EXPECT_EQ(r.errors[1].field,
            "metadata.annotations[nginx.ingress.kubernetes.io/force-ssl-redirect]");
  EXPECT_TRUE(redirects(r, "a.com"));  // ssl-redirect defaults to true, force to false
}

TEST(tls_redirect, default_backend_route_never_redirects) {
  std::string y = tls_ingress("ns", "i", t1, {"a.com"}, {{{"a.com"}, "s"}}, {{force, "true"}});
  y.replace(y.find("  rules:"), 0,
            "  defaultBackend: {service: {name: b, port: {number: 80}}}\n");
  auto r = build_of(y, {tls_secret("ns", "s", make_cert_for({"a.com"}))});
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  const route* d = r.snap->find("unknown.com", "/");
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->is_default_backend);
  EXPECT_FALSE(d->ssl_redirect);
  EXPECT_TRUE(redirects(r, "a.com"));
}

TEST(tls_redirect, config_hash_changes_with_the_flag) {
  std::vector<secret> s = {tls_secret("ns", "s", make_cert_for({"a.com"}))};
  auto on = build_of(tls_ingress("ns", "i", t1, {"a.com"}, {{{"a.com"}, "s"}}), s);
  auto off = build_of(tls_ingress("ns", "i", t1, {"a.com"}, {{{"a.com"}, "s"}},
                                  {{ssl_redirect, "false"}}), s);
  EXPECT_NE(on.snap->hash(), off.snap->hash());
}

TEST(tls_redirect, parse_bool_text_accepts_what_ingress_nginx_accepts) {
  for (const char* t : {"true", "True", "TRUE", "t", "T", "1"}) EXPECT_EQ(parse_bool_text(t), true);
  for (const char* f : {"false", "False", "FALSE", "f", "F", "0"}) {
    EXPECT_EQ(parse_bool_text(f), false);
  }
  for (const char* bad : {"", "yes", "on", "tRuE", " true"}) EXPECT_FALSE(parse_bool_text(bad));
}

}  // namespace
}  // namespace portico::config
