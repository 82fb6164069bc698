// The `portico` executable: `serve`, `routes`, `version`.
#include <sys/resource.h>
#include <csignal>

#include <boost/asio/io_context.hpp>
#include <boost/program_options.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <sstream>
#include <cstdio>
#include <cstdlib>
#include <array>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "config/annotations.hpp"
#include "config/build.hpp"
#include "deploy/dns-sync/command.hpp"
#include "k8s-watch/controller.hpp"
#include "k8s-watch/file_source.hpp"
#include "proxy/metric_shards.hpp"
#include "proxy/server.hpp"

namespace po = boost::program_options;
namespace asio = boost::asio;
using namespace portico;

namespace {

constexpr const char* portico_version = "0.1.0";

constexpr const char* top_usage =
    "Usage: portico <command> [options]\n"
    "\n"
    "Commands:\n"
    "  serve    run the proxy on the Kubernetes objects of a manifest directory\n"
    "  routes   print the resolved route table of a manifest directory and its errors\n"
    "  dns-sync keep DNS records of Ingress hosts in line with their status addresses\n"
    "  annotations  print every ingress-nginx annotation and ConfigMap key and what Portico\n"
    "           does with it (markdown tables, as in the README)\n"
    "  version  print the version\n"
    "\n"
    "`portico <command> --help` describes each command's options.\n";

namespace cli {

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      out += b;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string now_rfc3339() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

// Splits "12ms" into 12 and "ms"; throws po::error naming `flag` when there is no number.
std::pair<std::uint64_t, std::string> split_number(const std::string& text, const char* flag) {
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || p == text.data())
    throw po::error(std::string(flag) + ": '" + text + "' is not a number with a unit");
  std::string unit(p, text.data() + text.size());
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return std::tolower(c); });
  return {n, unit};
}

// nginx time syntax: "5s", "500ms", "1m", "2h", "1d"; a bare number is seconds (the
// ConfigMap's parser, config::parse_nginx_time; units in any case).
std::chrono::milliseconds parse_duration(const std::string& text, const char* flag) {
  auto [n, unit] = split_number(text, flag);  // a number first, else the error names the flag
  if (auto t = config::parse_nginx_time(std::to_string(n) + unit)) return *t;
  throw po::error(std::string(flag) + ": unknown time unit in '" + text + "' (ms, s, m, h, d)");
}

// nginx size syntax: "32k", "1m", "1g" (binary multiples); a bare number is bytes.
std::uint64_t parse_size(const std::string& text, const char* flag) {
  auto [n, unit] = split_number(text, flag);
  if (unit.empty()) return n;
  if (unit == "k" || unit == "kb") return n << 10;
  if (unit == "m" || unit == "mb") return n << 20;
  if (unit == "g" || unit == "gb") return n << 30;
  throw po::error(std::string(flag) + ": unknown size unit in '" + text + "' (k, m, g)");
}

std::vector<std::string> parse_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// A comma-separated list of TCP ports ("8080,9443"); anything else is an error naming `flag`.
std::vector<std::uint16_t> parse_ports(const std::string& text, const char* flag) {
  std::vector<std::uint16_t> out;
  for (const auto& item : parse_list(text)) {
    unsigned v = 0;
    const char* end = item.data() + item.size();
    auto [p, ec] = std::from_chars(item.data(), end, v);
    if (ec != std::errc{} || p != end || v == 0 || v > 65535)
      throw po::error(std::string(flag) + ": '" + item + "' is not a port (1-65535) in '" + text +
                      "' (a comma-separated list of ports)");
    out.push_back(static_cast<std::uint16_t>(v));
  }
  return out;
}

// "8080,8081" (the inverse of parse_ports).
std::string ports_text(const std::vector<std::uint16_t>& ports) {
  std::string out;
  for (const std::uint16_t p : ports) {
    if (!out.empty()) out.push_back(',');
    out += std::to_string(p);
  }
  return out;
}

// "dir/x.yaml: Ingress default/web: field: message" when the object's file is known.
std::string with_file(const watch::source_update& u, const config::build_error& e) {
  std::string file = u.file_of(e.kind, e.namespace_name, e.name);
  return file.empty() ? e.to_string() : file + ": " + e.to_string();
}

std::string endpoints_text(const config::cluster* c) {
  if (c == nullptr || c->endpoints.empty()) return "<none: 503>";
  std::string out;
  for (const auto& e : c->endpoints) {
    if (!out.empty()) out += ",";
    out += e.to_string();
    if (!e.ready) out += "(terminating)";
  }
  return out;
}

