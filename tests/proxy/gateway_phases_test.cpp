// The Gateway API steps of the request phases: HTTPPathModifier (URLRewrite and
// RequestRedirect paths) against the table in apis/v1/httproute_types.go, the
// RequestRedirect Location, and the weighted backend draw.
#include <gtest/gtest.h>

#include <memory>

#include "proxy/phases.hpp"

namespace portico::proxy {
namespace {

using config::path_edit;

struct prefix_row {
  const char* request;
  const char* prefix;
  const char* replace;
  const char* expect;
};

// HTTPPathModifier.ReplacePrefixMatch, the table of apis/v1/httproute_types.go, row by row.
TEST(gateway_phases, replace_prefix_match_table_of_the_spec) {
  const prefix_row rows[] = {
      {"/foo/bar", "/foo", "/xyz", "/xyz/bar"}, {"/foo/bar", "/foo", "/xyz/", "/xyz/bar"},
      {"/foo/bar", "/foo/", "/xyz", "/xyz/bar"}, {"/foo/bar", "/foo/", "/xyz/", "/xyz/bar"},
      {"/foo", "/foo", "/xyz", "/xyz"},          {"/foo/", "/foo", "/xyz", "/xyz/"},
      {"/foo/bar", "/foo", "", "/bar"},          {"/foo/", "/foo", "", "/"},
      {"/foo", "/foo", "", "/"},                 {"/foo/", "/foo", "/", "/"},
      {"/foo", "/foo", "/", "/"},
  };
  for (const auto& r : rows) {
    const path_edit e{path_edit::kind::prefix, r.replace};
    EXPECT_EQ(gateway_edit_path(e, r.prefix, r.request), r.expect)
        << r.request << " prefix " << r.prefix << " replace \"" << r.replace << "\"";
  }
  EXPECT_EQ(gateway_edit_path({path_edit::kind::full, "/x"}, "/foo", "/foo/bar"), "/x");
  EXPECT_EQ(gateway_edit_path({}, "/foo", "/foo/bar"), "/foo/bar");
}

config::route route_with(config::route_policy p, std::string path = "/old") {
  config::route r;
  r.path = std::move(path);
  r.policy = std::make_shared<const config::route_policy>(std::move(p));
  r.backend = std::make_shared<const config::cluster>();
  return r;
}

TEST(gateway_phases, url_rewrite_keeps_the_query) {
  config::route_policy p;
  p.rewrite.gateway_path = {path_edit::kind::prefix, "/new"};
  const auto r = route_with(p);
  std::string out;
  ASSERT_TRUE(gateway_rewrite_uri(r, "/old/x", "a=1&b=2", out));
  EXPECT_EQ(out, "/new/x?a=1&b=2");
  ASSERT_TRUE(gateway_rewrite_uri(r, "/old", "", out));
  EXPECT_EQ(out, "/new");
  EXPECT_FALSE(gateway_rewrite_uri(route_with({}), "/old", "", out));
}

std::string location(const config::gateway_redirect& g, std::string_view host, std::string_view target,
                     bool tls, std::string route_path = "/old", std::uint16_t listener_port = 0) {
  config::route_policy p;
  p.redirect.gateway = g;
  const auto r = route_with(p, std::move(route_path));
  const auto q = target.find('?');
  const request_view req{"GET", host, target, target.substr(0, q), tls, 443, {}, listener_port};
  local_answer out;
  EXPECT_EQ(redirect_phase(r, req, config::controller_config{}, out), phase_result::answered);
  EXPECT_EQ(out.status, g.status);
  return out.location;
}

// HTTPRequestRedirectFilter: the port is left out when it is the scheme's well-known one;
// without a port: the scheme's (a scheme is given) or the listener's (80/443).
TEST(gateway_phases, request_redirect_location) {
  config::gateway_redirect g;
  g.enabled = true;
  g.scheme = "https";
  EXPECT_EQ(location(g, "example.com:8080", "/old/x?q=1", false), "https://example.com/old/x?q=1");
  g.port = 8443;
  EXPECT_EQ(location(g, "example.com", "/a", false), "https://example.com:8443/a");
  g.port = 443;
  EXPECT_EQ(location(g, "example.com", "/a", false), "https://example.com/a");
  config::gateway_redirect h;
  h.enabled = true;
  h.hostname = "other.example";
  h.status = 301;
  EXPECT_EQ(location(h, "example.com", "/a", true), "https://other.example/a");  // the listener's scheme
  h.path = {path_edit::kind::prefix, "/new"};
  h.port = 80;
  EXPECT_EQ(location(h, "[::1]:8080", "/old/deep?x", false), "http://other.example/new/deep?x");
  h.hostname.clear();
  EXPECT_EQ(location(h, "[::1]:8080", "/old/deep", false), "http://[::1]/new/deep");
}

// The conformance case HTTPRouteRedirectPortAndScheme on a listener on 8080: without a scheme
// nor a port the Location names the listener's port; with a scheme, the scheme's well-known
// port (left out); with a port, that port.
TEST(gateway_phases, redirect_on_an_extra_listener_port_names_that_port) {
  config::gateway_redirect g;
  g.enabled = true;
  EXPECT_EQ(location(g, "example.org:8080", "/old/a?x", false, "/old", 8080), "http://example.org:8080/old/a?x");
  EXPECT_EQ(location(g, "example.org:8443", "/old/a", true, "/old", 8443), "https://example.org:8443/old/a");
  EXPECT_EQ(location(g, "example.org", "/old/a", false), "http://example.org/old/a");  // main listener
  g.scheme = "https";
  EXPECT_EQ(location(g, "example.org:8080", "/old/a", false, "/old", 8080), "https://example.org/old/a");
  g.scheme.clear();
  g.port = 80;
  EXPECT_EQ(location(g, "example.org:8080", "/old/a", false, "/old", 8080), "http://example.org/old/a");
  g.port = 9090;
  EXPECT_EQ(location(g, "example.org:8080", "/old/a", false, "/old", 8080), "http://example.org:9090/old/a");
}

TEST(gateway_phases, weighted_draw_follows_the_weights_and_null_backends_answer_500) {
  config::route r = route_with({});
  auto a = std::make_shared<config::cluster>();
  a->id = "a";
  auto b = std::make_shared<config::cluster>();
  b->id = "b";
  r.weighted = {{a, 1, nullptr}, {b, 0, nullptr}, {nullptr, 2, nullptr}};
  r.weight_total = 3;
  message_head h;
  backend_pick pick;
  int got_a = 0, got_null = 0;
  for (std::uint64_t draw = 0; draw < 300; ++draw) {
    pick_backend_phase(r, h, draw, pick);
    if (pick.cluster == a.get()) ++got_a;
    else if (pick.cluster == nullptr) ++got_null;
    else ADD_FAILURE() << "weight 0 backend drawn at " << draw;
  }
  EXPECT_EQ(got_a, 100);     // draw % 3 == 0
  EXPECT_EQ(got_null, 200);  // the invalid ref's share
  r.weighted = {{a, 0, nullptr}};
  r.weight_total = 0;
  pick_backend_phase(r, h, 7, pick);
  EXPECT_EQ(pick.cluster, nullptr);  // every weight 0
}

// A backendRef with its own filters or protocol (config::weighted_backend::variant): the pick
// names the route copy that serves it; the others serve with the matched route.
TEST(gateway_phases, weighted_draw_names_the_backends_own_route) {
  config::route r = route_with({});
  auto a = std::make_shared<config::cluster>();
  auto b = std::make_shared<config::cluster>();
  auto own = std::make_shared<config::route>(r);
  own->upstream_h2 = true;
  r.weighted = {{a, 1, nullptr}, {b, 1, own}};
  r.weight_total = 2;
  message_head h;
  backend_pick pick;
  pick_backend_phase(r, h, 0, pick);
  EXPECT_EQ(pick.cluster, a.get());
  EXPECT_EQ(pick.variant, nullptr);
  pick_backend_phase(r, h, 1, pick);
  EXPECT_EQ(pick.cluster, b.get());
  EXPECT_EQ(pick.variant, own.get());
}

}  // namespace
}  // namespace portico::proxy
