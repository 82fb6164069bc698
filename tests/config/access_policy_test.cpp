// Decoding of the access annotations into the route policy: source address lists
// (whitelist/allowlist/denylist-source-range and the ConfigMap's lists, block-cidrs), CORS,
// and basic authentication's users from auth-secret.
#include <gtest/gtest.h>

#include <string>

#include "config/client_auth.hpp"
#include "config/htpasswd.hpp"
#include "config/ip_set.hpp"
#include "tests/config/state_fixture.hpp"

namespace portico::config {
namespace {

using testing::errors_text;
using testing::our_class;
using testing::state_from_yaml;

const std::string svc = R"(
---
apiVersion: v1
kind: Service
metadata: {name: app, namespace: ns}
spec: {ports: [{name: http, port: 80}]}
)";

std::string ing(const std::string& name, const std::string& annotations, const std::string& ns = "ns") {
  return "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " + name +
         "\n  namespace: " + ns + "\n  annotations: {" + annotations +
         "}\nspec:\n  ingressClassName: portico\n  rules:\n  - host: " + name +
         ".test\n    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: "
         "{name: app, port: {number: 80}}}}\n";
}

const route_policy& policy_of(const build_result& r, const std::string& host) {
  const route* rt = r.snap->find(host, "/");
  EXPECT_NE(rt, nullptr) << host;
  static const route_policy none;
  return rt != nullptr ? *rt->policy : none;
}

bool reported(const build_result& r, const std::string& field_part, const std::string& text) {
  for (const auto& e : r.errors)
    if (e.field.find(field_part) != std::string::npos && e.message.find(text) != std::string::npos)
      return true;
  return false;
}

TEST(ip_set, networks_and_hosts_of_both_families) {
  ip_set s;
  EXPECT_TRUE(s.add("10.0.0.0/8"));
  EXPECT_TRUE(s.add(" 192.0.2.7 "));
  EXPECT_TRUE(s.add("2001:db8::/32"));
  EXPECT_TRUE(s.add("172.16.0.0/12"));
  for (auto bad : {"10.0.0.0/33", "2001:db8::/129", "not-an-ip", "10.0.0.0/", "10.0.0.0/8x", "", "1.2.3"})
    EXPECT_FALSE(s.add(bad)) << bad;
  for (auto in : {"10.1.2.3", "10.255.255.255", "192.0.2.7", "::ffff:10.0.0.1", "2001:db8:1::5",
                  "172.31.255.255"})
    EXPECT_TRUE(s.contains(in)) << in;
  for (auto out : {"11.0.0.0", "192.0.2.8", "2001:db9::1", "172.32.0.0", "", "garbage"})
    EXPECT_FALSE(s.contains(out)) << out;
  ip_set all;
  EXPECT_TRUE(all.add("0.0.0.0/0"));
  EXPECT_TRUE(all.contains("203.0.113.9"));
  EXPECT_FALSE(ip_set{}.contains("127.0.0.1"));  // an empty set holds nothing
}

TEST(ip_set, a_list_reports_its_bad_entries) {
  ip_set s;
  auto bad = add_ip_list("127.0.0.2, ,127.0.1.0/24,nope, ::1", s);
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0], "nope");
  EXPECT_TRUE(s.contains("127.0.1.9"));
  EXPECT_TRUE(s.contains("::1"));
}

