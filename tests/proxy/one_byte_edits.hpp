// Test inputs for the head readers: the files of a corpus folder, and every one-byte edit of an
// input.
//
// Every one-byte edit of a test input: each of `edits` inserted before every byte (and at the
// end) and put in place of every byte, and every byte deleted, over the first `max` bytes.
// `check(edited, position, kind)` sees each; kind 0 insert, 1 replace, 2 delete. Stops after
// the position where a check failed (one broken input is enough to read). Returns the number
// of edits checked.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace portico::proxy::testing_edits {

template <class Check>
int for_each_one_byte_edit(const std::string& raw, std::string_view edits, std::size_t max,
                           Check&& check) {
  int cases = 0;
  const std::size_t n = std::min(raw.size(), max);
  for (std::size_t i = 0; i <= n; ++i) {
    for (char c : edits) {
      std::string ins = raw;
      ins.insert(ins.begin() + static_cast<std::ptrdiff_t>(i), c);
      check(ins, i, 0);
      ++cases;
      if (i < raw.size()) {
        std::string rep = raw;
        rep[i] = c;
        check(rep, i, 1);
        ++cases;
      }
    }
    if (i < raw.size()) {
      std::string del = raw;
      del.erase(i, 1);
      check(del, i, 2);
      ++cases;
    }
    if (testing::Test::HasFailure()) break;
  }
  return cases;
}

// The files of `dir` (README.md aside), in name order, appended to `out`.
inline void read_corpus(const std::filesystem::path& dir, std::vector<std::string>& out) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != "README.md") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    out.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
}

}  // namespace portico::proxy::testing_edits
