// Replays every checked-in fuzz input through its harness in the regular builds (Release and
// ASan/UBSan, compiled by the project's compiler, no libFuzzer needed): the seed corpora
// (tests/fuzz/corpus/<target>/) and the inputs that once failed
// (tests/fuzz/regressions/<target>/). A failing input is reported with its file name.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_support.hpp"

namespace portico::fuzz {
namespace {

namespace fs = std::filesystem;

const fs::path inputs_root = PORTICO_FUZZ_INPUTS;

std::vector<std::string> target_names() {
  std::vector<std::string> names;
  for (const auto& [name, fn] : targets()) names.push_back(name);
  return names;
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != "README.md") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Runs every file of `dir` through the harness; returns how many ran.
std::size_t replay(const std::string& target, const fs::path& dir) {
  const target_fn fn = targets().at(target);
  const auto files = files_in(dir);
  for (const auto& f : files) {
    const std::string bytes = read_all(f);
    try {
      fn(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    } catch (const invariant_failure& e) {
      ADD_FAILURE() << f.string() << ": " << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << f.string() << ": threw " << e.what();
    }
  }
  return files.size();
}

class fuzz_inputs : public ::testing::TestWithParam<std::string> {};

TEST_P(fuzz_inputs, regression_inputs_pass_the_harness) {
  replay(GetParam(), inputs_root / "regressions" / GetParam());
}

TEST_P(fuzz_inputs, seed_corpus_passes_the_harness) {
  EXPECT_GT(replay(GetParam(), inputs_root / "corpus" / GetParam()), 0u)
      << "tests/fuzz/corpus/" << GetParam() << " has no seed inputs";
}

INSTANTIATE_TEST_SUITE_P(harness, fuzz_inputs, ::testing::ValuesIn(target_names()),
                         [](const auto& info) { return info.param; });

TEST(fuzz_inputs_layout, every_input_folder_belongs_to_a_harness) {
  for (const char* kind : {"corpus", "regressions"}) {
    if (!fs::is_directory(inputs_root / kind)) continue;
    for (const auto& e : fs::directory_iterator(inputs_root / kind))
      EXPECT_TRUE(targets().count(e.path().filename().string()))
          << e.path() << " names no harness (tests/fuzz/*_fuzzer.cpp)";
  }
}

}  // namespace
}  // namespace portico::fuzz
