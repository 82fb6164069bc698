// decode_yaml(): multi-document YAML via yaml-cpp. Line numbers come from node marks.
// A syntax error drops only the document it is in: the stream is then re-read document by
// document ("---" at the start of a line separates documents).
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <sstream>

#include "config/decode_objects.hpp"

namespace portico::config {
namespace {

class yaml_node {
 public:
  yaml_node() = default;
  yaml_node(YAML::Node n, int line_offset) : n_(std::move(n)), offset_(line_offset) {}

  bool absent() const { return !n_.IsDefined() || n_.IsNull(); }
  bool is_map() const { return n_.IsDefined() && n_.IsMap(); }
  bool is_seq() const { return n_.IsDefined() && n_.IsSequence(); }
  yaml_node get(std::string_view key) const {
    if (!is_map()) return {};
    for (auto it = n_.begin(); it != n_.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == key) return {it->second, offset_};
    }
    return {};
  }
  std::size_t size() const { return is_seq() ? n_.size() : 0; }
  yaml_node at(std::size_t i) const { return {n_[i], offset_}; }
  template <class F>
  void for_each(F f) const {
    for (auto it = n_.begin(); it != n_.end(); ++it) {
      if (it->first.IsScalar()) f(it->first.Scalar(), yaml_node(it->second, offset_));
    }
  }
  std::optional<std::string> as_string() const {
    if (n_.IsDefined() && n_.IsScalar()) return n_.Scalar();
    return std::nullopt;
  }
  // Plain (unquoted) scalars only: a quoted "80" is a string, as it is in JSON.
  std::optional<std::int64_t> as_int() const {
    if (!plain()) return std::nullopt;
    const std::string& s = n_.Scalar();
    const char* b = s.data() + (!s.empty() && s[0] == '+' ? 1 : 0);
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(b, s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || b == s.data() + s.size()) return std::nullopt;
    return v;
  }
  std::optional<bool> as_bool() const {
    if (!plain()) return std::nullopt;
    const std::string& s = n_.Scalar();
    // YAML 1.1 booleans, as kubectl's YAML reader accepts them.
    for (const char* t : {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"})
      if (s == t) return true;
    for (const char* f : {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"})
      if (s == f) return false;
    return std::nullopt;
  }
  std::string type_name() const {
    if (absent()) return "null";
    if (n_.IsMap()) return "a map";
    if (n_.IsSequence()) return "a list";
    if (as_int()) return "an integer";
    if (as_bool()) return "a boolean";
    return "a string";
  }
  int line() const {
    if (!n_.IsDefined()) return 0;
    auto m = n_.Mark();
    return m.line < 0 ? 0 : m.line + 1 + offset_;
  }

 private:
  bool plain() const { return n_.IsDefined() && n_.IsScalar() && n_.Tag() == "?"; }
  YAML::Node n_{YAML::NodeType::Undefined};
  int offset_ = 0;
};

struct yaml_chunk {
  std::string_view text;
  int first_line;  // 0-based line of text's start in the stream
};

std::vector<yaml_chunk> split_documents(std::string_view text) {
  std::vector<yaml_chunk> out;
  std::size_t start = 0;
  int line = 0, start_line = 0;
  for (std::size_t pos = 0; pos <= text.size();) {
    auto eol = text.find('\n', pos);
    std::string_view l = text.substr(pos, eol == text.npos ? text.npos : eol - pos);
    if (pos > start && l.starts_with("---") &&
        (l.size() == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\r')) {
      out.push_back({text.substr(start, pos - start), start_line});
      start = pos;
      start_line = line;
    }
    if (eol == text.npos) break;
    pos = eol + 1;
    ++line;
  }
  out.push_back({text.substr(start), start_line});
  return out;
}

// yaml-cpp 0.7's LoadAll() loops forever, allocating, on a stream where a document starts with
// a token no node begins with ("," -- jbeder/yaml-cpp#1040, fixed upstream after 0.8): the
// parser reports an empty document without consuming the token, again and again. A dry run
// through the parser stops at the first document that does not move forward; such a stream
// is a syntax error at that place.
class progress_guard : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& m) override {
    if (started_ && m.pos == last_.pos)
      throw YAML::ParserException(m, "unexpected character where a document should start");
    started_ = true;
    last_ = m;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  bool started_ = false;
  YAML::Mark last_;
};

std::vector<YAML::Node> load_all(std::string_view text) {
  std::string s(text);
  {
    std::istringstream in(s);
    YAML::Parser parser(in);
    progress_guard guard;
    while (parser.HandleNextDocument(guard)) {
    }
  }
  return YAML::LoadAll(s);
}

void decode_chunks(std::string_view text, std::string_view source, decode_result& out) {
  for (const auto& chunk : split_documents(text)) {
    try {
      for (const auto& doc : load_all(chunk.text)) {
        detail::decode_document(yaml_node(doc, chunk.first_line), source, out);
      }
    } catch (const YAML::Exception& e) {
      int line = e.mark.line < 0 ? 0 : e.mark.line + 1 + chunk.first_line;
      out.errors.push_back({std::string(source), line, "", "", "YAML syntax error: " + e.msg});
    }
  }
}

}  // namespace

decode_result decode_yaml(std::string_view text, std::string_view source) {
  decode_result out;
  std::vector<YAML::Node> docs;
  try {
    docs = load_all(text);
  } catch (const YAML::Exception&) {
    decode_chunks(text, source, out);  // keep the documents that do parse
    return out;
  }
  for (const auto& doc : docs) {
    try {
      detail::decode_document(yaml_node(doc, 0), source, out);
    } catch (const YAML::Exception& e) {
      out.errors.push_back({std::string(source), e.mark.line < 0 ? 0 : e.mark.line + 1, "", "",
                            std::string("YAML error: ") + e.msg});
    }
  }
  return out;
}

}  // namespace portico::config
