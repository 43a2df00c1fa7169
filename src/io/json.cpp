#include "io/json.h"

#include <cmath>
#include <cstdlib>

#include "core/error.h"
#include "core/utf8.h"

namespace sdref {

const char* json_type_name(Json::Type t) {
    switch (t) {
        case Json::Type::Null: return "null";
        case Json::Type::Bool: return "a boolean";
        case Json::Type::Number: return "a number";
        case Json::Type::String: return "a string";
        case Json::Type::Array: return "an array";
        case Json::Type::Object: return "an object";
    }
    return "?";
}

// Recursive descent over the text; `pos` is the byte offset reported in errors.
class JsonParser {
public:
    JsonParser(std::string_view text, const std::string& source) : text_(text), source_(source) {}

    Json document() {
        Json v = value(0);
        skip_space();
        if (pos_ != text_.size()) error("unexpected data after the JSON value");
        return v;
    }

private:
    std::string_view text_;
    const std::string& source_;
    size_t pos_ = 0;

    [[noreturn]] void error(const std::string& what) const {
        fail(source_, ": invalid JSON at byte ", pos_, ": ", what);
    }

    void skip_space() {
        while (pos_ < text_.size() &&
               (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
            ++pos_;
    }

    char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

    void expect_word(std::string_view word) {
        if (text_.substr(pos_, word.size()) != word) error("unknown literal");
        pos_ += word.size();
    }

    Json value(int depth) {
        if (depth > Json::kMaxDepth) error("nesting deeper than 256 levels");
        skip_space();
        if (pos_ >= text_.size()) error("unexpected end of text");
        Json v;
        const char c = text_[pos_];
        if (c == '{') {
            v.type_ = Json::Type::Object;
            ++pos_;
            skip_space();
            if (peek() == '}') {
                ++pos_;
                return v;
            }
            for (;;) {
                skip_space();
                if (peek() != '"') error("expected a string key");
                std::string key = string();
                skip_space();
                if (peek() != ':') error("expected ':'");
                ++pos_;
                v.members_.emplace_back(std::move(key), value(depth + 1));
                skip_space();
                if (peek() == ',') {
                    ++pos_;
                } else if (peek() == '}') {
                    ++pos_;
                    return v;
                } else {
                    error("expected ',' or '}'");
                }
            }
        }
        if (c == '[') {
            v.type_ = Json::Type::Array;
            ++pos_;
            skip_space();
            if (peek() == ']') {
                ++pos_;
                return v;
            }
            for (;;) {
                v.items_.push_back(value(depth + 1));
                skip_space();
                if (peek() == ',') {
                    ++pos_;
                } else if (peek() == ']') {
                    ++pos_;
                    return v;
                } else {
                    error("expected ',' or ']'");
                }
            }
        }
        if (c == '"') {
            v.type_ = Json::Type::String;
            v.string_ = string();
            return v;
        }
        if (c == 't') {
            expect_word("true");
            v.type_ = Json::Type::Bool;
            v.bool_ = true;
            return v;
        }
        if (c == 'f') {
            expect_word("false");
            v.type_ = Json::Type::Bool;
            return v;
        }
        if (c == 'n') {
            expect_word("null");
            return v;
        }
        // Python's json writes these (diffusers configs hold lambda_min_clipped: -Infinity)
        for (const auto& [word, number] : {std::pair<std::string_view, double>{"NaN", NAN}, {"Infinity", INFINITY},
                                           {"-Infinity", -INFINITY}}) {
            if (text_.substr(pos_, word.size()) == word) {
                pos_ += word.size();
                v.type_ = Json::Type::Number;
                v.number_ = number;
                return v;
            }
        }
        if (c == '-' || (c >= '0' && c <= '9')) return number();
        error(std::string("unexpected character '") + c + "'");
    }

    static bool is_digit(char c) { return c >= '0' && c <= '9'; }

    // number = [-] int [frac] [exp], int without leading zeros.
    Json number() {
        const size_t start = pos_;
        if (peek() == '-') ++pos_;
        if (peek() == '0') {
            ++pos_;
        } else if (is_digit(peek())) {
            while (is_digit(peek())) ++pos_;
        } else {
            error("malformed number");
        }
        bool integral = true;
        if (peek() == '.') {
            integral = false;
            ++pos_;
            if (!is_digit(peek())) error("malformed number");
            while (is_digit(peek())) ++pos_;
        }
        if (peek() == 'e' || peek() == 'E') {
            integral = false;
            ++pos_;
            if (peek() == '+' || peek() == '-') ++pos_;
            if (!is_digit(peek())) error("malformed number");
            while (is_digit(peek())) ++pos_;
        }
        const std::string token(text_.substr(start, pos_ - start));
        Json v;
        v.type_ = Json::Type::Number;
        v.number_ = std::strtod(token.c_str(), nullptr);
        if (integral) {
            // Exact int64 (offsets in a safetensors header can exceed 2^53).
            const bool negative = token[0] == '-';
            uint64_t magnitude = 0;
            bool fits = true;
            for (size_t i = negative ? 1 : 0; i < token.size(); ++i) {
                const uint64_t digit = uint64_t(token[i] - '0');
                if (magnitude > (UINT64_MAX - digit) / 10) {
                    fits = false;
                    break;
                }
                magnitude = magnitude * 10 + digit;
            }
            const uint64_t limit = negative ? uint64_t(INT64_MAX) + 1 : uint64_t(INT64_MAX);
            if (fits && magnitude <= limit) {
                v.integral_ = true;
                v.integer_ = negative ? int64_t(0 - magnitude) : int64_t(magnitude);
            }
        }
        return v;
    }

    unsigned hex4() {
        if (pos_ + 4 > text_.size()) error("truncated \\u escape");
        unsigned u = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = text_[pos_++];
            u <<= 4;
            if (c >= '0' && c <= '9') u |= unsigned(c - '0');
            else if (c >= 'a' && c <= 'f') u |= unsigned(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') u |= unsigned(c - 'A' + 10);
            else error("bad hex digit in \\u escape");
        }
        return u;
    }

    std::string string() {
        ++pos_;  // opening quote
        std::string out;
        for (;;) {
            if (pos_ >= text_.size()) error("unterminated string");
            const char c = text_[pos_++];
            if (c == '"') return out;
            if (static_cast<unsigned char>(c) < 0x20) error("control character inside a string");
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= text_.size()) error("unterminated escape");
            const char e = text_[pos_++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    uint32_t cp = hex4();
                    if (cp >= 0xD800 && cp <= 0xDBFF && text_.substr(pos_, 2) == "\\u") {
                        const size_t save = pos_;
                        pos_ += 2;
                        const uint32_t low = hex4();
                        if (low >= 0xDC00 && low <= 0xDFFF) cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                        else pos_ = save;
                    }
                    utf8_append(out, cp);
                    break;
                }
                default: error(std::string("unknown escape \\") + e);
            }
        }
    }
};

Json Json::parse(std::string_view text, const std::string& source) { return JsonParser(text, source).document(); }

namespace {
[[noreturn]] void wrong_type(const std::string& what, const char* wanted, Json::Type got) {
    fail(what, ": expected ", wanted, ", found ", json_type_name(got));
}
}  // namespace

bool Json::as_bool(const std::string& what) const {
    if (type_ != Type::Bool) wrong_type(what, "a boolean", type_);
    return bool_;
}

double Json::as_number(const std::string& what) const {
    if (type_ != Type::Number) wrong_type(what, "a number", type_);
    return number_;
}

int64_t Json::as_int(const std::string& what) const {
    if (!is_integer()) {
        if (type_ == Type::Number) fail(what, ": expected an integer, found ", number_);
        wrong_type(what, "an integer", type_);
    }
    return integer_;
}

const std::string& Json::as_string(const std::string& what) const {
    if (type_ != Type::String) wrong_type(what, "a string", type_);
    return string_;
}

const std::vector<Json>& Json::items(const std::string& what) const {
    if (type_ != Type::Array) wrong_type(what, "an array", type_);
    return items_;
}

const std::vector<std::pair<std::string, Json>>& Json::members(const std::string& what) const {
    if (type_ != Type::Object) wrong_type(what, "an object", type_);
    return members_;
}

const Json* Json::find(const std::string& key) const {
    for (const auto& [k, v] : members_)
        if (k == key) return &v;
    return nullptr;
}

const Json& Json::at(const std::string& key) const {
    const Json* v = find(key);
    if (!v) fail("missing key \"", key, "\"");
    return *v;
}

}  // namespace sdref

namespace sdref {

std::string json_quote(std::string_view s) {
    std::string out = "\"";
    for (const char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    static const char* hex = "0123456789abcdef";
                    out += "\\u00";
                    out += hex[(c >> 4) & 0xF];
                    out += hex[c & 0xF];
                } else {
                    out += c;
                }
        }
    }
    return out + "\"";
}

}  // namespace sdref
