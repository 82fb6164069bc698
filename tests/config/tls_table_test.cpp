// build()'s TLS table: certificates by server name from the served Ingresses' spec.tls, broken
// or missing Secrets isolated to their hosts (null: the default certificate) with named
// errors, the certificate-names-the-host check, entries without hosts, oldest Ingress first,
// --default-ssl-certificate, and certificates reused from the previous Snapshot.
#include <gtest/gtest.h>

#include <algorithm>

#include "config/tls_certificate.hpp"
#include "config/tls_table_builder.hpp"
#include "state_fixture.hpp"
#include "tls_test_certs.hpp"

namespace portico::config {
namespace {

using testing::cert_spec;
using testing::day;
using testing::make_cert;
using testing::make_cert_for;
using testing::tls_entry;
using testing::tls_ingress;
using testing::tls_now;
using testing::tls_secret;

constexpr const char* t1 = "2024-01-01T00:00:00Z";
constexpr const char* t2 = "2024-02-01T00:00:00Z";

cluster_state state_of(const std::string& ingresses, const std::vector<secret>& secrets = {}) {
  auto st = testing::state_from_yaml(std::string(testing::our_class) + testing::tls_services +
                                     ingresses);
  for (const auto& s : secrets) st.upsert(s);
  return st;
}

build_options at_now() {
  build_options o;
  o.now = tls_now;
  return o;
}

const build_error* find_error(const build_result& r, std::string_view kind, std::string_view name,
                              std::string_view field) {
  for (const auto& e : r.errors) {
    if (e.kind == kind && e.name == name && e.field == field) return &e;
  }
  return nullptr;
}

// The Secrets a server name is served with ("ns/a" or "ns/rsa+ns/ec"), or "default".
std::string secret_of(const snapshot& s, std::string_view sni) {
  const tls_certificates* set = s.find_certificates(sni);
  if (!set) return "default";
  std::string out;
  for (const auto& c : *set) out += (out.empty() ? "" : "+") + c->secret;
  return out;
}

TEST(tls_table, listed_hosts_get_their_secret_exact_and_wildcard_by_sni) {
  auto st = state_of(
      tls_ingress("ns", "shop", t1, {"shop.com", "x.api.com"},
                  {{{"Shop.COM"}, "shop-tls"}, {{"*.api.com"}, "api-tls"}}),
      {tls_secret("ns", "shop-tls", make_cert_for({"shop.com"})),
       tls_secret("ns", "api-tls", make_cert_for({"*.api.com"}))});
  auto r = build(st, at_now());
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  const auto& t = r.snap->tls();
  EXPECT_EQ(t.by_host.size(), 3u);
  EXPECT_TRUE(t.by_host.count("shop.com"));  // lower-cased
  EXPECT_TRUE(t.by_host.count("*.api.com"));
  // The rule host the wildcard certificate names is configured too (ingress-nginx's server).
  EXPECT_EQ(t.by_host.at("x.api.com"), t.by_host.at("*.api.com"));
  EXPECT_EQ(secret_of(*r.snap, "SHOP.com"), "ns/shop-tls");
  EXPECT_EQ(secret_of(*r.snap, "v1.api.com"), "ns/api-tls");
  EXPECT_EQ(secret_of(*r.snap, "a.v1.api.com"), "default");
  EXPECT_EQ(secret_of(*r.snap, "other.com"), "default");
  ASSERT_EQ(t.certificates.size(), 2u);
  EXPECT_EQ(t.certificates[0]->secret, "ns/api-tls");
  EXPECT_EQ(t.certificates[1]->secret, "ns/shop-tls");
  EXPECT_FALSE(t.default_cert);
}

TEST(tls_table, missing_secret_maps_its_hosts_to_default_and_names_the_ingress_field) {
  auto st = state_of(tls_ingress("ns", "bad", t1, {"bad.com"}, {{{"bad.com"}, "nope"}}) +
                         tls_ingress("ns", "good", t1, {"good.com"}, {{{"good.com"}, "good-tls"}}),
                     {tls_secret("ns", "good-tls", make_cert_for({"good.com"}))});
  auto r = build(st, at_now());
  ASSERT_EQ(r.errors.size(), 1u) << testing::errors_text(r.errors);
  EXPECT_EQ(r.errors[0].kind, "Ingress");
  EXPECT_EQ(r.errors[0].name, "bad");
  EXPECT_EQ(r.errors[0].field, "spec.tls[0].secretName");
  EXPECT_NE(r.errors[0].message.find("ns/nope not found"), std::string::npos);
  ASSERT_TRUE(r.snap->tls().by_host.count("bad.com"));
  EXPECT_TRUE(r.snap->tls().by_host.at("bad.com").empty());
  EXPECT_EQ(secret_of(*r.snap, "good.com"), "ns/good-tls");
  // The routes of both Ingresses keep serving.
  EXPECT_EQ(testing::target(*r.snap, "bad.com", "/"), "ns/bad a:80");
  EXPECT_EQ(testing::target(*r.snap, "good.com", "/"), "ns/good a:80");
}

TEST(tls_table, broken_secret_is_reported_once_against_the_secret_with_its_reason) {
  auto a = make_cert_for({"a.com", "b.com"});
  auto other = make_cert_for({"a.com"});
  auto st = state_of(tls_ingress("ns", "i1", t1, {"a.com"}, {{{"a.com"}, "mixed"}}) +
                         tls_ingress("ns", "i2", t2, {"b.com"}, {{{"b.com"}, "mixed"}}) +
                         tls_ingress("ns", "i3", t2, {"c.com"}, {{{"c.com"}, "fine"}}),
                     {tls_secret("ns", "mixed", {a.cert_pem, other.key_pem}),
                      tls_secret("ns", "fine", make_cert_for({"c.com"}))});
  auto r = build(st, at_now());
  ASSERT_EQ(r.errors.size(), 1u) << testing::errors_text(r.errors);
  EXPECT_EQ(r.errors[0].to_string(),
            "Secret ns/mixed: data[tls.key]: the private key does not match the certificate; its "
            "hosts get the default certificate");
  EXPECT_TRUE(r.snap->tls().by_host.at("a.com").empty());
  EXPECT_TRUE(r.snap->tls().by_host.at("b.com").empty());
  EXPECT_EQ(secret_of(*r.snap, "c.com"), "ns/fine");
  EXPECT_EQ(r.snap->tls().certificates.size(), 1u);
}

TEST(tls_table, expired_secret_is_served_and_reported_garbage_falls_back_to_default) {
  cert_spec old;
  old.dns = {"old.com"};
  old.not_before = tls_now - 400 * day;
  old.not_after = tls_now - day;
  auto garbage = tls_secret("ns", "garbage", make_cert_for({"junk.com"}));
  garbage.data["tls.crt"] = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
  auto st = state_of(
      tls_ingress("ns", "i", t1, {"old.com", "junk.com"},
                  {{{"old.com"}, "expired"}, {{"junk.com"}, "garbage"}}),
      {tls_secret("ns", "expired", make_cert(old)), garbage});
  auto r = build(st, at_now());
  // Expired: served anyway, as ingress-nginx does (it logs a warning), and reported.
  const build_error* e = find_error(r, "Secret", "expired", "data[tls.crt]");
  ASSERT_TRUE(e) << testing::errors_text(r.errors);
  EXPECT_EQ(e->message, "the certificate expired at " + format_utc(tls_now - day) +
                            "; it is served anyway, as ingress-nginx does");
  EXPECT_EQ(secret_of(*r.snap, "old.com"), "ns/expired");
  e = find_error(r, "Secret", "garbage", "data[tls.crt]");
  ASSERT_TRUE(e) << testing::errors_text(r.errors);
  EXPECT_NE(e->message.find("cannot be read"), std::string::npos);
  EXPECT_EQ(secret_of(*r.snap, "junk.com"), "default");
  // Without a time, validity is not checked.
  r = build(st);
  EXPECT_EQ(secret_of(*r.snap, "old.com"), "ns/expired");
  EXPECT_FALSE(find_error(r, "Secret", "expired", "data[tls.crt]"));
}

TEST(tls_table, wrong_secret_type_is_reported) {
  auto st = state_of(tls_ingress("ns", "i", t1, {"a.com"}, {{{"a.com"}, "opaque"}}),
                     {tls_secret("ns", "opaque", make_cert_for({"a.com"}), "Opaque")});
  auto r = build(st, at_now());
  ASSERT_TRUE(find_error(r, "Secret", "opaque", "type")) << testing::errors_text(r.errors);
  EXPECT_EQ(secret_of(*r.snap, "a.com"), "default");
}

TEST(tls_table, certificate_must_name_the_listed_host) {
  auto st = state_of(tls_ingress("ns", "i", t1, {"shop.com", "www.shop.com"},
                                 {{{"shop.com", "www.shop.com"}, "shop-tls"}}),
                     {tls_secret("ns", "shop-tls", make_cert_for({"shop.com"}))});
  auto r = build(st, at_now());
  ASSERT_EQ(r.errors.size(), 1u) << testing::errors_text(r.errors);
  EXPECT_EQ(r.errors[0].field, "spec.tls[0].hosts[1]");
  EXPECT_NE(r.errors[0].message.find("(shop.com) does not name host \"www.shop.com\""),
            std::string::npos)
      << r.errors[0].message;
  EXPECT_EQ(secret_of(*r.snap, "shop.com"), "ns/shop-tls");
  EXPECT_EQ(secret_of(*r.snap, "www.shop.com"), "default");
  EXPECT_TRUE(r.snap->tls().by_host.count("www.shop.com"));
}

TEST(tls_table, entry_without_hosts_serves_the_rule_hosts_its_certificate_names) {
  // As ingress-nginx: a rule host not listed in spec.tls gets the first certificate of the
  // Ingress's spec.tls that names it (here a wildcard).
  auto st = state_of(tls_ingress("ns", "i", t1, {"a.shop.com", "b.shop.com"}, {{{}, "wild"}}),
                     {tls_secret("ns", "wild", make_cert_for({"*.shop.com"}))});
  auto r = build(st, at_now());
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  EXPECT_EQ(r.snap->tls().by_host.size(), 2u);
  EXPECT_EQ(secret_of(*r.snap, "a.shop.com"), "ns/wild");
  EXPECT_EQ(secret_of(*r.snap, "b.shop.com"), "ns/wild");
  EXPECT_EQ(r.snap->tls().certificates.size(), 1u);
}

TEST(tls_table, rule_host_no_certificate_names_gets_default_and_an_error) {
  auto st = state_of(tls_ingress("ns", "i", t1, {"a.com", "b.com"}, {{{"a.com"}, "a-tls"}}),
                     {tls_secret("ns", "a-tls", make_cert_for({"a.com"}))});
  auto r = build(st, at_now());
  ASSERT_EQ(r.errors.size(), 1u) << testing::errors_text(r.errors);
  EXPECT_EQ(r.errors[0].field, "spec.rules[1].host");
  ASSERT_TRUE(r.snap->tls().by_host.count("b.com"));
  EXPECT_TRUE(r.snap->tls().by_host.at("b.com").empty());
  EXPECT_EQ(secret_of(*r.snap, "a.com"), "ns/a-tls");
}

TEST(tls_table, rule_host_configured_by_another_ingress_is_not_overridden) {
  // b.com is not named by i's certificate, but i2 configures it (younger, still wins over
  // the implicit default); a wildcard elsewhere also counts.
  auto st = state_of(
      tls_ingress("ns", "i", t1, {"a.com", "b.com", "x.wild.com"}, {{{"a.com"}, "a-tls"}}) +
          tls_ingress("ns", "i2", t2, {"other.com"}, {{{"b.com"}, "b-tls"}}) +
          tls_ingress("ns", "i3", t2, {"y.wild.com"}, {{{"*.wild.com"}, "w-tls"}}),
      {tls_secret("ns", "a-tls", make_cert_for({"a.com"})),
       tls_secret("ns", "b-tls", make_cert_for({"b.com", "other.com"})),
       tls_secret("ns", "w-tls", make_cert_for({"*.wild.com"}))});
  auto r = build(st, at_now());
  EXPECT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  EXPECT_EQ(secret_of(*r.snap, "b.com"), "ns/b-tls");
  EXPECT_EQ(secret_of(*r.snap, "x.wild.com"), "ns/w-tls");
  EXPECT_FALSE(r.snap->tls().by_host.count("x.wild.com"));
}

TEST(tls_table, oldest_ingress_keeps_a_host_younger_gets_an_error) {
  auto st = state_of(
      tls_ingress("ns", "young", t2, {"shop.com"}, {{{"shop.com"}, "young-tls"}}) +
          tls_ingress("ns", "old", t1, {"shop.com"}, {{{"shop.com"}, "old-tls"}}) +
          tls_ingress("ns", "same", t2, {"shop.com"}, {{{"shop.com"}, "old-tls"}}),
      {tls_secret("ns", "young-tls", make_cert_for({"shop.com"})),
       tls_secret("ns", "old-tls", make_cert_for({"shop.com"}))});
  auto r = build(st, at_now());
  EXPECT_EQ(secret_of(*r.snap, "shop.com"), "ns/old-tls");
  const build_error* e = find_error(r, "Ingress", "young", "spec.tls[0].hosts[0]");
  ASSERT_TRUE(e) << testing::errors_text(r.errors);
  EXPECT_NE(e->message.find("Ingress ns/old (older)"), std::string::npos) << e->message;
  // Same Secret as the owner: no conflict.
  EXPECT_FALSE(find_error(r, "Ingress", "same", "spec.tls[0].hosts[0]"));
}

TEST(tls_table, host_carries_an_rsa_and_an_ecdsa_secret_from_one_ingress_or_two) {
  using testing::key_kind;
  auto st = state_of(
      tls_ingress("ns", "both", t1, {"both.com"},
                  {{{"both.com"}, "ec-tls"}, {{"both.com"}, "rsa-tls"}}) +
          tls_ingress("ns", "old", t1, {"split.com"}, {{{"split.com"}, "split-rsa"}}) +
          tls_ingress("ns", "young", t2, {}, {{{"split.com"}, "split-ec"}}),
      {tls_secret("ns", "ec-tls", make_cert_for({"both.com"})),
       tls_secret("ns", "rsa-tls", make_cert_for({"both.com"}, key_kind::rsa)),
       tls_secret("ns", "split-rsa", make_cert_for({"split.com"}, key_kind::rsa)),
       tls_secret("ns", "split-ec", make_cert_for({"split.com"}))});
  auto r = build(st, at_now());
  EXPECT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  // In key type order: RSA, then EC.
  EXPECT_EQ(secret_of(*r.snap, "both.com"), "ns/rsa-tls+ns/ec-tls");
  EXPECT_EQ(secret_of(*r.snap, "split.com"), "ns/split-rsa+ns/split-ec");
  const auto& set = r.snap->tls().by_host.at("both.com");
  ASSERT_EQ(set.size(), 2u);
  EXPECT_EQ(set[0]->key_type, tls_key_type::rsa);
  EXPECT_EQ(set[1]->key_type, tls_key_type::ec);
  EXPECT_EQ(r.snap->tls().certificates.size(), 4u);
}

TEST(tls_table, second_secret_of_the_same_key_type_is_refused_and_the_older_stays) {
  auto st = state_of(
      tls_ingress("ns", "one", t1, {"dup.com"}, {{{"dup.com"}, "a-tls"}, {{"dup.com"}, "b-tls"}}) +
          tls_ingress("ns", "two", t2, {}, {{{"dup.com"}, "c-tls"}}),
      {tls_secret("ns", "a-tls", make_cert_for({"dup.com"})),
       tls_secret("ns", "b-tls", make_cert_for({"dup.com"})),
       tls_secret("ns", "c-tls", make_cert_for({"dup.com"}))});
  auto r = build(st, at_now());
  EXPECT_EQ(secret_of(*r.snap, "dup.com"), "ns/a-tls");
  const build_error* e = find_error(r, "Ingress", "one", "spec.tls[1].hosts[0]");
  ASSERT_TRUE(e) << testing::errors_text(r.errors);
  EXPECT_EQ(e->message,
            "host \"dup.com\" already gets an EC certificate from Secret ns/a-tls, configured by "
            "an earlier spec.tls entry of this Ingress; a host takes one certificate per key "
            "type; ignored");
  e = find_error(r, "Ingress", "two", "spec.tls[0].hosts[0]");
  ASSERT_TRUE(e) << testing::errors_text(r.errors);
  EXPECT_NE(e->message.find("from Secret ns/a-tls, configured by Ingress ns/one (older)"),
            std::string::npos)
      << e->message;
  EXPECT_EQ(r.errors.size(), 2u) << testing::errors_text(r.errors);
}

TEST(tls_table, first_entry_on_the_default_certificate_keeps_the_host_there) {
  // As ingress-nginx: the first entry decides; a later Secret of any key type is refused.
  using testing::key_kind;
  auto st = state_of(
      tls_ingress("ns", "i", t1, {"a.com", "b.com"},
                  {{{"a.com"}, ""}, {{"a.com"}, "a-rsa"}, {{"b.com"}, "b-rsa"},
                   {{"b.com"}, "missing"}}),
      {tls_secret("ns", "a-rsa", make_cert_for({"a.com"}, key_kind::rsa)),
       tls_secret("ns", "b-rsa", make_cert_for({"b.com"}, key_kind::rsa))});
  auto r = build(st, at_now());
  EXPECT_EQ(secret_of(*r.snap, "a.com"), "default");
  const build_error* e = find_error(r, "Ingress", "i", "spec.tls[1].hosts[0]");
  ASSERT_TRUE(e) << testing::errors_text(r.errors);
  EXPECT_NE(e->message.find("already gets the default certificate from an earlier spec.tls "
                            "entry of this Ingress"),
            std::string::npos)
      << e->message;
  // A good first entry keeps its certificate when a later one's Secret is missing.
  EXPECT_EQ(secret_of(*r.snap, "b.com"), "ns/b-rsa");
  e = find_error(r, "Ingress", "i", "spec.tls[3].hosts[0]");
  ASSERT_TRUE(e) << testing::errors_text(r.errors);
  EXPECT_NE(e->message.find("already gets Secret ns/b-rsa"), std::string::npos) << e->message;
}

TEST(tls_table, rule_host_gets_the_first_certificate_of_each_key_type_that_names_it) {
  using testing::key_kind;
  auto st = state_of(
      tls_ingress("ns", "i", t1, {"a.shop.com"},
                  {{{}, "wild-ec"}, {{}, "wild-ec2"}, {{}, "wild-rsa"}}),
      {tls_secret("ns", "wild-ec", make_cert_for({"*.shop.com"})),
       tls_secret("ns", "wild-ec2", make_cert_for({"*.shop.com"})),
       tls_secret("ns", "wild-rsa", make_cert_for({"*.shop.com"}, key_kind::rsa))});
  auto r = build(st, at_now());
  EXPECT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  EXPECT_EQ(secret_of(*r.snap, "a.shop.com"), "ns/wild-rsa+ns/wild-ec");
}

TEST(tls_table, key_types_are_recorded) {
  using testing::key_kind;
  auto st = state_of(tls_ingress("ns", "i", t1, {"r.com", "e.com", "d.com"},
                                 {{{"r.com"}, "r"}, {{"e.com"}, "e"}, {{"d.com"}, "d"}}),
                     {tls_secret("ns", "r", make_cert_for({"r.com"}, key_kind::rsa)),
                      tls_secret("ns", "e", make_cert_for({"e.com"})),
                      tls_secret("ns", "d", make_cert_for({"d.com"}, key_kind::ed25519))});
  auto r = build(st, at_now());
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  EXPECT_EQ(r.snap->find_certificates("r.com")->at(0)->key_type, tls_key_type::rsa);
  EXPECT_EQ(r.snap->find_certificates("e.com")->at(0)->key_type, tls_key_type::ec);
  EXPECT_EQ(r.snap->find_certificates("d.com")->at(0)->key_type, tls_key_type::ed25519);
  EXPECT_EQ(key_type_name(tls_key_type::ed25519), "Ed25519");
}

TEST(tls_table, find_certificates_folds_case_and_a_trailing_dot_and_allocates_no_key) {
  const std::string host = "a-very-long-host-name.example.com";
  auto st = state_of(tls_ingress("ns", "i", t1, {host},
                                 {{{host}, "long"}, {{"*.wild.example.com"}, "wild"}}),
                     {tls_secret("ns", "long", make_cert_for({host})),
                      tls_secret("ns", "wild", make_cert_for({"*.wild.example.com"}))});
  auto r = build(st, at_now());
  EXPECT_EQ(secret_of(*r.snap, "A-Very-Long-Host-Name.Example.COM."), "ns/long");
  EXPECT_EQ(secret_of(*r.snap, "some-long-label-here.wild.example.com"), "ns/wild");
  EXPECT_EQ(secret_of(*r.snap, "x.some-long-label-here.wild.example.com"), "default");
  EXPECT_EQ(secret_of(*r.snap, "."), "default");
  EXPECT_EQ(secret_of(*r.snap, ".wild.example.com"), "default");
  EXPECT_EQ(secret_of(*r.snap, std::string(254, 'a')), "default");
}

TEST(tls_table, entry_without_secret_name_uses_default_without_error) {
  auto st = state_of(tls_ingress("ns", "i", t1, {"a.com"}, {{{"a.com"}, ""}}));
  auto r = build(st, at_now());
  EXPECT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  ASSERT_TRUE(r.snap->tls().by_host.count("a.com"));
  EXPECT_TRUE(r.snap->tls().by_host.at("a.com").empty());
}

TEST(tls_table, invalid_tls_host_is_reported_and_skipped) {
  auto st = state_of(tls_ingress("ns", "i", t1, {"a.com"}, {{{"a.com", "bad host"}, "a-tls"}}),
                     {tls_secret("ns", "a-tls", make_cert_for({"a.com"}))});
  auto r = build(st, at_now());
  ASSERT_TRUE(find_error(r, "Ingress", "i", "spec.tls[0].hosts[1]"))
      << testing::errors_text(r.errors);
  EXPECT_EQ(r.snap->tls().by_host.size(), 1u);
}

TEST(tls_table, unserved_ingress_contributes_no_certificates) {
  std::string y = tls_ingress("ns", "i", t1, {"a.com"}, {{{"a.com"}, "a-tls"}});
  y.replace(y.find("ingressClassName: portico"), 25, "ingressClassName: other");
  auto st = state_of(y, {tls_secret("ns", "a-tls", make_cert_for({"a.com"}))});
  auto r = build(st, at_now());
  EXPECT_TRUE(r.snap->tls().by_host.empty());
  EXPECT_TRUE(r.snap->tls().certificates.empty());
}

TEST(tls_table, default_ssl_certificate_from_flag) {
  auto st = state_of(tls_ingress("ns", "i", t1, {"a.com"}, {{{"a.com"}, "a-tls"}}),
                     {tls_secret("ns", "a-tls", make_cert_for({"a.com"})),
                      tls_secret("infra", "default-cert", make_cert_for({"ingress.local"}))});
  auto o = at_now();
  o.default_ssl_certificate = "infra/default-cert";
  auto r = build(st, o);
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  ASSERT_TRUE(r.snap->tls().default_cert);
  EXPECT_EQ(r.snap->tls().default_cert->secret, "infra/default-cert");
  EXPECT_EQ(r.snap->tls().certificates.size(), 2u);

  o.default_ssl_certificate = "infra/missing";
  r = build(st, o);
  EXPECT_FALSE(r.snap->tls().default_cert);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, "Secret");
  EXPECT_EQ(r.errors[0].namespace_name, "infra");
  EXPECT_EQ(r.errors[0].name, "missing");
  EXPECT_NE(r.errors[0].message.find("--default-ssl-certificate"), std::string::npos);

