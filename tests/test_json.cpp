#include <catch2/catch.hpp>

#include <cmath>

#include "core/error.h"
#include "io/json.h"

using namespace sdref;

TEST_CASE("JSON values, escapes and exact integers", "[json]") {
    const Json j = Json::parse(R"({"s":"a\"b\\c\u00e9\ud83d\ude00\n","i":18446744073709551615,"n":-9007199254740993,)"
                               R"("f":1.5e3,"t":true,"z":null,"a":[1,[2],{}]})", "test");
    CHECK(j.at("s").as_string() == "a\"b\\c\xC3\xA9\xF0\x9F\x98\x80\n");
    CHECK_FALSE(j.at("i").is_integer());  // beyond int64: a number, not an integer
    CHECK(j.at("n").as_int() == -9007199254740993LL);
    CHECK(j.at("f").as_number() == 1500.0);
    CHECK_FALSE(j.at("f").is_integer());
    CHECK(j.at("t").as_bool());
    CHECK(j.at("z").is_null());
    CHECK(j.at("a").items().size() == 3);
    CHECK(json_quote("x\"\n\x01") == "\"x\\\"\\n\\u0001\"");
    const Json py = Json::parse(R"({"a": -Infinity, "b": Infinity, "c": NaN})", "python json");
    CHECK(std::isinf(py.at("a").as_number()));
    CHECK(py.at("a").as_number() < 0);
    CHECK(std::isnan(py.at("c").as_number()));
}

TEST_CASE("JSON errors name the source and offset", "[json]") {
    const char* bad[] = {"", "{", "[1,]", "{\"a\" 1}", "01", "1.", "\"\\x\"", "\"abc", "tru", "{} x", "\"a\nb\""};
    for (const char* text : bad) {
        INFO("text: " << text);
        CHECK_THROWS_WITH(Json::parse(text, "cfg.json"), Catch::Contains("cfg.json: invalid JSON at byte"));
    }
    CHECK_THROWS_WITH(Json::parse("[1]", "x").at("k"), Catch::Contains("missing key \"k\""));
    CHECK_THROWS_WITH(Json::parse("\"s\"", "x").as_int("config.json: in_channels"),
                      Catch::Contains("config.json: in_channels: expected an integer, found a string"));
}
