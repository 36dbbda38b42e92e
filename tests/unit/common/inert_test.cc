#include "common/inert.h"

#include <catch2/catch.hpp>
#include <string>

namespace ovvoc {
namespace {

// Regression: an init hijacked by an install script sent "\x1b]0;pwned\x07\r\x1b[2K\x1b[32m
// succeeded"; printed raw, it retitled the terminal and erased the "failed" line.
TEST_CASE("terminal escape sequences become visible text") {
  const std::string attack = "\x1b]0;pwned\x07\r\x1b[2K\x1b[32msucceeded\x1b[0m";
  CHECK(InertLine(attack) == "\\x1b]0;pwned\\x07\\x0d\\x1b[2K\\x1b[32msucceeded\\x1b[0m");
  CHECK(InertText(attack, 1024) == InertLine(attack));
}

TEST_CASE("a line escapes layout, text keeps newlines and tabs") {
  CHECK(InertLine("a\nb\tc") == "a\\nb\\tc");
  CHECK(InertText("a\nb\tc\r\n", 100) == "a\nb\tc\\x0d\n");
  CHECK(InertLine(std::string("nul\0byte", 8)) == "nul\\x00byte");
  CHECK(InertLine("del\x7f") == "del\\x7f");
}

TEST_CASE("UTF-8 stays, C1 controls, bidi overrides and broken bytes do not") {
  CHECK(InertLine("caf\xc3\xa9 \xe2\x9c\x93") == "caf\xc3\xa9 \xe2\x9c\x93");
  CHECK(InertLine("\xc2\x9b"
                  "31m") == "\\u009b31m");  // C1 CSI
  CHECK(InertLine("abc\xe2\x80\xae"
                  "cba") == "abc\\u202ecba");  // RIGHT-TO-LEFT OVERRIDE
  CHECK(InertLine("\xff\xfe") == "\\xff\\xfe");
  CHECK(InertLine("\xc3") == "\\xc3");                    // truncated sequence
  CHECK(InertLine("\xe0\x80\xaf") == "\\xe0\\x80\\xaf");  // overlong
  CHECK(InertLine("\xed\xa0\x80") == "\\xed\\xa0\\x80");  // surrogate
}

// Regression (red team): a tree entry named "evil<U+2028><U+200B>HIDDEN<tags><U+FEFF>" reached
// the terminal raw in the clone's failure reason.
TEST_CASE("characters that act without showing are escaped too") {
  CHECK(InertLine("evil\xe2\x80\xa8\xe2\x80\x8bHIDDEN\xef\xbb\xbf") ==
        "evil\\u2028\\u200bHIDDEN\\ufeff");
  CHECK(InertLine("\xf3\xa0\x81\x94") == "\\ue0054");  // TAG LATIN CAPITAL LETTER T
  CHECK(InertLine("soft\xc2\xadhyphen") == "soft\\u00adhyphen");
  CHECK(InertLine("\xe3\x85\xa4") == "\\u3164");  // HANGUL FILLER
  CHECK(InertLine("\xef\xbf\xb9") == "\\ufff9");  // INTERLINEAR ANNOTATION ANCHOR
  CHECK(InertLine("\xef\xb8\x8f") == "\\ufe0f");  // VARIATION SELECTOR-16
  CHECK(InertLine("\xe2\x81\xa0") == "\\u2060");  // WORD JOINER
}

TEST_CASE("inert text is bounded and escaping is idempotent") {
  const std::string long_line(5000, 'x');
  const std::string line = InertLine(long_line, 100);
  CHECK(line.size() <= 100);
  CHECK(line.find("bytes omitted]") != std::string::npos);
  const std::string text = InertText(std::string(3000, 'a') + std::string(3000, 'z'), 1000);
  CHECK(text.size() <= 1000);
  CHECK(text.front() == 'a');
  CHECK(text.back() == 'z');  // head and tail both kept
  // Never a split UTF-8 sequence at the cut.
  std::string accents;
  for (int i = 0; i < 500; ++i) accents += "\xc3\xa9";
  const std::string cut = InertLine(accents, 101);
  CHECK(InertLine(cut, 1000) == cut);
  for (const std::string& once : {InertLine("\x1b[31m\xff\xe2\x80\xae"), line}) {
    CHECK(InertLine(once, 100000) == once);
  }
  CHECK(InertText(text, 100000) == text);
}

}  // namespace
}  // namespace ovvoc
