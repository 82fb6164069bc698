// One JSON object per line on stderr, as `portico serve` logs:
// {"time":"...","level":"info","msg":"...","name":"a.example.com"}
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace portico::dnssync {

using log_fields = std::vector<std::pair<std::string, std::string>>;
void log_line(const char* level, const std::string& msg, const log_fields& fields = {});

}  // namespace portico::dnssync
