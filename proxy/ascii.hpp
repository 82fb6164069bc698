// ASCII case helpers for HTTP tokens (header names, schemes, hosts): locale-free and inline,
// as the hot path needs them.
#pragma once

#include <cstddef>
#include <string_view>

namespace portico::proxy::ascii {

constexpr char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// RFC 9110 5.6.2 tchar (a token's characters: methods, field names, codings).
struct tchar_table {
  bool v[256];
  constexpr tchar_table() : v{} {
    for (int c = '0'; c <= '9'; ++c) v[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) v[c] = v[c - 32] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) v[static_cast<unsigned char>(c)] = true;
  }
};
inline constexpr tchar_table tchars;

inline bool tchar(char c) { return tchars.v[static_cast<unsigned char>(c)]; }

constexpr bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

}  // namespace portico::proxy::ascii