// HOST PATH TYPE KIND NAME SERVICE ENDPOINTS, columns padded to their widest cell. KIND and
// NAME say where the route comes from: an Ingress, an HTTPRoute, a GRPCRoute (PATH
// "/service/method", "*" for any), or the
// --default-backend-service flag.
std::string format_routes(const config::snapshot& snap) {
  std::vector<std::array<std::string, 7>> rows;
  rows.push_back({"HOST", "PATH", "TYPE", "KIND", "NAME", "SERVICE", "ENDPOINTS"});
  for (const auto& r : snap.routes()) {
    std::string host = r->host.empty() ? "*" : r->host;
    std::string path = r->is_default_backend ? "*" : r->path;
    std::string type = r->is_default_backend ? "defaultBackend" : r->path_type;
    const bool flag = r->ingress_name.empty();
    const char* kind = flag ? "flag" : r->grpc ? "GRPCRoute" : r->gateway ? "HTTPRoute" : "Ingress";
    rows.push_back({host, path, type, kind,
                    flag ? std::string("--default-backend-service")
                         : r->namespace_name + "/" + r->ingress_name,
                    r->service_name + ":" + r->service_port, endpoints_text(r->backend.get())});
    if (const auto* c = r->canary.get()) {
      // The canary shares the row above's host and path.
      rows.push_back({"", "", "canary", "Ingress", c->namespace_name + "/" + c->ingress_name,
                      c->service_name + ":" + c->service_port, endpoints_text(c->backend.get())});
    }
  }
  std::array<std::size_t, 7> width{};
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  std::string out;
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      out += row[i];
      if (i + 1 < row.size()) out += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out += "\n";
  }
  if (rows.size() == 1) out += "(no routes: requests get the built-in 404 backend)\n";
  return out;
}

}  // namespace cli

// ---------------------------------------------------------------------------- logging

void log_line(const char* level, const std::string& msg, const std::string& extra = "") {
  std::string line = "{\"time\":\"" + cli::now_rfc3339() + "\",\"level\":\"" + level +
                     "\",\"msg\":" + cli::json_quote(msg);
  if (!extra.empty()) line += "," + extra;
  line += "}\n";
  std::fputs(line.c_str(), stderr);
}

std::string field(const char* name, const std::string& value) {
  return cli::json_quote(name) + ":" + cli::json_quote(value);
}

std::string field(const char* name, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", value);
  return cli::json_quote(name) + ":" + buf;
}

// ---------------------------------------------------------------------------- options

struct class_flags {
  std::string controller_class = "portico.dev/ingress-controller";
  std::string ingress_class = "portico";
  std::string annotations_prefix = "nginx.ingress.kubernetes.io";
  std::string configmap;  // "ns/name" of the controller's ConfigMap
  std::string gateway_controller_name = "portico.dev/gateway-controller";
  std::string gateway_http_ports_text, gateway_https_ports_text;  // as given
  std::vector<std::uint16_t> gateway_http_ports, gateway_https_ports;  // resolve_gateway_ports()
};

void add_class_options(po::options_description& d, class_flags& c) {
  d.add_options()(
      "controller-class", po::value(&c.controller_class)->default_value(c.controller_class),
      "serve Ingresses whose IngressClass has this spec.controller")(
      "ingress-class", po::value(&c.ingress_class)->default_value(c.ingress_class),
      "serve Ingresses with this legacy kubernetes.io/ingress.class annotation")(
      "annotations-prefix", po::value(&c.annotations_prefix)->default_value(c.annotations_prefix),
      "prefix of the annotations read (portico.dev/ is read too)")(
      "configmap", po::value(&c.configmap),
      "ConfigMap ns/name with the controller configuration (ingress-nginx keys; it wins over flags)")(
      "gateway-controller-name",
      po::value(&c.gateway_controller_name)->default_value(c.gateway_controller_name),
      "serve Gateways whose GatewayClass has this spec.controllerName")(
      "gateway-http-ports", po::value(&c.gateway_http_ports_text),
      "comma-separated ports besides 80 that Portico listens on for Gateway HTTP listeners of that "
      "port (the Pod must expose them; default none)")(
      "gateway-https-ports", po::value(&c.gateway_https_ports_text),
      "comma-separated ports besides 443 that Portico listens on for Gateway HTTPS listeners of that "
      "port, with the certificates of --https-port (default none)");
}

