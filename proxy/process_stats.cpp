#include "proxy/process_stats.hpp"

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "proxy/metric_shards.hpp"

namespace portico::proxy {

namespace {

std::string read_file(const char* path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The value after "key" on a "key value" line (/proc/stat btime, /proc/self/io).
std::optional<std::uint64_t> keyed_value(const std::string& text, std::string_view key) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string k;
    std::uint64_t v;
    if (fields >> k && k == key && fields >> v) return v;
  }
  return std::nullopt;
}

}  // namespace

std::optional<process_sample> parse_proc_stat(std::string_view stat, double boot_time, long ticks,
                                              long page) {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses; fields follow the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string_view::npos || ticks <= 0) return std::nullopt;
  std::istringstream in(std::string(stat.substr(close + 1)));
  std::vector<std::string> f;  // f[0] is field 3 (state)
  for (std::string tok; in >> tok && f.size() < 22;) f.push_back(tok);
  if (f.size() < 22) return std::nullopt;
  auto num = [&](std::size_t field) -> std::optional<std::uint64_t> {
    const std::string& s = f[field - 3];
    std::uint64_t v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
    return v;
  };
  auto utime = num(14), stime = num(15), start = num(22), vsize = num(23), rss = num(24);
  if (!utime || !stime || !start || !vsize || !rss) return std::nullopt;
  process_sample s;
  s.cpu_seconds = static_cast<double>(*utime + *stime) / static_cast<double>(ticks);
  s.start_time_seconds = boot_time + static_cast<double>(*start) / static_cast<double>(ticks);
  s.virtual_bytes = *vsize;
  s.resident_bytes = *rss * static_cast<std::uint64_t>(page);
  return s;
}

std::vector<prometheus::MetricFamily> collect_process_stats(const controller_labels& labels) {
  auto boot = keyed_value(read_file("/proc/stat"), "btime");
  auto sample = parse_proc_stat(read_file("/proc/self/stat"), boot ? static_cast<double>(*boot) : 0,
                                ::sysconf(_SC_CLK_TCK), ::sysconf(_SC_PAGESIZE));
  if (!sample) return {};
  std::string io = read_file("/proc/self/io");
  sample->read_bytes = keyed_value(io, "read_bytes:");
  sample->write_bytes = keyed_value(io, "write_bytes:");

  std::vector<prometheus::ClientMetric::Label> cl = {
      {"controller_class", labels.controller_class},
      {"controller_namespace", labels.controller_namespace},
      {"controller_pod", labels.controller_pod},
  };
  std::vector<prometheus::MetricFamily> out;
  auto add = [&](const char* name, const char* help, prometheus::MetricType type, double v) {
    prometheus::MetricFamily f;
    f.name = std::string("nginx_ingress_controller_nginx_process_") + name;
    f.help = help;
    f.type = type;
    prometheus::ClientMetric m;
    m.label = cl;
    (type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value) = v;
    f.metric.push_back(std::move(m));
    out.push_back(std::move(f));
  };
  using prometheus::MetricType;
  add("num_procs", "number of processes", MetricType::Gauge, 1);
  add("cpu_seconds_total", "Cpu usage in seconds", MetricType::Counter, sample->cpu_seconds);
  add("resident_memory_bytes", "number of bytes of memory in use", MetricType::Gauge,
      static_cast<double>(sample->resident_bytes));
  add("virtual_memory_bytes", "number of bytes of memory in use", MetricType::Gauge,
      static_cast<double>(sample->virtual_bytes));
  add("oldest_start_time_seconds", "start time in seconds since 1970/01/01", MetricType::Gauge,
      sample->start_time_seconds);
  if (sample->read_bytes)
    add("read_bytes_total", "number of bytes read", MetricType::Counter,
        static_cast<double>(*sample->read_bytes));
  if (sample->write_bytes)
    add("write_bytes_total", "number of bytes written", MetricType::Counter,
        static_cast<double>(*sample->write_bytes));
  return out;
}

}  // namespace portico::proxy
