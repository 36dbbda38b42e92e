#include "agent/npm/test_output.h"

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

// The summaries recognised, each checked against the runner's own source or its snapshot tests
// (the line as printed, colours aside):
//   node:test  spec: `ℹ tests 6` `ℹ suites 0` `ℹ pass 1` `ℹ fail 3` `ℹ cancelled 1`
//              `ℹ skipped 1` `ℹ todo 0` `ℹ duration_ms 5.2`; tap: the same after "# ". tests is
//              their sum (nodejs/node test/fixtures/test-runner/output/*.snapshot).
//   tape       `# tests 3` `# pass  2` [`# todo  1`] [`# fail  1`]: every assertion is a test
//              point and pass includes the skipped ones (tape lib/results.js). mocha's TAP
//              reporter: `# tests 2` `# pass 1` `# fail 1` then `1..3`: tests leaves out the
//              pending, which are `ok 3 x # SKIP -` (mocha lib/reporters/tap.js).
//   mocha      `  12 passing (34ms)` [`  2 pending`] [`  1 failing`] (lib/reporters/base.js).
//   jest       `Tests:       1 failed, 2 skipped, 1 todo, 10 passed, 14 total` (getSummary.ts).
//   vitest     `      Tests  1 failed | 3 passed | 1 expected fail | 1 skipped | 2 todo (8)`,
//              `Tests  no tests` (renderers/utils.ts getStateString, 0.x to 3.x).
//   ava        `  12 tests passed` (only when nothing failed), `1 test failed`, `1 known
//              failure`, `2 tests skipped`, `1 test todo`, `1 test remained pending after a
//              timeout`, beside hook, uncaught-exception and unhandled-rejection lines; with
//              failures, the passed are the `✔ title` lines before it
//              (lib/reporters/default.js, test-tap/reporters/default.*.log).
//   uvu        `  Total:     5` `  Passed:    4` `  Skipped:   1` [`  Duration:  1.2ms`]; Total
//              leaves out the skipped (src/index.js).
//   node-tap   tap 18: `Asserts:  5 pass  1 fail  2 skip  2 todo  6 of 10 complete`
//              (@tapjs/reporter suite-summary.tsx); tap 15-16: `Asserts:  1 failed, 1 passed,
//              1 todo, 1 skip, of 4` (treport); raw TAP: `# { total: 25, pass: 8, fail: 4,
//              todo: 6, skip: 7 }`.
//   jasmine    `4 specs, 1 failure, 1 pending spec` (ConsoleReporter).
//   TAP        `ok 1 - name`, `not ok 2 - name # TODO`, `ok 3 # SKIP why`, `1..3`: counted only
//              without any summary (see the header).
namespace ovvoc::agent::npm {
namespace {

constexpr uint64_t kMax = kMaxTestCount;
constexpr char kEsc = '\x1b';
constexpr absl::string_view kInfo = "\xE2\x84\xB9 ";            // "ℹ ", node:test spec
constexpr absl::string_view kTick = "\xE2\x9C\x94 ";            // "✔ ", ava's passed test
constexpr absl::string_view kExpectedFail = "[expected fail]";  // ava: "✔ [expected fail] x"

uint64_t Add(uint64_t a, uint64_t b) { return std::min(a + b, kMax); }  // both <= 3 * kMax
uint64_t Sub(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

// ---- The output as a terminal would have left it ----

class Screen {
 public:
  explicit Screen(size_t reserve) { text_.reserve(reserve); }

  void Put(char c) {
    if (restart_) Erase();
    text_.push_back(c);
  }
  void NewLine() {
    restart_ = false;
    text_.push_back('\n');
    starts_.push_back(text_.size());
  }
  // "\r": what follows overwrites the line; a newline right after keeps it.
  void Restart() { restart_ = true; }
  void Erase() {
    restart_ = false;
    text_.resize(starts_.back());
  }
  // Cursor up `n` lines: redrawn from there, so the lines moved over are dropped.
  void Up(uint64_t n) {
    Erase();
    for (; n > 0 && starts_.size() > 1; --n) {
      starts_.pop_back();
      text_.resize(starts_.back());
    }
  }
  std::string Take() && { return std::move(text_); }

 private:
  std::string text_;
  std::vector<size_t> starts_ = {0};  // where each line begins; the last one is the cursor's
  bool restart_ = false;
};

// A CSI sequence's parameters start at `i`; returns the index after its final byte. Only the
// cursor moves that redraw lines matter; colours and the rest are dropped.
size_t ControlSequence(absl::string_view in, size_t i, Screen& screen) {
  uint64_t param = 0;
  bool plain = true;  // one decimal parameter at most
  for (; i < in.size(); ++i) {
    const unsigned char c = in[i];
    if (c >= '0' && c <= '9') {
      param = std::min<uint64_t>(param * 10 + (c - '0'), kMax);
    } else if (c >= 0x20 && c <= 0x3f) {
      plain = false;  // ';', '?', intermediates
    } else if (c >= 0x40 && c <= 0x7e) {
      if (!plain) return i + 1;
      if (c == 'A' || c == 'F') screen.Up(std::max<uint64_t>(param, 1));
      if (c == 'K' && param >= 1) screen.Erase();  // the whole line, or up to the cursor
      if (c == 'G' && param <= 1) screen.Restart();
      return i + 1;
    } else {
      return i;  // cut short (a newline, a cut in the kept output): not part of it
    }
  }
  return i;
}

// The escape sequence at `in[i]` (an ESC); returns the index after it.
size_t EscapeSequence(absl::string_view in, size_t i, Screen& screen) {
  if (++i >= in.size()) return i;
  const char kind = in[i];
  if (kind == '[') return ControlSequence(in, i + 1, screen);
  if (kind == ']' || kind == 'P' || kind == '_' || kind == '^' || kind == 'X') {
    // OSC (links), DCS, APC, PM, SOS: a string up to BEL or ESC \; a line's end ends it too.
    for (++i; i < in.size(); ++i) {
      if (in[i] == '\x07') return i + 1;
      if (in[i] == '\n' || in[i] == '\r') return i;
      if (in[i] == kEsc) return i + 1 < in.size() && in[i + 1] == '\\' ? i + 2 : i;
    }
    return i;
  }
  // ESC ( B and the like: intermediate bytes, then one final byte.
  while (i < in.size() && static_cast<unsigned char>(in[i]) >= 0x20 &&
         static_cast<unsigned char>(in[i]) <= 0x2f) {
    ++i;
  }
  if (i < in.size() && static_cast<unsigned char>(in[i]) >= 0x30 &&
      static_cast<unsigned char>(in[i]) <= 0x7e) {
    ++i;
  }
  return i;
}

std::string Replay(absl::string_view in) {
  Screen screen(in.size());
  for (size_t i = 0; i < in.size();) {
    const unsigned char c = in[i];
    if (c == kEsc) {
      i = EscapeSequence(in, i, screen);
      continue;
    }
    if (c == '\n') {
      screen.NewLine();
    } else if (c == '\r') {
      if (i + 1 < in.size() && in[i + 1] == '\n') {
        screen.NewLine();
        ++i;
      } else {
        screen.Restart();
      }
    } else if (c == '\t') {
      screen.Put(' ');
    } else if (c >= 0x20 && c != 0x7f) {
      screen.Put(static_cast<char>(c));
    }
    ++i;
  }
  return std::move(screen).Take();
}

// ---- One line's pieces ----

// The digits at the start of `s`, consumed; at most kMax.
bool ConsumeCount(absl::string_view& s, uint64_t& n) {
  size_t i = 0;
  n = 0;
  for (; i < s.size() && absl::ascii_isdigit(s[i]); ++i) {
    n = std::min<uint64_t>(n * 10 + (s[i] - '0'), kMax);
  }
  s.remove_prefix(i);
  return i > 0;
}

// "12 tests passed": the count and the words after it (trimmed).
bool CountThenWords(absl::string_view part, uint64_t& n, absl::string_view& words) {
  part = absl::StripAsciiWhitespace(part);
  if (!ConsumeCount(part, n) || part.empty() || part[0] != ' ') return false;
  words = absl::StripLeadingAsciiWhitespace(part);
  return !words.empty();
}

// `label`, blanks, a count and nothing else: uvu's "Total:     12".
bool Labelled(absl::string_view line, absl::string_view label, uint64_t& n) {
  if (!absl::ConsumePrefix(&line, label) || line.empty() || line[0] != ' ') return false;
  line = absl::StripLeadingAsciiWhitespace(line);
  return ConsumeCount(line, n) && line.empty();
}

struct Counts {
  uint64_t passed = 0, failed = 0, skipped = 0, total = 0;
};

// jest: "Tests:       1 failed, 2 skipped, 1 todo, 10 passed, 14 total".
std::optional<Counts> Jest(absl::string_view line) {
  if (!absl::ConsumePrefix(&line, "Tests:")) return std::nullopt;
  Counts c;
  bool total = false;
  for (absl::string_view part : absl::StrSplit(line, ',')) {
    uint64_t n;
    absl::string_view word;
    if (total || !CountThenWords(part, n, word)) return std::nullopt;  // total comes last
    if (word == "passed") {
      c.passed = Add(c.passed, n);
    } else if (word == "failed") {
      c.failed = Add(c.failed, n);
    } else if (word == "skipped" || word == "todo") {
      c.skipped = Add(c.skipped, n);
    } else if (word == "total") {
      c.total = n;
      total = true;
    } else {
      return std::nullopt;
    }
  }
  if (!total) return std::nullopt;
  return c;
}

// vitest: "Tests  1 failed | 3 passed | 1 skipped (5)", "Tests  no tests".
std::optional<Counts> Vitest(absl::string_view line) {
  if (!absl::ConsumePrefix(&line, "Tests ")) return std::nullopt;
  line = absl::StripLeadingAsciiWhitespace(line);
  if (line == "no tests") return Counts{};
  const size_t open = line.rfind(" (");
  if (open == absl::string_view::npos || !absl::ConsumeSuffix(&line, ")")) return std::nullopt;
  Counts c;
  absl::string_view total = line.substr(open + 2);
  if (!ConsumeCount(total, c.total) || !total.empty()) return std::nullopt;
  for (absl::string_view part : absl::StrSplit(line.substr(0, open), '|')) {
    uint64_t n;
    absl::string_view word;
    if (!CountThenWords(part, n, word)) return std::nullopt;
    if (word == "passed" || word == "expected fail") {
      c.passed = Add(c.passed, n);
    } else if (word == "failed") {
      c.failed = Add(c.failed, n);
    } else if (word == "skipped" || word == "todo") {
      c.skipped = Add(c.skipped, n);
    } else {
      return std::nullopt;
    }
  }
  return c;
}

// node-tap's "Asserts:" line: tap 18 "5 pass  1 fail  2 skip  2 todo  6 of 10 complete", tap
// 15-16 "1 failed, 1 passed, 1 todo, 1 skip, of 4". The suites' line is left out.
std::optional<Counts> TapAsserts(absl::string_view line) {
  if (!absl::ConsumePrefix(&line, "Asserts:")) return std::nullopt;
  std::vector<absl::string_view> words =
      absl::StrSplit(line, absl::ByAnyChar(" ,"), absl::SkipEmpty());
  Counts c;
  bool total = false;
  for (size_t i = 0; i < words.size(); ++i) {
    uint64_t n;
    absl::string_view number = words[i];
    if (words[i] == "of" && i + 1 < words.size()) {
      number = words[++i];
      if (!ConsumeCount(number, c.total) || !number.empty()) return std::nullopt;
      total = true;
      continue;
    }
    if (words[i] == "complete" || words[i] == "completed") continue;
    if (!ConsumeCount(number, n) || !number.empty() || i + 1 >= words.size()) return std::nullopt;
    const absl::string_view word = words[++i];
    if (word == "of") {
      --i;  // "6 of 10": the 6 is the sum of the others
    } else if (word == "pass" || word == "passed") {
      c.passed = Add(c.passed, n);
    } else if (word == "fail" || word == "failed") {
      c.failed = Add(c.failed, n);
    } else if (word == "skip" || word == "todo") {
      c.skipped = Add(c.skipped, n);
    } else {
      return std::nullopt;
    }
  }
  if (!total) return std::nullopt;
  return c;
}

// node-tap's raw TAP ends in "# { total: 25, pass: 8, fail: 4, todo: 6, skip: 7 }".
std::optional<Counts> TapObject(absl::string_view line) {
  if (!absl::ConsumePrefix(&line, "# {") || !absl::ConsumeSuffix(&line, "}")) return std::nullopt;
  Counts c;
  bool total = false;
  for (absl::string_view part : absl::StrSplit(line, ',')) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(part, ':');
    const absl::string_view key = absl::StripAsciiWhitespace(kv.first);
    absl::string_view value = absl::StripAsciiWhitespace(kv.second);
    uint64_t n;
    if (!ConsumeCount(value, n) || !value.empty()) return std::nullopt;
    if (key == "total") {
      c.total = n;
      total = true;
    } else if (key == "pass") {
      c.passed = n;
    } else if (key == "fail") {
      c.failed = n;
    } else if (key == "todo" || key == "skip") {
      c.skipped = Add(c.skipped, n);
    }
  }
  if (!total) return std::nullopt;
  return c;
}

// jasmine: "4 specs, 1 failure, 1 pending spec"; specs counts them all.
std::optional<Counts> Jasmine(absl::string_view line) {
  if (line.empty() || !absl::ascii_isdigit(line[0])) return std::nullopt;
  std::vector<absl::string_view> parts = absl::StrSplit(line, ", ");
  uint64_t specs = 0, failures = 0, pending = 0;
  absl::string_view w0, w1, w2;
  if (parts.size() < 2 || parts.size() > 3 || !CountThenWords(parts[0], specs, w0) ||
      (w0 != "spec" && w0 != "specs") || !CountThenWords(parts[1], failures, w1) ||
      (w1 != "failure" && w1 != "failures")) {
    return std::nullopt;
  }
  if (parts.size() == 3 &&
      (!CountThenWords(parts[2], pending, w2) || (w2 != "pending spec" && w2 != "pending specs"))) {
    return std::nullopt;
  }
  return Counts{Sub(Sub(specs, failures), pending), failures, pending, specs};
}

// ---- Summaries over several lines ----

// What one line of such a summary says.
enum Key : uint32_t {
  kTests = 1 << 0,
  kPass = 1 << 1,
  kFail = 1 << 2,
  kCancelled = 1 << 3,  // node:test; ava's timed-out tests
  kSkip = 1 << 4,
  kTodo = 1 << 5,
  kKnown = 1 << 6,     // ava's known failures
  kNodeOnly = 1 << 7,  // node:test's suites, skipped, cancelled, duration_ms
  kOther = 1 << 8,     // read, not counted (ava's hooks, uvu's duration)
};
struct Entry {
  uint32_t key = 0;
  uint64_t value = 0;
};

enum class Block { kNone, kTrailer, kMocha, kAva, kUvu };

struct Word {
  absl::string_view text;
  uint32_t key;
};
constexpr Word kTrailerWords[] = {{"tests", kTests},
                                  {"pass", kPass},
                                  {"fail", kFail},
                                  {"cancelled", kCancelled | kNodeOnly},
                                  {"skipped", kSkip | kNodeOnly},
                                  {"skip", kSkip},
                                  {"todo", kTodo},
                                  {"suites", kNodeOnly}};
// After "N test " or "N tests ".
constexpr Word kAvaTestWords[] = {{"passed", kPass},
                                  {"failed", kFail},
                                  {"skipped", kSkip},
                                  {"todo", kTodo},
                                  {"remained pending after a timeout", kCancelled}};
constexpr Word kAvaOtherWords[] = {
    {"known failure", kKnown},       {"known failures", kKnown},
    {"hook failed", kOther},         {"hooks failed", kOther},
    {"uncaught exception", kOther},  {"uncaught exceptions", kOther},
    {"unhandled rejection", kOther}, {"unhandled rejections", kOther}};
constexpr Word kUvuLabels[] = {{"Total:", kTests}, {"Passed:", kPass}, {"Skipped:", kSkip}};

// The key `text` names in `words`; 0 for none.
template <size_t N>
uint32_t KeyOf(const Word (&words)[N], absl::string_view text) {
  for (const Word& w : words) {
    if (w.text == text) return w.key;
  }
  return 0;
}

// node:test's and tape's trailer: "# pass 3", "ℹ pass 3", at column 0. `info`: the "ℹ" form.
std::optional<Entry> TrailerEntry(absl::string_view line, bool& info) {
  info = absl::ConsumePrefix(&line, kInfo);
  if (!info && !absl::ConsumePrefix(&line, "# ")) return std::nullopt;
  line = absl::StripTrailingAsciiWhitespace(line);
  const size_t space = line.find(' ');
  if (space == absl::string_view::npos) return std::nullopt;
  const absl::string_view key = line.substr(0, space);
  absl::string_view value = absl::StripLeadingAsciiWhitespace(line.substr(space));
  Entry e;
  if (key == "duration_ms") return Entry{kNodeOnly, 0};  // "12.5", or "*" in node's snapshots
  if (!ConsumeCount(value, e.value) || !value.empty()) return std::nullopt;
  e.key = KeyOf(kTrailerWords, key);
  if (e.key == 0) return std::nullopt;
  return e;
}

std::optional<Entry> MochaEntry(absl::string_view line) {
  Entry e;
  absl::string_view word;
  if (!CountThenWords(line, e.value, word)) return std::nullopt;
  if (word == "passing" || (absl::StartsWith(word, "passing (") && absl::EndsWith(word, ")"))) {
    e.key = kPass;
  } else if (word == "failing") {
    e.key = kFail;
  } else if (word == "pending") {
    e.key = kSkip;
  } else {
    return std::nullopt;
  }
  return e;
}

std::optional<Entry> AvaEntry(absl::string_view line) {
  Entry e;
  absl::string_view words;
  if (!CountThenWords(line, e.value, words)) return std::nullopt;
  const bool test = absl::ConsumePrefix(&words, "tests ") || absl::ConsumePrefix(&words, "test ");
  e.key = test ? KeyOf(kAvaTestWords, words) : KeyOf(kAvaOtherWords, words);
  if (e.key == 0) return std::nullopt;
  return e;
}

std::optional<Entry> UvuEntry(absl::string_view line) {
  if (absl::StartsWith(line, "Duration: ")) return Entry{kOther, 0};
  for (const Word& label : kUvuLabels) {
    Entry e{label.key, 0};
    if (Labelled(line, label.text, e.value)) return e;
  }
  return std::nullopt;
}

// Test points and plans since the last summary, and ava's passed tests.
struct Tally {
  uint64_t points = 0, passed = 0, failed = 0, skipped = 0, planned = 0, ticks = 0;
};

// One TAP line at column 0: a test point ("ok 3 - x # SKIP") or a plan ("1..3").
void CountTap(absl::string_view line, Tally& tally) {
  uint64_t n;
  if (absl::ConsumePrefix(&line, "1..")) {
    if (ConsumeCount(line, n) && (line.empty() || line[0] == ' ')) {
      tally.planned = Add(tally.planned, n);
    }
    return;
  }
  const bool ok = !absl::ConsumePrefix(&line, "not ");
  if (!absl::ConsumePrefix(&line, "ok ") || !ConsumeCount(line, n) ||
      (!line.empty() && line[0] != ' ')) {
    return;
  }
  tally.points = Add(tally.points, 1);
  // A directive follows an unescaped '#'.
  for (size_t i = line.find('#'); i != absl::string_view::npos; i = line.find('#', i + 1)) {
    if (i > 0 && line[i - 1] == '\\') continue;
    const absl::string_view directive = absl::StripLeadingAsciiWhitespace(line.substr(i + 1));
    if (absl::StartsWithIgnoreCase(directive, "skip") ||
        absl::StartsWithIgnoreCase(directive, "todo")) {
      tally.skipped = Add(tally.skipped, 1);
      return;
    }
  }
  (ok ? tally.passed : tally.failed) = Add(ok ? tally.passed : tally.failed, 1);
}

// The entry `line` would be in a summary of kind `block`; `info`: node:test's "ℹ" form.
std::optional<Entry> EntryFor(Block block, absl::string_view line, absl::string_view trimmed,
                              bool& info) {
  info = false;
  switch (block) {
    case Block::kTrailer:
      return TrailerEntry(line, info);
    case Block::kMocha:
      return MochaEntry(trimmed);
    case Block::kAva:
      return AvaEntry(trimmed);
    case Block::kUvu:
      return UvuEntry(trimmed);
    case Block::kNone:
      break;
  }
  return std::nullopt;
}

// ---- The reader ----

class Reader {
 public:
  void Line(absl::string_view line);
  std::optional<TestSummary> Finish();

