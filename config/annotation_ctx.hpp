// What the annotation decoders share (config/annotations.cpp, config/access_annotations.cpp):
// the context a decoder works on, the small value checks, and the decoders that read several
// keys at once.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/annotations.hpp"
#include "config/fnv.hpp"

namespace portico::config {

namespace annotation_detail {
void add_error(std::vector<build_error>& errors, const ingress& ing, const std::string& field,
               std::string message);
}  // namespace annotation_detail

struct annotation_reader::ctx {
  const ingress& ing;
  route_policy& p;
  const cluster_state& state;
  const controller_config& settings;
  std::vector<build_error>& errors;
  const our_annotation* current = nullptr;
  unsigned subset_size = 3;  // upstream-hash-by-subset-size, applied after every key is read
  bool no_intercept = false;  // disable-proxy-intercept-errors

  void error(std::string message) {
    annotation_detail::add_error(errors, ing, "metadata.annotations[" + current->written_key + "]", std::move(message));
  }
  void bad(std::string_view want, std::string_view consequence = "the default applies") {
    error("must be " + std::string(want) + ", got \"" + current->value + "\"; " +
          std::string(consequence));
  }
  void deny(std::string why) {
    if (p.denied.empty()) p.denied = std::move(why);
  }
};

namespace annotation_detail {

using ctx = annotation_reader::ctx;

inline std::string_view trim(std::string_view v) { return trim_value(v); }
bool valid_redirect_url(std::string_view u);
// A path sent as a Location or header value: "/" then visible ASCII.
bool valid_path_value(std::string_view v);
// Letters, digits and -._~/: (an object reference such as "ns/name").
bool basic_chars(std::string_view v);
// "true"/"false" (and ingress-nginx's other spellings); a bad value keeps the default.
void flag(ctx& c, std::string_view v, bool& out);

// The decoders of config/access_annotations.cpp, run after the single-key ones.
void source_ranges(ctx& c, const our_annotations& anns);
void basic_auth(ctx& c, const our_annotations& anns, fnv1a& content);
void limits(ctx& c, const our_annotations& anns);
void client_certificates(ctx& c, const our_annotations& anns, fnv1a& content);
void external_authentication(ctx& c, const our_annotations& anns, fnv1a& content);
// mirror-target, mirror-host, mirror-request-body (config/annotations_mirror.cpp).
void mirror(ctx& c, const our_annotations& anns);

}  // namespace annotation_detail
}  // namespace portico::config
