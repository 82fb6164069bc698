#include "config/htpasswd.hpp"

#include <algorithm>
#include <cctype>

namespace portico::config {

namespace {
// By user, each user's first line only (nginx uses a user's first line). A sort with the line
// order as tie-break: std::stable_sort's temporary buffer trips AddressSanitizer's
// alloc-dealloc check with GCC 12's libstdc++.
void sort_users(htpasswd& out) {
  std::vector<std::size_t> order(out.users.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return out.users[a].first != out.users[b].first ? out.users[a].first < out.users[b].first : a < b;
  });
  std::vector<std::pair<std::string, std::string>> sorted;
  sorted.reserve(order.size());
  for (std::size_t i : order)
    if (sorted.empty() || sorted.back().first != out.users[i].first) sorted.push_back(std::move(out.users[i]));
  out.users = std::move(sorted);
}
// The next line of `text` that is neither blank nor a '#' comment (CRLF or LF ends), with its
// number; false at the end.
bool next_line(std::string_view& text, unsigned& line_no, std::string_view& line) {
  while (!text.empty()) {
    ++line_no;
    const auto nl = text.find('\n');
    line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line.front() != '#') return true;
  }
  return false;
}
}  // namespace

const std::string* htpasswd::find(std::string_view user) const {
  auto it = std::lower_bound(users.begin(), users.end(), user,
                             [](const auto& u, std::string_view k) { return u.first < k; });
  return it != users.end() && it->first == user ? &it->second : nullptr;
}

bool known_hash_format(std::string_view h) {
  for (std::string_view p : {"$2y$", "$2b$", "$2a$", "$apr1$", "{SHA}", "$1$", "$5$", "$6$", "$y$"})
    if (h.starts_with(p) && h.size() > p.size()) return true;
  // Traditional DES crypt: 2 salt characters and 11 of hash, from ./0-9A-Za-z.
  return h.size() == 13 && std::all_of(h.begin(), h.end(), [](char c) {
           return c == '.' || c == '/' || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
                  (c >= 'a' && c <= 'z');
         });
}

htpasswd parse_htpasswd(std::string_view text, std::vector<std::string>& problems) {
  htpasswd out;
  unsigned line_no = 0;
  std::string_view line;
  while (next_line(text, line_no, line)) {
    const auto colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) {
      problems.push_back("line " + std::to_string(line_no) + " is not \"user:hash\"; skipped");
      continue;
    }
    std::string_view hash = line.substr(colon + 1);
    hash = hash.substr(0, hash.find(':'));
    if (!known_hash_format(hash)) {
      problems.push_back("line " + std::to_string(line_no) +
                         ": the hash is not one of bcrypt, $apr1$, {SHA}, $1$, $5$, $6$, $y$ or "
                         "DES crypt; that user cannot sign in");
      continue;
    }
    out.users.emplace_back(std::string(line.substr(0, colon)), std::string(hash));
  }
  sort_users(out);
  return out;
}

htpasswd parse_htdigest(std::string_view text, std::string_view realm,
                        std::vector<std::string>& problems) {
  htpasswd out;
  unsigned line_no = 0;
  std::string_view line;
  while (next_line(text, line_no, line)) {
    const auto c1 = line.find(':');
    const auto c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c1 == 0 || c2 == std::string_view::npos) {
      problems.push_back("line " + std::to_string(line_no) + " is not \"user:realm:HA1\"; skipped");
      continue;
    }
    const std::string_view user = line.substr(0, c1);
    const std::string_view line_realm = line.substr(c1 + 1, c2 - c1 - 1);
    std::string ha1(line.substr(c2 + 1));
    for (auto& ch : ha1) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (ha1.size() != 32 || !std::all_of(ha1.begin(), ha1.end(), [](char ch) {
          return std::isxdigit(static_cast<unsigned char>(ch)) != 0;
        })) {
      problems.push_back("line " + std::to_string(line_no) +
                         ": the HA1 is not 32 hex digits (htdigest's MD5); that user cannot sign in");
      continue;
    }
    if (line_realm != realm) {
      problems.push_back("line " + std::to_string(line_no) + ": user " + std::string(user) +
                         " is of realm \"" + std::string(line_realm) + "\", not auth-realm \"" +
                         std::string(realm) + "\"; that user cannot sign in");
      continue;
    }
    out.users.emplace_back(std::string(user), std::move(ha1));
  }
  sort_users(out);
  return out;
}

}  // namespace portico::config
