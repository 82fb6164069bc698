// Upstream TLS from backend-protocol "HTTPS" and the proxy-ssl-* annotations: TLS clusters
// apart from plain ones (ids), settings carried in cluster::tls, verification without a CA
// failing closed (503), unsupported protocols reported, reuse with the previous Snapshot.
#include <gtest/gtest.h>

#include "config/backends.hpp"
#include "config/tls_annotations.hpp"
#include "state_fixture.hpp"
#include "tls_test_certs.hpp"

namespace portico::config {
namespace {

using testing::make_cert_for;
using testing::tls_ingress;

constexpr const char* t1 = "2024-01-01T00:00:00Z";
const std::string protocol = "nginx.ingress.kubernetes.io/backend-protocol";
const std::string verify = "nginx.ingress.kubernetes.io/proxy-ssl-verify";
const std::string ca_secret = "nginx.ingress.kubernetes.io/proxy-ssl-secret";
const std::string ssl_name = "nginx.ingress.kubernetes.io/proxy-ssl-name";

secret ca_secret_of(const std::string& ns, const std::string& name, const std::string& ca_pem) {
  secret s;
  s.meta.namespace_name = ns;
  s.meta.name = name;
  s.type = "Opaque";
  s.data["ca.crt"] = ca_pem;
  return s;
}

cluster_state state_of(const std::string& ingresses, const std::vector<secret>& secrets = {}) {
  auto st = testing::state_from_yaml(std::string(testing::our_class) + testing::tls_services +
                                     ingresses);
  for (const auto& s : secrets) st.upsert(s);
  return st;
}

const cluster& backend(const build_result& r, std::string_view host) {
  const route* rt = r.snap->find(host, "/");
  EXPECT_TRUE(rt) << host;
  return *rt->backend;
}

TEST(tls_upstream, https_gets_its_own_cluster_apart_from_plain_http) {
  auto r = build(state_of(
      tls_ingress("ns", "secure", t1, {"s.com"}, {}, {{protocol, "https"}}) +
      tls_ingress("ns", "plain", t1, {"p.com"}, {}) +
      tls_ingress("ns", "auto", t1, {"auto.com"}, {}, {{protocol, "AUTO_HTTP"}})));
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  const cluster& s = backend(r, "s.com");
  const cluster& p = backend(r, "p.com");
  EXPECT_EQ(s.id, "ns/a:80+tls");
  EXPECT_EQ(p.id, "ns/a:80");
  ASSERT_TRUE(s.tls);
  EXPECT_FALSE(s.tls->verify);
  EXPECT_EQ(s.tls->server_name, "");
  EXPECT_FALSE(p.tls);
  EXPECT_EQ(&backend(r, "auto.com"), &p);  // AUTO_HTTP is plain HTTP: the same cluster
  EXPECT_EQ(s.endpoints.size(), 1u);
  EXPECT_EQ(s.endpoints[0].to_string(), "10.0.0.1:8443");
  EXPECT_EQ(r.snap->clusters().size(), 2u);
  EXPECT_EQ(r.snap->find_cluster("ns/a:80+tls"), &s);
}

TEST(tls_upstream, verification_with_ca_secret_and_name) {
  auto ca = make_cert_for({"ca.internal"});
  auto r = build(state_of(
      tls_ingress("ns", "v", t1, {"v.com"}, {},
                  {{protocol, "HTTPS"}, {verify, "on"}, {ca_secret, "ns/upstream-ca"},
                   {ssl_name, "API.internal"}}),
      {ca_secret_of("ns", "upstream-ca", ca.cert_pem)}));
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  const cluster& c = backend(r, "v.com");
  ASSERT_TRUE(c.tls);
  EXPECT_TRUE(c.tls->verify);
  EXPECT_EQ(c.tls->ca_pem, ca.cert_pem);
  EXPECT_EQ(c.tls->ca_secret, "ns/upstream-ca");
  EXPECT_EQ(c.tls->server_name, "api.internal");
  EXPECT_TRUE(c.id.starts_with("ns/a:80+tls-")) << c.id;
  EXPECT_EQ(c.id.size(), std::string("ns/a:80+tls-").size() + 16) << c.id;
  EXPECT_EQ(c.endpoints.size(), 1u);
}

TEST(tls_upstream, different_tls_settings_never_share_a_cluster) {
  auto ca = make_cert_for({"ca.internal"});
  auto r = build(state_of(
      tls_ingress("ns", "n1", t1, {"n1.com"}, {}, {{protocol, "HTTPS"}, {ssl_name, "one.svc"}}) +
          tls_ingress("ns", "n2", t1, {"n2.com"}, {}, {{protocol, "HTTPS"}, {ssl_name, "two.svc"}}) +
          tls_ingress("ns", "n3", t1, {"n3.com"}, {}, {{protocol, "HTTPS"}, {ssl_name, "one.svc"}}) +
          tls_ingress("ns", "v", t1, {"v.com"}, {},
                      {{protocol, "HTTPS"}, {verify, "on"}, {ca_secret, "ns/ca"}}),
      {ca_secret_of("ns", "ca", ca.cert_pem)}));
  ASSERT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  const cluster& n1 = backend(r, "n1.com");
  EXPECT_NE(n1.id, backend(r, "n2.com").id);
  EXPECT_NE(n1.id, backend(r, "v.com").id);
  EXPECT_EQ(&n1, &backend(r, "n3.com"));  // equal settings: shared
  EXPECT_EQ(r.snap->clusters().size(), 3u);
}

TEST(tls_upstream, verify_without_a_usable_ca_fails_closed_with_503) {
  auto r = build(state_of(
      tls_ingress("ns", "none", t1, {"none.com"}, {}, {{protocol, "HTTPS"}, {verify, "on"}}) +
          tls_ingress("ns", "missing", t1, {"missing.com"}, {},
                      {{protocol, "HTTPS"}, {verify, "on"}, {ca_secret, "ns/nope"}}) +
          tls_ingress("ns", "junk", t1, {"junk.com"}, {},
                      {{protocol, "HTTPS"}, {verify, "on"}, {ca_secret, "ns/junk"}}),
      {ca_secret_of("ns", "junk", "not a certificate")}));
  for (const char* host : {"none.com", "missing.com", "junk.com"}) {
    const cluster& c = backend(r, host);
    ASSERT_TRUE(c.tls) << host;
    EXPECT_TRUE(c.tls->verify) << host;
    EXPECT_EQ(c.tls->ca_pem, "") << host;
    EXPECT_TRUE(c.endpoints.empty()) << host << ": must answer 503";
    EXPECT_TRUE(c.id.ends_with("-unusable")) << c.id;
  }
  auto has = [&](std::string_view name, std::string_view field, std::string_view text) {
    for (const auto& e : r.errors) {
      if (e.name == name && e.field == field && e.message.find(text) != std::string::npos) {
        return true;
      }
    }
    return false;
  };
  std::string vf = annotation_field(verify), sf = annotation_field(ca_secret);
  EXPECT_TRUE(has("none", vf, "503")) << testing::errors_text(r.errors);
  EXPECT_TRUE(has("missing", sf, "ns/nope not found")) << testing::errors_text(r.errors);
  EXPECT_TRUE(has("junk", "data[ca.crt]", "no PEM certificate")) << testing::errors_text(r.errors);
  // The plain cluster of the same Service port is untouched by all this.
  auto plain = build(state_of(tls_ingress("ns", "p", t1, {"p.com"}, {})));
  EXPECT_EQ(backend(plain, "p.com").endpoints.size(), 1u);
}

TEST(tls_upstream, invalid_verify_value_fails_closed) {
  auto ca = make_cert_for({"ca.internal"});
  auto r = build(state_of(tls_ingress("ns", "i", t1, {"i.com"}, {},
                                      {{protocol, "HTTPS"}, {verify, "true"}, {ca_secret, "ns/ca"}}),
                          {ca_secret_of("ns", "ca", ca.cert_pem)}));
  ASSERT_EQ(r.errors.size(), 1u) << testing::errors_text(r.errors);
  EXPECT_EQ(r.errors[0].field, annotation_field(verify));
  EXPECT_TRUE(backend(r, "i.com").tls->verify);
  EXPECT_EQ(backend(r, "i.com").endpoints.size(), 1u);
}

TEST(tls_upstream, ca_secret_from_another_namespace_is_refused) {
  auto ca = make_cert_for({"ca.internal"});
  auto r = build(state_of(tls_ingress("ns", "i", t1, {"i.com"}, {},
                                      {{protocol, "HTTPS"}, {verify, "on"}, {ca_secret, "other/ca"}}),
                          {ca_secret_of("other", "ca", ca.cert_pem)}));
  bool found = false;
  for (const auto& e : r.errors) {
    found = found || (e.field == annotation_field(ca_secret) &&
                      e.message.find("another namespace") != std::string::npos);
  }
  EXPECT_TRUE(found) << testing::errors_text(r.errors);
  EXPECT_TRUE(backend(r, "i.com").endpoints.empty());
}

TEST(tls_upstream, unsupported_and_invalid_protocols_are_reported_and_stay_plain) {
  auto r = build(state_of(
      tls_ingress("ns", "g", t1, {"g.com"}, {}, {{protocol, "AJP"}}) +
      tls_ingress("ns", "f", t1, {"f.com"}, {}, {{protocol, "fcgi"}}) +
      tls_ingress("ns", "x", t1, {"x.com"}, {}, {{protocol, "SPDY"}})));
  ASSERT_EQ(r.errors.size(), 3u) << testing::errors_text(r.errors);
  for (const auto& e : r.errors) EXPECT_EQ(e.field, annotation_field(protocol));
  EXPECT_NE(r.errors[0].message.find("not supported"), std::string::npos);
  EXPECT_NE(r.errors[2].message.find("must be one of"), std::string::npos);
  for (const char* host : {"g.com", "f.com", "x.com"}) {
    EXPECT_FALSE(backend(r, host).tls) << host;
    EXPECT_EQ(backend(r, host).id, "ns/a:80") << host;
  }
}

// GRPC is HTTP/2 in cleartext to the plain cluster; GRPCS is HTTP/2 over the HTTPS cluster's
// TLS, with the proxy-ssl-* settings read as for HTTPS.
TEST(tls_upstream, grpc_and_grpcs_route_over_http2) {
  auto r = build(state_of(
      tls_ingress("ns", "g", t1, {"g.com"}, {}, {{protocol, "grpc"}}) +
      tls_ingress("ns", "s", t1, {"s.com"}, {}, {{protocol, "GRPCS"}, {ssl_name, "api.internal"}}) +
      tls_ingress("ns", "h", t1, {"h.com"}, {}, {{protocol, "HTTPS"}, {ssl_name, "api.internal"}}) +
      tls_ingress("ns", "p", t1, {"p.com"}, {})));
  EXPECT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  auto route_of = [&](std::string_view host) { return r.snap->find(host, "/"); };
  ASSERT_TRUE(route_of("g.com") && route_of("s.com") && route_of("h.com") && route_of("p.com"));
  EXPECT_TRUE(route_of("g.com")->upstream_h2);
  EXPECT_FALSE(backend(r, "g.com").tls);
  EXPECT_EQ(&backend(r, "g.com"), &backend(r, "p.com"));  // one plain cluster
  EXPECT_FALSE(route_of("p.com")->upstream_h2);
  EXPECT_TRUE(route_of("s.com")->upstream_h2);
  ASSERT_TRUE(backend(r, "s.com").tls);
  EXPECT_EQ(backend(r, "s.com").tls->server_name, "api.internal");
  EXPECT_EQ(backend(r, "s.com").id, backend(r, "h.com").id);  // same TLS settings, same identity
  EXPECT_FALSE(route_of("h.com")->upstream_h2);
}

TEST(tls_upstream, previous_clusters_are_reused_only_with_equal_tls_settings) {
  auto ca1 = make_cert_for({"ca.internal"});
  auto ca2 = make_cert_for({"ca.internal"});
  std::string ing = tls_ingress("ns", "v", t1, {"v.com"}, {},
                                {{protocol, "HTTPS"}, {verify, "on"}, {ca_secret, "ns/ca"}});
  auto st = state_of(ing + tls_ingress("ns", "p", t1, {"p.com"}, {}),
                     {ca_secret_of("ns", "ca", ca1.cert_pem)});
  auto first = build(st);
  build_options o;
  o.previous = first.snap;
  auto second = build(st, o);
  EXPECT_EQ(&backend(second, "v.com"), &backend(first, "v.com"));
  EXPECT_EQ(second.snap->hash(), first.snap->hash());

  st.upsert(ca_secret_of("ns", "ca", ca2.cert_pem));  // CA rotated: same id, new settings
  o.previous = second.snap;
  auto third = build(st, o);
  const cluster& v3 = backend(third, "v.com");
  EXPECT_NE(&v3, &backend(second, "v.com"));
  EXPECT_EQ(v3.id, backend(second, "v.com").id);
  EXPECT_EQ(v3.tls->ca_pem, ca2.cert_pem);
  EXPECT_EQ(&backend(third, "p.com"), &backend(first, "p.com"));  // plain one untouched
  EXPECT_NE(third.snap->hash(), second.snap->hash());
}

TEST(tls_upstream, cluster_id_format) {
  ingress_backend b;
  b.service_name = "svc";
  b.port.number = 443;
  EXPECT_EQ(cluster_id("ns", b), "ns/svc:443");
  upstream_tls t;
  EXPECT_EQ(cluster_id("ns", b, &t), "ns/svc:443+tls");
  t.server_name = "x";
  std::string named = cluster_id("ns", b, &t);
  EXPECT_TRUE(named.starts_with("ns/svc:443+tls-"));
  t.ca_pem = "anything";  // the CA content is not part of the identity
  EXPECT_EQ(cluster_id("ns", b, &t), named);
  t.verify = true;
  t.ca_pem.clear();
  EXPECT_TRUE(upstream_tls_unusable(&t));
  EXPECT_TRUE(cluster_id("ns", b, &t).ends_with("-unusable"));
  EXPECT_FALSE(upstream_tls_unusable(nullptr));
}

TEST(tls_upstream, client_certificate_depth_protocols_and_ciphers) {
  auto ca = make_cert_for({"ca.internal"});
  auto client = make_cert_for({"portico.client"});
  secret s = ca_secret_of("ns", "mtls", ca.cert_pem);
  s.data["tls.crt"] = client.cert_pem;
  s.data["tls.key"] = client.key_pem;
  const std::string depth = "nginx.ingress.kubernetes.io/proxy-ssl-verify-depth";
  const std::string protocols = "nginx.ingress.kubernetes.io/proxy-ssl-protocols";
  const std::string ciphers = "nginx.ingress.kubernetes.io/proxy-ssl-ciphers";
  auto r = build(state_of(
      tls_ingress("ns", "m", t1, {"m.com"}, {},
                  {{protocol, "HTTPS"}, {verify, "on"}, {ca_secret, "ns/mtls"}, {depth, "2"},
                   {protocols, "TLSv1.3"}, {ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256:!aNULL"}}) +
          tls_ingress("ns", "bad", t1, {"bad.com"}, {},
                      {{protocol, "HTTPS"}, {depth, "0"}, {protocols, "SSLv3"}, {ciphers, "a b"}}),
      {s}));
  const cluster& m = backend(r, "m.com");
  ASSERT_TRUE(m.tls);
  EXPECT_EQ(m.tls->client_cert_pem, client.cert_pem);
  EXPECT_EQ(m.tls->client_key_pem, client.key_pem);
  EXPECT_EQ(m.tls->verify_depth, 2u);
  EXPECT_EQ(m.tls->protocols, upstream_tls::tls13);
  EXPECT_EQ(m.tls->ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256:!aNULL");
  EXPECT_FALSE(m.endpoints.empty());
  const cluster& b = backend(r, "bad.com");
  ASSERT_TRUE(b.tls);
  EXPECT_EQ(b.tls->verify_depth, 0u);  // bad values: the defaults, each reported
  EXPECT_EQ(b.tls->protocols, 0u);
  EXPECT_EQ(b.tls->ciphers, "");
  auto reported = [&](const std::string& key) {
    for (const auto& e : r.errors)
      if (e.field == annotation_field(key) && e.name == "bad") return true;
    return false;
  };
  EXPECT_TRUE(reported(depth) && reported(protocols) && reported(ciphers)) << testing::errors_text(r.errors);
  EXPECT_NE(m.id, b.id);
}

TEST(tls_upstream, an_unusable_client_certificate_fails_closed) {
  auto ca = make_cert_for({"ca.internal"});
  auto client = make_cert_for({"portico.client"});
  auto other = make_cert_for({"other.client"});
  secret s = ca_secret_of("ns", "mtls", ca.cert_pem);
  s.data["tls.crt"] = client.cert_pem;
  s.data["tls.key"] = other.key_pem;  // not the certificate's key
  auto r = build(state_of(tls_ingress("ns", "m", t1, {"m.com"}, {}, {{protocol, "HTTPS"}, {ca_secret, "ns/mtls"}}),
                          {s}));
  const cluster& m = backend(r, "m.com");
  ASSERT_TRUE(m.tls);
  EXPECT_TRUE(m.tls->client_cert_unusable);
  EXPECT_TRUE(m.endpoints.empty());  // 503, never a connection without the client certificate
  bool found = false;
  for (const auto& e : r.errors)
    found = found || (e.field == annotation_field(ca_secret) && e.message.find("503") != std::string::npos);
  EXPECT_TRUE(found) << testing::errors_text(r.errors);
}

TEST(tls_upstream, another_namespace_with_allow_cross_namespace_resources) {
  auto ca = make_cert_for({"ca.internal"});
  auto st = state_of(tls_ingress("ns", "i", t1, {"i.com"}, {},
                                 {{protocol, "HTTPS"}, {verify, "on"}, {ca_secret, "other/ca"}}),
                     {ca_secret_of("other", "ca", ca.cert_pem)});
  st.upsert(testing::state_from_yaml(R"(
apiVersion: v1
kind: ConfigMap
metadata: {name: portico, namespace: ingress}
data: {allow-cross-namespace-resources: "true"}
)").config_maps.begin()->second);
  build_options o;
  o.configmap = "ingress/portico";
  auto r = build(st, o);
  EXPECT_TRUE(r.errors.empty()) << testing::errors_text(r.errors);
  const cluster& c = backend(r, "i.com");
  ASSERT_TRUE(c.tls);
  EXPECT_EQ(c.tls->ca_pem, ca.cert_pem);
  EXPECT_FALSE(c.endpoints.empty());
}

}  // namespace
}  // namespace portico::config
