// Request heads for the proxy unit tests, with fields noted as the request parser notes them
// (Connection tokens too).
#pragma once

#include <boost/beast/http/field.hpp>

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "proxy/header_rewrite.hpp"
#include "proxy/http_parser.hpp"

namespace portico::test {

using fields = std::vector<std::pair<std::string, std::string>>;

// The head's views point into storage kept for the whole test program.
inline proxy::message_head head_of(const fields& f) {
  static std::deque<std::string> storage;
  proxy::message_head h;
  for (const auto& [n, v] : f) {
    const std::string& name = storage.emplace_back(n);
    const std::string& value = storage.emplace_back(v);
    proxy::note_request_field(h, {boost::beast::http::string_to_field(name), name, value});
  }
  return h;
}

}  // namespace portico::test