  o.default_ssl_certificate = "no-slash";
  r = build(st, o);
  EXPECT_FALSE(r.snap->tls().default_cert);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("namespace/name"), std::string::npos);
}

TEST(tls_table, unchanged_secret_is_not_parsed_again_changed_one_is) {
  auto st = state_of(tls_ingress("ns", "i", t1, {"a.com", "b.com"},
                                 {{{"a.com"}, "a-tls"}, {{"b.com"}, "b-tls"}}),
                     {tls_secret("ns", "a-tls", make_cert_for({"a.com"})),
                      tls_secret("ns", "b-tls", make_cert_for({"b.com"}))});
  auto o = at_now();
  auto first = build(st, o);
  ASSERT_TRUE(first.errors.empty()) << testing::errors_text(first.errors);
  auto a1 = first.snap->tls().by_host.at("a.com").at(0);
  auto b1 = first.snap->tls().by_host.at("b.com").at(0);

  st.upsert(tls_secret("ns", "b-tls", make_cert_for({"b.com"})));  // rotated
  o.previous = first.snap;
  auto second = build(st, o);
  ASSERT_TRUE(second.errors.empty()) << testing::errors_text(second.errors);
  EXPECT_EQ(second.snap->tls().by_host.at("a.com").at(0), a1);  // the same object: not re-parsed
  auto b2 = second.snap->tls().by_host.at("b.com").at(0);
  EXPECT_NE(b2, b1);
  EXPECT_NE(b2->version, b1->version);
  EXPECT_NE(second.snap->hash(), first.snap->hash());

  // A reused certificate is still checked for expiry against the new time (and kept).
  o.previous = second.snap;
  o.now = a1->not_after + 1;
  auto third = build(st, o);
  EXPECT_TRUE(find_error(third, "Secret", "a-tls", "data[tls.crt]"))
      << testing::errors_text(third.errors);
  EXPECT_EQ(third.snap->tls().by_host.at("a.com").at(0), a1);
}

