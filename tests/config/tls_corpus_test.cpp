// The certificate corpus (tests/data/certs/manifest.yaml): every shape of kubernetes.io/tls
// Secret users have, made now by tests/data/certs/corpus.py, decoded from its manifest and
// built. A served entry's host gets its Secret's certificate (of the entry's key type); a
// refused one stays on the default certificate, and the build error the manifest names is
// reported against the Secret. tests/system/tls_corpus_test.py serves the same corpus.
#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "state_fixture.hpp"

namespace portico::config {
namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A directory for the generated manifests, removed with the object.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "portico-corpus-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

tls_key_type key_type_of_entry(const std::string& key) {
  if (key.starts_with("rsa")) return tls_key_type::rsa;
  if (key == "ed25519") return tls_key_type::ed25519;
  return tls_key_type::ec;
}

const build_error* secret_error(const build_result& r, const std::string& name) {
  for (const auto& e : r.errors) {
    if (e.kind == "Secret" && e.namespace_name == "default" && e.name == name) return &e;
  }
  return nullptr;
}

constexpr const char* app_service = R"(
---
apiVersion: v1
kind: Service
metadata: {name: app, namespace: default}
spec: {ports: [{name: http, port: 80}]}
)";

TEST(tls_corpus, every_entry_is_served_or_refused_as_the_manifest_says) {
  const fs::path source = PORTICO_SOURCE_DIR;
  temp_dir out;
  ASSERT_FALSE(out.path.empty());
  const std::string cmd = std::string(PORTICO_PYTHON) + " " +
                          (source / "tests/data/certs/corpus.py").string() + " --out " +
                          out.path.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto st = testing::state_from_yaml(std::string(testing::our_class) + app_service + "---\n" +
                                     read_text(out.path / "secrets.yaml") + "---\n" +
                                     read_text(out.path / "ingress.yaml"));
  build_options o;
  o.now = std::time(nullptr);  // the corpus is made relative to now
  const build_result r = build(st, o);

  const YAML::Node entries =
      YAML::LoadFile((source / "tests/data/certs/manifest.yaml").string())["entries"];
  ASSERT_GT(entries.size(), 20u);
  std::size_t reported = 0;
  for (const auto& entry : entries) {
    const std::string name = entry["name"].as<std::string>();
    const std::string expect = entry["expect"].as<std::string>();
    const std::string error = entry["error"] ? entry["error"].as<std::string>() : "";
    SCOPED_TRACE(name + " (" + entry["source"].as<std::string>() + ")");
    const tls_certificates* set = r.snap->find_certificates(name + ".corpus.test");
    const build_error* e = secret_error(r, name);
    // Every entry is checked (and reported) even when an earlier one failed.
    if (!error.empty()) {
      ++reported;
      if (!e) {
        ADD_FAILURE() << "no build error for the Secret";
      } else {
        EXPECT_TRUE(e->to_string().starts_with("Secret default/" + name + ": " + error))
            << e->to_string();
      }
    } else if (e) {
      ADD_FAILURE() << "unexpected: " << e->to_string();
    }
    EXPECT_TRUE(expect == "served" || expect == "refused") << expect;
    if (expect != "served") {
      EXPECT_FALSE(set) << "served";
      EXPECT_FALSE(error.empty()) << "a refused entry names its error";
      continue;
    }
    if (!set || set->size() != 1) {
      ADD_FAILURE() << "not served";
      continue;
    }
    EXPECT_EQ(set->front()->secret, "default/" + name);
    EXPECT_EQ(set->front()->key_type, key_type_of_entry(entry["key"].as<std::string>()));
  }
  EXPECT_EQ(r.errors.size(), reported) << testing::errors_text(r.errors);
}

}  // namespace
}  // namespace portico::config
