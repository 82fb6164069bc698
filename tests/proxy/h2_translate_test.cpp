// HTTP/2 <-> HTTP/1.1 translation of one stream (RFC 9113 section 8).
#include "proxy/h2_translate.hpp"

#include <gtest/gtest.h>

namespace portico::proxy {
namespace {

h2_head_status build(std::initializer_list<std::pair<std::string_view, std::string_view>> fields,
                     bool end_stream, std::string& out, bool& chunked, std::size_t max = 16384) {
  h2_request_builder b(max);
  for (const auto& [n, v] : fields) b.add(n, v);
  return b.finish(end_stream, out, chunked);
}

TEST(H2Translate, PseudoHeadersBecomeRequestLineAndHost) {
  std::string out;
  bool chunked = true;
  ASSERT_EQ(build({{":method", "GET"}, {":scheme", "https"}, {":authority", "app.test:8443"},
                   {":path", "/a?b=1"}, {"accept", "*/*"}},
                  true, out, chunked),
            h2_head_status::ok);
  EXPECT_FALSE(chunked);
  EXPECT_EQ(out, "GET /a?b=1 HTTP/1.1\r\nhost: app.test:8443\r\naccept: */*\r\n\r\n");
}

// RFC 9113 8.2.3: cookie crumbs are joined with "; " into one field for HTTP/1.1.
TEST(H2Translate, CookieCrumbsJoined) {
  std::string out;
  bool chunked = false;
  ASSERT_EQ(build({{":method", "GET"}, {":scheme", "http"}, {":authority", "a"}, {":path", "/"},
                   {"cookie", "a=1"}, {"x", "y"}, {"cookie", "b=2"}, {"cookie", "c=3"}},
                  true, out, chunked),
            h2_head_status::ok);
  EXPECT_EQ(out, "GET / HTTP/1.1\r\nhost: a\r\nx: y\r\ncookie: a=1; b=2; c=3\r\n\r\n");
}

TEST(H2Translate, BodyWithoutLengthIsChunked) {
  std::string out;
  bool chunked = false;
  ASSERT_EQ(build({{":method", "POST"}, {":scheme", "http"}, {":authority", "a"}, {":path", "/u"}},
                  false, out, chunked),
            h2_head_status::ok);
  EXPECT_TRUE(chunked);
  EXPECT_EQ(out, "POST /u HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n");
  ASSERT_EQ(build({{":method", "POST"}, {":scheme", "http"}, {":authority", "a"}, {":path", "/u"},
                   {"content-length", "5"}},
                  false, out, chunked),
            h2_head_status::ok);
  EXPECT_FALSE(chunked);
  EXPECT_EQ(out, "POST /u HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n\r\n");
}

// RFC 9113 8.3.1: without :authority, Host names the target; both must agree.
TEST(H2Translate, HostAndAuthority) {
  std::string out;
  bool chunked = false;
  EXPECT_EQ(build({{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"host", "h.test"}},
                  true, out, chunked),
            h2_head_status::ok);
  EXPECT_EQ(out, "GET / HTTP/1.1\r\nhost: h.test\r\n\r\n");
  EXPECT_EQ(build({{":method", "GET"}, {":scheme", "http"}, {":authority", "a.test"}, {":path", "/"},
                   {"host", "A.test"}},
                  true, out, chunked),
            h2_head_status::ok);
  EXPECT_EQ(build({{":method", "GET"}, {":scheme", "http"}, {":authority", "a.test"}, {":path", "/"},
                   {"host", "b.test"}},
                  true, out, chunked),
            h2_head_status::malformed);
  EXPECT_EQ(build({{":method", "GET"}, {":scheme", "http"}, {":path", "/"}}, true, out, chunked),
            h2_head_status::malformed);
}

// RFC 9113 8.2.2 / 8.3: connection-specific fields, missing or repeated pseudo-headers and
// bytes that would end an HTTP/1.1 line are malformed; CONNECT is not proxied.
TEST(H2Translate, MalformedRequests) {
  std::string out;
  bool chunked = false;
  for (const auto* name : {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                           "upgrade", "Upper", "bad name"}) {
    h2_request_builder b(16384);
    b.add(":method", "GET");
    b.add(":scheme", "http");
    b.add(":authority", "a");
    b.add(":path", "/");
    b.add(name, "x");
    EXPECT_EQ(b.finish(true, out, chunked), h2_head_status::malformed) << name;
  }
  EXPECT_EQ(build({{":method", "GET"}, {":method", "GET"}, {":scheme", "http"}, {":authority", "a"},
                   {":path", "/"}},
                  true, out, chunked),
            h2_head_status::malformed);
  EXPECT_EQ(build({{":method", "GET"}, {":scheme", "http"}, {":authority", "a"}, {":path", "/"},
                   {":protocol", "websocket"}},
                  true, out, chunked),
            h2_head_status::malformed);
  EXPECT_EQ(build({{":method", "GET"}, {":scheme", "http"}, {":authority", "a"}, {":path", "/"},
                   {"x", "a\r\nevil: 1"}},
                  true, out, chunked),
            h2_head_status::malformed);
  EXPECT_EQ(build({{":method", "GET"}, {":scheme", "http"}, {":authority", "a"}, {":path", "/a b"}},
                  true, out, chunked),
            h2_head_status::malformed);
  EXPECT_EQ(build({{":method", "GET"}, {":authority", "a"}, {":path", "/"}}, true, out, chunked),
            h2_head_status::malformed);
  EXPECT_EQ(build({{":method", "CONNECT"}, {":authority", "a:443"}}, false, out, chunked),
            h2_head_status::not_supported);
}

// RFC 9113 6.5.2: the list size counts name + value + 32 per field.
TEST(H2Translate, HeaderListBound) {
  std::string out;
  bool chunked = false;
  std::string big(200, 'v');
  h2_request_builder b(300);
  b.add(":method", "GET");
  b.add(":scheme", "http");
  b.add(":authority", "a");
  b.add(":path", "/");
  EXPECT_EQ(b.list_size(), (7 + 3 + 32) + (7 + 4 + 32) + (10 + 1 + 32) + (5 + 1 + 32));
  b.add("x", big);
  EXPECT_EQ(b.finish(true, out, chunked), h2_head_status::too_large);
}

TEST(H2Translate, ResponseWithLength) {
  h1_response_reader r(false);
  std::string body;
  r.feed("HTTP/1.1 200 OK\r\nServer: portico\r\nContent-Length: 5\r\nConnection: keep-alive\r\n"
         "Keep-Alive: timeout=5\r\nX-A: b\r\n\r\nhel",
         body);
  ASSERT_TRUE(r.head_ready());
  EXPECT_EQ(r.status(), 200u);
  std::vector<std::pair<std::string_view, std::string_view>> want{
      {"server", "portico"}, {"content-length", "5"}, {"x-a", "b"}};
  EXPECT_EQ(r.fields(), want);
  EXPECT_EQ(r.current(), h1_response_reader::state::body);
  r.feed("lo", body);
  EXPECT_EQ(body, "hello");
  EXPECT_EQ(r.current(), h1_response_reader::state::done);
}

TEST(H2Translate, ResponseChunkedIsUnframed) {
  h1_response_reader r(false);
  std::string body;
  const std::string_view text =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n"
      "Upgrade: x\r\n\r\n5\r\nhello\r\nb;ext=1\r\n 0123456789\r\n0\r\nx-t: 1\r\n\r\n";
  // Byte by byte: every split point of the framing.
  for (char c : text) r.feed(std::string_view(&c, 1), body);
  EXPECT_EQ(r.status(), 201u);
  EXPECT_TRUE(r.fields().empty());
  EXPECT_EQ(body, "hello 0123456789");
  EXPECT_EQ(r.current(), h1_response_reader::state::done);
  std::vector<std::pair<std::string, std::string>> trailers{{"x-t", "1"}};
  EXPECT_EQ(r.trailers(), trailers);
}

// RFC 9113 8.1 and 8.2.2: the trailer section comes out with lower-case names and without
// connection-specific fields; a line that is not a field is an error.
TEST(H2Translate, ResponseTrailersKept) {
  h1_response_reader r(false);
  std::string body;
  r.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n"
         "Grpc-Status: 0\r\ngrpc-message:  fine \r\nConnection: x\r\nTransfer-Encoding: y\r\n"
         "Content-Length: 3\r\nTE: trailers\r\n\r\n",
         body);
  EXPECT_EQ(r.current(), h1_response_reader::state::done);
  std::vector<std::pair<std::string, std::string>> want{{"grpc-status", "0"},
                                                        {"grpc-message", "fine"}};
  EXPECT_EQ(r.trailers(), want);
  EXPECT_EQ(body, "ok");
  h1_response_reader bad(false);
  bad.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n", body);
  EXPECT_EQ(bad.current(), h1_response_reader::state::error);
}

TEST(H2Translate, TeTrailersAndGrpcNoted) {
  h2_request_builder b(16384);
  for (auto [n, v] : std::initializer_list<std::pair<std::string_view, std::string_view>>{
           {":method", "POST"}, {":scheme", "http"}, {":authority", "a"}, {":path", "/p.S/M"},
           {"te", "trailers"}, {"content-type", "Application/gRPC+proto"}})
    b.add(n, v);
  std::string out;
  bool chunked = false;
  ASSERT_EQ(b.finish(false, out, chunked), h2_head_status::ok);
  EXPECT_TRUE(b.te_trailers());
  EXPECT_TRUE(b.grpc());
  EXPECT_EQ(out.find("te:"), std::string::npos);  // hop-by-hop: not sent upstream
  h2_request_builder plain(16384);
  plain.add(":method", "GET");
  plain.add("content-type", "application/json");
  EXPECT_FALSE(plain.te_trailers());
  EXPECT_FALSE(plain.grpc());
}

// RFC 9113 8.1: no pseudo-header field in a trailer section; 8.2.2: no connection-specific one.
TEST(H2Translate, RequestTrailerFields) {
  EXPECT_TRUE(h2_trailer_field_ok("x-checksum", "abc"));
  EXPECT_FALSE(h2_trailer_field_ok(":path", "/"));
  EXPECT_FALSE(h2_trailer_field_ok("connection", "close"));
  EXPECT_FALSE(h2_trailer_field_ok("X-Upper", "1"));
  EXPECT_FALSE(h2_trailer_field_ok("x-a", "1\r\nx-b: 2"));
}

TEST(H2Translate, ResponseWithoutBody) {
  h1_response_reader head(true);
  std::string body;
  head.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", body);
  EXPECT_EQ(head.current(), h1_response_reader::state::done);
  h1_response_reader not_modified(false);
  not_modified.feed("HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n", body);
  EXPECT_EQ(not_modified.current(), h1_response_reader::state::done);
  h1_response_reader until_close(false);
  until_close.feed("HTTP/1.1 200 OK\r\n\r\nabc", body);
  EXPECT_EQ(until_close.current(), h1_response_reader::state::body);
  until_close.end_of_input();
  EXPECT_EQ(until_close.current(), h1_response_reader::state::done);
  EXPECT_EQ(body, "abc");
}

TEST(H2Translate, ResponseErrors) {
  std::string body;
  h1_response_reader cut(false);
  cut.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", body);
  cut.end_of_input();
  EXPECT_EQ(cut.current(), h1_response_reader::state::error);
  h1_response_reader upgrade(false);
  upgrade.feed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", body);
  EXPECT_EQ(upgrade.current(), h1_response_reader::state::error);
  h1_response_reader garbage(false);
  garbage.feed("HTTP/1.1 2x0 OK\r\n\r\n", body);
  EXPECT_EQ(garbage.current(), h1_response_reader::state::error);
}

}  // namespace
}  // namespace portico::proxy