// Parses --gateway-http-ports and --gateway-https-ports: ports, none twice, never 80 or 443
// (Gateway listeners there are served on --http-port and --https-port).
void resolve_gateway_ports(class_flags& c) {
  c.gateway_http_ports = cli::parse_ports(c.gateway_http_ports_text, "--gateway-http-ports");
  c.gateway_https_ports = cli::parse_ports(c.gateway_https_ports_text, "--gateway-https-ports");
  std::vector<std::uint16_t> seen;
  auto check = [&seen](const std::vector<std::uint16_t>& ports, const char* flag) {
    for (const std::uint16_t p : ports) {
      if (p == 80 || p == 443)
        throw po::error(std::string(flag) + ": port " + std::to_string(p) +
                        ": Gateway listeners on 80 and 443 are served on --http-port and --https-port");
      if (std::find(seen.begin(), seen.end(), p) != seen.end())
        throw po::error(std::string(flag) + ": port " + std::to_string(p) + " is listed twice");
      seen.push_back(p);
    }
  };
  check(c.gateway_http_ports, "--gateway-http-ports");
  check(c.gateway_https_ports, "--gateway-https-ports");
}

// The build options every command uses: classes, prefix, ConfigMap, flag defaults.
config::build_options build_options_from(const class_flags& c, const config::controller_config& defaults) {
  config::build_options bo;
  bo.controller_class = c.controller_class;
  bo.ingress_class = c.ingress_class;
  bo.annotations_prefix = c.annotations_prefix;
  bo.configmap = c.configmap;
  bo.gateway_controller_name = c.gateway_controller_name;
  bo.gateway_http_ports = c.gateway_http_ports;
  bo.gateway_https_ports = c.gateway_https_ports;
  bo.defaults = defaults;
  return bo;
}

// Parses `args` (the command's own arguments); prints help and returns false on --help.
bool parse(const char* cmd, const std::vector<std::string>& args, po::options_description& d,
           po::variables_map& vm, const char* about) {
  d.add_options()("help,h", "show this help");
  po::store(po::command_line_parser(args).options(d).run(), vm);
  if (vm.count("help")) {
    std::cout << "Usage: portico " << cmd << " [options]\n" << about << "\n\n" << d << "\n";
    return false;
  }
  po::notify(vm);
  return true;
}

struct serve_flags {
  std::string config_dir;
  class_flags classes;
  std::string connect_timeout = "5s", read_timeout = "60s", send_timeout = "60s";
  std::string client_header_timeout = "60s", client_body_timeout = "60s";
  std::string keepalive_timeout = "75s", tunnel_idle_timeout = "3600s";
  std::string max_header_size = "32k", max_body_size = "1m";
  std::string client_body_buffer_size = "8k";
  std::string allowed_upgrades = "websocket";
  std::string upstream_keepalive_timeout = "60s", eject_base = "5s", eject_max = "60s";
  std::string trusted_proxies;
  std::string shutdown_delay = "5s", shutdown_grace = "240s";
  std::string debounce = "200ms", max_delay = "1s";
  std::string default_ssl_certificate;
  std::string debug_endpoints = "loopback";
  std::vector<std::string> exclude_socket_metrics;  // each a comma-separated list
  std::vector<std::string> time_buckets, length_buckets, size_buckets;  // the same
};

