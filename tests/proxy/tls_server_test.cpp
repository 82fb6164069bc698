// Server-side TLS without sockets: certificates parsed and checked, the certificate chosen per
// server name from a Snapshot (exact, wildcard, default, self-signed), the per-worker cache
// following Snapshots, and in-memory handshakes (BIO pairs) for SNI, ALPN, protocol limits and
// ticket resumption across workers and key rotations.
#include "proxy/tls_server.hpp"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <cstring>
#include <ctime>
#include <string>

#include "proxy/tls_client.hpp"
#include "tests/config/tls_test_certs.hpp"

using namespace portico;
using namespace portico::proxy;

namespace {

std::string key_pem(EVP_PKEY* key) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(b);
  return out;
}

// A distinct certificate (self-signed material is good enough: only identity matters here).
std::shared_ptr<config::tls_certificate> make_cert(const std::string& secret, std::uint64_t v) {
  auto m = make_self_signed_material();
  auto c = std::make_shared<config::tls_certificate>();
  c->secret = secret;
  c->cert_pem = certificate_pem(m->leaf());
  c->key_pem = key_pem(m->key());
  c->version = v;
  return c;
}

// A certificate of the given key type for `host` (signature algorithms matter here).
std::shared_ptr<config::tls_certificate> make_keyed_cert(const std::string& secret,
                                                         std::uint64_t v, const std::string& host,
                                                         config::testing::key_kind k) {
  config::testing::cert_spec spec;
  spec.cn = host;
  spec.dns = {host};
  spec.not_before = std::time(nullptr) - config::testing::day;
  spec.not_after = std::time(nullptr) + 30 * config::testing::day;
  auto t = config::testing::make_cert(spec, k);
  auto c = std::make_shared<config::tls_certificate>();
  c->secret = secret;
  c->cert_pem = t.cert_pem;
  c->key_pem = t.key_pem;
  c->version = v;
  return c;
}

config::snapshot_ptr make_snapshot(
    std::vector<std::pair<std::string, config::tls_certificates>> hosts,
    std::shared_ptr<config::tls_certificate> def = nullptr) {
  auto t = std::make_shared<config::tls_table>();
  for (auto& [h, set] : hosts) {
    t->certificates.insert(t->certificates.end(), set.begin(), set.end());
    t->by_host[h] = std::move(set);
  }
  t->default_cert = def;
  if (def) t->certificates.push_back(def);
  return std::make_shared<const config::snapshot>(
      std::vector<std::shared_ptr<const config::route>>{},
      std::vector<std::shared_ptr<const config::cluster>>{}, nullptr, 1, t);
}

// The one certificate of a choice (null when it holds none or several).
const tls_material* only(const tls_choice& c) { return c.size() == 1 ? c[0] : nullptr; }

bool same_leaf(const tls_material* m, const config::tls_certificate& c) {
  return m != nullptr && certificate_pem(m->leaf()) == c.cert_pem;
}

// One client and one server connection joined by a BIO pair; handshake() drives both.
struct pipe_pair {
  SSL* client;
  SSL* server;
  pipe_pair(SSL_CTX* cctx, SSL_CTX* sctx) : client(SSL_new(cctx)), server(SSL_new(sctx)) {
    BIO *a = nullptr, *b = nullptr;
    BIO_new_bio_pair(&a, 0, &b, 0);
    SSL_set_bio(client, a, a);
    SSL_set_bio(server, b, b);
    SSL_set_connect_state(client);
    SSL_set_accept_state(server);
  }
  ~pipe_pair() {
    SSL_free(client);
    SSL_free(server);
  }
  bool handshake() {
    for (int i = 0; i < 20; ++i) {
      const int c = SSL_do_handshake(client);
      const int s = SSL_do_handshake(server);
      if (c == 1 && s == 1) {
        // TLS 1.3 tickets arrive after the handshake: let the client read them.
        char buf[1];
        SSL_read(client, buf, 0);
        return true;
      }
      const int ce = SSL_get_error(client, c), se = SSL_get_error(server, s);
      if ((c != 1 && ce != SSL_ERROR_WANT_READ && ce != SSL_ERROR_WANT_WRITE) ||
          (s != 1 && se != SSL_ERROR_WANT_READ && se != SSL_ERROR_WANT_WRITE)) {
        ERR_clear_error();
        return false;
      }
    }
    return false;
  }
  std::string peer_pem() {
    X509* x = SSL_get1_peer_certificate(client);
    std::string out = x ? certificate_pem(x) : "";
    X509_free(x);
    return out;
  }
};

