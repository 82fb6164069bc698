// Client-side TLS towards upstreams (backend-protocol: HTTPS). One context per worker per
// distinct verification setting (none, or a CA bundle), made on first use; per connection the
// server name (SNI, and the name checked when verifying) is set on the connection itself.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "config/snapshot.hpp"

namespace portico::proxy {

// The name an upstream connection presents (SNI) and verifies: proxy-ssl-name, else the
// request's host without its port. Empty when that is an IP address (SNI carries names only;
// verification then checks the address).
std::string upstream_server_name(const config::upstream_tls& t, std::string_view request_host);

// Identity of a pooled upstream TLS connection beside its address: two requests may share a
// connection only when this matches (never 0; 0 is a plain connection).
std::uint64_t upstream_tls_key(const config::upstream_tls& t, std::string_view server_name);

class tls_client_contexts {
 public:
  tls_client_contexts() = default;
  tls_client_contexts(const tls_client_contexts&) = delete;
  tls_client_contexts& operator=(const tls_client_contexts&) = delete;

  // The context for this cluster's settings. Throws when a CA bundle is not usable.
  boost::asio::ssl::context& context_for(const config::upstream_tls& t);

  // Sets SNI and, when verifying, the expected name (or IP address) on a new connection.
  static bool prepare(SSL* ssl, const config::upstream_tls& t, const std::string& server_name,
                      std::string_view peer_ip);

  std::size_t size() const { return by_key_.size(); }

 private:
  std::unordered_map<std::uint64_t, std::unique_ptr<boost::asio::ssl::context>> by_key_;
};

}  // namespace portico::proxy
