// HTTP/1.1 <-> HTTP/2 translation of one upstream stream (backend-protocol GRPC, GRPCS).
#include "proxy/h2_upstream_translate.hpp"

#include <gtest/gtest.h>

namespace portico::proxy {
namespace {

using fields = h2_field_list;
using views = std::vector<h2_field_view>;

TEST(H2UpstreamRequest, HeadBecomesPseudoHeadersAndTeTrailers) {
  h1_request_reader r("http");
  std::string body;
  r.feed("POST /pkg.Svc/Call HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/grpc\r\n"
         "Connection: keep-alive\r\nTE: trailers\r\nX-Forwarded-For: 10.0.0.1\r\n"
         "Content-Length: 3\r\n\r\nabc",
         body);
  ASSERT_EQ(r.current(), h1_request_reader::state::done);
  EXPECT_EQ(r.fields(), (views{{":method", "POST"},
                                {":scheme", "http"},
                                {":authority", "api.test"},
                                {":path", "/pkg.Svc/Call"},
                                {"content-type", "application/grpc"},
                                {"x-forwarded-for", "10.0.0.1"},
                                {"content-length", "3"},
                                {"te", "trailers"}}));
  EXPECT_EQ(body, "abc");
  EXPECT_FALSE(r.no_body());
}

TEST(H2UpstreamRequest, HeadArrivesInPieces) {
  h1_request_reader r("https");
  std::string body;
  const std::string text = "GET /x HTTP/1.1\r\nhost: a.test\r\n\r\n";
  for (char c : text) r.feed(std::string_view(&c, 1), body);
  ASSERT_EQ(r.current(), h1_request_reader::state::done);
  EXPECT_TRUE(r.no_body());
  EXPECT_EQ(r.fields()[1], (h2_field_view{":scheme", "https"}));
}

// RFC 9110 7.6.1: a field the Connection header names is hop-by-hop too.
TEST(H2UpstreamRequest, FieldsNamedByConnectionAreDropped) {
  h1_request_reader r("http");
  std::string body;
  r.feed("GET / HTTP/1.1\r\nhost: a\r\nConnection: close, X-Hop\r\nx-hop: 1\r\nx-keep: 2\r\n"
         "Upgrade: websocket\r\nKeep-Alive: 5\r\n\r\n",
         body);
  ASSERT_EQ(r.current(), h1_request_reader::state::done);
  EXPECT_EQ(r.fields(), (views{{":method", "GET"},
                                {":scheme", "http"},
                                {":authority", "a"},
                                {":path", "/"},
                                {"x-keep", "2"},
                                {"te", "trailers"}}));
}

TEST(H2UpstreamRequest, ChunkedBodyAndTrailers) {
  h1_request_reader r("http");
  std::string body;
  r.feed("POST /s HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n", body);
  ASSERT_EQ(r.current(), h1_request_reader::state::body);
  for (const char* piece : {"5\r\nhel", "lo\r\n", "3;ext=1\r\n", "abc\r\n0\r\n",
                            "grpc-x: 1\r\nConnection: x\r\n\r\n"})
    r.feed(piece, body);
  ASSERT_EQ(r.current(), h1_request_reader::state::done);
  EXPECT_EQ(body, "helloabc");
  EXPECT_EQ(r.trailers(), (fields{{"grpc-x", "1"}}));  // connection-specific dropped
  for (const auto& [n, v] : r.fields()) EXPECT_NE(n, "transfer-encoding");
}

TEST(H2UpstreamRequest, BadInputIsAnError) {
  for (const char* text : {"POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip\r\n\r\n",
                           "GET / HTTP/1.1\r\n\r\n",  // no host
                           "GET /\r\nhost: a\r\n\r\n",
                           "GET / HTTP/1.1\r\nhost: a\r\ncontent-length: x\r\n\r\n",
                           "POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"}) {
    h1_request_reader r("http");
    std::string body;
    r.feed(text, body);
    EXPECT_EQ(r.current(), h1_request_reader::state::error) << text;
  }
  h1_request_reader r("http");
  std::string body;
  r.feed("GET / HTTP/1.1\r\nhost: a\r\n\r\nGET", body);  // bytes after the request
  EXPECT_EQ(r.current(), h1_request_reader::state::error);
}

TEST(H2UpstreamResponse, HeadersDataTrailersBecomeChunkedResponse) {
  h2_response_writer w;
  std::string out;
  w.add_field(":status", "200");
  w.add_field("content-type", "application/grpc");
  w.add_field("x-meta", "v");
  ASSERT_TRUE(w.end_headers(false, out));
  EXPECT_TRUE(w.grpc());
  w.data("abc", out);
  w.data("", out);  // an empty DATA frame is no chunk (it would end the body)
  w.data(std::string(20, 'x'), out);
  w.add_field("grpc-status", "0");
  w.add_field("grpc-message", "fine");
  ASSERT_TRUE(w.end_headers(true, out));
  EXPECT_TRUE(w.complete());
  EXPECT_EQ(out,
            "HTTP/1.1 200 \r\ncontent-type: application/grpc\r\nx-meta: v\r\n"
            "transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n14\r\nxxxxxxxxxxxxxxxxxxxx\r\n"
            "0\r\ngrpc-status: 0\r\ngrpc-message: fine\r\n\r\n");
}

// gRPC's Trailers-Only: one HEADERS frame with END_STREAM is the whole response.
TEST(H2UpstreamResponse, TrailersOnlyIsAHeadWithoutBody) {
  h2_response_writer w;
  std::string out;
  w.add_field(":status", "200");
  w.add_field("content-type", "application/grpc");
  w.add_field("grpc-status", "5");
  w.add_field("grpc-message", "not here");
  ASSERT_TRUE(w.end_headers(true, out));
  EXPECT_TRUE(w.complete());
  EXPECT_EQ(out,
            "HTTP/1.1 200 \r\ncontent-type: application/grpc\r\ngrpc-status: 5\r\n"
            "grpc-message: not here\r\ncontent-length: 0\r\n\r\n");
}

TEST(H2UpstreamResponse, InterimHeadIsDroppedAndLengthReframed) {
  h2_response_writer w;
  std::string out;
  w.add_field(":status", "103");
  w.add_field("link", "</a>");
  ASSERT_TRUE(w.end_headers(false, out));
  EXPECT_EQ(out, "");
  EXPECT_FALSE(w.head_sent());
  w.add_field(":status", "404");
  w.add_field("content-length", "2");
  ASSERT_TRUE(w.end_headers(false, out));
  w.data("no", out);
  w.end_stream(out);
  EXPECT_EQ(out, "HTTP/1.1 404 \r\ntransfer-encoding: chunked\r\n\r\n2\r\nno\r\n0\r\n\r\n");
  EXPECT_TRUE(w.complete());
}

TEST(H2UpstreamResponse, BadStatusIsRefused) {
  for (const char* st : {"", "20", "2000", "abc", "101", "600"}) {
    h2_response_writer w;
    std::string out;
    w.add_field(":status", st);
    EXPECT_FALSE(w.end_headers(false, out)) << st;
  }
  h2_response_writer w;
  std::string out;
  EXPECT_FALSE(w.end_headers(true, out));  // no :status at all
}

}  // namespace
}  // namespace portico::proxy
