#include "proxy/header_rewrite.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace portico::proxy;
using F = http_field;

namespace {

message_head head_of(std::initializer_list<header_field> fields) {
  message_head h;
  for (const auto& f : fields) EXPECT_EQ(note_request_field(h, f), head_error::none);
  return h;
}

bool has_line(const std::string& s, const std::string& line) {
  return s.find("\r\n" + line + "\r\n") != std::string::npos;
}

}  // namespace

TEST(connection_tokens, names_headers_case_insensitively) {
  connection_tokens t;
  t.add_list("close, X-Secret ,Upgrade");
  EXPECT_TRUE(t.close);
  EXPECT_TRUE(t.upgrade);
  EXPECT_FALSE(t.keep_alive);
  EXPECT_TRUE(t.names("x-secret"));
  EXPECT_FALSE(t.names("x-other"));
}

TEST(request_fields, framing_errors) {
  message_head h;
  EXPECT_EQ(note_request_field(h, {F::content_length, "Content-Length", "5"}), head_error::none);
  EXPECT_EQ(note_request_field(h, {F::content_length, "Content-Length", "5"}),
            head_error::bad_content_length);  // even an identical repeat
  message_head t;
  EXPECT_EQ(note_request_field(t, {F::transfer_encoding, "Transfer-Encoding", "chunked"}),
            head_error::none);
  EXPECT_EQ(note_request_field(t, {F::content_length, "Content-Length", "5"}),
            head_error::bad_content_length);
  message_head g;
  EXPECT_EQ(note_request_field(g, {F::transfer_encoding, "Transfer-Encoding", "gzip"}),
            head_error::bad_transfer_encoding);
  // RFC 9112 6.1: a coding we do not implement before a final chunked is 501, not 400.
  message_head gc;
  EXPECT_EQ(note_request_field(gc, {F::transfer_encoding, "Transfer-Encoding", "gzip, chunked"}),
            head_error::unsupported_transfer_coding);
  message_head cg;
  EXPECT_EQ(note_request_field(cg, {F::transfer_encoding, "Transfer-Encoding", "chunked, gzip"}),
            head_error::bad_transfer_encoding);
  message_head hh;
  EXPECT_EQ(note_request_field(hh, {F::host, "Host", "a"}), head_error::none);
  EXPECT_EQ(note_request_field(hh, {F::host, "Host", "b"}), head_error::bad_host);
}

TEST(upstream_request, strips_hop_by_hop_and_named_headers) {
  auto h = head_of({{F::host, "Host", "example.com"},
                    {F::connection, "Connection", "keep-alive, X-Hop"},
                    {F::unknown, "X-Hop", "secret"},
                    {F::keep_alive, "Keep-Alive", "timeout=5"},
                    {F::te, "TE", "trailers"},
                    {F::trailer, "Trailer", "X-T"},
                    {F::proxy_connection, "Proxy-Connection", "keep-alive"},
                    {F::proxy_authorization, "Proxy-Authorization", "Basic x"},
                    {F::unknown, "Proxy-Foo", "1"},
                    {F::upgrade, "Upgrade", "websocket"},
                    {F::accept, "Accept", "*/*"}});
  forward_params p;
  p.peer_ip = "10.1.2.3";
  p.server_port = "8080";
  p.request_id = "abc";
  std::string out;
  write_upstream_request(out, "GET", "/x?y=1", h, p);
  EXPECT_EQ(out.rfind("GET /x?y=1 HTTP/1.1\r\n", 0), 0u);
  EXPECT_TRUE(has_line(out, "Host: example.com"));
  EXPECT_TRUE(has_line(out, "Accept: */*"));
  for (const char* gone : {"X-Hop", "Keep-Alive", "TE:", "Trailer", "Proxy-", "Upgrade", "Connection"})
    EXPECT_EQ(out.find(gone), std::string::npos) << gone << " in\n" << out;
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");
}