struct tls_server_test : ::testing::Test {
  tls_server_context shared;
  tls_worker w{shared};
  SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
  ~tls_server_test() override { SSL_CTX_free(cctx); }

  std::unique_ptr<pipe_pair> connect(tls_worker& wk, const char* sni) {
    auto p = std::make_unique<pipe_pair>(cctx, shared.context().native_handle());
    if (sni != nullptr) SSL_set_tlsext_host_name(p->client, sni);
    tls_server_context::attach(p->server, &wk);
    return p;
  }
};

}  // namespace

TEST(tls_material, parses_a_pair_and_refuses_a_foreign_key) {
  auto a = make_cert("ns/a", 1), b = make_cert("ns/b", 2);
  std::string err;
  EXPECT_NE(parse_tls_material(a->cert_pem, a->key_pem, &err), nullptr) << err;
  EXPECT_EQ(parse_tls_material(a->cert_pem, b->key_pem, &err), nullptr);
  EXPECT_NE(err.find("does not match"), std::string::npos) << err;
  EXPECT_EQ(parse_tls_material("garbage", a->key_pem, &err), nullptr);
  EXPECT_EQ(parse_tls_material(a->cert_pem, "garbage", &err), nullptr);
}

TEST(tls_material, self_signed_names_itself_like_ingress_nginx) {
  auto m = make_self_signed_material();
  ASSERT_NE(m, nullptr);
  char cn[128] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(m->leaf()), NID_commonName, cn, sizeof cn);
  EXPECT_STREQ(cn, "Kubernetes Ingress Controller Fake Certificate");
  EXPECT_EQ(X509_check_private_key(m->leaf(), m->key()), 1);
  EXPECT_GT(not_after_seconds(m->leaf()), 0);
}

TEST_F(tls_server_test, chooses_exact_then_wildcard_then_default) {
  auto a = make_cert("ns/a", 1), wild = make_cert("ns/wild", 2), def = make_cert("ns/def", 3);
  w.on_snapshot(make_snapshot({{"a.test", {a}}, {"*.wild.test", {wild}}, {"broken.test", {}}}));
  EXPECT_TRUE(same_leaf(only(w.choose("a.test")), *a));
  EXPECT_TRUE(same_leaf(only(w.choose("x.wild.test")), *wild));
  EXPECT_EQ(only(w.choose("unknown.test")), shared.self_signed().get());
  EXPECT_EQ(only(w.choose("broken.test")), shared.self_signed().get());
  EXPECT_EQ(only(w.choose("")), shared.self_signed().get());
  w.on_snapshot(make_snapshot({{"a.test", {a}}}, def));
  EXPECT_TRUE(same_leaf(only(w.choose("unknown.test")), *def));
  EXPECT_TRUE(same_leaf(only(w.choose("")), *def));
}

TEST_F(tls_server_test, cache_follows_the_snapshot_versions) {
  auto v1 = make_cert("ns/a", 1), v2 = make_cert("ns/a", 2);
  w.on_snapshot(make_snapshot({{"a.test", {v1}}}));
  EXPECT_TRUE(same_leaf(only(w.choose("a.test")), *v1));
  EXPECT_EQ(w.cached_certificates(), 1u);
  w.on_snapshot(make_snapshot({{"a.test", {v2}}}));
  EXPECT_EQ(w.cached_certificates(), 0u);  // v1 left with its Snapshot
  EXPECT_TRUE(same_leaf(only(w.choose("a.test")), *v2));
}

