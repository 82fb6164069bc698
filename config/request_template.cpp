#include "config/request_template.hpp"

#include <algorithm>
#include <cctype>

namespace portico::config {

request_template parse_request_template(std::string_view v, std::string& why) {
  request_template out;
  using K = hash_part::kind;
  if (v.empty()) {
    why = "empty";
    return out;
  }
  std::size_t i = 0;
  while (i < v.size()) {
    if (v[i] != '$') {
      const auto next = v.find('$', i);
      const auto lit = v.substr(i, next == std::string_view::npos ? std::string_view::npos : next - i);
      if (std::any_of(lit.begin(), lit.end(), [](char ch) {
            return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f || ch == '{' || ch == '}';
          })) {
        why = "unexpected characters";
        return {};
      }
      out.push_back({K::literal, std::string(lit)});
      i += lit.size();
      continue;
    }
    ++i;
    std::string name;
    if (i < v.size() && v[i] == '{') {
      const auto close = v.find('}', i);
      if (close == std::string_view::npos) {
        why = "unclosed ${";
        return {};
      }
      name = std::string(v.substr(i + 1, close - i - 1));
      i = close + 1;
    } else {
      while (i < v.size() && (std::isalnum(static_cast<unsigned char>(v[i])) || v[i] == '_'))
        name += v[i++];
    }
    auto starts = [&](std::string_view p) { return name.size() > p.size() && name.starts_with(p); };
    if (name == "request_uri") out.push_back({K::request_uri, {}});
    else if (name == "escaped_request_uri") out.push_back({K::escaped_request_uri, {}});
    else if (name == "uri" || name == "document_uri") out.push_back({K::uri, {}});
    else if (name == "args" || name == "query_string") out.push_back({K::args, {}});
    else if (name == "is_args") out.push_back({K::is_args, {}});
    else if (name == "remote_addr" || name == "binary_remote_addr") out.push_back({K::remote_addr, {}});
    else if (name == "host") out.push_back({K::host, {}});
    else if (name == "http_host" || name == "best_http_host") out.push_back({K::http_host, {}});
    else if (name == "scheme") out.push_back({K::scheme, {}});
    else if (name == "pass_access_scheme") out.push_back({K::pass_access_scheme, {}});
    else if (name == "request_method") out.push_back({K::method, {}});
    else if (name == "remote_user") out.push_back({K::remote_user, {}});
    else if (name == "server_port") out.push_back({K::server_port, {}});
    else if (starts("http_")) {
      std::string h = name.substr(5);
      for (auto& ch : h) ch = ch == '_' ? '-' : ch;  // nginx: $http_x_user is X-User
      out.push_back({K::http, std::move(h)});
    } else if (starts("cookie_")) out.push_back({K::cookie, name.substr(7)});
    else if (starts("arg_")) out.push_back({K::arg, name.substr(4)});
    else {
      why = name.empty() ? std::string("a '$' without a variable name")
                         : "variable $" + name + " is not supported";
      return {};
    }
  }
  return out;
}

bool has_variables(const request_template& t) {
  return std::any_of(t.begin(), t.end(),
                     [](const hash_part& p) { return p.k != hash_part::kind::literal; });
}

}  // namespace portico::config