TEST(upstream_request, untrusted_forwarding_headers_are_replaced) {
  auto h = head_of({{F::host, "Host", "example.com:8080"},
                    {F::unknown, "X-Forwarded-For", "6.6.6.6"},
                    {F::unknown, "X-Real-IP", "6.6.6.6"},
                    {F::unknown, "X-Forwarded-Proto", "https"}});
  forward_params p;
  p.peer_ip = "10.1.2.3";
  p.server_port = "8080";
  p.request_id = "0123";
  std::string out;
  write_upstream_request(out, "GET", "/", h, p);
  EXPECT_TRUE(has_line(out, "X-Forwarded-For: 10.1.2.3"));
  EXPECT_TRUE(has_line(out, "X-Real-IP: 10.1.2.3"));
  EXPECT_TRUE(has_line(out, "X-Forwarded-Proto: http"));
  EXPECT_TRUE(has_line(out, "X-Forwarded-Host: example.com:8080"));
  EXPECT_TRUE(has_line(out, "X-Forwarded-Port: 8080"));
  EXPECT_TRUE(has_line(out, "X-Request-ID: 0123"));
  EXPECT_EQ(out.find("6.6.6.6"), std::string::npos);
}

// ingress-nginx: with use-forwarded-headers (a trusted peer) X-Forwarded-For is the real
// client address; compute-full-forwarded-for appends the peer to the trusted chain instead.
TEST(upstream_request, trusted_peer_real_ip_and_compute_full_forwarded_for) {
  trusted_networks nets;
  ASSERT_TRUE(nets.add("10.0.0.0/8"));
  auto h = head_of({{F::host, "Host", "a"},
                    {F::unknown, "X-Forwarded-For", "1.2.3.4, 10.9.9.9"},
                    {F::unknown, "X-Forwarded-Proto", "https"}});
  forward_params p;
  p.peer_ip = "10.1.2.3";
  p.peer_trusted = nets.contains(p.peer_ip);
  p.trusted = &nets;
  p.forwarded_for = h.x_forwarded_for;
  p.request_id = "r";
  std::string out;
  write_upstream_request(out, "GET", "/", h, p);
  EXPECT_TRUE(has_line(out, "X-Forwarded-For: 1.2.3.4")) << out;
  EXPECT_TRUE(has_line(out, "X-Real-IP: 1.2.3.4"));
  EXPECT_TRUE(has_line(out, "X-Forwarded-Proto: https"));
  p.compute_full_forwarded_for = true;
  out.clear();
  write_upstream_request(out, "GET", "/", h, p);
  EXPECT_TRUE(has_line(out, "X-Forwarded-For: 1.2.3.4, 10.9.9.9, 10.1.2.3")) << out;
  EXPECT_TRUE(has_line(out, "X-Real-IP: 1.2.3.4"));
  // An untrusted peer's chain is never used, computed or not.
  p.peer_trusted = false;
  out.clear();
  write_upstream_request(out, "GET", "/", h, p);
  EXPECT_TRUE(has_line(out, "X-Forwarded-For: 10.1.2.3")) << out;
}

TEST(upstream_request, rewrite_phase_fields) {
  auto h = head_of({{F::host, "Host", "public.test"}, {F::unknown, "X-Custom", "client"}});
  const std::vector<std::pair<std::string_view, std::string_view>> set = {
      {"X-Custom", "proxy"}, {"X-Forwarded-Prefix", "/shop"}};
  forward_params p;
  p.peer_ip = "127.0.0.1";
  p.upstream_host = "internal.svc";
  p.set_headers = &set;
  p.connection = "close";
  p.http_version = 10;
  std::string out;
  write_upstream_request(out, "GET", "/", h, p);
  EXPECT_EQ(out.rfind("GET / HTTP/1.0\r\n", 0), 0u) << out;
  EXPECT_TRUE(has_line(out, "Host: internal.svc")) << out;
  EXPECT_TRUE(has_line(out, "X-Forwarded-Host: public.test"));
  EXPECT_TRUE(has_line(out, "X-Custom: proxy"));
  EXPECT_EQ(out.find("client"), std::string::npos);
  EXPECT_TRUE(has_line(out, "X-Forwarded-Prefix: /shop"));
  EXPECT_TRUE(has_line(out, "Connection: close"));
}

