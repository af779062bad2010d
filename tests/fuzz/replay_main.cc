// Replays fuzz inputs without libFuzzer, so ctest runs every corpus entry as a regression test in
// builds that are not clang fuzz builds (cmake/sy.cmake, sy_fuzzer).
//
//   framing_fuzzer_replay tests/fuzz/corpus/framing [more directories or files...]
//
// Calls LLVMFuzzerTestOneInput once per regular file found under each directory (recursively, in
// path order), prints how many inputs it replayed, and exits non-zero when an argument is missing,
// or a directory holds no files, or a file cannot be read. A property the fuzzer checks aborts.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

namespace fs = std::filesystem;

// Regular files under `root` (or `root` itself when it is a file), sorted; false on a missing
// argument, an unreadable directory or a directory without files.
bool Collect(const fs::path& root, std::vector<fs::path>& out) {
  std::error_code ec;
  const fs::file_status status = fs::status(root, ec);
  if (ec || !fs::exists(status)) {
    std::fprintf(stderr, "replay: %s does not exist\n", root.c_str());
    return false;
  }
  if (fs::is_regular_file(status)) {
    out.push_back(root);
    return true;
  }
  if (!fs::is_directory(status)) {
    std::fprintf(stderr, "replay: %s is neither a file nor a directory\n", root.c_str());
    return false;
  }
  std::vector<fs::path> found;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) {
      found.push_back(it->path());
    }
  }
  if (ec) {
    std::fprintf(stderr, "replay: cannot read %s: %s\n", root.c_str(), ec.message().c_str());
    return false;
  }
  if (found.empty()) {
    std::fprintf(stderr, "replay: %s holds no inputs\n", root.c_str());
    return false;
  }
  std::sort(found.begin(), found.end());
  out.insert(out.end(), found.begin(), found.end());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR...\n", argv[0]);
    return 2;
  }
  if (LLVMFuzzerInitialize != nullptr) {
    LLVMFuzzerInitialize(&argc, &argv);
  }
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    if (!Collect(argv[i], inputs)) {
      return 1;
    }
  }
  std::size_t replayed = 0;
  for (const fs::path& path : inputs) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "replay: cannot open %s\n", path.c_str());
      return 1;
    }
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
    // libFuzzer never passes a null pointer, even for an empty input.
    static const std::uint8_t kEmpty = 0;
    const auto* data =
        bytes.empty() ? &kEmpty : reinterpret_cast<const std::uint8_t*>(bytes.data());
    LLVMFuzzerTestOneInput(data, bytes.size());
    ++replayed;
  }
  std::printf("replayed %zu inputs\n", replayed);
  return 0;
}
