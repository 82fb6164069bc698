// snapshot::find / host_table::find and snapshot::find_certificates (every TLS handshake)
// must not allocate on the hot path. A counting global operator new (for this test
// executable) checks it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "config/route_table.hpp"

// The replaced operators pair malloc/free; GCC cannot see that through inlining.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
thread_local std::size_t g_allocations = 0;
}

void* operator new(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// The nothrow form too (std::stable_sort's temporary buffer takes it): every new of this
// executable must come from malloc, since every delete goes to free.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  ++g_allocations;
  return std::malloc(n ? n : 1);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace portico::config {
namespace {

TEST(route_table_alloc, find_does_not_allocate) {
  std::vector<std::shared_ptr<const route>> routes;
  auto table = std::make_shared<host_table>();
  auto add = [&](std::string host, std::string path, match_kind k) {
    auto r = std::make_shared<route>();
    r->index = static_cast<std::uint32_t>(routes.size());
    r->host = std::move(host);
    r->path = std::move(path);
    r->kind = k;
    routes.push_back(r);
    table->add(r.get());
  };
  add("Shop.Example.com", "/api/v1/orders", match_kind::prefix);
  add("shop.example.com", "/", match_kind::prefix);
  add("*.example.com", "/login", match_kind::exact);
  add("", "/", match_kind::prefix);
  std::string long_host = "a-rather-long-host-name-that-exceeds-any-small-string-buffer.example.org";
  std::string long_path = "/api/v1/orders/12345/items/67890/details/with/many/segments";

  snapshot snap(routes, {}, table, 0);
  std::size_t before = g_allocations;
  const route* r1 = snap.find("SHOP.example.com:443", long_path);
  const route* r2 = snap.find("x.EXAMPLE.com", "/login");
  const route* r3 = snap.find(long_host, "/nothing/here");
  const route* r4 = snap.find("[::1]:8080", "/");
  std::size_t after = g_allocations;

  EXPECT_EQ(after - before, 0u);
  ASSERT_NE(r1, nullptr);
  EXPECT_EQ(r1->index, 0u);
  ASSERT_NE(r2, nullptr);
  EXPECT_EQ(r2->index, 2u);
  ASSERT_NE(r3, nullptr);
  EXPECT_EQ(r3->index, 3u);
  ASSERT_NE(r4, nullptr);
  EXPECT_EQ(r4->index, 3u);
}

TEST(route_table_alloc, find_certificates_does_not_allocate) {
  auto tls = std::make_shared<tls_table>();
  auto cert = std::make_shared<tls_certificate>();
  cert->secret = "ns/c";
  const std::string long_host = "a-rather-long-host-name-over-any-small-string.example.org";
  tls->by_host.emplace(long_host, tls_certificates{cert});
  tls->by_host.emplace("*.wildcard-domain-of-some-length.example.org", tls_certificates{cert});
  snapshot snap({}, {}, nullptr, 0, tls);
  std::size_t before = g_allocations;
  const auto* exact =
      snap.find_certificates("A-Rather-Long-Host-Name-Over-Any-Small-String.example.org.");
  const auto* wild =
      snap.find_certificates("some-label.wildcard-domain-of-some-length.example.org");
  const auto* none = snap.find_certificates("another-long-unknown-host-name.example.org");
  std::size_t after = g_allocations;
  EXPECT_EQ(after - before, 0u);
  ASSERT_NE(exact, nullptr);
  ASSERT_NE(wild, nullptr);
  EXPECT_EQ(exact->front(), cert);
  EXPECT_EQ(wild->front(), cert);
  EXPECT_EQ(none, nullptr);
}

}  // namespace
}  // namespace portico::config
