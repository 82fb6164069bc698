#include "k8s-watch/kube_config.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace portico::watch {

std::string kube_config::server() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return std::string(tls ? "https://" : "http://") + h + ":" + port;
}

std::string read_file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string base64_decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=' || c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
    int v = val(c);
    if (v < 0) throw std::runtime_error("invalid base64");
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

void set_server(kube_config& cfg, std::string_view url) {
  std::string_view rest = url;
  if (rest.starts_with("https://")) {
    cfg.tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    cfg.tls = false;
    rest.remove_prefix(7);
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  if (rest.empty()) throw std::runtime_error("empty API server address");
  std::string default_port = cfg.tls ? "443" : "80";
  if (rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) throw std::runtime_error("bad server " + std::string(url));
    cfg.host = std::string(rest.substr(1, close - 1));
    auto after = rest.substr(close + 1);
    cfg.port = after.starts_with(":") ? std::string(after.substr(1)) : default_port;
    return;
  }
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && rest.find(':') == colon) {
    cfg.host = std::string(rest.substr(0, colon));
    cfg.port = std::string(rest.substr(colon + 1));
  } else {
    cfg.host = std::string(rest);
    cfg.port = default_port;
  }
}

namespace {

std::string resolve_path(const std::string& p, const std::string& base_dir) {
  if (p.empty() || p.front() == '/') return p;
  return base_dir + "/" + p;
}

YAML::Node find_named(const YAML::Node& list, const std::string& name, const char* what) {
  if (list && list.IsSequence()) {
    for (const auto& item : list) {
      if (item["name"] && item["name"].as<std::string>() == name) return item[what];
    }
  }
  throw std::runtime_error(std::string("kubeconfig: no ") + what + " named \"" + name + "\"");
}

std::string str(const YAML::Node& n, const char* key) {
  return n && n[key] ? n[key].as<std::string>() : std::string();
}

// "<key>-data" (base64) wins over "<key>" (a file name).
std::string data_or_file(const YAML::Node& n, const std::string& key, const std::string& base) {
  if (auto d = str(n, (key + "-data").c_str()); !d.empty()) return base64_decode(d);
  if (auto f = str(n, key.c_str()); !f.empty()) return read_file_text(resolve_path(f, base));
  return {};
}

}  // namespace

kube_config parse_kubeconfig(std::string_view yaml_text, std::string_view context,
                             const std::string& base_dir) {
  YAML::Node doc;
  try {
    doc = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    throw std::runtime_error(std::string("kubeconfig: ") + e.what());
  }
  std::string ctx_name = context.empty() ? str(doc, "current-context") : std::string(context);
  if (ctx_name.empty()) throw std::runtime_error("kubeconfig: no current-context and no --context");
  YAML::Node ctx = find_named(doc["contexts"], ctx_name, "context");
  kube_config cfg;
  YAML::Node cluster = find_named(doc["clusters"], str(ctx, "cluster"), "cluster");
  std::string server = str(cluster, "server");
  if (server.empty()) throw std::runtime_error("kubeconfig: cluster has no server");
  set_server(cfg, server);
  cfg.ca_pem = data_or_file(cluster, "certificate-authority", base_dir);
  if (cluster["insecure-skip-tls-verify"]) {
    cfg.insecure_skip_tls_verify = cluster["insecure-skip-tls-verify"].as<bool>();
  }
  if (auto ns = str(ctx, "namespace"); !ns.empty()) cfg.namespace_name = ns;
  if (auto user_name = str(ctx, "user"); !user_name.empty()) {
    YAML::Node user = find_named(doc["users"], user_name, "user");
    cfg.token = str(user, "token");
    if (auto tf = str(user, "tokenFile"); !tf.empty() && cfg.token.empty()) {
      cfg.token_file = resolve_path(tf, base_dir);
    }
    cfg.client_cert_pem = data_or_file(user, "client-certificate", base_dir);
    cfg.client_key_pem = data_or_file(user, "client-key", base_dir);
  }
  return cfg;
}

kube_config load_kubeconfig(const std::string& path, std::string_view context) {
  auto slash = path.rfind('/');
  std::string base = slash == std::string::npos ? "." : path.substr(0, slash);
  if (base.empty()) base = "/";
  return parse_kubeconfig(read_file_text(path), context, base);
}

kube_config in_cluster_config(const std::string& sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port) {
    throw std::runtime_error(
        "not running in a cluster (KUBERNETES_SERVICE_HOST/_PORT unset); use --kubeconfig");
  }
  kube_config cfg;
  cfg.host = host;
  cfg.port = port;
  cfg.token_file = sa_dir + "/token";
  cfg.ca_pem = read_file_text(sa_dir + "/ca.crt");
  try {
    std::string ns = read_file_text(sa_dir + "/namespace");
    while (!ns.empty() && (ns.back() == '\n' || ns.back() == ' ')) ns.pop_back();
    if (!ns.empty()) cfg.namespace_name = ns;
  } catch (const std::exception&) {
  }
  return cfg;
}

kube_config resolve_kube_config(const kube_config_flags& flags) {
  kube_config cfg;
  if (!flags.kubeconfig.empty()) {
    cfg = load_kubeconfig(flags.kubeconfig, flags.context);
  } else if (std::getenv("KUBERNETES_SERVICE_HOST") || flags.apiserver_host.empty()) {
    cfg = in_cluster_config();
  }
  if (!flags.apiserver_host.empty()) set_server(cfg, flags.apiserver_host);
  if (const char* ns = std::getenv("POD_NAMESPACE"); ns && *ns) cfg.namespace_name = ns;
  return cfg;
}

}  // namespace portico::watch
