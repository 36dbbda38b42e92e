#include "common/crypto.h"

#include <catch2/catch.hpp>
#include <set>
#include <string>

namespace ovvoc::crypto {
namespace {

std::string Hex(const std::string& bytes) { return HexEncode(bytes); }

TEST_CASE("RandomBytes returns the requested length", "[crypto]") {
  CHECK(RandomBytes(0).empty());
  CHECK(RandomBytes(1).size() == 1);
  CHECK(RandomBytes(32).size() == 32);
  CHECK(RandomBytes(100000).size() == 100000);
}

TEST_CASE("RandomBytes does not repeat", "[crypto]") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(RandomBytes(16));
  CHECK(seen.size() == 1000);
  // Not all zero, and both halves of the byte range show up in a large sample.
  std::string big = RandomBytes(4096);
  CHECK(big.find_first_not_of('\0') != std::string::npos);
  bool low = false, high = false;
  for (unsigned char c : big) (c < 128 ? low : high) = true;
  CHECK(low);
  CHECK(high);
}

TEST_CASE("Sha256 matches FIPS 180-2 vectors", "[crypto]") {
  CHECK(Sha256("").size() == 32);
  CHECK(Hex(Sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Hex(Sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Hex(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(Hex(Sha256(std::string(1000000, 'a'))) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("HmacSha256 matches RFC 4231 vectors", "[crypto]") {
  // Test case 1.
  CHECK(Hex(HmacSha256(std::string(20, '\x0b'), "Hi There")) ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2: key shorter than the output.
  CHECK(Hex(HmacSha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 3: binary key and data.
  CHECK(Hex(HmacSha256(std::string(20, '\xaa'), std::string(50, '\xdd'))) ==
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  // Test case 6: key longer than the block size is hashed first.
  CHECK(Hex(HmacSha256(std::string(131, '\xaa'),
                       "Test Using Larger Than Block-Size Key - Hash Key First")) ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // Empty key and message (well-known value; not in the RFC).
  CHECK(Hex(HmacSha256("", "")) ==
        "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST_CASE("HexEncode is lowercase and HexDecode round trips", "[crypto]") {
  CHECK(HexEncode("") == "");
  CHECK(HexEncode(std::string("\x00\x01\xab\xff", 4)) == "0001abff");
  std::string bytes = RandomBytes(257);
  auto decoded = HexDecode(HexEncode(bytes));
  REQUIRE(decoded.ok());
  CHECK(*decoded == bytes);
  auto upper = HexDecode("0001ABff");
  REQUIRE(upper.ok());
  CHECK(*upper == std::string("\x00\x01\xab\xff", 4));
  auto empty = HexDecode("");
  REQUIRE(empty.ok());
  CHECK(empty->empty());
}

TEST_CASE("HexDecode rejects malformed input", "[crypto]") {
  for (std::string bad : {"a", "abc", "zz", "0g", "0x12", " 1", "1 ", "ab-d", "é0"}) {
    INFO("input: " << bad);
    CHECK_FALSE(HexDecode(bad).ok());
  }
  CHECK_FALSE(HexDecode(std::string("a\0", 2)).ok());
}

TEST_CASE("Base64Encode matches RFC 4648 vectors", "[crypto]") {
  CHECK(Base64Encode("") == "");
  CHECK(Base64Encode("f") == "Zg==");
  CHECK(Base64Encode("fo") == "Zm8=");
  CHECK(Base64Encode("foo") == "Zm9v");
  CHECK(Base64Encode("foob") == "Zm9vYg==");
  CHECK(Base64Encode("fooba") == "Zm9vYmE=");
  CHECK(Base64Encode("foobar") == "Zm9vYmFy");
  CHECK(Base64Encode("\xfb\xef\xff") == "++//");
  CHECK(Base64Encode("Aladdin:open sesame") == "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
}

TEST_CASE("Base64UrlEncode uses the URL alphabet without padding", "[crypto]") {
  CHECK(Base64UrlEncode("") == "");
  CHECK(Base64UrlEncode("f") == "Zg");
  CHECK(Base64UrlEncode("fo") == "Zm8");
  CHECK(Base64UrlEncode("foo") == "Zm9v");
  CHECK(Base64UrlEncode("foobar") == "Zm9vYmFy");
  CHECK(Base64UrlEncode("\xfb\xef\xff") == "--__");
  CHECK(Base64UrlEncode("\xfb\xff") == "-_8");
}

TEST_CASE("Base64UrlDecode round trips every length", "[crypto]") {
  for (size_t n = 0; n < 70; ++n) {
    std::string bytes = RandomBytes(n);
    std::string text = Base64UrlEncode(bytes);
    CHECK(text.find_first_of("+/=") == std::string::npos);
    auto decoded = Base64UrlDecode(text);
    REQUIRE(decoded.ok());
    CHECK(*decoded == bytes);
  }
  auto v = Base64UrlDecode("--__");
  REQUIRE(v.ok());
  CHECK(*v == "\xfb\xef\xff");
}

TEST_CASE("Base64UrlDecode rejects malformed input", "[crypto]") {
  for (std::string bad : {
           "Z",       // a single leftover character cannot encode a byte
           "Zm9vY",   // likewise after a full group
           "Zg==",    // padding is not part of this encoding
           "Zg=",     //
           "Zm9v!",   // outside the alphabet
           "++//",    // standard alphabet, not URL
           "Zm 9v",   // whitespace
           "Zm9v\n",  //
           "Zh",      // non-zero unused trailing bits: not the canonical encoding
           "Zm9",     // canonical is "Zm8"
       }) {
    INFO("input: " << bad);
    CHECK_FALSE(Base64UrlDecode(bad).ok());
  }
  CHECK_FALSE(Base64UrlDecode(std::string("Zm9v\0", 5)).ok());
}

TEST_CASE("ConstantTimeEquals compares contents and lengths", "[crypto]") {
  CHECK(ConstantTimeEquals("", ""));
  CHECK(ConstantTimeEquals("abc", "abc"));
  CHECK_FALSE(ConstantTimeEquals("abc", "abd"));
  CHECK_FALSE(ConstantTimeEquals("abc", "ab"));
  CHECK_FALSE(ConstantTimeEquals("", "a"));
  CHECK_FALSE(ConstantTimeEquals("xbc", "abc"));
  std::string a = RandomBytes(64);
  std::string b = a;
  CHECK(ConstantTimeEquals(a, b));
  b[63] ^= 1;
  CHECK_FALSE(ConstantTimeEquals(a, b));
  CHECK(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0b", 3)));
  CHECK_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

}  // namespace
}  // namespace ovvoc::crypto