TEST(client_response, response_phase_headers_replace_the_upstreams) {
  message_head h;
  note_response_field(h, {F::unknown, "X-Frame-Options", "SAMEORIGIN"});
  note_response_field(h, {F::content_type, "Content-Type", "text/plain"});
  const std::vector<std::pair<std::string_view, std::string_view>> set = {
      {"x-frame-options", "DENY"}};
  response_params p;
  p.status = 200;
  p.set_headers = &set;
  std::string out;
  write_client_response(out, h, p);
  EXPECT_TRUE(has_line(out, "x-frame-options: DENY")) << out;
  EXPECT_EQ(out.find("SAMEORIGIN"), std::string::npos);
  EXPECT_TRUE(has_line(out, "Content-Type: text/plain"));
}

TEST(upstream_request, framing_and_upgrade) {
  auto h = head_of({{F::host, "Host", "a"},
                    {F::connection, "Connection", "Upgrade"},
                    {F::upgrade, "Upgrade", "websocket"},
                    {F::transfer_encoding, "Transfer-Encoding", "chunked"}});
  forward_params p;
  p.peer_ip = "127.0.0.1";
  p.framing = body_framing::chunked;
  p.upgrade = "websocket";
  std::string out;
  write_upstream_request(out, "GET", "/ws", h, p);
  EXPECT_TRUE(has_line(out, "Transfer-Encoding: chunked"));
  EXPECT_TRUE(has_line(out, "Connection: upgrade"));
  EXPECT_TRUE(has_line(out, "Upgrade: websocket"));
  message_head l = head_of({{F::host, "Host", "a"}, {F::content_length, "Content-Length", "10"}});
  p.framing = body_framing::length;
  p.content_length = 10;
  p.upgrade = {};
  out.clear();
  write_upstream_request(out, "POST", "/", l, p);
  EXPECT_TRUE(has_line(out, "Content-Length: 10"));
  EXPECT_EQ(out.find("Content-Length", out.find("Content-Length") + 1), std::string::npos);
}

TEST(client_response, strips_hop_by_hop_and_adds_request_id) {
  message_head h;
  note_response_field(h, {F::content_type, "Content-Type", "text/plain"});
  note_response_field(h, {F::connection, "Connection", "close, X-Up"});
  note_response_field(h, {F::unknown, "X-Up", "1"});
  note_response_field(h, {F::transfer_encoding, "Transfer-Encoding", "chunked"});
  note_response_field(h, {F::unknown, "X-Request-ID", "upstream-id"});
  response_params p;
  p.status = 200;
  p.reason = "OK";
  p.request_id = "rid";
  p.framing = body_framing::chunked;
  p.keep_alive = true;
  std::string out;
  write_client_response(out, h, p);
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_TRUE(has_line(out, "Content-Type: text/plain"));
  EXPECT_TRUE(has_line(out, "X-Request-ID: rid"));
  EXPECT_TRUE(has_line(out, "Transfer-Encoding: chunked"));
  EXPECT_EQ(out.find("X-Up"), std::string::npos);
  EXPECT_EQ(out.find("upstream-id"), std::string::npos);
  EXPECT_EQ(out.find("Connection"), std::string::npos);
}

TEST(client_response, head_keeps_content_length_and_close_is_announced) {
  message_head h;
  note_response_field(h, {F::content_length, "Content-Length", "1234"});
  response_params p;
  p.status = 200;
  p.no_body = true;
  p.keep_alive = false;
  std::string out;
  write_client_response(out, h, p);
  EXPECT_TRUE(has_line(out, "Content-Length: 1234"));
  EXPECT_TRUE(has_line(out, "Connection: close"));
}