TEST_F(tls_server_test, unparsable_material_falls_back_to_the_default) {
  auto bad = make_cert("ns/bad", 7);
  bad->key_pem = "not a key";
  w.on_snapshot(make_snapshot({{"bad.test", {bad}}}));
  EXPECT_EQ(only(w.choose("bad.test")), shared.self_signed().get());
}

TEST_F(tls_server_test, handshake_serves_the_certificate_of_the_server_name) {
  auto a = make_cert("ns/a", 1);
  w.on_snapshot(make_snapshot({{"a.test", {a}}}));
  auto p = connect(w, "A.test");
  ASSERT_TRUE(p->handshake());
  EXPECT_EQ(p->peer_pem(), a->cert_pem);
  auto q = connect(w, nullptr);
  ASSERT_TRUE(q->handshake());
  EXPECT_EQ(q->peer_pem(), certificate_pem(shared.self_signed()->leaf()));
}

// The accepting context's self-signed ECDSA certificate stayed on the connection beside a
// Secret's RSA certificate, and OpenSSL preferred it for every client that offers ECDSA.
TEST_F(tls_server_test, rsa_certificate_of_the_server_name_is_served_not_the_ecdsa_default) {
  auto rsa = make_keyed_cert("ns/rsa", 1, "rsa.test", config::testing::key_kind::rsa);
  w.on_snapshot(make_snapshot({{"rsa.test", {rsa}}}, rsa));
  for (const char* sni : {"rsa.test", "unknown.test"}) {
    auto p = connect(w, sni);
    ASSERT_TRUE(p->handshake());
    EXPECT_EQ(p->peer_pem(), rsa->cert_pem) << sni;
  }
  auto q = connect(w, nullptr);  // no SNI: the (RSA) default certificate
  ASSERT_TRUE(q->handshake());
  EXPECT_EQ(q->peer_pem(), rsa->cert_pem);
}

TEST_F(tls_server_test, host_with_rsa_and_ecdsa_certificates_serves_what_the_client_verifies) {
  using config::testing::key_kind;
  auto rsa = make_keyed_cert("ns/rsa", 1, "both.test", key_kind::rsa);
  auto ec = make_keyed_cert("ns/ec", 2, "both.test", key_kind::ec);
  w.on_snapshot(make_snapshot({{"both.test", {rsa, ec}}}));
  EXPECT_EQ(w.choose("both.test").size(), 2u);
  EXPECT_EQ(w.cached_certificates(), 2u);
  struct client {
    const char* sigalgs;  // null: OpenSSL's default list (ECDSA first)
    int max_version;
    const std::string& expected;
  };
  for (const client& c : {client{"RSA-PSS+SHA256", TLS1_3_VERSION, rsa->cert_pem},
                          client{"RSA+SHA256", TLS1_2_VERSION, rsa->cert_pem},
                          client{"ECDSA+SHA256", TLS1_3_VERSION, ec->cert_pem},
                          client{"ECDSA+SHA256", TLS1_2_VERSION, ec->cert_pem},
                          client{nullptr, TLS1_3_VERSION, ec->cert_pem}}) {
    auto p = connect(w, "both.test");
    SSL_set_max_proto_version(p->client, c.max_version);
    if (c.sigalgs != nullptr) {
      ASSERT_EQ(SSL_set1_sigalgs_list(p->client, c.sigalgs), 1);
    }
    ASSERT_TRUE(p->handshake()) << (c.sigalgs ? c.sigalgs : "default");
    EXPECT_EQ(p->peer_pem(), c.expected) << (c.sigalgs ? c.sigalgs : "default");
  }
}

TEST_F(tls_server_test, refuses_tls11_and_offers_only_http11) {
  SSL_CTX_set_min_proto_version(cctx, TLS1_VERSION);
  SSL_CTX_set_max_proto_version(cctx, TLS1_1_VERSION);
  SSL_CTX_set_security_level(cctx, 0);
  SSL_CTX_set_cipher_list(cctx, "DEFAULT:@SECLEVEL=0");
  EXPECT_FALSE(connect(w, "a.test")->handshake());

  SSL_CTX_set_max_proto_version(cctx, 0);
  static const unsigned char h2_and_h11[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(cctx, h2_and_h11, sizeof h2_and_h11);
  auto p = connect(w, "a.test");
  ASSERT_TRUE(p->handshake());
  const unsigned char* proto = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(p->client, &proto, &len);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(proto), len), "http/1.1");
  EXPECT_EQ(SSL_version(p->client), TLS1_3_VERSION);
}