// --https-port: 443 when watching the Kubernetes API (the DaemonSet's hostPort), 8443 with
// --config-dir (no privileges needed on a laptop).
constexpr std::uint16_t cluster_https_port = 443;
constexpr std::uint16_t file_https_port = 8443;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void add_server_options(po::options_description& d, proxy::server_options& o, serve_flags& f) {
  auto dur = [](std::string& s) { return po::value(&s)->default_value(s); };
  d.add_options()
    ("listen-address", po::value(&o.listen_address)->default_value(o.listen_address), "HTTP listen address")
    ("http-port", po::value(&o.http_port)->default_value(o.http_port), "HTTP port (0: ephemeral)")
    ("https-port", po::value(&o.https_port),
     "HTTPS port (default: 443 with the Kubernetes API, 8443 with --config-dir; 0: no HTTPS)")
    ("default-ssl-certificate", po::value(&f.default_ssl_certificate),
     "namespace/name of a kubernetes.io/tls Secret served to TLS clients whose server name has no "
     "certificate of its own (default: a self-signed certificate made at start-up)")
    ("default-backend-service", po::value(&o.default_backend_service),
     "namespace/name of a Service (its first port) that answers the statuses listed in "
     "custom-http-errors, as ingress-nginx's default backend")
    ("hsts", po::value(&o.hsts)->default_value(o.hsts)->implicit_value(true),
     "Strict-Transport-Security on HTTPS responses (--hsts=false turns it off)")
    ("hsts-max-age", po::value(&o.hsts_max_age)->default_value(o.hsts_max_age), "HSTS max-age in seconds")
    ("hsts-include-subdomains",
     po::value(&o.hsts_include_subdomains)->default_value(o.hsts_include_subdomains)->implicit_value(true),
     "HSTS includeSubDomains")
    ("hsts-preload", po::value(&o.hsts_preload)->default_value(o.hsts_preload)->implicit_value(true),
     "HSTS preload")
    ("http2", po::value(&o.http2)->default_value(o.http2)->implicit_value(true),
     "offer HTTP/2 (ALPN h2) to HTTPS clients, unless the ConfigMap's use-http2 is false "
     "(--http2=false: HTTP/1.1 only)")
    ("h2c", po::value(&o.h2c)->default_value(o.h2c)->implicit_value(true),
     "serve HTTP/2 with prior knowledge (h2c) on the plain HTTP port (--h2c=false: HTTP/1.1 only)")
    ("admin-address", po::value(&o.admin_address)->default_value(o.admin_address), "admin listen address")
    ("admin-port", po::value(&o.admin_port)->default_value(o.admin_port),
     "admin port: /healthz, /metrics, /debug/snapshot (0: ephemeral)")
    ("workers", po::value(&o.workers)->default_value(o.workers), "worker threads (0: one per core)")
    ("max-connections", po::value(&o.max_connections)->default_value(o.max_connections),
     "client connections per worker (ingress-nginx's max-worker-connections); at the limit the "
     "worker stops accepting until one closes (0: no limit)")
    ("debug-endpoints", po::value(&f.debug_endpoints)->default_value(f.debug_endpoints),
     "who may read the admin port's /debug/*: loopback (127.0.0.0/8, ::1; others get 403), "
     "all, or off (404)")
    ("connect-timeout", dur(f.connect_timeout), "upstream connect timeout (like proxy-connect-timeout)")
    ("read-timeout", dur(f.read_timeout), "upstream read timeout (proxy-read-timeout)")
    ("send-timeout", dur(f.send_timeout), "upstream send timeout (proxy-send-timeout)")
    ("client-header-timeout", dur(f.client_header_timeout), "time to receive a request header (408 after)")
    ("client-body-timeout", dur(f.client_body_timeout), "time between two reads of a request body")
    ("keepalive-timeout", dur(f.keepalive_timeout), "idle client keep-alive connections are closed after")
    ("tunnel-idle-timeout", dur(f.tunnel_idle_timeout), "idle WebSocket/Upgrade tunnels are closed after")
    ("max-header-size", dur(f.max_header_size), "request header section limit, nginx size syntax (431 beyond)")
    ("max-body-size", dur(f.max_body_size), "request body limit, nginx size syntax; 0 = unlimited (413 beyond)")
    ("max-header-fields", po::value(&o.max_header_fields)->default_value(o.max_header_fields),
     "request header fields at most (431 beyond; 0 = no cap)")
    ("proxy-request-buffering", po::value(&o.proxy_request_buffering)->default_value(true)->implicit_value(true),
     "receive a whole request body before connecting upstream (=false: stream it as it arrives)")
    ("client-body-buffer-size", dur(f.client_body_buffer_size),
     "request body bytes buffered in memory, nginx size syntax; the rest goes to a temporary file")
    ("client-body-temp-path", po::value(&o.client_body_temp_path)->default_value(o.client_body_temp_path),
     "directory of the (unnamed) temporary files of buffered request bodies")
    ("client-body-min-rate", po::value(&o.client_body_min_rate)->default_value(o.client_body_min_rate),
     "bytes/s a request body must average after its first client-body-timeout (0: no floor)")
    ("body-splice", po::value(&o.body_splice)->default_value(true)->implicit_value(true),
     "relay Content-Length bodies between plain TCP sockets with splice(2) (=false: through user space)")
    ("warm-waits", po::value(&o.warm_waits)->default_value(o.warm_waits),
     "keep-alive connections per worker whose session waits 100-200 ms for the next request "
     "itself before the connection moves to an idle wait (0: none)")
    ("enable-underscores-in-headers",
     po::value(&o.enable_underscores_in_headers)->default_value(false)->implicit_value(true),
     "forward header names containing '_' (default: drop them, as nginx does)")
    ("allowed-upgrades", dur(f.allowed_upgrades),
     "Upgrade protocols forwarded to upstreams, comma-separated (others are removed)")
    ("upstream-keepalive-connections",
     po::value(&o.upstream_keepalive_connections)->default_value(o.upstream_keepalive_connections),
     "idle upstream connections kept per worker per endpoint")
    ("upstream-keepalive-timeout", dur(f.upstream_keepalive_timeout), "idle upstream connections are closed after")
    ("max-tries", po::value(&o.max_tries)->default_value(o.max_tries), "endpoints tried per request (proxy_next_upstream_tries)")
    ("eject-after-failures", po::value(&o.eject_after_failures)->default_value(o.eject_after_failures),
     "consecutive failures before an endpoint is ejected")
    ("eject-base", dur(f.eject_base), "first ejection period (doubles per ejection)")
    ("eject-max", dur(f.eject_max), "longest ejection period")
    ("trusted-proxies", po::value(&f.trusted_proxies), "CIDRs,... whose X-Forwarded-* / X-Real-IP are trusted")
    ("access-log", po::value(&o.access_log)->default_value(true)->implicit_value(true),
     "JSON access log on stdout (--access-log=false turns it off)")
    ("shutdown-delay", dur(f.shutdown_delay), "after SIGTERM, listeners close after this delay")
    ("shutdown-grace", dur(f.shutdown_grace), "in-flight requests get this long to finish (worker-shutdown-timeout)")
    ("controller-namespace", po::value(&o.controller_namespace)->default_value(cli::env_or("POD_NAMESPACE", "")),
     "metric label controller_namespace (default: $POD_NAMESPACE)")
    ("controller-pod", po::value(&o.controller_pod)->default_value(cli::env_or("POD_NAME", "")),
     "metric label controller_pod (default: $POD_NAME)")
    ("metrics-per-host", po::value(&o.metrics_per_host)->default_value(true)->implicit_value(true),
     "request metrics carry the host label (=false: no host label, hosts summed; requests of "
     "hosts no Ingress rule names are exported then)")
    ("metrics-per-undefined-host",
     po::value(&o.metrics_per_undefined_host)->default_value(false)->implicit_value(true),
     "also export the default backend's requests for hosts no Ingress rule names, labelled with "
     "the request's host (unbounded cardinality; needs --metrics-per-host)")
    ("report-status-classes", po::value(&o.report_status_classes)->default_value(false)->implicit_value(true),
     "status label 2xx, 3xx, 4xx, 5xx instead of the code")
    ("exclude-socket-metrics", po::value(&f.exclude_socket_metrics)->composing(),
     "request metric families not exported, comma-separated, with or without the "
     "nginx_ingress_controller_ prefix (e.g. nginx_ingress_controller_request_size); other "
     "names are ignored with a warning")
    ("time-buckets", po::value(&f.time_buckets)->composing(),
     "upper bounds of the request, response, connect and header duration histograms in "
     "seconds, comma-separated, increasing (default 0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10)")
    ("length-buckets", po::value(&f.length_buckets)->composing(),
     "upper bounds of the request_size and response_size histograms in bytes, comma-separated, "
     "increasing (default 10,20,30,40,50,60,70,80,90,100)")
    ("size-buckets", po::value(&f.size_buckets)->composing(),
     "accepted and checked for ingress-nginx compatibility: its only histogram, the deprecated "
     "bytes_sent, is not exported (default 10,100,1000,10000,100000,1e+06,1e+07)")
    ("config-debounce", dur(f.debounce), "a burst of file changes is reloaded this long after its last change")
    ("config-max-delay", dur(f.max_delay), "... but at most this long after its first change");
}

