// Route 53: plans as ChangeResourceRecordSets change batches, in the JSON shape the AWS API
// and `aws route53 change-resource-record-sets --change-batch` take:
//   {"Comment": "...", "Changes": [{"Action": "UPSERT" | "DELETE",
//     "ResourceRecordSet": {"Name": "a.example.com.", "Type": "A", "TTL": 60,
//                           "ResourceRecords": [{"Value": "192.0.2.1"}]}}]}
// Each batch is written to a file in the output directory; with a hosted zone id and the
// `aws` CLI on PATH it is also sent. The current state comes from
// `aws route53 list-resource-record-sets` when the CLI is used, else from what this
// process has written (empty at start).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "deploy/dns-sync/provider.hpp"

namespace portico::dnssync {

// The batches of a plan (at most max_changes changes each; all changes of one name stay in
// one batch). Names get their trailing dot; TXT values are quoted.
std::vector<std::string> route53_change_batches(const plan& p, std::string_view comment,
                                                std::size_t max_changes = 1000);

// The records of a ListResourceRecordSets response ({"ResourceRecordSets": [...]}), names
// normalised (octal escapes such as \052 for '*' decoded), TXT values unquoted. Alias and
// other types are skipped. Throws provider_error on malformed JSON.
zone_records parse_route53_record_sets(std::string_view json_text);

struct route53_options {
  std::string out_dir;       // batch files go here (created when missing)
  std::string zone_id;       // hosted zone id; with the CLI: send the batches
  std::string aws_cli;       // path or name of the aws CLI ("" = look for "aws" on PATH)
  std::string zone;          // normalised
};

class route53_provider final : public provider {
 public:
  explicit route53_provider(route53_options opts);
  zone_records read() override;
  apply_result apply(const plan& p) override;
  std::string describe() const override;
  bool sends() const { return !aws_.empty(); }

 private:
  std::string next_batch_path();
  std::string send_batch(const std::string& batch);  // "" or what went wrong
  route53_options opts_;
  std::string aws_;  // resolved CLI path when batches are sent
  zone_records written_;
  unsigned seq_ = 0;
};

struct process_result {
  int exit_code = -1;
  std::string out, err;
};
// Runs argv[0] (looked up on PATH) with no shell; waits for it. Throws provider_error when it
// cannot be started.
process_result run_process(const std::vector<std::string>& argv);
// The full path of an executable found on PATH (or `name` itself when it has a '/'); "".
std::string find_executable(const std::string& name);

}  // namespace portico::dnssync