// With HTTP/2 on (--http2 and use-http2), ALPN chooses h2 whatever the client's order; a
// client without h2 still gets http/1.1 (RFC 7301 3.2).
TEST_F(tls_server_test, chooses_h2_when_allowed) {
  w.allow_h2(true);
  auto chosen = [&](const unsigned char* list, unsigned n) {
    SSL_CTX_set_alpn_protos(cctx, list, n);
    auto p = connect(w, "a.test");
    EXPECT_TRUE(p->handshake());
    const unsigned char* proto = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(p->client, &proto, &len);
    return std::string(reinterpret_cast<const char*>(proto), len);
  };
  static const unsigned char h11_then_h2[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1', 2, 'h', '2'};
  static const unsigned char h11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  EXPECT_EQ(chosen(h11_then_h2, sizeof h11_then_h2), "h2");
  EXPECT_EQ(chosen(h11, sizeof h11), "http/1.1");
  w.allow_h2(false);
  EXPECT_EQ(chosen(h11_then_h2, sizeof h11_then_h2), "http/1.1");
}

TEST_F(tls_server_test, tickets_resume_on_another_worker_and_survive_one_rotation) {
  tls_worker other{shared};
  auto first = connect(w, "a.test");
  ASSERT_TRUE(first->handshake());
  SSL_SESSION* sess = SSL_get1_session(first->client);
  ASSERT_NE(sess, nullptr);
  ASSERT_TRUE(SSL_SESSION_is_resumable(sess));
  // Saved like `s_client -sess_out`: OpenSSL's client uses a TLS 1.3 session object once.
  std::string der(static_cast<std::size_t>(i2d_SSL_SESSION(sess, nullptr)), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  i2d_SSL_SESSION(sess, &out);

  auto resume = [&](tls_worker& wk) {
    auto p = connect(wk, "a.test");
    const auto* in = reinterpret_cast<const unsigned char*>(der.data());
    SSL_SESSION* copy = d2i_SSL_SESSION(nullptr, &in, static_cast<long>(der.size()));
    SSL_set_session(p->client, copy);
    SSL_SESSION_free(copy);
    return p->handshake() && SSL_session_reused(p->client) == 1;
  };
  EXPECT_TRUE(resume(other));  // same keys on every worker
  EXPECT_TRUE(resume(w));
  const ticket_keys once = shared.rotate();
  w.set_keys(once);
  EXPECT_TRUE(resume(w));      // the previous key still decrypts
  const ticket_keys twice = shared.rotate();
  w.set_keys(twice);
  EXPECT_FALSE(resume(w));     // two rotations later: a full handshake
  SSL_SESSION_free(sess);
}

TEST(tls_client, server_name_and_pool_identity) {
  config::upstream_tls t;
  EXPECT_EQ(upstream_server_name(t, "App.Test:8443"), "app.test");
  EXPECT_EQ(upstream_server_name(t, "10.0.0.1:80"), "");
  EXPECT_EQ(upstream_server_name(t, "[fd00::1]:80"), "");
  t.server_name = "backend.internal";
  EXPECT_EQ(upstream_server_name(t, "app.test"), "backend.internal");
  config::upstream_tls verified = t;
  verified.verify = true;
  verified.ca_pem = "x";
  EXPECT_NE(upstream_tls_key(t, "a"), 0u);
  EXPECT_NE(upstream_tls_key(t, "a"), upstream_tls_key(t, "b"));
  EXPECT_NE(upstream_tls_key(t, "a"), upstream_tls_key(verified, "a"));
  EXPECT_EQ(upstream_tls_key(t, "a"), upstream_tls_key(t, "a"));
}
