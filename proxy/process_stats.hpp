// ingress-nginx's nginx_ingress_controller_nginx_process_* families for this process, read
// from /proc/self at scrape time (its dashboards chart CPU and memory from them).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include <prometheus/metric_family.h>

namespace portico::proxy {

struct controller_labels;  // proxy/metric_shards.hpp

struct process_sample {
  double cpu_seconds = 0;  // user + system
  std::uint64_t resident_bytes = 0;
  std::uint64_t virtual_bytes = 0;
  double start_time_seconds = 0;  // since the epoch
  std::optional<std::uint64_t> read_bytes, write_bytes;  // /proc/self/io may be unreadable
};

// Parses /proc/<pid>/stat text; nullopt when it is malformed. `boot_time` is /proc/stat's
// btime; `ticks` is sysconf(_SC_CLK_TCK); `page` the page size.
std::optional<process_sample> parse_proc_stat(std::string_view stat, double boot_time, long ticks,
                                              long page);

// num_procs, cpu_seconds_total, resident/virtual_memory_bytes, oldest_start_time_seconds and
// read/write_bytes_total of the running process, with the controller labels.
std::vector<prometheus::MetricFamily> collect_process_stats(const controller_labels& labels);

}  // namespace portico::proxy