TEST(trusted_networks, cidr_matching) {
  trusted_networks n;
  ASSERT_TRUE(n.add("192.168.0.0/16"));
  ASSERT_TRUE(n.add("fd00::/8"));
  ASSERT_TRUE(n.add("127.0.0.1"));
  EXPECT_FALSE(n.add("300.1.1.1/8"));
  EXPECT_FALSE(n.add("10.0.0.0/33"));
  EXPECT_TRUE(n.contains("192.168.7.9"));
  EXPECT_FALSE(n.contains("192.169.0.1"));
  EXPECT_TRUE(n.contains("fd12::1"));
  EXPECT_FALSE(n.contains("fe80::1"));
  EXPECT_TRUE(n.contains("127.0.0.1"));
  EXPECT_FALSE(n.contains("127.0.0.2"));
  EXPECT_FALSE(n.contains("not-an-ip"));
}

TEST(upstream_request, host_override_replaces_host_and_forwarded_host) {
  auto h = head_of({{F::host, "Host", "ignored.example"}, {F::accept, "Accept", "*/*"}});
  forward_params p;
  p.peer_ip = "10.0.0.9";
  p.server_port = "80";
  p.request_id = "rid";
  p.host_override = "target.example:8080";
  std::string out;
  write_upstream_request(out, "GET", "/path?q=1", h, p);
  EXPECT_EQ(out.rfind("GET /path?q=1 HTTP/1.1\r\n", 0), 0u);
  EXPECT_TRUE(has_line(out, "Host: target.example:8080"));
  EXPECT_TRUE(has_line(out, "X-Forwarded-Host: target.example:8080"));
  EXPECT_EQ(out.find("ignored.example"), std::string::npos);
}

TEST(upstream_request, https_scheme_and_port) {
  auto h = head_of({{F::host, "Host", "a.example"}});
  forward_params p;
  p.peer_ip = "10.0.0.9";
  p.scheme = "https";
  p.server_port = "8443";
  p.request_id = "rid";
  std::string out;
  write_upstream_request(out, "GET", "/", h, p);
  EXPECT_TRUE(has_line(out, "X-Forwarded-Proto: https"));
  EXPECT_TRUE(has_line(out, "X-Forwarded-Port: 8443"));
  EXPECT_TRUE(has_line(out, "X-Scheme: https"));
}

TEST(client_response, hsts_replaces_the_upstreams_header) {
  message_head h;
  note_response_field(h, {F::strict_transport_security, "Strict-Transport-Security", "max-age=5"});
  note_response_field(h, {F::content_type, "Content-Type", "text/plain"});
  response_params p;
  p.status = 200;
  p.hsts = "max-age=31536000; includeSubDomains";
  std::string out;
  write_client_response(out, h, p);
  EXPECT_TRUE(has_line(out, "Strict-Transport-Security: max-age=31536000; includeSubDomains"));
  EXPECT_EQ(out.find("max-age=5"), std::string::npos);
  // Without HSTS (plain HTTP) the upstream's header passes unchanged.
  response_params plain;
  plain.status = 200;
  std::string out2;
  write_client_response(out2, h, plain);
  EXPECT_TRUE(has_line(out2, "Strict-Transport-Security: max-age=5"));
  EXPECT_EQ(out2.find("includeSubDomains"), std::string::npos);
}

// Security review: CGI/WSGI/PHP backends map '_' and '-' alike, so X_Real_IP would spoof the
// client address there. nginx drops such names unless underscores_in_headers is on.
TEST(upstream_request, underscore_header_names_are_dropped_unless_enabled) {
  auto h = head_of({{F::host, "Host", "a"},
                    {F::unknown, "X_Real_IP", "6.6.6.6"},
                    {F::unknown, "X_Forwarded_For", "6.6.6.6"},
                    {F::unknown, "Transfer_Encoding", "chunked"},
                    {F::unknown, "X-Fine", "1"}});
  forward_params p;
  p.peer_ip = "127.0.0.1";
  std::string out;
  write_upstream_request(out, "GET", "/", h, p);
  EXPECT_EQ(out.find('_'), std::string::npos) << out;
  EXPECT_TRUE(has_line(out, "X-Fine: 1"));
  EXPECT_TRUE(has_line(out, "X-Real-IP: 127.0.0.1"));
  p.allow_underscores = true;
  out.clear();
  write_upstream_request(out, "GET", "/", h, p);
  EXPECT_TRUE(has_line(out, "X_Real_IP: 6.6.6.6"));
  EXPECT_TRUE(has_line(out, "X-Real-IP: 127.0.0.1"));
}

