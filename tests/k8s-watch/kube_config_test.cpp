#include "k8s-watch/kube_config.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace portico::watch {
namespace {

const char* kTwoContexts = R"(
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
- name: prod-cluster
  cluster:
    server: http://[::1]:8080/
    insecure-skip-tls-verify: true
contexts:
- name: dev
  context: {cluster: dev-cluster, user: alice, namespace: team-a}
- name: prod
  context: {cluster: prod-cluster, user: bob}
users:
- name: alice
  user:
    token: secret-token
- name: bob
  user:
    client-certificate-data: Y2VydA==
    client-key-data: a2V5
)";

TEST(kube_config, current_context_selects_cluster_user_and_namespace) {
  kube_config c = parse_kubeconfig(kTwoContexts);
  EXPECT_TRUE(c.tls);
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, "6443");
  EXPECT_EQ(c.ca_pem, "-----BEGIN CERTIFICATE-----\n");
  EXPECT_FALSE(c.insecure_skip_tls_verify);
  EXPECT_EQ(c.token, "secret-token");
  EXPECT_EQ(c.namespace_name, "team-a");
  EXPECT_EQ(c.server(), "https://127.0.0.1:6443");
}

TEST(kube_config, named_context_overrides_current_context) {
  kube_config c = parse_kubeconfig(kTwoContexts, "prod");
  EXPECT_FALSE(c.tls);
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.port, "8080");
  EXPECT_TRUE(c.insecure_skip_tls_verify);
  EXPECT_EQ(c.client_cert_pem, "cert");
  EXPECT_EQ(c.client_key_pem, "key");
  EXPECT_TRUE(c.token.empty());
  EXPECT_EQ(c.namespace_name, "default");
  EXPECT_EQ(c.server(), "http://[::1]:8080");
}

TEST(kube_config, unknown_context_is_an_error_naming_it) {
  try {
    parse_kubeconfig(kTwoContexts, "staging");
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("staging"), std::string::npos);
  }
}

TEST(kube_config, file_references_resolve_relative_to_the_kubeconfig) {
  auto dir = std::filesystem::temp_directory_path() / ("kc-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "pki");
  std::ofstream(dir / "pki" / "ca.crt") << "CA-PEM";
  std::ofstream(dir / "pki" / "client.crt") << "CERT-PEM";
  std::ofstream(dir / "pki" / "client.key") << "KEY-PEM";
  std::ofstream(dir / "token") << "tok\n";
  std::ofstream(dir / "config") << R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://api.example:7443", certificate-authority: pki/ca.crt}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
users: [{name: u, user: {tokenFile: token, client-certificate: pki/client.crt, client-key: pki/client.key}}]
)";
  kube_config c = load_kubeconfig((dir / "config").string());
  EXPECT_EQ(c.host, "api.example");
  EXPECT_EQ(c.port, "7443");
  EXPECT_EQ(c.ca_pem, "CA-PEM");
  EXPECT_EQ(c.client_cert_pem, "CERT-PEM");
  EXPECT_EQ(c.client_key_pem, "KEY-PEM");
  EXPECT_EQ(c.token_file, (dir / "token").string());
  std::filesystem::remove_all(dir);
}

TEST(kube_config, in_cluster_reads_service_account_files) {
  auto dir = std::filesystem::temp_directory_path() / ("sa-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "ca.crt") << "SA-CA";
  std::ofstream(dir / "namespace") << "ingress\n";
  std::ofstream(dir / "token") << "t";
  ::setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  kube_config c = in_cluster_config(dir.string());
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
  EXPECT_EQ(c.server(), "https://10.96.0.1:443");
  EXPECT_EQ(c.ca_pem, "SA-CA");
  EXPECT_EQ(c.namespace_name, "ingress");
  EXPECT_EQ(c.token_file, (dir / "token").string());
  EXPECT_EQ(c.token_reread, std::chrono::seconds(60));
  std::filesystem::remove_all(dir);
}

TEST(kube_config, apiserver_host_override_parses_scheme_and_default_port) {
  kube_config c;
  set_server(c, "http://localhost");
  EXPECT_FALSE(c.tls);
  EXPECT_EQ(c.port, "80");
  set_server(c, "https://10.0.0.1");
  EXPECT_TRUE(c.tls);
  EXPECT_EQ(c.port, "443");
  set_server(c, "10.0.0.2:6443");
  EXPECT_EQ(c.host, "10.0.0.2");
  EXPECT_EQ(c.port, "6443");
}

TEST(kube_config, base64_decodes_with_and_without_padding) {
  EXPECT_EQ(base64_decode("aGVsbG8="), "hello");
  EXPECT_EQ(base64_decode("aGVsbG8"), "hello");
  EXPECT_THROW(base64_decode("a*b"), std::runtime_error);
}

}  // namespace
}  // namespace portico::watch