TEST(source_ranges, allow_and_deny_lists_are_decoded) {
  auto r = build(state_from_yaml(
      std::string(our_class) + svc +
      ing("a", R"(nginx.ingress.kubernetes.io/whitelist-source-range: "127.0.0.2, 10.0.0.0/8",
                 nginx.ingress.kubernetes.io/denylist-source-range: "10.9.0.0/16")")));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  const auto& p = policy_of(r, "a.test");
  ASSERT_TRUE(p.source.allow && p.source.deny);
  EXPECT_TRUE(p.source.allow->contains("10.9.1.1"));
  EXPECT_TRUE(p.source.deny->contains("10.9.1.1"));
  EXPECT_FALSE(p.source.allow->contains("127.0.0.3"));
  EXPECT_TRUE(p.denied.empty());
}

TEST(source_ranges, allowlist_wins_over_the_older_name) {
  auto r = build(state_from_yaml(
      std::string(our_class) + svc +
      ing("a", R"(nginx.ingress.kubernetes.io/whitelist-source-range: "127.0.0.2",
                 nginx.ingress.kubernetes.io/allowlist-source-range: "127.0.0.3")")));
  const auto& p = policy_of(r, "a.test");
  ASSERT_TRUE(p.source.allow);
  EXPECT_TRUE(p.source.allow->contains("127.0.0.3"));
  EXPECT_FALSE(p.source.allow->contains("127.0.0.2"));
  EXPECT_TRUE(reported(r, "whitelist-source-range", "allowlist-source-range is also set"))
      << errors_text(r.errors);
}

TEST(source_ranges, a_bad_entry_denies_the_ingress_and_names_it) {
  auto r = build(state_from_yaml(
      std::string(our_class) + svc +
      ing("a", R"(nginx.ingress.kubernetes.io/whitelist-source-range: "127.0.0.2, 10.0.0.0/33")") +
      ing("b", R"(nginx.ingress.kubernetes.io/denylist-source-range: "")") + ing("c", "")));
  EXPECT_FALSE(policy_of(r, "a.test").denied.empty());
  EXPECT_FALSE(policy_of(r, "b.test").denied.empty());  // empty: ingress-nginx denies too
  EXPECT_TRUE(policy_of(r, "c.test").denied.empty());
  EXPECT_TRUE(reported(r, "metadata.annotations[nginx.ingress.kubernetes.io/whitelist-source-range]",
                       "\"10.0.0.0/33\" is not an IP address or network"))
      << errors_text(r.errors);
}

const std::string configmap = R"(
---
apiVersion: v1
kind: ConfigMap
metadata: {name: portico, namespace: ingress}
data:
  whitelist-source-range: "127.0.0.0/24"
  denylist-source-range: "127.0.0.9"
  block-cidrs: "127.0.5.0/24, ::2"
)";

TEST(source_ranges, the_configmap_lists_are_defaults_an_annotation_replaces) {
  build_options o;
  o.configmap = "ingress/portico";
  auto r = build(state_from_yaml(std::string(our_class) + svc + configmap + ing("a", "") +
                                 ing("b", R"(nginx.ingress.kubernetes.io/whitelist-source-range: "10.0.0.1")")),
                 o);
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  const auto& a = policy_of(r, "a.test");
  ASSERT_TRUE(a.source.allow && a.source.deny);
  EXPECT_TRUE(a.source.allow->contains("127.0.0.200"));
  EXPECT_TRUE(a.source.deny->contains("127.0.0.9"));
  const auto& b = policy_of(r, "b.test");
  ASSERT_TRUE(b.source.allow && b.source.deny);
  EXPECT_FALSE(b.source.allow->contains("127.0.0.200"));  // replaced
  EXPECT_TRUE(b.source.deny->contains("127.0.0.9"));      // the other list stays
  const auto& block = r.snap->settings().block_cidrs;
  ASSERT_TRUE(block);
  EXPECT_TRUE(block->contains("127.0.5.77"));
  EXPECT_TRUE(block->contains("::2"));
}

// One Ingress "a" and the controller ConfigMap ingress/portico with `data` (flow YAML).
build_result with_configmap(const std::string& data) {
  build_options o;
  o.configmap = "ingress/portico";
  return build(state_from_yaml(std::string(our_class) + svc +
                               "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: portico, "
                               "namespace: ingress}\ndata: " + data + "\n" + ing("a", "")),
               o);
}

TEST(source_ranges, a_bad_configmap_entry_denies_every_route) {
  auto r = with_configmap(R"({block-cidrs: "127.0.5.0/24, 300.1.1.1"})");
  EXPECT_FALSE(policy_of(r, "a.test").denied.empty());
  EXPECT_TRUE(reported(r, "data[block-cidrs]", "\"300.1.1.1\" is not an IP address"))
      << errors_text(r.errors);
}

TEST(cors, defaults_are_ingress_nginx_s) {
  auto r = build(state_from_yaml(std::string(our_class) + svc +
                                 ing("a", R"(nginx.ingress.kubernetes.io/enable-cors: "true")")));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  const auto& c = policy_of(r, "a.test").cors;
  EXPECT_TRUE(c.enabled);
  EXPECT_TRUE(c.any_origin);
  EXPECT_EQ(c.methods, "GET, PUT, POST, DELETE, PATCH, OPTIONS");
  EXPECT_EQ(c.headers,
            "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,"
            "Content-Type,Range,Authorization");
  EXPECT_EQ(c.expose, "");
  EXPECT_TRUE(c.credentials);
  EXPECT_EQ(c.max_age, "1728000");
}

TEST(cors, origins_are_validated_one_by_one) {
  auto r = build(state_from_yaml(
      std::string(our_class) + svc +
      ing("a", R"(nginx.ingress.kubernetes.io/enable-cors: "true",
                 nginx.ingress.kubernetes.io/cors-allow-origin: "https://Origin.test:8080, ,http://*.wild.test, bad origin, ftp//x",
                 nginx.ingress.kubernetes.io/cors-allow-methods: "GET, POST",
                 nginx.ingress.kubernetes.io/cors-allow-headers: "X-Custom, X_Other",
                 nginx.ingress.kubernetes.io/cors-expose-headers: "X-Total, *",
                 nginx.ingress.kubernetes.io/cors-allow-credentials: "false",
                 nginx.ingress.kubernetes.io/cors-max-age: "600")") +
      ing("b", R"(nginx.ingress.kubernetes.io/enable-cors: "true",
                 nginx.ingress.kubernetes.io/cors-allow-origin: "https://b.test, *")") +
      ing("c", R"(nginx.ingress.kubernetes.io/enable-cors: "true",
                 nginx.ingress.kubernetes.io/cors-allow-methods: "GET; rm -rf",
                 nginx.ingress.kubernetes.io/cors-allow-origin: "$http_origin")")));
  const auto& a = policy_of(r, "a.test").cors;
  EXPECT_FALSE(a.any_origin);
  EXPECT_EQ(a.origins, (std::vector<std::string>{"https://origin.test:8080", "http://*.wild.test"}));
  EXPECT_EQ(a.methods, "GET, POST");
  EXPECT_EQ(a.headers, "X-Custom, X_Other");
  EXPECT_EQ(a.expose, "X-Total, *");
  EXPECT_FALSE(a.credentials);
  EXPECT_EQ(a.max_age, "600");
  EXPECT_TRUE(reported(r, "cors-allow-origin", "\"bad origin\" is not an origin"));
  EXPECT_TRUE(reported(r, "cors-allow-origin", "\"ftp//x\" is not an origin"));
  EXPECT_TRUE(policy_of(r, "b.test").cors.any_origin);
  const auto& c = policy_of(r, "c.test").cors;
  EXPECT_EQ(c.methods, "GET, PUT, POST, DELETE, PATCH, OPTIONS");  // a bad value keeps the default
  EXPECT_FALSE(c.any_origin);  // no valid origin: no CORS headers, never "every origin"
  EXPECT_TRUE(c.origins.empty());
  EXPECT_TRUE(reported(r, "cors-allow-origin", "no valid origin"));
  EXPECT_TRUE(reported(r, "cors-allow-methods", "must be methods"));
}

std::string secret(const std::string& name, const std::string& ns, const std::string& data) {
  return "---\napiVersion: v1\nkind: Secret\ntype: Opaque\nmetadata: {name: " + name +
         ", namespace: " + ns + "}\nstringData:\n" + data;
}

// Made with `htpasswd -nbB alice s3cret` and `htpasswd -nbm bob hunter2`.
const std::string alice = "$2y$05$TKxfqWbcOTjrsY6r23OI8urgkcAynUxDgDVYncohKMyLD3Lnilb..";
const std::string bob = "$apr1$M90gfCBV$lcGgMnR8NYdQi7MDRKrbx/";

TEST(basic_auth, users_come_from_the_secret_s_htpasswd_file) {
  auto r = build(state_from_yaml(
      std::string(our_class) + svc +
      secret("users", "ns", "  auth: |\n    # admins\n    alice:" + alice + "\n    bob:" + bob +
                                "\n    mallory:plaintext\n    broken line\n") +
      ing("a", R"(nginx.ingress.kubernetes.io/auth-type: basic,
                 nginx.ingress.kubernetes.io/auth-secret: users,
                 nginx.ingress.kubernetes.io/auth-realm: "Authentication Required - ok")")));
  const auto& b = policy_of(r, "a.test").basic_auth;
  ASSERT_TRUE(b.users);
  EXPECT_EQ(b.users->users.size(), 2u);
  ASSERT_NE(b.users->find("alice"), nullptr);
  EXPECT_EQ(*b.users->find("alice"), alice);
  EXPECT_EQ(b.users->find("mallory"), nullptr);  // a hash Portico cannot verify: cannot sign in
  EXPECT_EQ(b.realm, "Authentication Required - ok");
  EXPECT_EQ(b.secret, "ns/users");
  EXPECT_TRUE(policy_of(r, "a.test").denied.empty());
  EXPECT_TRUE(reported(r, "auth-secret", "line 4: the hash is not one of")) << errors_text(r.errors);
  EXPECT_TRUE(reported(r, "auth-secret", "line 5 is not \"user:hash\""));
  // Secret contents never appear in messages.
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.message.find("plaintext"), std::string::npos) << e.message;
    EXPECT_EQ(e.message.find("$2y$"), std::string::npos) << e.message;
    EXPECT_EQ(e.message.find("broken"), std::string::npos) << e.message;
  }
}

TEST(basic_auth, auth_map_secrets_have_one_key_per_user) {
  auto r = build(state_from_yaml(
      std::string(our_class) + svc + secret("map", "ns", "  alice: \"" + alice + "\"\n  bob: \"" + bob + "\"\n") +
      ing("a", R"(nginx.ingress.kubernetes.io/auth-type: basic,
                 nginx.ingress.kubernetes.io/auth-secret: ns/map,
                 nginx.ingress.kubernetes.io/auth-secret-type: auth-map)")));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  const auto& b = policy_of(r, "a.test").basic_auth;
  ASSERT_TRUE(b.users);
  EXPECT_EQ(b.users->users.size(), 2u);
  EXPECT_NE(b.users->find("bob"), nullptr);
}

TEST(basic_auth, every_way_it_cannot_be_applied_denies_the_routes) {
  const std::string users = secret("users", "ns", "  auth: \"alice:" + alice + "\"\n") +
                            secret("theirs", "other", "  auth: \"alice:" + alice + "\"\n");
  auto r = build(state_from_yaml(
      std::string(our_class) + svc + users +
      ing("missing", R"(nginx.ingress.kubernetes.io/auth-type: basic, nginx.ingress.kubernetes.io/auth-secret: nope)") +
      ing("cross", R"(nginx.ingress.kubernetes.io/auth-type: basic, nginx.ingress.kubernetes.io/auth-secret: other/theirs)") +
      ing("nosecret", R"(nginx.ingress.kubernetes.io/auth-type: basic)") +
      ing("digest", R"(nginx.ingress.kubernetes.io/auth-type: digest)") +
      ing("badtype", R"(nginx.ingress.kubernetes.io/auth-type: ntlm, nginx.ingress.kubernetes.io/auth-secret: users)") +
      ing("badkind", R"(nginx.ingress.kubernetes.io/auth-type: basic, nginx.ingress.kubernetes.io/auth-secret: users,
                       nginx.ingress.kubernetes.io/auth-secret-type: auth-ldap)") +
      ing("ok", R"(nginx.ingress.kubernetes.io/auth-type: basic, nginx.ingress.kubernetes.io/auth-secret: users)")));
  for (auto host : {"missing.test", "cross.test", "nosecret.test", "digest.test", "badtype.test", "badkind.test"})
    EXPECT_FALSE(policy_of(r, host).denied.empty()) << host;
  EXPECT_TRUE(policy_of(r, "ok.test").denied.empty());
  EXPECT_TRUE(reported(r, "auth-secret]", "Secret ns/nope not found"));
  EXPECT_TRUE(reported(r, "auth-secret]", "Secret other/theirs is in another namespace"));
  EXPECT_TRUE(reported(r, "auth-type]", "auth-type basic needs auth-secret"));
  EXPECT_TRUE(reported(r, "auth-type]", "auth-type digest needs auth-secret"));
  EXPECT_TRUE(reported(r, "auth-secret-type]", "must be \"auth-file\" or \"auth-map\""));
}

TEST(digest_auth, htdigest_users_of_the_realm) {
  const std::string ha1 = "939e7578ed9e3c518a452acee763bce9";
  auto r = build(state_from_yaml(
      std::string(our_class) + svc +
      secret("dig", "ns", "  auth: \"alice:Portico:" + ha1 + "\\nbob:Other:" + ha1 + "\"\n") +
      ing("a", R"(nginx.ingress.kubernetes.io/auth-type: digest, nginx.ingress.kubernetes.io/auth-secret: dig,
                  nginx.ingress.kubernetes.io/auth-realm: Portico)")));
  const auto& b = policy_of(r, "a.test").basic_auth;
  ASSERT_TRUE(b.users);
  EXPECT_TRUE(b.digest);
  EXPECT_EQ(b.realm, "Portico");
  ASSERT_EQ(b.users->users.size(), 1u);
  EXPECT_EQ(*b.users->find("alice"), ha1);
  EXPECT_TRUE(reported(r, "auth-secret]", "user bob is of realm \"Other\"")) << errors_text(r.errors);
  EXPECT_TRUE(policy_of(r, "a.test").denied.empty());
}

TEST(basic_auth, a_changed_secret_changes_the_policy_hash) {
  auto one = build(state_from_yaml(
      std::string(our_class) + svc + secret("users", "ns", "  auth: \"alice:" + alice + "\"\n") +
      ing("a", R"(nginx.ingress.kubernetes.io/auth-type: basic, nginx.ingress.kubernetes.io/auth-secret: users)")));
  auto two = build(state_from_yaml(
      std::string(our_class) + svc + secret("users", "ns", "  auth: \"alice:" + bob + "\"\n") +
      ing("a", R"(nginx.ingress.kubernetes.io/auth-type: basic, nginx.ingress.kubernetes.io/auth-secret: users)")));
  EXPECT_NE(policy_of(one, "a.test").hash, policy_of(two, "a.test").hash);
}

TEST(htpasswd, formats_users_have) {
  for (auto h : {"$2y$05$TKxfqWbcOTjrsY6r23OI8urgkcAynUxDgDVYncohKMyLD3Lnilb..",
                 "$apr1$M90gfCBV$lcGgMnR8NYdQi7MDRKrbx/", "{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68=",
                 "9EyXsyVbLyVu.", "$1$abcdefgh$7.lm.6ee9.UHlcakym0SR.", "$6$abcdefgh$x", "$5$a$b",
                 "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$rcY"})
    EXPECT_TRUE(known_hash_format(h)) << h;
  for (auto h : {"plaintext", "", "$2y$", "{SSHA}abc", "{PLAIN}pw", "9EyXsyVbLyVu!"})
    EXPECT_FALSE(known_hash_format(h)) << h;
}

TEST(htpasswd, first_line_of_a_user_wins_and_comments_are_skipped) {
  std::vector<std::string> problems;
  auto h = parse_htpasswd("# c\r\n\nbob:9EyXsyVbLyVu.:comment\r\nbob:{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68=\n:x\n",
                          problems);
  ASSERT_EQ(h.users.size(), 1u);
  EXPECT_EQ(h.users[0].second, "9EyXsyVbLyVu.");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0], "line 5 is not \"user:hash\"; skipped");
}

}  // namespace
}  // namespace portico::config

namespace portico::config {
namespace {

TEST(limits, rates_connections_and_the_allowlist_are_decoded) {
  auto r = build(state_from_yaml(
      std::string(our_class) + svc +
      ing("a", R"(nginx.ingress.kubernetes.io/limit-rps: "5", nginx.ingress.kubernetes.io/limit-rpm: "100",
                 nginx.ingress.kubernetes.io/limit-connections: "2",
                 nginx.ingress.kubernetes.io/limit-burst-multiplier: "3",
                 nginx.ingress.kubernetes.io/limit-whitelist: "10.0.0.0/8",
                 nginx.ingress.kubernetes.io/limit-allowlist: "127.0.0.5")") +
      ing("b", R"(nginx.ingress.kubernetes.io/limit-rps: "five")") +
      ing("c", R"(nginx.ingress.kubernetes.io/limit-allowlist: "127.0.0.5")")));
  const auto& a = policy_of(r, "a.test").limits;
  EXPECT_EQ(a.rps, 5u);
  EXPECT_EQ(a.rpm, 100u);
  EXPECT_EQ(a.connections, 2u);
  EXPECT_EQ(a.burst_multiplier, 3u);
  EXPECT_EQ(a.zone, "ns/a");
  ASSERT_TRUE(a.allowlist);
  EXPECT_TRUE(a.allowlist->contains("127.0.0.5"));
  EXPECT_FALSE(a.allowlist->contains("10.1.1.1"));  // limit-allowlist wins
  EXPECT_FALSE(policy_of(r, "b.test").denied.empty());  // a limit not applied: 503
  EXPECT_TRUE(reported(r, "limit-rps]", "must be a whole number"));
  EXPECT_FALSE(policy_of(r, "c.test").limits.any());
}

TEST(limits, configmap_status_codes) {
  auto r = with_configmap(R"({limit-req-status-code: "429", limit-conn-status-code: "200"})");
  EXPECT_EQ(r.snap->settings().limit_req_status_code, 429u);
  EXPECT_EQ(r.snap->settings().limit_conn_status_code, 503u);  // not an error status: default
  EXPECT_TRUE(reported(r, "data[limit-conn-status-code]", "between 400 and 599"));
}

}  // namespace
}  // namespace portico::config

namespace portico::config {
namespace {

// A CA and an empty CRL made with `openssl req -x509` and `openssl ca -gencrl`.
const std::string ca_yaml = R"(    -----BEGIN CERTIFICATE-----
    MIIBfDCCASGgAwIBAgIUdlollqKmaHcg0gKdiIxcNhRI4yUwCgYIKoZIzj0EAwIw
    EjEQMA4GA1UEAwwHVGVzdCBDQTAgFw0yNjEyMDUxMDIwMzVaGA8yMTI2MTExMTEw
    MjAzNVowEjEQMA4GA1UEAwwHVGVzdCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEH
    A0IABGmhXKP7PRBOQxoApAVrBx8OYSZ6m9Qrm3uVCY9pkjfOygV3uZJqiXoipTos
    d+9JZZhZ7cbGFTf4cgZmy541qwCjUzBRMB0GA1UdDgQWBBTE4HYRv7moomT8t5Z3
    nw91ytcY4zAfBgNVHSMEGDAWgBTE4HYRv7moomT8t5Z3nw91ytcY4zAPBgNVHRMB
    Af8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQDi5UNrVGup1HsWUKRoDkiuyNbC
    ZCJXeSHA+rEnmtnuDwIhAJWR2uqj+B+xx//iPHoNwYlvqzoVZpa6SvdUFPEBacay
    -----END CERTIFICATE-----
)";
const std::string crl_yaml = R"(    -----BEGIN X509 CRL-----
    MIGrMFMCAQEwCgYIKoZIzj0EAwIwEjEQMA4GA1UEAwwHVGVzdCBDQRcNMjYxMjA1
    MTAyMDM1WhgPMjEyNjExMTExMDIwMzVaoA4wDDAKBgNVHRQEAwIBATAKBggqhkjO
    PQQDAgNIADBFAiA7krcXLnCmW+a1/F7EGBff3sES68hqICifx8egHDWmiQIhAI9g
    VLmYPTS6hJUboodD31Pmn8s8AjLyZ+B7aJ5x1IaF
    -----END X509 CRL-----
)";

std::string ca_secret(const std::string& name, const std::string& ns, bool with_crl) {
  return "---\napiVersion: v1\nkind: Secret\ntype: Opaque\nmetadata: {name: " + name +
         ", namespace: " + ns + "}\nstringData:\n  ca.crt: |\n" + ca_yaml +
         (with_crl ? "  ca.crl: |\n" + crl_yaml : std::string());
}

TEST(client_certificates, settings_are_decoded_per_ingress_and_mapped_per_host) {
  auto r = build(state_from_yaml(
      std::string(our_class) + svc + ca_secret("ca", "ns", true) +
      ing("a", R"x(nginx.ingress.kubernetes.io/auth-tls-secret: ns/ca,
                 nginx.ingress.kubernetes.io/auth-tls-verify-client: optional,
                 nginx.ingress.kubernetes.io/auth-tls-verify-depth: "2",
                 nginx.ingress.kubernetes.io/auth-tls-error-page: "https://errors.test/cert.html",
                 nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream: "true",
                 nginx.ingress.kubernetes.io/auth-tls-match-cn: "CN=(alice|bob)")x") +
      ing("b", "")));
  ASSERT_TRUE(r.errors.empty()) << errors_text(r.errors);
  const client_auth* a = r.snap->find_client_auth("A.test:443");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->verify, client_verify::optional);
  EXPECT_EQ(a->depth, 2u);
  EXPECT_EQ(a->error_page, "https://errors.test/cert.html");
  EXPECT_TRUE(a->pass_certificate);
  EXPECT_TRUE(a->has_crl);
  EXPECT_EQ(a->secret, "ns/ca");
  EXPECT_EQ(sk_X509_NAME_num(a->ca_names.get()), 1);
  EXPECT_EQ(r.snap->find_client_auth("b.test"), nullptr);
  EXPECT_NE(a->id, 0u);
}

TEST(client_certificates, what_cannot_be_applied_denies_the_routes) {
  auto r = build(state_from_yaml(
      std::string(our_class) + svc + ca_secret("ca", "ns", false) + ca_secret("theirs", "other", false) +
      "---\napiVersion: v1\nkind: Secret\ntype: Opaque\nmetadata: {name: empty, namespace: ns}\nstringData: {x: y}\n" +
      ing("missing", R"(nginx.ingress.kubernetes.io/auth-tls-secret: nope)") +
      ing("cross", R"(nginx.ingress.kubernetes.io/auth-tls-secret: other/theirs)") +
      ing("noca", R"(nginx.ingress.kubernetes.io/auth-tls-secret: empty)") +
      ing("badcn", R"(nginx.ingress.kubernetes.io/auth-tls-secret: ca, nginx.ingress.kubernetes.io/auth-tls-match-cn: "alice")") +
      ing("lonely", R"(nginx.ingress.kubernetes.io/auth-tls-verify-client: "on")")));
  for (auto host : {"missing.test", "cross.test", "noca.test", "badcn.test"}) {
    EXPECT_FALSE(policy_of(r, host).denied.empty()) << host;
    EXPECT_EQ(r.snap->find_client_auth(host), nullptr) << host;  // denied: 503, not asked
  }
  EXPECT_TRUE(reported(r, "auth-tls-secret]", "Secret ns/nope not found"));
  EXPECT_TRUE(reported(r, "auth-tls-secret]", "is in another namespace"));
  EXPECT_TRUE(reported(r, "auth-tls-secret]", "has no ca.crt"));
  EXPECT_TRUE(reported(r, "auth-tls-match-cn]", "must be \"CN=\""));
  EXPECT_TRUE(reported(r, "auth-tls-verify-client]", "without auth-tls-secret"));
  EXPECT_TRUE(policy_of(r, "lonely.test").denied.empty());
}

TEST(client_certificates, the_oldest_ingress_of_a_host_decides) {
  auto r = build(state_from_yaml(
      std::string(our_class) + svc + ca_secret("ca", "ns", false) +
      ing("a", R"(nginx.ingress.kubernetes.io/auth-tls-secret: ca)") +
      "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: z\n  namespace: ns\n"
      "  creationTimestamp: \"2030-01-01T00:00:00Z\"\n  annotations: {nginx.ingress.kubernetes.io/auth-tls-secret: ca,"
      " nginx.ingress.kubernetes.io/auth-tls-verify-client: \"off\"}\nspec:\n  ingressClassName: portico\n"
      "  rules:\n  - host: a.test\n    http:\n      paths:\n      - {path: /z, pathType: Prefix, backend: "
      "{service: {name: app, port: {number: 80}}}}\n"));
  const client_auth* a = r.snap->find_client_auth("a.test");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->verify, client_verify::on);
  EXPECT_TRUE(reported(r, "auth-tls-secret]", "already has the client certificate settings of Ingress ns/a"))
      << errors_text(r.errors);
}

TEST(limit_rate, kilobytes_from_the_annotation_or_the_configmap) {
  build_options o;
  o.configmap = "ingress/portico";
  auto r = build(state_from_yaml(
                     std::string(our_class) + svc +
                     "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: portico, namespace: "
                     "ingress}\ndata: {limit-rate: '8', limit-rate-after: '1'}\n" +
                     ing("a", "") +
                     ing("b", R"(nginx.ingress.kubernetes.io/limit-rate: "100", nginx.ingress.kubernetes.io/limit-rate-after: "0")") +
                     ing("c", R"(nginx.ingress.kubernetes.io/limit-rate: "fast")")),
                 o);
  const auto& a = policy_of(r, "a.test");
  EXPECT_EQ(a.limit_rate, 8u * 1024);  // the ConfigMap's, in kilobytes as ingress-nginx renders it
  EXPECT_EQ(a.limit_rate_after, 1024u);
  const auto& b = policy_of(r, "b.test");
  EXPECT_EQ(b.limit_rate, 100u * 1024);
  EXPECT_EQ(b.limit_rate_after, 0u);
  const auto& c = policy_of(r, "c.test");
  EXPECT_EQ(c.limit_rate, 8u * 1024);  // a bad value: the default applies, reported
  EXPECT_TRUE(c.denied.empty());
  EXPECT_TRUE(reported(r, "limit-rate]", "kilobytes")) << errors_text(r.errors);
}

}  // namespace
}  // namespace portico::config
