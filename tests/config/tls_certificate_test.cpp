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
  EXPECT_EQ(r.message,
            "the private key is encrypted (\"BEGIN ENCRYPTED PRIVATE KEY\"); it must be stored "
            "unencrypted (openssl pkey -in tls.key -out plain.key)");
  // The legacy form: PEM headers "Proc-Type: 4,ENCRYPTED" and "DEK-Info".
  BIO* b = BIO_new(BIO_s_mem());
  char pass[] = "secret-pass";
  PEM_write_bio_PrivateKey_traditional(b, key.get(), EVP_aes_128_cbc(),
                                       reinterpret_cast<unsigned char*>(pass), 11, nullptr,
                                       nullptr);
  c.key_pem = testing::bio_text(b);
  ASSERT_NE(c.key_pem.find("Proc-Type: 4,ENCRYPTED"), std::string::npos);
  r = parse_tls_secret(tls_secret("ns", "s", c), tls_now);
  ASSERT_FALSE(r.cert);
  EXPECT_NE(r.message.find("encrypted (\"Proc-Type: 4,ENCRYPTED\")"), std::string::npos)
      << r.message;
}

TEST(tls_certificate, key_block_is_found_after_other_pem_blocks) {
  // openssl ecparam -genkey writes the curve first; a combined PEM holds the certificate too.
  auto key = testing::make_key();
  cert_spec cs;
  cs.dns = {"a.com"};
  auto x = testing::make_x509(cs, key.get());
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey_traditional(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  std::string sec1 = testing::bio_text(b);
  ASSERT_NE(sec1.find("BEGIN EC PRIVATE KEY"), std::string::npos);
  std::string params =
      "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n";
  std::string cert = testing::pem_of(x.get());
  for (const std::string& k : {params + sec1, cert + testing::pem_of(key.get()),
                               "Private-Key: (256 bit)\nnotes\n" + sec1}) {
    auto r = parse_tls_secret(tls_secret("ns", "s", {cert + testing::pem_of(key.get()), k}),
                              tls_now);
    EXPECT_TRUE(r.cert) << r.message << "\n" << k;
  }
}

TEST(tls_certificate, keys_and_signatures_under_security_level_2_are_refused) {
  // What the proxy's TLS context (security level 2) could not load is refused by the build.
  cert_spec leaf;
  leaf.dns = {"a.com"};
  auto weak = parse_tls_secret(tls_secret("ns", "s", make_cert(leaf, key_kind::rsa1024)), tls_now);
  ASSERT_FALSE(weak.cert);
  EXPECT_EQ(weak.field, "data[tls.key]");
  EXPECT_EQ(weak.message,
            "the RSA key has 1024 bits; at least 2048 are needed (OpenSSL security level 2)");

  auto ca_key = testing::make_key(key_kind::rsa1024);
  cert_spec ca;
  ca.cn = "weak ca";
  ca.ca = true;
  auto ca_x = testing::make_x509(ca, ca_key.get());
  auto leaf_key = testing::make_key();
  auto leaf_x = testing::make_x509(leaf, leaf_key.get(), ca_x.get(), ca_key.get());
  auto r = parse_tls_secret(
      tls_secret("ns", "s", {testing::pem_of(leaf_x.get()) + testing::pem_of(ca_x.get()),
                             testing::pem_of(leaf_key.get())}),
      tls_now);
  ASSERT_FALSE(r.cert);
  EXPECT_EQ(r.field, "data[tls.crt]");
  EXPECT_EQ(r.message, "certificate #2's RSA key has 1024 bits; at least 2048 are needed "
                       "(OpenSSL security level 2)");

  auto strong_ca_key = testing::make_key();
  auto strong_ca = testing::make_x509(ca, strong_ca_key.get());
  cert_spec sha1_leaf = leaf;
  sha1_leaf.sha1 = true;
  auto sha1_x = testing::make_x509(sha1_leaf, leaf_key.get(), strong_ca.get(), strong_ca_key.get());
  r = parse_tls_secret(tls_secret("ns", "s", {testing::pem_of(sha1_x.get()),
                                              testing::pem_of(leaf_key.get())}),
                       tls_now);
  ASSERT_FALSE(r.cert);
  EXPECT_EQ(r.message,
            "certificate #1 is signed with SHA-1; SHA-256 or stronger is needed (OpenSSL "
            "security level 2)");
  // A self-signed certificate's own signature is not checked (as OpenSSL does not).
  EXPECT_TRUE(parse_tls_secret(tls_secret("ns", "s", make_cert(sha1_leaf)), tls_now).cert);
}

TEST(tls_certificate, common_pem_mistakes_get_a_hint) {
  auto good = make_cert_for({"a.com"});
  auto s = tls_secret("ns", "s", good);
  // Base64 of the PEM, stored as data (so base64-encoded twice in the manifest).
  BIO* b64 = BIO_push(BIO_new(BIO_f_base64()), BIO_new(BIO_s_mem()));
  BIO_write(b64, good.cert_pem.data(), static_cast<int>(good.cert_pem.size()));
  (void)BIO_flush(b64);
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(b64, &mem);
  s.data["tls.crt"] = std::string(mem->data, mem->length);
  BIO_free_all(b64);
  auto r = parse_tls_secret(s, tls_now);
  ASSERT_FALSE(r.cert);
  EXPECT_NE(r.message.find("encoded twice?"), std::string::npos) << r.message;

  s = tls_secret("ns", "s", good);
  std::swap(s.data["tls.crt"], s.data["tls.key"]);
  r = parse_tls_secret(s, tls_now);
  EXPECT_NE(r.message.find("are tls.crt and tls.key swapped?"), std::string::npos) << r.message;

  s = tls_secret("ns", "s", good);
  std::string joined = good.cert_pem;
  joined.pop_back();  // no newline after END: the next file's BEGIN follows on the same line
  s.data["tls.crt"] = joined + good.cert_pem;
  r = parse_tls_secret(s, tls_now);
  EXPECT_NE(r.message.find("a newline is missing between concatenated PEM files"),
            std::string::npos)
      << r.message;
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
  // Outside its validity period: still the certificate (served, as ingress-nginx does), and a
  // warning.
  auto r = parse_tls_secret(e, tls_now);
  ASSERT_TRUE(r.cert);
  EXPECT_EQ(r.field, "data[tls.crt]");
  EXPECT_EQ(r.message, "the certificate expired at " + format_utc(tls_now - 1));
  r = parse_tls_secret(e, 0);
  EXPECT_TRUE(r.cert);
  EXPECT_EQ(r.message, "");

  cert_spec future;
  future.dns = {"a.com"};
  future.not_before = tls_now + day;
  auto f = tls_secret("ns", "s", make_cert(future));
  r = parse_tls_secret(f, tls_now);
  ASSERT_TRUE(r.cert);
  EXPECT_EQ(r.message, "the certificate is not valid before " + format_utc(tls_now + day));
  EXPECT_EQ(r.cert->not_before, tls_now + day);
  EXPECT_EQ(parse_tls_secret(f, 0).message, "");

  auto ok = parse_tls_secret(e, 0).cert;
  EXPECT_EQ(certificate_expiry_problem(*ok, tls_now - 2), "");
  EXPECT_NE(certificate_expiry_problem(*ok, tls_now), "");
  EXPECT_EQ(certificate_expiry_problem(*ok, 0), "");
  auto later = parse_tls_secret(f, 0).cert;
  EXPECT_NE(certificate_expiry_problem(*later, tls_now), "");
  EXPECT_EQ(certificate_expiry_problem(*later, tls_now + day), "");
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