 private:
  bool Continues(const Entry& e, bool info) const;
  void Open(Block block, const Entry& e, bool info);
  void Absorb(const Entry& e);
  void Close();
  std::optional<Counts> TrailerCounts() const;
  void Commit(absl::string_view runner, Counts c);

  // The summary being read over several lines.
  Block block_ = Block::kNone;
  uint32_t seen_ = 0;  // its keys so far
  bool info_ = false;
  uint64_t tests_ = 0, pass_ = 0, fail_ = 0, cancelled_ = 0, skip_ = 0, todo_ = 0, known_ = 0;

  Tally tally_;
  Counts sum_;
  std::vector<absl::string_view> runners_;  // static names
};

// Whether `e` belongs to the open summary: a key it has not read yet (a repeated one starts the
// next summary), in the order the runner prints them where that order is fixed.
bool Reader::Continues(const Entry& e, bool info) const {
  if (e.key == kOther) return true;
  if ((e.key & ~kNodeOnly & seen_) != 0) return false;
  switch (block_) {
    case Block::kTrailer:
      return info == info_ && (e.key & kTests) == 0;
    case Block::kUvu:
      return (e.key == kPass && seen_ == kTests) || (e.key == kSkip && seen_ == (kTests | kPass));
    case Block::kMocha:
    case Block::kAva:
    case Block::kNone:
      break;
  }
  return true;
}

void Reader::Open(Block block, const Entry& e, bool info) {
  block_ = block;
  seen_ = 0;
  info_ = info;
  tests_ = pass_ = fail_ = cancelled_ = skip_ = todo_ = known_ = 0;
  Absorb(e);
}

void Reader::Absorb(const Entry& e) {
  seen_ |= e.key;
  if (e.key & kTests) tests_ = Add(tests_, e.value);
  if (e.key & kPass) pass_ = Add(pass_, e.value);
  if (e.key & kFail) fail_ = Add(fail_, e.value);
  if (e.key & kCancelled) cancelled_ = Add(cancelled_, e.value);
  if (e.key & kSkip) skip_ = Add(skip_, e.value);
  if (e.key & kTodo) todo_ = Add(todo_, e.value);
  if (e.key & kKnown) known_ = Add(known_, e.value);
}

// node:test's trailer, or a tape-like one. tape counts a skipped assertion in pass, mocha's TAP
// reporter leaves pending tests out of tests: the test points before the trailer tell which.
std::optional<Counts> Reader::TrailerCounts() const {
  if ((seen_ & kTests) == 0 || (seen_ & (kPass | kFail)) == 0) return std::nullopt;
  Counts c{pass_, Add(fail_, cancelled_), Add(skip_, todo_), tests_};
  if (info_ || (seen_ & kNodeOnly) != 0) return c;
  if (tally_.points == tests_) {
    c.skipped = std::max(c.skipped, tally_.skipped);
    c.passed = Sub(tests_, Add(c.failed, c.skipped));
  } else if (tally_.points > tests_) {
    c.skipped = Add(c.skipped, std::min(tally_.skipped, tally_.points - tests_));
  }
  return c;
}

void Reader::Close() {
  const Block block = std::exchange(block_, Block::kNone);
  const bool tests = (seen_ & (kPass | kFail | kSkip | kTodo | kKnown | kCancelled)) != 0;
  switch (block) {
    case Block::kTrailer:
      if (std::optional<Counts> c = TrailerCounts()) {
        Commit(info_ || (seen_ & kNodeOnly) != 0 ? "node:test" : "tap", *c);
      }
      break;
    case Block::kMocha:
      Commit("mocha", Counts{pass_, fail_, skip_, 0});
      break;
    case Block::kAva:
      // With failures, ava prints no passed line: its passed tests are the "✔" lines.
      if (tests) {
        const uint64_t passed = (seen_ & kPass) != 0 ? pass_ : tally_.ticks;
        Commit("ava", Counts{Add(passed, known_), Add(fail_, cancelled_), Add(skip_, todo_), 0});
      }
      break;
    case Block::kUvu:  // uvu's Total leaves out the skipped
      if ((seen_ & (kTests | kPass | kSkip)) == (kTests | kPass | kSkip)) {
        Commit("uvu", Counts{pass_, Sub(tests_, pass_), skip_, Add(tests_, skip_)});
      }
      break;
    case Block::kNone:
      break;
  }
}

void Reader::Commit(absl::string_view runner, Counts c) {
  c.total = std::max(c.total, c.passed + c.failed + c.skipped);
  sum_ = Counts{Add(sum_.passed, c.passed), Add(sum_.failed, c.failed),
                Add(sum_.skipped, c.skipped), Add(sum_.total, c.total)};
  if (std::find(runners_.begin(), runners_.end(), runner) == runners_.end()) {
    runners_.push_back(runner);
  }
  tally_ = Tally{};
}

void Reader::Line(absl::string_view line) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(line);
  bool info = false;
  if (block_ != Block::kNone) {
    std::optional<Entry> e = EntryFor(block_, line, trimmed, info);
    if (e && Continues(*e, info)) {
      Absorb(*e);
      return;
    }
    Close();
  }
  if (std::optional<Counts> c = Jest(trimmed)) return Commit("jest", *c);
  if (std::optional<Counts> c = Vitest(trimmed)) return Commit("vitest", *c);
  if (std::optional<Counts> c = TapAsserts(trimmed)) return Commit("tap (node-tap)", *c);
  if (std::optional<Counts> c = TapObject(line)) return Commit("tap (node-tap)", *c);
  if (std::optional<Counts> c = Jasmine(trimmed)) return Commit("jasmine", *c);
  for (Block block : {Block::kTrailer, Block::kMocha, Block::kAva, Block::kUvu}) {
    std::optional<Entry> e = EntryFor(block, line, trimmed, info);
    // A trailer starts at "tests", uvu's summary at "Total:"; mocha's and ava's at any line.
    const bool first = block == Block::kTrailer || block == Block::kUvu ? e && e->key == kTests
                                                                        : e && e->key != kOther;
    if (first) return Open(block, *e, info);
  }
  if (absl::StartsWith(trimmed, kTick) && !absl::StrContains(trimmed, kExpectedFail)) {
    tally_.ticks = Add(tally_.ticks, 1);
  }
  CountTap(line, tally_);
}

std::optional<TestSummary> Reader::Finish() {
  Close();
  if (runners_.empty() && (tally_.points > 0 || tally_.planned > 0)) {
    Commit("tap", Counts{tally_.passed, tally_.failed, tally_.skipped,
                         std::max(tally_.planned, tally_.points)});
  }
  if (runners_.empty()) return std::nullopt;
  Counts c = sum_;
  // Each sum saturated on its own: cut the parts to fit the total, failed last.
  uint64_t excess = Sub(c.passed + c.failed + c.skipped, c.total);
  for (uint64_t* part : {&c.skipped, &c.passed, &c.failed}) {
    const uint64_t cut = std::min(*part, excess);
    *part -= cut;
    excess -= cut;
  }
  return TestSummary{absl::StrJoin(runners_, ", "), static_cast<uint32_t>(c.passed),
                     static_cast<uint32_t>(c.failed), static_cast<uint32_t>(c.skipped),
                     static_cast<uint32_t>(c.total)};
}

}  // namespace

std::optional<TestSummary> ParseTestOutput(absl::string_view output) {
  const std::string text = Replay(output);
  Reader reader;
  for (absl::string_view line : absl::StrSplit(text, '\n')) reader.Line(line);
  return reader.Finish();
}

}  // namespace ovvoc::agent::npm
