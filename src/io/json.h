// json.h: a strict JSON reader (RFC 8259) for safetensors headers, config.json, vocab.json and golden case files,
// plus the NaN / Infinity / -Infinity literals that Python's json module writes (diffusers configs contain them).
//
// Parse errors throw sdref::Error naming the source and the byte offset. Nesting is capped (kMaxDepth) so a
// hostile header cannot exhaust the stack. Objects keep their members in file order; duplicate keys are kept
// (callers that must reject them, like the safetensors reader, check).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sdref {

class Json {
public:
    enum class Type { Null, Bool, Number, String, Array, Object };
    static constexpr int kMaxDepth = 256;

    // Parse a whole document; `source` names it in error messages (a file name, "header of x.safetensors").
    static Json parse(std::string_view text, const std::string& source);

    Type type() const { return type_; }
    bool is_null() const { return type_ == Type::Null; }
    bool is_bool() const { return type_ == Type::Bool; }
    bool is_number() const { return type_ == Type::Number; }
    bool is_string() const { return type_ == Type::String; }
    bool is_array() const { return type_ == Type::Array; }
    bool is_object() const { return type_ == Type::Object; }
    // A number written without fraction or exponent that fits in int64.
    bool is_integer() const { return type_ == Type::Number && integral_; }

    // Typed access; each throws sdref::Error (naming `what`) when the value has another type.
    bool as_bool(const std::string& what = "value") const;
    double as_number(const std::string& what = "value") const;
    int64_t as_int(const std::string& what = "value") const;
    const std::string& as_string(const std::string& what = "value") const;
    const std::vector<Json>& items(const std::string& what = "value") const;                          // array
    const std::vector<std::pair<std::string, Json>>& members(const std::string& what = "value") const;  // object

    // Object member by key (the first one), or nullptr when absent or not an object.
    const Json* find(const std::string& key) const;
    // Object member by key; throws naming the key when absent.
    const Json& at(const std::string& key) const;

private:
    friend class JsonParser;
    Type type_ = Type::Null;
    bool bool_ = false;
    bool integral_ = false;
    double number_ = 0;
    int64_t integer_ = 0;
    std::string string_;
    std::vector<Json> items_;
    std::vector<std::pair<std::string, Json>> members_;
};

const char* json_type_name(Json::Type t);

}  // namespace sdref

namespace sdref {
// `s` as a JSON string literal, quotes included (control characters escaped, UTF-8 kept as is).
std::string json_quote(std::string_view s);
}  // namespace sdref
