#include "proxy/server_options.hpp"

namespace portico::proxy {

config::controller_config settings_from(const server_options& o) {
  config::controller_config c;
  c.proxy_body_size = o.max_body_bytes;
  c.proxy_connect_timeout = o.connect_timeout;
  c.proxy_read_timeout = o.read_timeout;
  c.proxy_send_timeout = o.send_timeout;
  c.proxy_next_upstream_tries = o.max_tries;
  c.proxy_request_buffering = o.proxy_request_buffering;
  c.client_body_buffer_size = o.client_body_buffer_size;
  c.client_header_timeout = o.client_header_timeout;
  c.client_body_timeout = o.client_body_timeout;
  c.keep_alive = o.keepalive_timeout;
  c.enable_underscores_in_headers = o.enable_underscores_in_headers;
  c.upstream_keepalive_connections = o.upstream_keepalive_connections;
  c.upstream_keepalive_timeout = o.upstream_keepalive_timeout;
  c.hsts = o.hsts;
  c.hsts_max_age = o.hsts_max_age;
  c.hsts_include_subdomains = o.hsts_include_subdomains;
  c.hsts_preload = o.hsts_preload;
  c.trusted_proxies = o.trusted_proxies;
  c.enable_access_log = o.access_log;
  c.default_backend_service = o.default_backend_service;
  return c;
}

}  // namespace portico::proxy
