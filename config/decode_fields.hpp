// Field readers shared by the YAML and JSON decoders. A node type N (yaml_node, json_node)
// provides: absent() (missing or null), is_map(), is_seq(), get(key), size(), at(i),
// for_each(f(key as std::string_view, node)), as_string() / as_int() / as_bool() (nullopt on a wrong type),
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

// A field's path, "spec.rules[2].http.paths[0].backend", kept as a chain of parts that live
// on the decoders' stack (each part views its parent and a key) and spelt out only when an
// error names it. Building a std::string per field and per list item cost more allocations
// than the decoded objects themselves (bench/README.md, "the first Snapshot's CPU").
// A part views its parent and its text: a field_path never outlives the full expression
// or the scope that made its parent.
class field_path {
 public:
  field_path() = default;
  field_path(const char* root) : text_(root) {}                   // NOLINT(runtime/explicit)
  field_path(std::string_view root) : text_(root) {}              // NOLINT(runtime/explicit)
  field_path(const std::string& root) : text_(root) {}            // NOLINT(runtime/explicit)
  field_path(const field_path&) = default;

  // "path.k" ("k" when this path is empty).
  field_path key(std::string_view k) const { return {this, part::key, k, 0}; }
  // "path[i]".
  field_path index(std::size_t i) const { return {this, part::index, {}, i}; }
  // "path" + suffix, as written (".service").
  field_path raw(std::string_view suffix) const { return {this, part::raw, suffix, 0}; }

  std::string str() const {
    std::string out;
    append_to(out);
    return out;
  }

 private:
  enum class part : std::uint8_t { root, key, index, raw };
  field_path(const field_path* parent, part kind, std::string_view text, std::size_t i)
      : parent_(parent), text_(text), index_(i), kind_(kind) {}
  void append_to(std::string& out) const {
    if (parent_) parent_->append_to(out);
    switch (kind_) {
      case part::key:
        if (!out.empty()) out += '.';
        out += text_;
        break;
      case part::index:
        out += '[';
        out += std::to_string(index_);
        out += ']';
        break;
      case part::root:
      case part::raw: out += text_; break;
    }
  }

  const field_path* parent_ = nullptr;
  std::string_view text_;
  std::size_t index_ = 0;
  part kind_ = part::root;
};

// path + ".suffix" (a literal: the part views it).
template <std::size_t K>
field_path operator+(const field_path& p, const char (&suffix)[K]) {
  return p.raw(std::string_view(suffix, K - 1));
}

// Per-object decoding context: the errors it collects name the object and the source.
// The object's label ("Ingress default/web") is spelt out at its first error only.
struct decode_ctx {
  std::string_view source;
  std::string object;  // "Ingress default/web"
  std::vector<decode_error>* errors = nullptr;
  bool failed = false;
  const void* doc = nullptr;  // what label() reads the label of
  object_kind kind{};
  std::string (*label)(const void* doc, object_kind kind) = nullptr;

  void fail(int line, const field_path& field, std::string message) {
    failed = true;
    if (object.empty() && label) object = label(doc, kind);
    errors->push_back({std::string(source), line, object, field.str(), std::move(message)});
  }
};

inline field_path at_index(const field_path& path, std::size_t i) { return path.index(i); }
inline field_path join(const field_path& path, std::string_view key) { return path.key(key); }

template <class N>
int line_of(const N& node, const N& parent) {
  int l = node.absent() ? 0 : node.line();
  return l ? l : parent.line();
}

// A map child: nullopt when absent; a type error when present but not a map.
template <class N>
std::optional<N> child_map(decode_ctx& c, const N& parent, std::string_view key,
                           const field_path& path, bool required = false) {
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
                           const field_path& path, bool required = false) {
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
                                      const field_path& path, bool required = false) {
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
void read_string(decode_ctx& c, const N& parent, std::string_view key, const field_path& path,
                 std::string& out) {
  if (auto v = get_string(c, parent, key, path)) out = std::move(*v);
}

template <class N>
std::optional<std::int32_t> get_int32(decode_ctx& c, const N& parent, std::string_view key,
                                      const field_path& path, bool required = false) {
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
                             const field_path& path) {
  N n = parent.get(key);
  if (n.absent()) return std::nullopt;
  auto v = n.as_bool();
  if (!v) c.fail(n.line(), join(path, key), "must be a boolean, got " + n.type_name());
  return v;
}

template <class N>
void read_string_map(decode_ctx& c, const N& parent, std::string_view key, const field_path& path,
                     std::map<std::string, std::string>& out) {
  auto m = child_map(c, parent, key, path);
  if (!m) return;
  const field_path base = path.key(key);
  m->for_each([&](std::string_view k, const N& v) {
    if (v.absent()) return;  // a null value: as if absent
    if (auto s = v.as_string()) {
      out.insert_or_assign(std::string(k), std::move(*s));
    } else {
      c.fail(v.line(), base.key(k), "must be a string, got " + v.type_name());
    }
  });
}

template <class N, class F>
void for_each_item(decode_ctx& c, const N& parent, std::string_view key, const field_path& path,
                   F f, bool required = false) {
  auto seq = child_seq(c, parent, key, path, required);
  if (!seq) return;
  const field_path base = path.key(key);
  for (std::size_t i = 0; i < seq->size(); ++i) f(seq->at(i), base.index(i));
}

// A list item that must be a map; reports the error and returns false otherwise.
template <class N>
bool item_is_map(decode_ctx& c, const N& item, const field_path& path) {
  if (item.is_map()) return true;
  c.fail(item.line(), path, "must be a map, got " + item.type_name());
  return false;
}

}  // namespace portico::config::detail
