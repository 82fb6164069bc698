// decode_json() / decode_json_value() via Boost.JSON. JSON null is treated as absent.
#include <boost/json.hpp>

#include <cmath>

#include "config/decode_json.hpp"
#include "config/decode_objects.hpp"

namespace portico::config {
namespace {

namespace json = boost::json;

class json_node {
 public:
  json_node() = default;
  explicit json_node(const json::value* v) : v_(v) {}

  bool absent() const { return !v_ || v_->is_null(); }
  bool is_map() const { return v_ && v_->is_object(); }
  bool is_seq() const { return v_ && v_->is_array(); }
  json_node get(std::string_view key) const {
    if (!is_map()) return {};
    return json_node(v_->get_object().if_contains(key));
  }
  std::size_t size() const { return is_seq() ? v_->get_array().size() : 0; }
  json_node at(std::size_t i) const { return json_node(&v_->get_array()[i]); }
  template <class F>
  void for_each(F f) const {
    for (const auto& kv : v_->get_object()) f(std::string_view(kv.key()), json_node(&kv.value()));
  }
  std::optional<std::string> as_string() const {
    if (v_ && v_->is_string()) return std::string(v_->get_string());
    return std::nullopt;
  }
  std::optional<std::int64_t> as_int() const {
    if (!v_) return std::nullopt;
    if (v_->is_int64()) return v_->get_int64();
    if (v_->is_uint64() && v_->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
      return static_cast<std::int64_t>(v_->get_uint64());
    if (v_->is_double()) {
      double d = v_->get_double();
      if (std::trunc(d) == d && std::fabs(d) < 9e15) return static_cast<std::int64_t>(d);
    }
    return std::nullopt;
  }
  std::optional<bool> as_bool() const {
    if (v_ && v_->is_bool()) return v_->get_bool();
    return std::nullopt;
  }
  std::string type_name() const {
    if (absent()) return "null";
    switch (v_->kind()) {
      case json::kind::object: return "an object";
      case json::kind::array: return "an array";
      case json::kind::string: return "a string";
      case json::kind::bool_: return "a boolean";
      default: return "a number";
    }
  }
  int line() const { return 0; }

 private:
  const json::value* v_ = nullptr;
};

int line_at(std::string_view text, std::size_t offset) {
  int line = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) line += text[i] == '\n';
  return line;
}

}  // namespace

decode_result decode_json_value(const json::value& v, std::string_view source) {
  decode_result out;
  detail::decode_document(json_node(&v), source, out);
  return out;
}

decode_result decode_json_value(const json::value& v, object_kind kind, std::string_view source) {
  decode_result out;
  detail::decode_document(json_node(&v), source, out, kind);
  return out;
}

void decode_json_value(const json::value& v, object_kind kind, std::string_view source,
                       decode_result& out) {
  detail::decode_document(json_node(&v), source, out, kind);
}

decode_result decode_json(std::string_view text, std::string_view source) {
  json::stream_parser p;
  json::error_code ec;
  std::size_t used = p.write(text.data(), text.size(), ec);
  if (!ec) p.finish(ec);
  if (ec) {
    decode_result out;
    out.errors.push_back({std::string(source), line_at(text, used), "", "",
                          "JSON syntax error: " + ec.message()});
    return out;
  }
  json::value v = p.release();
  decode_result out = decode_json_value(v, source);
  // A parsed value has no positions; an error about the document itself gets the line where
  // the document starts.
  const auto start = text.find_first_not_of(" \t\r\n");
  for (auto& e : out.errors)
    if (e.line == 0 && e.field.empty()) e.line = line_at(text, start);
  return out;
}

}  // namespace portico::config
