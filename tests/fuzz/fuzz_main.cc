// A main() for libFuzzer harnesses in ordinary builds: runs LLVMFuzzerTestOneInput over every
// file of the seed corpus directories given as arguments, then over deterministic mutations of
// them (fixed seed). A broken invariant aborts, as under libFuzzer. Exit 0 when every input went
// through. Options, spelled as libFuzzer's so that the same ones serve both:
//   -dict=FILE   pieces to insert (libFuzzer's dictionary format: `name="value"` lines, with
//                \\, \" and \xAB escapes); without one, mutations insert single bytes
//   -max_len=N   mutants are cut to N bytes (default 40); seeds run whole
//   -runs=N      how many mutations (default 200,000); OVVOC_FUZZ_ITERATIONS in the
//                environment overrides it
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

struct Flags {
  std::vector<std::string> corpus_dirs;
  std::string dict;
  size_t max_len = 40;
  uint64_t runs = 200'000;
};

void Run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One dictionary line: `"value"` or `name="value"`; nullopt for a comment or a blank line.
std::optional<std::string> DictEntry(std::string_view line, bool& ok) {
  ok = true;
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
    line.remove_suffix(1);
  }
  if (line.empty() || line.front() == '#') return std::nullopt;
  const size_t open = line.find('"');
  if (open == std::string_view::npos || line.size() < open + 2 || line.back() != '"') {
    ok = false;
    return std::nullopt;
  }
  const std::string_view quoted = line.substr(open + 1, line.size() - open - 2);
  std::string value;
  for (size_t i = 0; i < quoted.size(); ++i) {
    if (quoted[i] != '\\') {
      value += quoted[i];
    } else if (i + 1 < quoted.size() && (quoted[i + 1] == '\\' || quoted[i + 1] == '"')) {
      value += quoted[++i];
    } else if (i + 3 < quoted.size() && quoted[i + 1] == 'x' && HexDigit(quoted[i + 2]) >= 0 &&
               HexDigit(quoted[i + 3]) >= 0) {
      value += static_cast<char>(HexDigit(quoted[i + 2]) * 16 + HexDigit(quoted[i + 3]));
      i += 3;
    } else {
      ok = false;
      return std::nullopt;
    }
  }
  return value;
}

bool ReadDict(const std::string& path, std::vector<std::string>& pieces) {
  std::ifstream file(path);
  if (!file) {
    std::fprintf(stderr, "cannot read the dictionary %s\n", path.c_str());
    return false;
  }
  std::string line;
  for (int number = 1; std::getline(file, line); ++number) {
    bool ok = true;
    if (std::optional<std::string> piece = DictEntry(line, ok)) pieces.push_back(*piece);
    if (!ok) {
      std::fprintf(stderr, "%s:%d: not a dictionary entry\n", path.c_str(), number);
      return false;
    }
  }
  return true;
}

bool ParseFlags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&](std::string_view name) -> std::optional<std::string> {
      if (arg.substr(0, name.size()) != name) return std::nullopt;
      return std::string(arg.substr(name.size()));
    };
    if (auto dict = value("-dict=")) {
      flags.dict = *dict;
    } else if (auto max_len = value("-max_len=")) {
      flags.max_len = std::strtoull(max_len->c_str(), nullptr, 10);
    } else if (auto runs = value("-runs=")) {
      flags.runs = std::strtoull(runs->c_str(), nullptr, 10);
    } else if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return false;
    } else {
      flags.corpus_dirs.emplace_back(arg);
    }
  }
  if (const char* n = std::getenv("OVVOC_FUZZ_ITERATIONS")) {
    flags.runs = std::strtoull(n, nullptr, 10);
  }
  return flags.max_len > 0;
}

class Mutator {
 public:
  Mutator(uint64_t seed, std::vector<std::string> pieces, size_t max_len)
      : engine_(seed), pieces_(std::move(pieces)), max_len_(max_len) {}

  std::string Mutate(std::string s, const std::vector<std::string>& corpus) {
    for (uint64_t edits = 1 + Below(4); edits > 0; --edits) {
      const size_t at = s.empty() ? 0 : Below(s.size() + 1);
      switch (Below(pieces_.empty() ? 6 : 8)) {
        case 0:
          if (pieces_.empty()) {
            s.insert(at, 1, static_cast<char>(Below(256)));
          } else {
            s.insert(at, pieces_[Below(pieces_.size())]);
          }
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
        case 5:
          s.insert(at, std::string(1 + Below(3), "0123456789"[Below(10)]));
          break;
        default:  // one dictionary piece in place of another: JSON or YAML stays well-formed
          ReplacePiece(s);
      }
    }
    if (s.size() > max_len_) s.resize(max_len_);
    return s;
  }

 private:
  // Replaces the first occurrence of a piece, from a random place on, by another piece.
  void ReplacePiece(std::string& s) {
    for (int tries = 0; tries < 8; ++tries) {
      const std::string& piece = pieces_[Below(pieces_.size())];
      const size_t at = piece.empty() ? std::string::npos : s.find(piece, Below(s.size() + 1));
      if (at == std::string::npos) continue;
      s.replace(at, piece.size(), pieces_[Below(pieces_.size())]);
      return;
    }
  }

  uint64_t Below(uint64_t n) { return engine_() % n; }
  std::mt19937_64 engine_;
  const std::vector<std::string> pieces_;
  const size_t max_len_;
};

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  std::vector<std::string> pieces;
  if (!ParseFlags(argc, argv, flags) || (!flags.dict.empty() && !ReadDict(flags.dict, pieces))) {
    std::fprintf(stderr, "usage: %s [-dict=FILE] [-max_len=N] [-runs=N] <corpus directory>...\n",
                 argv[0]);
    return 2;
  }
  // In name order, so that the mutations are the same on every machine.
  std::vector<std::filesystem::path> paths;
  for (const std::string& dir : flags.corpus_dirs) {
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      paths.push_back(entry.path());
    }
  }
  std::sort(paths.begin(), paths.end());
  std::vector<std::string> corpus;
  for (const std::filesystem::path& path : paths) {
    std::ifstream file(path, std::ios::binary);
    corpus.emplace_back(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  }
  if (corpus.empty()) {
    std::fprintf(stderr, "usage: %s <corpus directory>...: no seeds found\n", argv[0]);
    return 2;
  }
  for (const std::string& seed : corpus) Run(seed);

  Mutator mutator(0x5eed, std::move(pieces), flags.max_len);
  std::vector<std::string> pool = corpus;  // grows with mutants, bounded
  for (uint64_t i = 0; i < flags.runs; ++i) {
    // Every other one from a seed: mutants of mutants drift from any well-formed file.
    const std::string& parent =
        i % 2 == 0 ? corpus[(i / 2) % corpus.size()] : pool[i % pool.size()];
    std::string input = mutator.Mutate(parent, corpus);
    Run(input);
    if (pool.size() < 4096) {
      pool.push_back(std::move(input));
    } else {
      pool[i % pool.size()] = std::move(input);
    }
  }
  std::printf("%zu seeds and %llu mutations: every invariant held\n", corpus.size(),
              static_cast<unsigned long long>(flags.runs));
  return 0;
}
