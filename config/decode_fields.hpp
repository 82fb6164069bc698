// Field readers shared by the YAML and JSON decoders. A node type N (yaml_node, json_node)
// provides: absent() (missing or null), is_map(), is_seq(), get(key), size(), at(i),
// for_each(f(key, node)), as_string() / as_int() / as_bool() (nullopt on a wrong type),
// type_name() and line() (1-based, 0 unknown).
// Internal to config/: included only by decode_objects.hpp.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/decode.hpp"

namespace portico::config::detail {

// Per-object decoding context: the errors it collects name the object and the source.
struct decode_ctx {
  std::string_view source;
  std::string object;  // "Ingress default/web"
  std::vector<decode_error>* errors = nullptr;
  bool failed = false;

  void fail(int line, std::string field, std::string message) {
    failed = true;
    errors->push_back({std::string(source), line, object, std::move(field), std::move(message)});
  }
};

inline std::string at_index(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}
inline std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

template <class N>
int line_of(const N& node, const N& parent) {
  int l = node.absent() ? 0 : node.line();
  return l ? l : parent.line();
}

// A map child: nullopt when absent; a type error when present but not a map.
template <class N>
std::optional<N> child_map(decode_ctx& c, const N& parent, std::string_view key,
                           const std::string& path, bool required = false) {
  N n = parent.get(key);
  if (n.absent()) {
    if (required) c.fail(parent.line(), join(path, key), "is required");
    return std::nullopt;
  }
  if (!n.is_map()) {
    c.fail(n.line(), join(path, key), "must be a map, got " + n.type_name());
    return std::nullopt;
  }
  return n;
}

template <class N>
std::optional<N> child_seq(decode_ctx& c, const N& parent, std::string_view key,
                           const std::string& path, bool required = false) {
  N n = parent.get(key);
  if (n.absent()) {
    if (required) c.fail(parent.line(), join(path, key), "is required");
    return std::nullopt;
  }
  if (!n.is_seq()) {
    c.fail(n.line(), join(path, key), "must be a list, got " + n.type_name());
    return std::nullopt;
  }
  return n;
}

template <class N>
std::optional<std::string> get_string(decode_ctx& c, const N& parent, std::string_view key,
                                      const std::string& path, bool required = false) {
  N n = parent.get(key);
  if (n.absent()) {
    if (required) c.fail(parent.line(), join(path, key), "is required");
    return std::nullopt;
  }
  auto v = n.as_string();
  if (!v) c.fail(n.line(), join(path, key), "must be a string, got " + n.type_name());
  return v;
}

template <class N>
void read_string(decode_ctx& c, const N& parent, std::string_view key, const std::string& path,
                 std::string& out) {
  if (auto v = get_string(c, parent, key, path)) out = std::move(*v);
}

template <class N>
std::optional<std::int32_t> get_int32(decode_ctx& c, const N& parent, std::string_view key,
                                      const std::string& path, bool required = false) {
  N n = parent.get(key);
  if (n.absent()) {
    if (required) c.fail(parent.line(), join(path, key), "is required");
    return std::nullopt;
  }
  auto v = n.as_int();
  if (!v) {
    c.fail(n.line(), join(path, key), "must be an integer, got " + n.type_name());
    return std::nullopt;
  }
  if (*v < std::numeric_limits<std::int32_t>::min() || *v > std::numeric_limits<std::int32_t>::max()) {
    c.fail(n.line(), join(path, key), "integer out of range");
    return std::nullopt;
  }
  return static_cast<std::int32_t>(*v);
}

template <class N>
std::optional<bool> get_bool(decode_ctx& c, const N& parent, std::string_view key,
                             const std::string& path) {
  N n = parent.get(key);
  if (n.absent()) return std::nullopt;
  auto v = n.as_bool();
  if (!v) c.fail(n.line(), join(path, key), "must be a boolean, got " + n.type_name());
  return v;
}

template <class N>
void read_string_map(decode_ctx& c, const N& parent, std::string_view key, const std::string& path,
                     std::map<std::string, std::string>& out) {
  auto m = child_map(c, parent, key, path);
  if (!m) return;
  std::string base = join(path, key);
  m->for_each([&](const std::string& k, const N& v) {
    if (v.absent()) return;  // a null value: as if absent
    if (auto s = v.as_string()) {
      out[k] = std::move(*s);
    } else {
      c.fail(v.line(), base + "." + k, "must be a string, got " + v.type_name());
    }
  });
}

template <class N, class F>
void for_each_item(decode_ctx& c, const N& parent, std::string_view key, const std::string& path,
                   F f, bool required = false) {
  auto seq = child_seq(c, parent, key, path, required);
  if (!seq) return;
  std::string base = join(path, key);
  for (std::size_t i = 0; i < seq->size(); ++i) f(seq->at(i), at_index(base, i));
}

// A list item that must be a map; reports the error and returns false otherwise.
template <class N>
bool item_is_map(decode_ctx& c, const N& item, const std::string& path) {
  if (item.is_map()) return true;
  c.fail(item.line(), path, "must be a map, got " + item.type_name());
  return false;
}

}  // namespace portico::config::detail
