// How to reach the Kubernetes API server: in-cluster service-account configuration, a
// kubeconfig file (current context or a named one), and the --apiserver-host override.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace portico::watch {

struct kube_config {
  bool tls = true;            // https (false: plain http, for --apiserver-host http://...)
  std::string host;           // name or address (no brackets)
  std::string port = "443";
  std::string ca_pem;         // PEM of the trusted CA(s); empty: the system store
  bool insecure_skip_tls_verify = false;
  std::string token;          // bearer token (static)
  std::string token_file;     // bearer token re-read from this file periodically
  std::chrono::seconds token_reread{60};
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string namespace_name = "default";  // the pod's (in-cluster) or the context's namespace

  std::string server() const;  // "https://host:port"
};

struct kube_config_flags {
  std::string kubeconfig;      // --kubeconfig
  std::string context;         // --context
  std::string apiserver_host;  // --apiserver-host (URL), overrides the server
};

// Parses a kubeconfig document. Relative file names resolve against base_dir.
// Throws std::runtime_error naming the problem.
kube_config parse_kubeconfig(std::string_view yaml_text, std::string_view context = {},
                             const std::string& base_dir = ".");
kube_config load_kubeconfig(const std::string& path, std::string_view context = {});

// KUBERNETES_SERVICE_HOST/_PORT and the service-account files in sa_dir.
kube_config in_cluster_config(
    const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// Sets scheme, host and port from "https://host:port", "http://h:p", "host:port" or "host".
void set_server(kube_config& cfg, std::string_view url);

// --kubeconfig when given (else in-cluster), then --apiserver-host over the server.
kube_config resolve_kube_config(const kube_config_flags& flags);

std::string base64_decode(std::string_view in);  // throws on invalid input
std::string read_file_text(const std::string& path);  // throws naming the path

}  // namespace portico::watch
