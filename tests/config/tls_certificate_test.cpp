// Certificates from kubernetes.io/tls Secrets: PEM chains and keys parsed with OpenSSL, the
// key checked against the leaf, names (SAN DNS, else CN) lower-cased, validity checked against
// the given time, and every rejection named with its field and reason.
#include <gtest/gtest.h>

#include "config/tls_certificate.hpp"
#include "tls_test_certs.hpp"

namespace portico::config {
namespace {

using testing::cert_spec;
using testing::day;
using testing::key_kind;
using testing::make_cert;
using testing::make_cert_for;
using testing::tls_now;
using testing::tls_secret;

using list = std::vector<std::string>;

TEST(tls_certificate, parses_chain_names_lower_case_expiry_and_version) {
  cert_spec s;
  s.cn = "ignored.example";
  s.dns = {"WWW.Example.com", "*.Api.Example.com"};
  s.not_after = tls_now + 30 * day;
  auto c = make_cert(s);
  auto r = parse_tls_secret(tls_secret("ns", "web-tls", c), tls_now);
  ASSERT_TRUE(r.cert) << r.field << ": " << r.message;
  EXPECT_EQ(r.cert->secret, "ns/web-tls");
  EXPECT_EQ(r.cert->names, (list{"www.example.com", "*.api.example.com"}));
  EXPECT_EQ(r.cert->not_after, tls_now + 30 * day);
  EXPECT_EQ(r.cert->cert_pem, c.cert_pem);
  EXPECT_EQ(r.cert->key_pem, c.key_pem);
  EXPECT_EQ(r.cert->version, certificate_version(c.cert_pem, c.key_pem));
  EXPECT_NE(r.cert->version, certificate_version(c.cert_pem, c.key_pem + " "));
}

TEST(tls_certificate, rsa_and_ed25519_keys_are_accepted) {
  for (key_kind k : {key_kind::rsa, key_kind::ed25519}) {
    cert_spec s;
    s.dns = {"a.com"};
    auto r = parse_tls_secret(tls_secret("ns", "s", make_cert(s, k)), tls_now);
    ASSERT_TRUE(r.cert) << r.message;
    EXPECT_EQ(r.cert->names, (list{"a.com"}));
  }
}

TEST(tls_certificate, common_name_is_used_only_without_dns_san) {
  cert_spec s;
  s.cn = "Legacy.Example.COM";
  auto r = parse_tls_secret(tls_secret("ns", "s", make_cert(s)), tls_now);
  ASSERT_TRUE(r.cert) << r.message;
  EXPECT_EQ(r.cert->names, (list{"legacy.example.com"}));
}

TEST(tls_certificate, leaf_first_chain_is_accepted_and_reversed_chain_is_explained) {
  auto ca_key = testing::make_key();
  cert_spec ca;
  ca.cn = "test ca";
  ca.ca = true;
  auto ca_x = testing::make_x509(ca, ca_key.get());
  auto leaf_key = testing::make_key();
  cert_spec leaf;
  leaf.dns = {"shop.com"};
  auto leaf_x = testing::make_x509(leaf, leaf_key.get(), ca_x.get(), ca_key.get());
  testing::test_cert good{testing::pem_of(leaf_x.get()) + testing::pem_of(ca_x.get()),
                          testing::pem_of(leaf_key.get())};
  auto r = parse_tls_secret(tls_secret("ns", "s", good), tls_now);
  ASSERT_TRUE(r.cert) << r.message;
  EXPECT_EQ(r.cert->names, (list{"shop.com"}));

  testing::test_cert reversed{testing::pem_of(ca_x.get()) + testing::pem_of(leaf_x.get()),
                              good.key_pem};
  r = parse_tls_secret(tls_secret("ns", "s", reversed), tls_now);
  ASSERT_FALSE(r.cert);
  EXPECT_EQ(r.field, "data[tls.key]");
  EXPECT_NE(r.message.find("leaf certificate must come first"), std::string::npos) << r.message;
}

TEST(tls_certificate, wrong_type_is_rejected) {
  auto r = parse_tls_secret(tls_secret("ns", "s", make_cert_for({"a.com"}), "Opaque"), tls_now);
  ASSERT_FALSE(r.cert);
  EXPECT_EQ(r.field, "type");
  EXPECT_NE(r.message.find("kubernetes.io/tls"), std::string::npos);
}

TEST(tls_certificate, missing_or_empty_keys_are_rejected) {
  auto s = tls_secret("ns", "s", make_cert_for({"a.com"}));
  s.data.erase("tls.key");
  auto r = parse_tls_secret(s, tls_now);
  ASSERT_FALSE(r.cert);
  EXPECT_EQ(r.field, "data[tls.key]");
  s = tls_secret("ns", "s", make_cert_for({"a.com"}));
  s.data["tls.crt"].clear();
  r = parse_tls_secret(s, tls_now);
  ASSERT_FALSE(r.cert);
  EXPECT_EQ(r.field, "data[tls.crt]");
}

TEST(tls_certificate, garbage_pem_is_rejected_with_the_reason) {
  auto good = make_cert_for({"a.com"});
  auto s = tls_secret("ns", "s", good);
  s.data["tls.crt"] = "this is not a certificate";
  auto r = parse_tls_secret(s, tls_now);
  ASSERT_FALSE(r.cert);
  EXPECT_EQ(r.field, "data[tls.crt]");
  EXPECT_NE(r.message.find("no PEM certificate"), std::string::npos) << r.message;

  s.data["tls.crt"] = "-----BEGIN CERTIFICATE-----\nAAAA!!!!notbase64\n-----END CERTIFICATE-----\n";
  r = parse_tls_secret(s, tls_now);
  ASSERT_FALSE(r.cert);
  EXPECT_NE(r.message.find("cannot be read"), std::string::npos) << r.message;

  // A good leaf followed by a damaged second certificate: the chain is rejected.
  s.data["tls.crt"] = good.cert_pem + "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  r = parse_tls_secret(s, tls_now);
  ASSERT_FALSE(r.cert);
  EXPECT_NE(r.message.find("#2"), std::string::npos) << r.message;

  s = tls_secret("ns", "s", good);
  s.data["tls.key"] = "garbage";
  r = parse_tls_secret(s, tls_now);
  ASSERT_FALSE(r.cert);
  EXPECT_EQ(r.field, "data[tls.key]");
  EXPECT_NE(r.message.find("no PEM private key"), std::string::npos) << r.message;
}

TEST(tls_certificate, encrypted_key_is_rejected_without_prompting) {
  auto key = testing::make_key();
  cert_spec cs;
  cs.dns = {"a.com"};
  auto x = testing::make_x509(cs, key.get());
  testing::test_cert c{testing::pem_of(x.get()), testing::pem_of(key.get(), "secret-pass")};
  ASSERT_NE(c.key_pem.find("ENCRYPTED"), std::string::npos);
  auto r = parse_tls_secret(tls_secret("ns", "s", c), tls_now);
  ASSERT_FALSE(r.cert);
  EXPECT_EQ(r.field, "data[tls.key]");
  EXPECT_NE(r.message.find("encrypted keys are not supported"), std::string::npos) << r.message;
}

TEST(tls_certificate, failed_key_reads_do_not_affect_later_ones) {
  // The key decoder is reused between parses: a failure must leave it ready for the next key.
  auto good = make_cert_for({"a.com"});
  auto key = testing::make_key();
  cert_spec cs;
  cs.dns = {"b.com"};
  auto x = testing::make_x509(cs, key.get());
  testing::test_cert encrypted{testing::pem_of(x.get()), testing::pem_of(key.get(), "pw")};
  auto damaged = good;
  damaged.key_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
  auto rsa = make_cert(cs, key_kind::rsa);
  for (int round = 0; round < 2; ++round) {
    EXPECT_FALSE(parse_tls_secret(tls_secret("ns", "s", damaged), tls_now).cert);
    EXPECT_TRUE(parse_tls_secret(tls_secret("ns", "s", good), tls_now).cert);
    EXPECT_FALSE(parse_tls_secret(tls_secret("ns", "s", encrypted), tls_now).cert);
    EXPECT_TRUE(parse_tls_secret(tls_secret("ns", "s", rsa), tls_now).cert);
  }
}

TEST(tls_certificate, key_of_another_certificate_is_rejected) {
  auto a = make_cert_for({"a.com"});
  auto b = make_cert_for({"a.com"});
  auto r = parse_tls_secret(tls_secret("ns", "s", testing::test_cert{a.cert_pem, b.key_pem}), tls_now);
  ASSERT_FALSE(r.cert);
  EXPECT_EQ(r.field, "data[tls.key]");
  EXPECT_EQ(r.message, "the private key does not match the certificate");
}

TEST(tls_certificate, validity_is_checked_only_when_a_time_is_given) {
  cert_spec expired;
  expired.dns = {"a.com"};
  expired.not_before = tls_now - 400 * day;
  expired.not_after = tls_now - 1;
  auto e = tls_secret("ns", "s", make_cert(expired));
  auto r = parse_tls_secret(e, tls_now);
  ASSERT_FALSE(r.cert);
  EXPECT_EQ(r.field, "data[tls.crt]");
  EXPECT_NE(r.message.find("expired at " + format_utc(tls_now - 1)), std::string::npos)
      << r.message;
  EXPECT_TRUE(parse_tls_secret(e, 0).cert);

  cert_spec future;
  future.dns = {"a.com"};
  future.not_before = tls_now + day;
  auto f = tls_secret("ns", "s", make_cert(future));
  r = parse_tls_secret(f, tls_now);
  ASSERT_FALSE(r.cert);
  EXPECT_NE(r.message.find("not valid before"), std::string::npos) << r.message;
  EXPECT_TRUE(parse_tls_secret(f, 0).cert);

  auto ok = parse_tls_secret(e, 0).cert;
  EXPECT_EQ(certificate_expiry_problem(*ok, tls_now - 2), "");
  EXPECT_NE(certificate_expiry_problem(*ok, tls_now), "");
}

TEST(tls_certificate, covers_exact_and_single_label_wildcard_names) {
  tls_certificate c;
  c.names = {"shop.com", "*.api.shop.com"};
  EXPECT_TRUE(certificate_covers(c, "shop.com"));
  EXPECT_TRUE(certificate_covers(c, "v1.api.shop.com"));
  EXPECT_TRUE(certificate_covers(c, "*.api.shop.com"));
  EXPECT_FALSE(certificate_covers(c, "api.shop.com"));
  EXPECT_FALSE(certificate_covers(c, "a.v1.api.shop.com"));
  EXPECT_FALSE(certificate_covers(c, "www.shop.com"));
  EXPECT_FALSE(certificate_covers(c, "*.shop.com"));
  EXPECT_FALSE(certificate_covers(c, ""));
}

TEST(tls_certificate, ca_bundle_needs_at_least_one_readable_certificate) {
  auto c = make_cert_for({"ca.test"});
  EXPECT_EQ(check_ca_bundle(c.cert_pem), "");
  EXPECT_EQ(check_ca_bundle(c.cert_pem + c.cert_pem), "");
  EXPECT_NE(check_ca_bundle(""), "");
  EXPECT_NE(check_ca_bundle("junk"), "");
}

}  // namespace
}  // namespace portico::config
