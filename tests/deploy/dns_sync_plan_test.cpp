// The plan: desired hosts -> addresses against the zone's records, respecting ownership.
#include <gtest/gtest.h>

#include "deploy/dns-sync/plan.hpp"

using namespace portico::dnssync;

namespace {

const std::string ours = owner_value("c1");

plan_options opts() { return {"c1", 60}; }

desired_state want(std::initializer_list<std::pair<std::string, address_set>> l) {
  desired_state d;
  for (auto& [k, v] : l) d[k] = v;
  return d;
}

address_set v4(std::initializer_list<std::string> a) { return {{a.begin(), a.end()}, {}}; }

zone_records owned_zone() {
  zone_records z;
  z.add("a.example.com", "A", 60, "192.0.2.1");
  z.add("portico-owner.a.example.com", "TXT", 60, ours);
  return z;
}

}  // namespace

TEST(dns_sync_plan, new_host_creates_a_set_and_owner_record) {
  zone_records z;
  auto p = make_plan(want({{"a.example.com", v4({"192.0.2.2", "192.0.2.1"})}}), z, opts());
  ASSERT_EQ(p.changes.size(), 1u);
  const auto& c = p.changes[0];
  EXPECT_EQ(c.action, change_action::create);
  EXPECT_EQ(c.name, "a.example.com");
  ASSERT_EQ(c.put.size(), 2u);
  EXPECT_EQ(c.put[0], (rrset{"a.example.com", "A", 60, {"192.0.2.1", "192.0.2.2"}}));
  EXPECT_EQ(c.put[1], (rrset{"portico-owner.a.example.com", "TXT", 60, {"heritage=portico,portico/owner=c1"}}));
  EXPECT_TRUE(c.del.empty());
  EXPECT_TRUE(p.skipped.empty());
}

TEST(dns_sync_plan, owned_and_equal_gives_no_change) {
  auto p = make_plan(want({{"a.example.com", v4({"192.0.2.1"})}}), owned_zone(), opts());
  EXPECT_TRUE(p.empty());
}

TEST(dns_sync_plan, owned_with_other_addresses_is_replaced) {
  auto p = make_plan(want({{"a.example.com", v4({"192.0.2.9"})}}), owned_zone(), opts());
  ASSERT_EQ(p.changes.size(), 1u);
  EXPECT_EQ(p.changes[0].action, change_action::update);
  ASSERT_EQ(p.changes[0].put.size(), 1u);  // no second owner record
  EXPECT_EQ(p.changes[0].put[0].values, std::vector<std::string>{"192.0.2.9"});
}

TEST(dns_sync_plan, ttl_difference_is_an_update) {
  auto o = opts();
  o.ttl = 300;
  auto p = make_plan(want({{"a.example.com", v4({"192.0.2.1"})}}), owned_zone(), o);
  ASSERT_EQ(p.changes.size(), 1u);
  EXPECT_EQ(p.changes[0].put[0].ttl, 300u);
}

TEST(dns_sync_plan, owned_name_no_longer_desired_is_removed_with_its_owner_record) {
  auto z = owned_zone();
  z.add("a.example.com", "AAAA", 60, "2001:db8::1");
  auto p = make_plan({}, z, opts());
  ASSERT_EQ(p.changes.size(), 1u);
  const auto& c = p.changes[0];
  EXPECT_EQ(c.action, change_action::remove);
  EXPECT_TRUE(c.put.empty());
  ASSERT_EQ(c.del.size(), 3u);
  EXPECT_EQ(c.del[0].type, "A");
  EXPECT_EQ(c.del[1].type, "AAAA");
  EXPECT_EQ(c.del[2], (rrset{"portico-owner.a.example.com", "TXT", 60, {ours}}));
}

TEST(dns_sync_plan, foreign_a_record_is_left_alone_and_reported) {
  zone_records z;
  z.add("a.example.com", "A", 300, "10.9.9.9");
  auto p = make_plan(want({{"a.example.com", v4({"192.0.2.1"})}}), z, opts());
  EXPECT_TRUE(p.changes.empty());
  ASSERT_EQ(p.skipped.size(), 1u);
  EXPECT_EQ(p.skipped[0].name, "a.example.com");
  EXPECT_NE(p.skipped[0].reason.find("not owned by Portico (A 10.9.9.9)"), std::string::npos);
}

TEST(dns_sync_plan, foreign_cname_blocks_a_create) {
  zone_records z;
  z.add("a.example.com", "CNAME", 300, "elsewhere.example.net");
  auto p = make_plan(want({{"a.example.com", v4({"192.0.2.1"})}}), z, opts());
  EXPECT_TRUE(p.changes.empty());
  EXPECT_EQ(p.skipped.size(), 1u);
}

TEST(dns_sync_plan, foreign_records_without_owner_are_never_deleted) {
  zone_records z;
  z.add("old.example.com", "A", 60, "192.0.2.1");
  z.add("portico-owner.old.example.com", "TXT", 60, owner_value("someone-else"));
  auto p = make_plan({}, z, opts());
  EXPECT_TRUE(p.changes.empty());
  EXPECT_TRUE(p.skipped.empty());
}