void apply_serve_flags(proxy::server_options& o, const serve_flags& f,
                       watch::file_source_options& fo) {
  o.connect_timeout = cli::parse_duration(f.connect_timeout, "--connect-timeout");
  o.read_timeout = cli::parse_duration(f.read_timeout, "--read-timeout");
  o.send_timeout = cli::parse_duration(f.send_timeout, "--send-timeout");
  o.client_header_timeout = cli::parse_duration(f.client_header_timeout, "--client-header-timeout");
  o.client_body_timeout = cli::parse_duration(f.client_body_timeout, "--client-body-timeout");
  o.keepalive_timeout = cli::parse_duration(f.keepalive_timeout, "--keepalive-timeout");
  o.tunnel_idle_timeout = cli::parse_duration(f.tunnel_idle_timeout, "--tunnel-idle-timeout");
  o.max_header_bytes = cli::parse_size(f.max_header_size, "--max-header-size");
  o.max_body_bytes = cli::parse_size(f.max_body_size, "--max-body-size");
  o.client_body_buffer_size = cli::parse_size(f.client_body_buffer_size, "--client-body-buffer-size");
  o.upgrade_protocols = cli::parse_list(f.allowed_upgrades);
  o.upstream_keepalive_timeout = cli::parse_duration(f.upstream_keepalive_timeout, "--upstream-keepalive-timeout");
  o.eject_base = cli::parse_duration(f.eject_base, "--eject-base");
  o.eject_max = cli::parse_duration(f.eject_max, "--eject-max");
  o.trusted_proxies = cli::parse_list(f.trusted_proxies);
  o.shutdown_delay = cli::parse_duration(f.shutdown_delay, "--shutdown-delay");
  o.shutdown_grace = cli::parse_duration(f.shutdown_grace, "--shutdown-grace");
  o.controller_class = f.classes.controller_class;
  for (const auto& list : f.exclude_socket_metrics)
    for (auto& name : cli::parse_list(list)) o.exclude_socket_metrics.push_back(std::move(name));
  try {
    if (!f.time_buckets.empty())
      o.time_buckets = proxy::parse_buckets("--time-buckets", f.time_buckets);
    if (!f.length_buckets.empty())
      o.length_buckets = proxy::parse_buckets("--length-buckets", f.length_buckets);
    if (!f.size_buckets.empty())
      o.size_buckets = proxy::parse_buckets("--size-buckets", f.size_buckets);
  } catch (const std::invalid_argument& e) {
    throw po::error(e.what());
  }
  if (f.debug_endpoints == "loopback") o.debug = proxy::debug_endpoints::loopback;
  else if (f.debug_endpoints == "all") o.debug = proxy::debug_endpoints::all;
  else if (f.debug_endpoints == "off") o.debug = proxy::debug_endpoints::off;
  else throw po::error("--debug-endpoints: '" + f.debug_endpoints + "' is not loopback, all or off");
  o.log = [](const char* level, const std::string& msg) { log_line(level, msg); };
  fo.debounce = cli::parse_duration(f.debounce, "--config-debounce");
  fo.max_delay = cli::parse_duration(f.max_delay, "--config-max-delay");
}