TEST(upstream_request, h2c_upgrade_settings_never_reach_the_upstream) {
  auto h = head_of({{F::host, "Host", "a"},
                    {F::connection, "Connection", "Upgrade, HTTP2-Settings"},
                    {F::upgrade, "Upgrade", "h2c"},
                    {F::unknown, "HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA"}});
  forward_params p;
  p.peer_ip = "127.0.0.1";  // no allowed protocol: p.upgrade stays empty
  std::string out;
  write_upstream_request(out, "GET", "/", h, p);
  EXPECT_EQ(out.find("HTTP2-Settings"), std::string::npos) << out;
  EXPECT_EQ(out.find("h2c"), std::string::npos) << out;
  EXPECT_EQ(out.find("pgrade"), std::string::npos) << out;
}

TEST(upstream_request, invalid_trusted_forwarded_host_is_replaced) {
  auto h = head_of({{F::host, "Host", "real.test"},
                    {F::unknown, "X-Forwarded-Host", "evil.test/x"}});
  forward_params p;
  p.peer_ip = "10.0.0.1";
  p.peer_trusted = true;
  std::string out;
  write_upstream_request(out, "GET", "/", h, p);
  EXPECT_TRUE(has_line(out, "X-Forwarded-Host: real.test")) << out;
  auto g = head_of({{F::host, "Host", "real.test"}, {F::unknown, "X-Forwarded-Host", "lb.test"}});
  out.clear();
  write_upstream_request(out, "GET", "/", g, p);
  EXPECT_TRUE(has_line(out, "X-Forwarded-Host: lb.test")) << out;
}

// RFC 9110 8.6: no Content-Length in 1xx/204; a HEAD/304 one is passed on once, and only
// when valid (an upstream's raw duplicates or lists are never copied).
TEST(client_response, no_body_framing_is_validated_and_deduplicated) {
  auto render = [](unsigned status, std::initializer_list<header_field> fields) {
    message_head h;
    for (const auto& f : fields) note_response_field(h, f);
    response_params p;
    p.status = status;
    p.no_body = true;
    std::string out;
    write_client_response(out, h, p);
    return out;
  };
  auto out = render(200, {{F::content_length, "Content-Length", "5"},
                          {F::content_length, "Content-Length", "5, 5"}});
  EXPECT_TRUE(has_line(out, "Content-Length: 5")) << out;
  EXPECT_EQ(out.find("Content-Length", out.find("Content-Length") + 1), std::string::npos) << out;
  out = render(304, {{F::content_length, "Content-Length", "5, 6"}});
  EXPECT_EQ(out.find("Content-Length"), std::string::npos) << out;
  out = render(200, {{F::content_length, "Content-Length", "+5"}});
  EXPECT_EQ(out.find("Content-Length"), std::string::npos) << out;
  out = render(204, {{F::content_length, "Content-Length", "0"},
                     {F::transfer_encoding, "Transfer-Encoding", "chunked"}});
  EXPECT_EQ(out.find("Content-Length"), std::string::npos) << out;
  EXPECT_EQ(out.find("Transfer-Encoding"), std::string::npos) << out;
  out = render(200, {{F::transfer_encoding, "Transfer-Encoding", "chunked"},
                     {F::content_length, "Content-Length", "9"}});
  EXPECT_TRUE(has_line(out, "Transfer-Encoding: chunked")) << out;
  EXPECT_EQ(out.find("Content-Length"), std::string::npos) << out;
  out = render(200, {{F::transfer_encoding, "Transfer-Encoding", "gzip, chunked"}});
  EXPECT_EQ(out.find("Transfer-Encoding"), std::string::npos) << out;
}

