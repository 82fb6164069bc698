// Route 53 change batches: the ChangeResourceRecordSets JSON shape, and reading
// ListResourceRecordSets output back.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "deploy/dns-sync/route53.hpp"

using namespace portico::dnssync;
namespace json = boost::json;

namespace {

plan sample_plan() {
  zone_records z;
  z.add("old.example.com", "A", 60, "192.0.2.9");
  z.add("portico-owner.old.example.com", "TXT", 60, owner_value("c1"));
  desired_state d;
  d["new.example.com"].v4 = {"192.0.2.1", "192.0.2.2"};
  d["new.example.com"].v6 = {"2001:db8::1"};
  d["*.apps.example.com"].v4 = {"192.0.2.3"};
  return make_plan(d, z, {"c1", 60});
}

}  // namespace

TEST(dns_sync_route53, batch_has_the_aws_shape) {
  auto batches = route53_change_batches(sample_plan(), "portico dns-sync");
  ASSERT_EQ(batches.size(), 1u);
  json::value v = json::parse(batches[0]);
  const auto& o = v.as_object();
  EXPECT_EQ(o.at("Comment").as_string(), "portico dns-sync");
  const auto& changes = o.at("Changes").as_array();
  ASSERT_EQ(changes.size(), 2u + 3u + 2u);  // wildcard: A+TXT; new: A+AAAA+TXT; old: 2 deletes
  for (const auto& ch : changes) {
    const auto& c = ch.as_object();
    EXPECT_EQ(c.size(), 2u);
    std::string action(c.at("Action").as_string());
    EXPECT_TRUE(action == "UPSERT" || action == "DELETE") << action;
    const auto& set = c.at("ResourceRecordSet").as_object();
    EXPECT_EQ(set.size(), 4u);
    std::string name(set.at("Name").as_string());
    EXPECT_EQ(name.back(), '.') << name;
    EXPECT_TRUE(set.at("TTL").is_int64() || set.at("TTL").is_uint64());
    EXPECT_FALSE(set.at("ResourceRecords").as_array().empty());
    for (const auto& r : set.at("ResourceRecords").as_array()) {
      EXPECT_EQ(r.as_object().size(), 1u);
      EXPECT_TRUE(r.as_object().at("Value").is_string());
    }
  }
  auto set_of = [&](std::size_t i) { return changes[i].as_object().at("ResourceRecordSet").as_object(); };
  // Ordered by name: "*.apps..." < "new..." < "old...".
  EXPECT_EQ(set_of(0).at("Name").as_string(), "*.apps.example.com.");
  EXPECT_EQ(set_of(0).at("Type").as_string(), "A");
  EXPECT_EQ(set_of(1).at("Name").as_string(), "portico-owner._wildcard.apps.example.com.");
  EXPECT_EQ(set_of(1).at("ResourceRecords").as_array()[0].as_object().at("Value").as_string(),
            "\"heritage=portico,portico/owner=c1\"");
  EXPECT_EQ(set_of(2).at("Type").as_string(), "A");
  EXPECT_EQ(set_of(2).at("ResourceRecords").as_array().size(), 2u);
  EXPECT_EQ(set_of(3).at("Type").as_string(), "AAAA");
  EXPECT_EQ(set_of(3).at("TTL").to_number<int>(), 60);
  EXPECT_EQ(changes[5].as_object().at("Action").as_string(), "DELETE");
  EXPECT_EQ(set_of(5).at("Name").as_string(), "old.example.com.");
  EXPECT_EQ(set_of(5).at("ResourceRecords").as_array()[0].as_object().at("Value").as_string(), "192.0.2.9");
  EXPECT_EQ(changes[6].as_object().at("Action").as_string(), "DELETE");
  EXPECT_EQ(set_of(6).at("Type").as_string(), "TXT");
}

TEST(dns_sync_route53, batches_split_between_names_only) {
  auto batches = route53_change_batches(sample_plan(), "c", 3);
  ASSERT_EQ(batches.size(), 3u);  // 2 | 3 | 2: a name's changes are never split
  std::vector<std::size_t> sizes;
  for (const auto& b : batches) sizes.push_back(json::parse(b).at("Changes").as_array().size());
  EXPECT_EQ(sizes, (std::vector<std::size_t>{2, 3, 2}));
  EXPECT_TRUE(route53_change_batches(plan{}, "c").empty());
}