// ---------------------------------------------------------------------------- serve

// The extra Gateway ports beside the main listeners: none is --http-port or --https-port
// (SO_REUSEPORT would let both bind and split the connections), HTTPS ones need HTTPS on.
void check_gateway_ports(class_flags& c, proxy::server_options& o) {
  auto check = [&o](const std::vector<std::uint16_t>& ports, const char* flag) {
    for (const std::uint16_t p : ports)
      if (p == o.http_port || p == o.https_port)
        throw po::error(std::string(flag) + ": port " + std::to_string(p) + " is --http-port or --https-port");
  };
  check(c.gateway_http_ports, "--gateway-http-ports");
  check(c.gateway_https_ports, "--gateway-https-ports");
  if (!c.gateway_https_ports.empty() && o.https_port == 0)
    throw po::error("--gateway-https-ports: HTTPS is off (--https-port=0)");
  o.gateway_http_ports = c.gateway_http_ports;
  o.gateway_https_ports = c.gateway_https_ports;
}

// As ingress-nginx does (nginx's worker_rlimit_nofile from the hard limit), the soft
// open-file limit is raised to the hard one. A limit below what --max-connections allows is
// reported: past it, accepting pauses until descriptors are free.
void raise_open_file_limit(const proxy::server_options& o) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  if (o.max_connections == 0 || rl.rlim_cur == RLIM_INFINITY) return;
  const std::uint64_t workers =
      o.workers != 0 ? o.workers : std::max(1u, std::thread::hardware_concurrency());
  // A client connection may hold an upstream connection as well.
  const std::uint64_t wanted = workers * o.max_connections * 2 + 256;
  if (wanted <= rl.rlim_cur) return;
  log_line("warn",
           "the open-file limit is below what --max-connections allows; past it, new "
           "connections wait until descriptors are free",
           field("open_file_limit", double(rl.rlim_cur)) + "," +
               field("descriptors_wanted", double(wanted)));
}

// Builds and publishes one Snapshot per file-source update; keeps the last one for sharing.
class reloader {
 public:
  reloader(proxy::server& srv, const class_flags& c, std::string default_cert,
           config::controller_config defaults)
      : srv_(srv), classes_(c), default_cert_(std::move(default_cert)), defaults_(std::move(defaults)) {}

  void operator()(const watch::source_update& u) {
    for (const auto& e : u.errors) log_line("error", "config file error", field("error", e));
    config::build_options bo = build_options_from(classes_, defaults_);
    bo.default_ssl_certificate = default_cert_;
    bo.now = unix_now();
    bo.previous = last_;
    auto t0 = std::chrono::steady_clock::now();
    auto r = config::build(u.state, bo);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (const auto& e : r.errors)
      log_line("error", "config object error", field("error", cli::with_file(u, e)));
    last_ = r.snap;
    srv_.publish(r.snap, {secs, r.errors.size() + u.errors.size()});
    if (u.file_failed) srv_.reload_failed();
    log_line(u.file_failed ? "warn" : "info", "config loaded",
             field("files", double(u.files)) + "," + field("objects", double(u.state.size())) + "," +
                 field("routes", double(r.snap->routes().size())) + "," +
                 field("errors", double(r.errors.size() + u.errors.size())) + "," +
                 field("build_seconds", secs) + "," + field("reload_successful", u.file_failed ? "false" : "true"));
  }

 private:
  proxy::server& srv_;
  class_flags classes_;
  std::string default_cert_;
  config::controller_config defaults_;
  config::snapshot_ptr last_;
};