TEST(response_fields, other_transfer_codings_are_noted) {
  message_head a;
  note_response_field(a, {F::transfer_encoding, "Transfer-Encoding", "chunked"});
  EXPECT_FALSE(a.other_transfer_coding);
  message_head b;
  note_response_field(b, {F::transfer_encoding, "Transfer-Encoding", "gzip, chunked"});
  EXPECT_TRUE(b.other_transfer_coding);
  message_head c;
  note_response_field(c, {F::transfer_encoding, "Transfer-Encoding", "gzip"});
  note_response_field(c, {F::transfer_encoding, "Transfer-Encoding", "chunked"});
  EXPECT_TRUE(c.other_transfer_coding);
}

TEST(trailer_fields, framing_routing_and_auth_fields_are_never_trailers) {
  for (auto f : {header_field{F::content_length, "Content-Length", "1"},
                 header_field{F::transfer_encoding, "Transfer-Encoding", "chunked"},
                 header_field{F::host, "Host", "x"},
                 header_field{F::authorization, "Authorization", "x"},
                 header_field{F::set_cookie, "Set-Cookie", "x"},
                 header_field{F::connection, "Connection", "close"},
                 header_field{F::content_type, "Content-Type", "x"}})
    EXPECT_FALSE(allowed_in_trailer(f)) << f.name_text;
  EXPECT_TRUE(allowed_in_trailer({F::unknown, "grpc-status", "0"}));
  EXPECT_TRUE(allowed_in_trailer({F::unknown, "X-Checksum", "abc"}));
  EXPECT_TRUE(allowed_in_trailer({F::unknown, "Server-Timing", "db;dur=5"}));
}

// Fields are written in batches (one resize of the head per batch): more fields than a batch
// holds, an empty value, and the extra lines in between keep their order and bytes.
TEST(upstream_request, many_fields_keep_their_order_and_bytes) {
  message_head h;
  std::vector<std::string> names, values;
  for (int i = 0; i < 60; ++i) {
    names.push_back("X-Field-" + std::to_string(i));
    values.push_back(i % 7 == 0 ? "" : std::string(static_cast<std::size_t>(i), 'v'));
  }
  EXPECT_EQ(note_request_field(h, {F::host, "Host", "a.test"}), head_error::none);
  for (int i = 0; i < 60; ++i)
    EXPECT_EQ(note_request_field(h, {F::unknown, names[i], values[i]}), head_error::none);
  const std::vector<std::pair<std::string, std::string>> add = {{"X-Added", "1"}};
  forward_params p;
  p.peer_ip = "10.0.0.1";
  p.server_port = "80";
  p.request_id = "rid";
  p.add_headers = &add;
  std::string out;
  write_upstream_request(out, "GET", "/x", h, p);
  std::string want = "GET /x HTTP/1.1\r\nHost: a.test\r\n";
  for (int i = 0; i < 60; ++i) want += names[i] + ": " + values[i] + "\r\n";
  want += "X-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\nX-Forwarded-Proto: http\r\n"
          "X-Forwarded-Host: a.test\r\nX-Forwarded-Port: 80\r\nX-Scheme: http\r\n"
          "X-Request-ID: rid\r\nX-Added: 1\r\n\r\n";
  EXPECT_EQ(out, want);
}

TEST(client_response, many_fields_and_extra_lines_keep_their_order) {
  message_head h;
  std::string want_fields;
  std::vector<std::string> names;
  for (int i = 0; i < 40; ++i) names.push_back("X-R-" + std::to_string(i));
  for (int i = 0; i < 40; ++i) {
    note_response_field(h, {F::unknown, names[i], "r"});
    want_fields += names[i] + ": r\r\n";
  }
  response_params p;
  p.status = 200;
  p.set_cookie = "a=b";
  p.extra_lines = "Set-Cookie: auth=1\r\n";
  p.request_id = "rid";
  p.framing = body_framing::length;
  p.content_length = 3;
  std::string out;
  write_client_response(out, h, p);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\n" + want_fields +
                     "Set-Cookie: a=b\r\nSet-Cookie: auth=1\r\nX-Request-ID: rid\r\n"
                     "Content-Length: 3\r\n\r\n");
}
