// A main() for libFuzzer harnesses in ordinary builds: runs LLVMFuzzerTestOneInput over every
// file of the seed corpus directories given as arguments, then over deterministic mutations of
// them (fixed seed; OVVOC_FUZZ_ITERATIONS in the environment overrides the count). A broken
// invariant aborts, as under libFuzzer. Exit 0 when every input went through.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

constexpr size_t kMaxInput = 40;
constexpr uint64_t kDefaultIterations = 200'000;

void Run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

// Bytes that version syntax is made of, whitespace JavaScript knows, and UTF-8 to split.
const std::vector<std::string> kPieces = {"0",
                                          "1",
                                          "9",
                                          ".",
                                          "-",
                                          "+",
                                          "x",
                                          "X",
                                          "*",
                                          "~",
                                          "^",
                                          "<",
                                          ">",
                                          "=",
                                          "|",
                                          "||",
                                          " ",
                                          "v",
                                          "a",
                                          "\t",
                                          "\n",
                                          "\xC2\xA0",
                                          "\xE3\x80\x80",
                                          "\xE2\x80\xA8",
                                          "\xEF\xBB\xBF",
                                          "\xF0\x9F\x98\x80",
                                          "\xC3",
                                          "\x80",
                                          "\0",
                                          "9007199254740991",
                                          "99999999999999999999999",
                                          " - ",
                                          "0x1A",
                                          "Infinity"};

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : engine_(seed) {}

  std::string Mutate(std::string s, const std::vector<std::string>& corpus) {
    for (uint64_t edits = 1 + Below(4); edits > 0; --edits) {
      const size_t at = s.empty() ? 0 : Below(s.size() + 1);
      switch (Below(6)) {
        case 0:
          s.insert(at, kPieces[Below(kPieces.size())]);
          break;
        case 1:
          s.erase(at, Below(4));
          break;
        case 2:
          if (!s.empty()) s[Below(s.size())] = static_cast<char>(Below(256));
          break;
        case 3:  // duplicate a chunk
          if (!s.empty()) {
            const size_t from = Below(s.size());
            s.insert(at, s.substr(from, 1 + Below(16)));
          }
          break;
        case 4: {  // splice in part of another seed
          const std::string& other = corpus[Below(corpus.size())];
          if (!other.empty()) s.insert(at, other.substr(Below(other.size())));
          break;
        }
        default:
          s.insert(at, std::string(1 + Below(3), "0123456789"[Below(10)]));
      }
    }
    if (s.size() > kMaxInput) s.resize(kMaxInput);
    return s;
  }

 private:
  uint64_t Below(uint64_t n) { return engine_() % n; }
  std::mt19937_64 engine_;
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; ++i) {
    for (const auto& entry : std::filesystem::directory_iterator(argv[i])) {
      std::ifstream file(entry.path(), std::ios::binary);
      corpus.emplace_back(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
    }
  }
  if (corpus.empty()) {
    std::fprintf(stderr, "usage: %s <corpus directory>...: no seeds found\n", argv[0]);
    return 2;
  }
  for (const std::string& seed : corpus) Run(seed);

  uint64_t iterations = kDefaultIterations;
  if (const char* n = std::getenv("OVVOC_FUZZ_ITERATIONS"))
    iterations = std::strtoull(n, nullptr, 10);
  Mutator mutator(0x5eed);
  std::vector<std::string> pool = corpus;  // grows with mutants, bounded
  for (uint64_t i = 0; i < iterations; ++i) {
    std::string input = mutator.Mutate(pool[i % pool.size()], corpus);
    Run(input);
    if (pool.size() < 4096) {
      pool.push_back(std::move(input));
    } else {
      pool[i % pool.size()] = std::move(input);
    }
  }
  std::printf("%zu seeds and %llu mutations: every invariant held\n", corpus.size(),
              static_cast<unsigned long long>(iterations));
  return 0;
}
