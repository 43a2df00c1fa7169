#include "pipeline/keyframes.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <regex>

#include "core/error.h"

namespace sdref {

namespace {

// Recursive descent over the expression, lowest precedence first:
//   sum = product (('+' | '-') product)*;  product = unary (('*' | '/' | '%') unary)*;
//   unary = ('-' | '+') unary | power;  power = atom ('**' unary)?;  atom = number | name | name '(' sum ')' | '(' sum ')'
class Parser {
public:
    Parser(const std::string& text, double t, double max_f, double s, const std::string& what)
        : text_(text), t_(t), max_f_(max_f), s_(s), what_(what) {}
    double parse() {
        const double v = sum();
        skip();
        if (at_ < text_.size()) error("unexpected \"" + text_.substr(at_) + "\"");
        return v;
    }

private:
    [[noreturn]] void error(const std::string& why) const { fail(what_, ": \"", text_, "\": ", why); }
    void skip() {
        while (at_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[at_]))) ++at_;
    }
    bool eat(const std::string& token) {
        skip();
        if (text_.compare(at_, token.size(), token) != 0) return false;
        at_ += token.size();
        return true;
    }
    double sum() {
        double v = product();
        for (;;) {
            if (eat("+")) v += product();
            else if (eat("-")) v -= product();
            else return v;
        }
    }
    double product() {
        double v = unary();
        for (;;) {
            skip();
            if (text_.compare(at_, 2, "**") == 0) return v;  // (handled by power)
            if (eat("*")) v *= unary();
            else if (eat("/")) v /= unary();
            else if (eat("%")) {  // numexpr's % on floats: Python's (the sign of the divisor)
                const double d = unary();
                v = v - std::floor(v / d) * d;
            } else return v;
        }
    }
    double unary() {
        if (eat("-")) return -unary();
        if (eat("+")) return unary();
        return power();
    }
    double power() {
        const double base = atom();
        if (eat("**")) return std::pow(base, unary());
        return base;
    }
    double atom() {
        skip();
        if (at_ >= text_.size()) error("an expression ends too early");
        if (eat("(")) {
            const double v = sum();
            if (!eat(")")) error("a \"(\" without its \")\"");
            return v;
        }
        const char c = text_[at_];
        if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
            char* end = nullptr;
            const double v = std::strtod(text_.c_str() + at_, &end);
            if (end == text_.c_str() + at_) error("a bad number at \"" + text_.substr(at_) + "\"");
            at_ = size_t(end - text_.c_str());
            return v;
        }
        if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
            size_t end = at_;
            while (end < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[end])) || text_[end] == '_')) ++end;
            const std::string name = text_.substr(at_, end - at_);
            at_ = end;
            if (name == "t") return t_;
            if (name == "max_f") return max_f_;
            if (name == "s") return s_;
            if (name == "pi") return M_PI;
            if (name == "e") return M_E;
            static const std::map<std::string, double (*)(double)> functions = {
                {"sin", [](double x) { return std::sin(x); }},     {"cos", [](double x) { return std::cos(x); }},
                {"tan", [](double x) { return std::tan(x); }},     {"arcsin", [](double x) { return std::asin(x); }},
                {"arccos", [](double x) { return std::acos(x); }}, {"arctan", [](double x) { return std::atan(x); }},
                {"sinh", [](double x) { return std::sinh(x); }},   {"cosh", [](double x) { return std::cosh(x); }},
                {"tanh", [](double x) { return std::tanh(x); }},   {"exp", [](double x) { return std::exp(x); }},
                {"log", [](double x) { return std::log(x); }},     {"log10", [](double x) { return std::log10(x); }},
                {"sqrt", [](double x) { return std::sqrt(x); }},   {"abs", [](double x) { return std::fabs(x); }},
                {"floor", [](double x) { return std::floor(x); }}, {"ceil", [](double x) { return std::ceil(x); }}};
            const auto f = functions.find(name);
            if (f == functions.end()) error("unknown name \"" + name + "\" (t, max_f, s, pi, e and sin, cos, sqrt, ...)");
            if (!eat("(")) error(name + " needs its argument in parentheses");
            const double v = f->second(sum());
            if (!eat(")")) error("a \"(\" without its \")\"");
            return v;
        }
        error(std::string("unexpected \"") + c + "\"");
    }

    const std::string& text_;
    size_t at_ = 0;
    double t_, max_f_, s_;
    const std::string& what_;
};