TEST(dns_sync_route53, list_output_is_read_back_as_records) {
  auto z = parse_route53_record_sets(R"({"ResourceRecordSets":[
    {"Name":"example.com.","Type":"SOA","TTL":900,"ResourceRecords":[{"Value":"ns. a. 1 2 3 4 5"}]},
    {"Name":"\\052.apps.example.com.","Type":"A","TTL":60,"ResourceRecords":[{"Value":"192.0.2.3"}]},
    {"Name":"portico-owner._wildcard.apps.example.com.","Type":"TXT","TTL":60,
     "ResourceRecords":[{"Value":"\"heritage=portico,portico/owner=c1\""}]},
    {"Name":"alias.example.com.","Type":"A","AliasTarget":{"DNSName":"x.","HostedZoneId":"Z","EvaluateTargetHealth":false}},
    {"Name":"Web.Example.com.","Type":"AAAA","TTL":300,"ResourceRecords":[{"Value":"2001:DB8::1"}]}
  ]})");
  ASSERT_NE(z.find("*.apps.example.com", "A"), nullptr);
  EXPECT_EQ(z.find("*.apps.example.com", "A")->values, std::vector<std::string>{"192.0.2.3"});
  EXPECT_EQ(z.find("portico-owner._wildcard.apps.example.com", "TXT")->values,
            std::vector<std::string>{owner_value("c1")});
  EXPECT_EQ(z.find("web.example.com", "AAAA")->values, std::vector<std::string>{"2001:db8::1"});
  EXPECT_EQ(z.find("web.example.com", "AAAA")->ttl, 300u);
  EXPECT_EQ(z.find("example.com", "SOA"), nullptr);
  EXPECT_EQ(z.find("alias.example.com", "A"), nullptr);
  // The round trip: what we own there is recognised, so nothing is planned for it.
  desired_state d;
  d["*.apps.example.com"].v4 = {"192.0.2.3"};
  EXPECT_TRUE(make_plan(d, z, {"c1", 60}).empty());
  EXPECT_THROW(parse_route53_record_sets("not json"), provider_error);
}

TEST(dns_sync_route53, provider_writes_numbered_batches_and_tracks_what_it_wrote) {
  auto dir = std::filesystem::temp_directory_path() / ("dns-sync-r53-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  route53_options o;
  o.out_dir = dir.string();
  o.zone = "example.com";
  route53_provider prov(o);
  EXPECT_FALSE(prov.sends());
  auto p = sample_plan();
  auto r = prov.apply(p);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(r.applied, p.changes.size());
  ASSERT_TRUE(std::filesystem::exists(dir / "batch-000001.json"));
  std::ifstream f(dir / "batch-000001.json");
  std::string text((std::istreambuf_iterator<char>(f)), {});
  EXPECT_EQ(json::parse(text).at("Changes").as_array().size(), 7u);
  // A new provider on the same directory continues the numbering.
  route53_provider again(o);
  desired_state d;
  d["x.example.com"].v4 = {"192.0.2.4"};
  again.apply(make_plan(d, again.read(), {"c1", 60}));
  EXPECT_TRUE(std::filesystem::exists(dir / "batch-000002.json"));
  // The first provider's view now holds what it wrote: the same desired state plans nothing.
  desired_state same;
  same["new.example.com"].v4 = {"192.0.2.1", "192.0.2.2"};
  same["new.example.com"].v6 = {"2001:db8::1"};
  same["*.apps.example.com"].v4 = {"192.0.2.3"};
  EXPECT_TRUE(make_plan(same, prov.read(), {"c1", 60}).empty());
  std::filesystem::remove_all(dir);
}

TEST(dns_sync_route53, run_process_captures_output_and_exit_code) {
  auto r = run_process({"sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_FALSE(find_executable("sh").empty());
  EXPECT_TRUE(find_executable("no-such-program-portico").empty());
}
