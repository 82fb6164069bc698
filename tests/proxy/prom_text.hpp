// A small reader of the Prometheus text exposition format for tests: every sample line as
// (name, labels, value), looked up by name and a subset of labels.
#pragma once

#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace portico::test {

struct prom_sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

inline std::vector<prom_sample> parse_prom_text(const std::string& text) {
  std::vector<prom_sample> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    prom_sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::size_t eq = line.find('=', i);
        std::string key = line.substr(i, eq - i);
        std::string value;
        std::size_t j = eq + 2;  // past ="
        while (j < line.size() && line[j] != '"') {
          if (line[j] == '\\' && j + 1 < line.size()) {
            ++j;
            value += line[j] == 'n' ? '\n' : line[j];
          } else {
            value += line[j];
          }
          ++j;
        }
        s.labels[key] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      ++i;  // '}'
    }
    while (i < line.size() && line[i] == ' ') ++i;
    std::string v = line.substr(i, line.find(' ', i) - i);
    s.value = v == "+Inf" ? 1e300 : std::strtod(v.c_str(), nullptr);
    out.push_back(std::move(s));
  }
  return out;
}

// Samples named `name` whose labels include every pair of `want`.
inline std::vector<prom_sample> find_samples(const std::vector<prom_sample>& all,
                                             const std::string& name,
                                             const std::map<std::string, std::string>& want) {
  std::vector<prom_sample> out;
  for (const auto& s : all) {
    if (s.name != name) continue;
    bool ok = true;
    for (const auto& [k, v] : want) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) {
        ok = false;
        break;
      }
    }
    if (ok) out.push_back(s);
  }
  return out;
}

// The value of the single sample matching, or nullopt when there is none (or several).
inline std::optional<double> sample_value(const std::vector<prom_sample>& all,
                                          const std::string& name,
                                          const std::map<std::string, std::string>& want) {
  auto found = find_samples(all, name, want);
  if (found.size() != 1) return std::nullopt;
  return found[0].value;
}

}  // namespace portico::test
