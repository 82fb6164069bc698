// Header rewriting between client and upstream: hop-by-hop stripping by token, forwarding
// headers (X-Forwarded-*, X-Real-IP, X-Request-ID), framing headers. Heads are written into a
// caller-owned, reused std::string.
#pragma once

#include <boost/beast/http/field.hpp>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/ip_set.hpp"
#include "proxy/buffer_cache.hpp"

namespace portico::proxy {

using http_field = boost::beast::http::field;

struct header_field {
  http_field name = http_field::unknown;
  std::string_view name_text;
  std::string_view value;
};

// The tokens of every Connection header of one message (they name hop-by-hop headers).
class connection_tokens {
 public:
  void clear();
  void add_list(std::string_view value);
  bool names(std::string_view header_name) const;
  bool close = false;
  bool keep_alive = false;
  bool upgrade = false;

 private:
  std::array<std::string_view, 8> tokens_{};
  std::size_t count_ = 0;
  bool overflow_ = false;  // more than 8 tokens: unknown headers are all treated as named
};

enum class head_error : std::uint8_t {
  none,
  bad_content_length,   // malformed, signed, list, or repeated
  bad_transfer_encoding,  // chunked not last, a malformed list, repeated, or with Content-Length
  unsupported_transfer_coding,  // a valid list ending in chunked with other codings: 501
  bad_host,               // repeated Host
};

// What a request or response head carries, as views into the receive buffer.
struct message_head {
  // Every field, in order. Storage comes from a per-thread cache of 1 KiB blocks (25 fields)
  // so that an idle connection can give it back without a malloc on its next request.
  std::vector<header_field, recycling_allocator<header_field, 1024, 256>> fields;
  void release();  // gives the field storage back (idle connection)
  connection_tokens conn;
  std::string_view host;
  std::string_view x_forwarded_for;
  std::string_view x_forwarded_proto;
  std::string_view x_forwarded_host;
  std::string_view x_forwarded_port;
  std::string_view x_real_ip;
  std::string_view x_request_id;
  std::string_view upgrade;
  bool expect_continue = false;
  bool has_content_length = false;
  bool has_transfer_encoding = false;
  // Responses: a Transfer-Encoding other than one plain "chunked" (another coding, a list, or
  // repeated): the body cannot be re-framed without changing it.
  bool other_transfer_coding = false;
  unsigned host_count = 0;
  void clear();
};

// Notes one received field of a request; returns the framing error it causes, if any.
head_error note_request_field(message_head& h, const header_field& f);
// Notes one received field of a response (Connection tokens and framing headers only).
void note_response_field(message_head& h, const header_field& f);

// Whether a field may be passed on in a chunked trailer section (RFC 9110 6.5.1): never
// framing, routing, hop-by-hop, authentication, cookie or content-format fields.
bool allowed_in_trailer(const header_field& f);

// Hop-by-hop and framing fields (Connection, Keep-Alive, TE, Trailer, Transfer-Encoding,
// Content-Length, Upgrade, Proxy-*, HTTP2-Settings): never copied from one side to the other.
bool is_hop_by_hop(const header_field& f);

// True when a header name contains '_' (dropped unless enable-underscores-in-headers).
bool has_underscore(std::string_view name);


enum class body_framing : std::uint8_t { none, length, chunked, until_close };

// Addresses whose X-Forwarded-* headers are believed (the trusted_proxies CIDRs).
using trusted_networks = config::ip_set;

struct forward_params {
  std::string_view peer_ip;      // the socket's peer address
  bool peer_trusted = false;     // peer_ip is in trusted_proxies
  const trusted_networks* trusted = nullptr;
  std::string_view scheme = "http";
  std::string_view server_port;  // the port the client connected to
  std::string_view request_id;   // final id (kept or generated)
  std::string_view fallback_host;  // used as Host when the client sent none (HTTP/1.0)
  // Non-empty: replaces every Host field (absolute-form target: RFC 9112 3.2.2) and is the
  // X-Forwarded-Host of an untrusted peer.
  std::string_view host_override;
  // Non-empty: the request upgrades to this protocol (an allowed token of the client's
  // Upgrade list); "Connection: upgrade" and "Upgrade: <protocol>" are sent.
  std::string_view upgrade;
  // Header names with '_' are forwarded (ingress-nginx enable-underscores-in-headers); off:
  // they are dropped, as nginx does, so a backend that maps '_' and '-' alike (CGI, WSGI,
  // PHP) cannot be fed a spoofed X_Real_IP or X_Forwarded_For.
  bool allow_underscores = false;
  body_framing framing = body_framing::none;
  std::uint64_t content_length = 0;
  // The route's rewrite phase (proxy/phases.hpp):
  std::string_view upstream_host;  // non-empty: replaces the Host field only (upstream-vhost)
  // Fields set on the request, replacing the client's of the same name (proxy-set-headers,
  // X-Forwarded-Prefix).
  const std::vector<std::pair<std::string_view, std::string_view>>* set_headers = nullptr;
  // Fields appended beside the client's of the same name (HTTPRoute RequestHeaderModifier add).
  const std::vector<std::pair<std::string, std::string>>* add_headers = nullptr;
  std::string_view connection;  // non-empty: "Connection: <value>" (connection-proxy-header)
  unsigned http_version = 11;   // the request line's version (proxy-http-version)
  // The client address chain (ingress-nginx use-forwarded-headers, forwarded-for-header,
  // compute-full-forwarded-for): `forwarded_for` is the trusted peer's forwarded-for header
  // value; X-Forwarded-For upstream is the real client address, or with compute-full the
  // trusted client's X-Forwarded-For plus the peer.
  std::string_view forwarded_for;
  bool compute_full_forwarded_for = false;
};

// The client address after a trusted forwarded-for header (p.forwarded_for): with a trusted
// peer, the rightmost entry that is not itself trusted (nginx real_ip_recursive); otherwise
// the peer.
std::string_view real_client_ip(const message_head& h, const forward_params& p);

// The value of the header the client address chain comes from (forwarded-for-header).
std::string_view forwarded_for_value(const message_head& h, std::string_view header);

// Writes "METHOD target HTTP/1.1\r\n" + forwarded fields + forwarding headers + framing + CRLF.
void write_upstream_request(std::string& out, std::string_view method, std::string_view target,
                            const message_head& h, const forward_params& p);

struct response_params {
  unsigned status = 200;
  std::string_view reason;
  std::string_view request_id;
  body_framing framing = body_framing::none;  // framing towards the client
  std::uint64_t content_length = 0;
  bool keep_alive = true;     // false: "Connection: close"
  bool client_http10 = false; // keep-alive to an HTTP/1.0 client needs "Connection: keep-alive"
  bool upgrade = false;       // 101: forward Upgrade and "Connection: upgrade"
  // HEAD/304: no body follows; a valid upstream Content-Length (one value, or a list of one
  // repeated value) or a plain chunked Transfer-Encoding is passed on once. 1xx/204 never
  // carry either (RFC 9110 8.6).
  bool no_body = false;
  // Non-empty (HTTPS with HSTS on): Strict-Transport-Security with this value replaces the
  // upstream's, as ingress-nginx's header phase does.
  std::string_view hsts;
  // The route's response phase: fields set on the answer, replacing the upstream's.
  const std::vector<std::pair<std::string_view, std::string_view>>* set_headers = nullptr;
  // Fields appended beside the upstream's of the same name (ResponseHeaderModifier add).
  const std::vector<std::pair<std::string, std::string>>* add_headers = nullptr;
  // Non-empty: a Set-Cookie field added beside the upstream's (session affinity).
  std::string_view set_cookie;
  // Header lines ("Name: value\r\n") added as they are (the authentication service's cookies).
  std::string_view extra_lines;
};

void write_client_response(std::string& out, const message_head& h, const response_params& p);

// Appends "HTTP/1.1 <status> <reason>\r\n" with the standard reason phrase when none is given.
void append_status_line(std::string& out, unsigned status, std::string_view reason = {});
std::string_view reason_phrase(unsigned status);

}  // namespace portico::proxy