// The Kubernetes API source (when --config-dir is not given): flags and the serve loop.
struct kube_flags {
  watch::controller_options o;
  std::string publish_status_address;
  unsigned lease_seconds = 30;
  std::string renew_interval = "10s", retry_period = "2s";
};

void add_kube_options(po::options_description& d, kube_flags& k) {
  auto& o = k.o;
  d.add_options()
    ("kubeconfig", po::value(&o.kube.kubeconfig), "kubeconfig file (default: in-cluster configuration)")
    ("context", po::value(&o.kube.context), "kubeconfig context (default: current-context)")
    ("apiserver-host", po::value(&o.kube.apiserver_host), "API server URL, overrides the configured one")
    ("watch-namespace", po::value(&o.source.watch_namespace), "watch namespaced objects in this namespace only")
    ("watch-gateway-api", po::value(&o.source.watch_gateway_api)->default_value(true)->implicit_value(true),
     "also watch GatewayClass, Gateway, HTTPRoute, ReferenceGrant and Namespaces (a cluster "
     "without the CRDs keeps serving Ingress and is asked again every 30 s)")
    ("update-status", po::value(&o.update_status)->default_value(true)->implicit_value(true),
     "the elected leader writes status.loadBalancer of served Ingresses and the status of "
     "Portico's GatewayClasses, their Gateways and HTTPRoutes")
    ("publish-status-address", po::value(&k.publish_status_address), "addresses,... written to Ingress status")
    ("publish-service", po::value(&o.status.publish_service), "Service ns/name whose addresses go to Ingress status")
    ("election-id", po::value(&o.election.lease_name)->default_value(o.election.lease_name),
     "name of the coordination.k8s.io Lease used for leader election")
    ("election-lease-duration", po::value(&k.lease_seconds)->default_value(k.lease_seconds), "Lease duration in seconds")
    ("election-renew-interval", po::value(&k.renew_interval)->default_value(k.renew_interval), "a leader renews this often")
    ("election-retry-period", po::value(&k.retry_period)->default_value(k.retry_period), "a follower tries this often");
}

int serve_from_api(asio::io_context& control, proxy::server& srv, const class_flags& classes, kube_flags& k,
                   const std::string& default_cert, const config::controller_config& defaults) {
  auto& o = k.o;
  o.source.build = build_options_from(classes, defaults);
  o.source.configmap = classes.configmap;
  o.source.build.default_ssl_certificate = default_cert;
  o.source.log = [](const std::string& m) { log_line("info", m); };
  o.status.publish_addresses = cli::parse_list(k.publish_status_address);
  o.election.lease_duration = std::chrono::seconds(k.lease_seconds);
  o.election.renew_interval = cli::parse_duration(k.renew_interval, "--election-renew-interval");
  o.election.retry_period = cli::parse_duration(k.retry_period, "--election-retry-period");
  o.election.renew_deadline = std::chrono::milliseconds(o.election.lease_duration) * 2 / 3;
  auto publish = [&srv](const config::build_result& r, double secs) {
    srv.publish(r.snap, {secs, r.errors.size()});
    log_line("info", "config loaded",
             field("routes", double(r.snap->routes().size())) + "," + field("errors", double(r.errors.size())) +
                 "," + field("build_seconds", secs));
  };
  auto on_leader = [&srv, id = o.election.lease_name](bool leading) {
    srv.set_leader(leading, id);
    log_line("info", leading ? "became the leader" : "not the leader", field("election_id", id));
  };
  watch::controller ctl(control, o, publish, on_leader);
  log_line("info", "watching the Kubernetes API", field("server", ctl.config().server()));
  bool stopped = false;
  srv.on_stopped([&] {
    stopped = true;
    ctl.stop();
  });
  ctl.start();
  control.run();
  log_line("info", stopped ? "stopped" : "control loop ended");
  return 0;
}

