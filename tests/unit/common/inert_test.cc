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

TEST_CASE("a line escapes layout; text keeps newlines and tabs") {
  CHECK(InertLine("a\nb\tc") == "a\\nb\\tc");
  CHECK(InertText("a\nb\tc\r\n", 100) == "a\nb\tc\\x0d\n");
  CHECK(InertLine(std::string("nul\0byte", 8)) == "nul\\x00byte");
  CHECK(InertLine("del\x7f") == "del\\x7f");
}

TEST_CASE("UTF-8 stays; C1 controls, bidi overrides and broken bytes do not") {
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