TEST(tls_table, config_hash_follows_certificate_changes) {
  auto st = state_of(tls_ingress("ns", "i", t1, {"a.com"}, {{{"a.com"}, "a-tls"}}),
                     {tls_secret("ns", "a-tls", make_cert_for({"a.com"}))});
  auto h1 = build(st, at_now()).snap->hash();
  EXPECT_EQ(build(st, at_now()).snap->hash(), h1);
  st.upsert(tls_secret("ns", "a-tls", make_cert_for({"a.com"})));
  auto h2 = build(st, at_now()).snap->hash();
  EXPECT_NE(h2, h1);
  st.secrets.erase("ns/a-tls");
  EXPECT_NE(build(st, at_now()).snap->hash(), h2);
}

TEST(tls_table, tls_configured_for_exact_or_single_label_wildcard) {
  tls_table t;
  t.by_host.emplace("a.com", tls_certificates{});
  t.by_host.emplace("*.w.com", tls_certificates{});
  EXPECT_TRUE(tls_configured_for(t, "a.com"));
  EXPECT_TRUE(tls_configured_for(t, "x.w.com"));
  EXPECT_TRUE(tls_configured_for(t, "*.w.com"));
  EXPECT_FALSE(tls_configured_for(t, "w.com"));
  EXPECT_FALSE(tls_configured_for(t, "y.x.w.com"));
  EXPECT_FALSE(tls_configured_for(t, ""));
}

}  // namespace
}  // namespace portico::config