std::string trim(const std::string& s) {
    const size_t a = s.find_first_not_of(" \t\n"), b = s.find_last_not_of(" \t\n");
    return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// Deforum's sanitize_value: quotes and parentheses taken out.
std::string sanitized(const std::string& s) {
    std::string out;
    for (char c : s)
        if (c != '\'' && c != '"' && c != '(' && c != ')') out += c;
    return out;
}

bool is_number(const std::string& s) {
    static const std::regex number(R"(^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$)");
    return std::regex_match(s, number);
}

}  // namespace

double evaluate_expression(const std::string& expression, double t, double max_f, double s, const std::string& what) {
    return Parser(expression, t, max_f, s, what).parse();
}

std::vector<double> parse_keyframes(const std::string& schedule, int64_t frames, const std::string& what, double seed) {
    if (frames < 1) fail(what, ": no frames");
    const double max_f = double(frames - 1);
    // "frame:(value)" pairs
    std::map<int64_t, std::string> keys;
    size_t start = 0;
    while (start <= schedule.size()) {
        size_t comma = schedule.find(',', start);
        if (comma == std::string::npos) comma = schedule.size();
        const std::string part = trim(schedule.substr(start, comma - start));
        start = comma + 1;
        if (part.empty()) continue;
        const size_t colon = part.find(':');
        if (colon == std::string::npos) fail(what, ": \"", part, "\" is not FRAME:(VALUE)");
        const std::string frame_text = trim(part.substr(0, colon)), value = trim(part.substr(colon + 1));
        const double frame = is_number(sanitized(frame_text)) ? std::strtod(sanitized(frame_text).c_str(), nullptr)
                                                              : evaluate_expression(sanitized(frame_text), 0, max_f, seed, what);
        if (!std::isfinite(frame) || frame < 0) fail(what, ": the frame \"", frame_text, "\" is not a frame number");
        if (value.empty()) fail(what, ": frame ", frame_text, " has no value");
        keys[int64_t(frame)] = value;
    }
    if (keys.empty()) fail(what, ": \"", schedule, "\" has no FRAME:(VALUE) pair");
    // numbers at their frames; an expression at its frame and after, until the next keyframe
    std::vector<double> v(size_t(frames), NAN);
    std::string expression;
    bool number = true;
    for (int64_t i = 0; i < frames; ++i) {
        if (const auto k = keys.find(i); k != keys.end()) {
            number = is_number(sanitized(k->second));
            if (number) v[size_t(i)] = std::strtod(sanitized(k->second).c_str(), nullptr);
            else expression = k->second;
        }
        if (!number) v[size_t(i)] = evaluate_expression(expression, double(i), max_f, seed, what);
    }
    // the ends take the first and last values set; linear interpolation between set values
    int64_t first = -1, last = -1;
    for (int64_t i = 0; i < frames; ++i)
        if (!std::isnan(v[size_t(i)])) last = i, first = first < 0 ? i : first;
    if (first < 0) fail(what, ": no keyframe within the ", frames, " frames");
    v[0] = v[size_t(first)];
    v[size_t(frames - 1)] = v[size_t(last)];
    for (int64_t i = 0; i < frames;) {
        int64_t j = i + 1;
        while (j < frames && std::isnan(v[size_t(j)])) ++j;
        for (int64_t k = i + 1; k < j && j < frames; ++k)
            v[size_t(k)] = (v[size_t(j)] - v[size_t(i)]) / double(j - i) * double(k - i) + v[size_t(i)];  // (np.interp's order)
        i = j;
    }
    return v;
}

}  // namespace sdref