int run_serve(const std::vector<std::string>& args) {
  proxy::server_options opts;
  serve_flags f;
  watch::file_source_options fo;
  po::options_description d("serve options");
  d.add_options()("config-dir", po::value(&f.config_dir),
                  "directory of Kubernetes manifests (*.yaml, *.yml, *.json), watched for changes; "
                  "without it the objects come from the Kubernetes API");
  kube_flags kf;
  add_kube_options(d, kf);
  add_class_options(d, f.classes);
  add_server_options(d, opts, f);
  po::variables_map vm;
  if (!parse("serve", args, d, vm, "Runs the proxy on the objects of --config-dir, reloading on change."))
    return 0;
  apply_serve_flags(opts, f, fo);
  resolve_gateway_ports(f.classes);
  // A body spliced into a socket the peer has closed must fail with EPIPE, not kill the
  // process (splice(2) has no MSG_NOSIGNAL).
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> ignored_metrics;
  try {
    proxy::resolve_metric_options(opts, &ignored_metrics);
  } catch (const std::invalid_argument& e) {
    throw po::error(e.what());
  }
  for (const auto& name : ignored_metrics)
    log_line("warn", "--exclude-socket-metrics: not a request metric, ignored", field("metric", name));
  if (!vm.count("https-port")) opts.https_port = f.config_dir.empty() ? cluster_https_port : file_https_port;
  check_gateway_ports(f.classes, opts);
  if (!f.default_ssl_certificate.empty() && f.default_ssl_certificate.find('/') == std::string::npos)
    throw po::error("--default-ssl-certificate: '" + f.default_ssl_certificate + "' is not namespace/name");
  std::error_code ec;
  if (!f.config_dir.empty() && !std::filesystem::is_directory(f.config_dir, ec)) {
    log_line("fatal", "--config-dir is not a directory", field("config_dir", f.config_dir));
    return 1;
  }

  raise_open_file_limit(opts);
  asio::io_context control;
  proxy::server srv(control, opts);
  srv.start();
  log_line("info", "listening http=" + std::to_string(srv.http_port()) +
                       " admin=" + std::to_string(srv.admin_port()) +
                       " https=" + std::to_string(srv.https_port()),
           field("version", portico_version) + "," + field("config_dir", f.config_dir) + "," +
               field("workers", double(opts.workers)) + "," +
               field("gateway_http_ports", cli::ports_text(opts.gateway_http_ports)) + "," +
               field("gateway_https_ports", cli::ports_text(opts.gateway_https_ports)));
  if (f.config_dir.empty())
    return serve_from_api(control, srv, f.classes, kf, f.default_ssl_certificate, proxy::settings_from(opts));
  reloader reload(srv, f.classes, f.default_ssl_certificate, proxy::settings_from(opts));
  watch::file_source source(control, f.config_dir, std::ref(reload), fo);
  bool stopped = false;
  srv.on_stopped([&] {
    stopped = true;
    source.stop();
  });
  source.start();
  control.run();
  log_line("info", stopped ? "stopped" : "control loop ended");
  return 0;
}

// ---------------------------------------------------------------------------- routes

int run_routes(const std::vector<std::string>& args) {
  std::string dir;
  class_flags classes;
  config::controller_config defaults;
  po::options_description d("routes options");
  d.add_options()("config-dir", po::value(&dir)->required(), "directory of Kubernetes manifests")(
      "default-backend-service", po::value(&defaults.default_backend_service),
      "namespace/name of the Service answering unknown hosts and custom-http-errors");
  add_class_options(d, classes);
  po::variables_map vm;
  if (!parse("routes", args, d, vm,
             "Prints the route table Portico would serve for --config-dir, then every error.\n"
             "Exits 1 when there were errors (the good routes are still printed)."))
    return 0;
  resolve_gateway_ports(classes);
  auto u = watch::load_dir(dir);
  auto r = config::build(u.state, build_options_from(classes, defaults));
  std::vector<std::string> errors = u.errors;
  for (const auto& e : r.errors) errors.push_back(cli::with_file(u, e));
  std::cout << cli::format_routes(*r.snap);
  if (u.files == 0) errors.push_back(dir + ": no *.yaml, *.yml or *.json files");
  if (!errors.empty()) {
    std::cout << "\nERRORS (" << errors.size() << "):\n";
    for (const auto& e : errors) std::cout << "  " << e << "\n";
  }
  return errors.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::cerr << top_usage;
    return 2;
  }
  std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "serve") return run_serve(args);
  if (cmd == "routes") return run_routes(args);
  if (cmd == "dns-sync") return dnssync::run_command(args);
  if (cmd == "annotations") {
    std::cout << "### Annotations\n\n"
              << "Under `--annotations-prefix` (default `nginx.ingress.kubernetes.io/`) or "
                 "`portico.dev/`.\n\n"
              << config::annotation_table_markdown() << "\n### ConfigMap keys\n\n"
              << "In the ConfigMap named by `--configmap namespace/name`.\n\n"
              << config::setting_table_markdown();
    return 0;
  }
  if (cmd == "version" || cmd == "--version") {
    std::cout << "portico " << portico_version << "\n";
    return 0;
  }
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    std::cout << top_usage;
    return 0;
  }
  std::cerr << "portico: unknown command '" << cmd << "'\n\n" << top_usage;
  return 2;
} catch (const po::error& e) {
  std::cerr << "portico: " << e.what() << " (see `portico " << (argc > 1 ? argv[1] : "")
            << " --help`)\n";
  return 2;
} catch (const std::exception& e) {
  log_line("fatal", e.what());
  return 1;
}
