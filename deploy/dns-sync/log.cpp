#include "deploy/dns-sync/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace portico::dnssync {

namespace {

void append_quoted(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      out += b;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

std::string now_text() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

}  // namespace

void log_line(const char* level, const std::string& msg, const log_fields& fields) {
  std::string line = "{\"time\":\"" + now_text() + "\",\"level\":\"" + level + "\",\"msg\":";
  append_quoted(line, msg);
  for (const auto& [k, v] : fields) {
    line += ',';
    append_quoted(line, k);
    line += ':';
    append_quoted(line, v);
  }
  line += "}\n";
  std::fputs(line.c_str(), stderr);
}

}  // namespace portico::dnssync