TEST(dns_sync_plan, name_marked_by_another_owner_is_not_claimed) {
  zone_records z;
  z.add("portico-owner.a.example.com", "TXT", 60, owner_value("c2"));
  auto p = make_plan(want({{"a.example.com", v4({"192.0.2.1"})}}), z, opts());
  EXPECT_TRUE(p.changes.empty());
  ASSERT_EQ(p.skipped.size(), 1u);
  EXPECT_NE(p.skipped[0].reason.find("another Portico"), std::string::npos);
}

TEST(dns_sync_plan, other_txt_records_at_the_name_do_not_block_it) {
  zone_records z;
  z.add("a.example.com", "TXT", 60, "v=spf1 -all");
  z.add("a.example.com", "MX", 60, "10 mail.example.com");
  auto p = make_plan(want({{"a.example.com", v4({"192.0.2.1"})}}), z, opts());
  ASSERT_EQ(p.changes.size(), 1u);
  EXPECT_EQ(p.changes[0].action, change_action::create);
  for (const auto& s : p.changes[0].put) EXPECT_NE(s.name + s.type, "a.example.comTXT");
}

TEST(dns_sync_plan, ipv6_goes_to_aaaa_and_a_family_that_goes_away_is_deleted) {
  auto z = owned_zone();
  address_set only6{{}, {"2001:db8::5"}};
  auto p = make_plan(want({{"a.example.com", only6}}), z, opts());
  ASSERT_EQ(p.changes.size(), 1u);
  const auto& c = p.changes[0];
  EXPECT_EQ(c.action, change_action::update);
  ASSERT_EQ(c.put.size(), 1u);
  EXPECT_EQ(c.put[0], (rrset{"a.example.com", "AAAA", 60, {"2001:db8::5"}}));
  ASSERT_EQ(c.del.size(), 1u);
  EXPECT_EQ(c.del[0].type, "A");
}

TEST(dns_sync_plan, wildcard_host_is_owned_through_the_wildcard_label) {
  zone_records z;
  auto p = make_plan(want({{"*.apps.example.com", v4({"192.0.2.1"})}}), z, opts());
  ASSERT_EQ(p.changes.size(), 1u);
  EXPECT_EQ(p.changes[0].put[0].name, "*.apps.example.com");
  EXPECT_EQ(p.changes[0].put[1].name, "portico-owner._wildcard.apps.example.com");
  apply_to(z, p);
  // Read back as owned: a later removal deletes the wildcard set.
  auto gone = make_plan({}, z, opts());
  ASSERT_EQ(gone.changes.size(), 1u);
  EXPECT_EQ(gone.changes[0].name, "*.apps.example.com");
  EXPECT_EQ(gone.changes[0].action, change_action::remove);
}

TEST(dns_sync_plan, applying_the_plan_converges) {
  zone_records z;
  z.add("keep.example.com", "A", 60, "10.0.0.1");  // foreign: stays
  auto d = want({{"a.example.com", v4({"192.0.2.1"})}, {"b.example.com", {{"192.0.2.2"}, {"2001:db8::2"}}}});
  auto p = make_plan(d, z, opts());
  EXPECT_EQ(p.changes.size(), 2u);
  apply_to(z, p);
  EXPECT_TRUE(make_plan(d, z, opts()).empty());
  d.erase("a.example.com");
  apply_to(z, make_plan(d, z, opts()));
  EXPECT_EQ(z.find("a.example.com", "A"), nullptr);
  EXPECT_EQ(z.find("portico-owner.a.example.com", "TXT"), nullptr);
  ASSERT_NE(z.find("keep.example.com", "A"), nullptr);
  EXPECT_TRUE(make_plan(d, z, opts()).empty());
}

TEST(dns_sync_plan, describe_names_action_sets_and_values) {
  auto p = make_plan(want({{"a.example.com", v4({"192.0.2.1"})}}), zone_records{}, opts());
  EXPECT_EQ(describe(p.changes[0]),
            "create a.example.com: put A 60 [192.0.2.1]; put portico-owner.a.example.com TXT 60 "
            "[heritage=portico,portico/owner=c1]");
}

TEST(dns_sync_names, normalize_owner_and_zone) {
  EXPECT_EQ(normalize_name("A.Example.COM."), "a.example.com");
  EXPECT_EQ(normalize_name("*.x.example.com"), "*.x.example.com");
  EXPECT_FALSE(normalize_name("a.*.example.com"));
  EXPECT_FALSE(normalize_name("*"));
  EXPECT_FALSE(normalize_name("bad host.example.com"));
  EXPECT_FALSE(normalize_name("a..example.com"));
  EXPECT_TRUE(in_zone("example.com", "example.com"));
  EXPECT_TRUE(in_zone("a.b.example.com", "example.com"));
  EXPECT_FALSE(in_zone("badexample.com", "example.com"));
  EXPECT_FALSE(in_zone("example.org", "example.com"));
  EXPECT_EQ(owner_record_name("a.example.com"), "portico-owner.a.example.com");
  EXPECT_EQ(name_of_owner_record("portico-owner._wildcard.x.example.com"), "*.x.example.com");
  EXPECT_EQ(name_of_owner_record("portico-owner.a.example.com"), "a.example.com");
  EXPECT_FALSE(name_of_owner_record("other.a.example.com"));
  EXPECT_EQ(canonical_ip("2001:DB8:0:0::1"), "2001:db8::1");
  EXPECT_FALSE(canonical_ip("host.example.com"));
}
