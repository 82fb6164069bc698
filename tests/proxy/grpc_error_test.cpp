// The proxy's own answers to gRPC calls: Trailers-Only responses (gRPC's PROTOCOL-HTTP2.md)
// with the codes of gRPC's "HTTP to gRPC Status Code Mapping".
#include <gtest/gtest.h>

#include "proxy/default_backend.hpp"
#include "proxy/h2_translate.hpp"

namespace portico::proxy {
namespace {

TEST(GrpcError, StatusMapping) {
  EXPECT_EQ(grpc_status_of(400, false), 13u);  // INTERNAL
  EXPECT_EQ(grpc_status_of(401, false), 16u);  // UNAUTHENTICATED
  EXPECT_EQ(grpc_status_of(403, false), 7u);   // PERMISSION_DENIED
  EXPECT_EQ(grpc_status_of(404, false), 12u);  // UNIMPLEMENTED
  for (unsigned s : {429u, 502u, 503u, 504u}) EXPECT_EQ(grpc_status_of(s, false), 14u);  // UNAVAILABLE
  EXPECT_EQ(grpc_status_of(504, true), 4u);    // DEADLINE_EXCEEDED: the proxy's own timeout
  for (unsigned s : {302u, 408u, 413u, 431u, 500u, 501u}) EXPECT_EQ(grpc_status_of(s, false), 2u);
}

TEST(GrpcError, TrailersOnlyResponse) {
  std::string out;
  write_grpc_error(out, 503, false, "rid", false, "X-Extra: 1\r\n", "100% busy\n");
  h1_response_reader r(false);
  std::string body;
  r.feed(out, body);
  ASSERT_EQ(r.current(), h1_response_reader::state::done);
  EXPECT_EQ(r.status(), 200u);
  EXPECT_TRUE(body.empty());
  std::vector<std::pair<std::string_view, std::string_view>> want{
      {"server", "portico"},
      {"content-type", "application/grpc"},
      {"grpc-status", "14"},
      // Percent-Encoded: '%' and bytes outside space..'~' are escaped.
      {"grpc-message", "503 Service Unavailable: 100%25 busy%0A"},
      {"content-length", "0"},
      {"x-request-id", "rid"},
      {"x-extra", "1"}};
  EXPECT_EQ(r.fields(), want);
}

}  // namespace
}  // namespace portico::proxy
