#include "text/unicode.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "core/utf8.h"

namespace sdref::text {

namespace {

struct CodepointRange {
    char32_t first, last;
};
struct LowerMapping {
    char32_t cp;
    const char32_t* lower;
};
struct NamedEntity {
    const char* name;
    const char32_t* text;
};
struct InvalidCharref {
    uint32_t number;
    const char32_t* text;
};

#include "text/text_tables.inc"

template <size_t N>
bool in_ranges(const CodepointRange (&ranges)[N], char32_t cp) {
    const CodepointRange* it =
        std::upper_bound(ranges, ranges + N, cp, [](char32_t c, const CodepointRange& r) { return c < r.first; });
    return it != ranges && cp <= (it - 1)->last;
}

const char32_t* lookup_entity(const std::string& name) {
    const NamedEntity* end = kHtmlEntities + sizeof(kHtmlEntities) / sizeof(kHtmlEntities[0]);
    const NamedEntity* it = std::lower_bound(kHtmlEntities, end, name,
                                             [](const NamedEntity& e, const std::string& n) { return e.name < n; });
    return (it != end && it->name == name) ? it->text : nullptr;
}

bool is_digit(char32_t c) { return c >= '0' && c <= '9'; }
bool is_hex(char32_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// The text a numeric reference &#N; stands for, as html.unescape gives it.
std::u32string numeric_reference(uint64_t num) {
    for (const InvalidCharref& r : kInvalidCharrefs)
        if (r.number == num) return r.text;
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return U"\uFFFD";
    if (in_ranges(kDroppedCharrefs, char32_t(num))) return U"";
    return std::u32string(1, char32_t(num));
}

}  // namespace

bool is_letter(char32_t cp) { return in_ranges(kLetterRanges, cp); }
bool is_number(char32_t cp) { return in_ranges(kNumberRanges, cp); }
bool is_space(char32_t cp) { return in_ranges(kSpaceRanges, cp); }

std::string utf8_encode(std::u32string_view s) {
    std::string out;
    for (char32_t cp : s) utf8_append(out, cp);
    return out;
}

std::u32string utf8_decode(std::string_view s, const std::string& what) {
    std::u32string out;
    size_t i = 0;
    while (i < s.size()) {
        const auto b0 = static_cast<unsigned char>(s[i]);
        int len;
        char32_t cp;
        if (b0 < 0x80) {
            len = 1;
            cp = b0;
        } else if ((b0 & 0xE0) == 0xC0) {
            len = 2;
            cp = b0 & 0x1F;
        } else if ((b0 & 0xF0) == 0xE0) {
            len = 3;
            cp = b0 & 0x0F;
        } else if ((b0 & 0xF8) == 0xF0) {
            len = 4;
            cp = b0 & 0x07;
        } else {
            fail(what, ": invalid UTF-8 at byte ", i);
        }
        if (i + size_t(len) > s.size()) fail(what, ": truncated UTF-8 sequence at byte ", i);
        for (int k = 1; k < len; ++k) {
            const auto b = static_cast<unsigned char>(s[i + size_t(k)]);
            if ((b & 0xC0) != 0x80) fail(what, ": invalid UTF-8 at byte ", i + size_t(k));
            cp = (cp << 6) | (b & 0x3F);
        }
        static const char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            fail(what, ": invalid UTF-8 at byte ", i);
        out += cp;
        i += size_t(len);
    }
    return out;
}

std::u32string to_lower(std::u32string_view s) {
    const LowerMapping* end = kLowerCase + sizeof(kLowerCase) / sizeof(kLowerCase[0]);
    std::u32string out;
    out.reserve(s.size());
    for (char32_t cp : s) {
        const LowerMapping* it =
            std::lower_bound(kLowerCase, end, cp, [](const LowerMapping& m, char32_t c) { return m.cp < c; });
        if (it != end && it->cp == cp) out += it->lower;
        else out += cp;
    }
    return out;
}

std::u32string strip(std::u32string_view s) {
    size_t b = 0, e = s.size();
    while (b < e && is_space(s[b])) ++b;
    while (e > b && is_space(s[e - 1])) --e;
    return std::u32string(s.substr(b, e - b));
}

// html.unescape: every match of &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?) is replaced.
std::u32string html_unescape(std::u32string_view s) {
    std::u32string out;
    size_t i = 0;
    while (i < s.size()) {
        if (s[i] != '&') {
            out += s[i++];
            continue;
        }
        size_t j = i + 1;
        if (j < s.size() && s[j] == '#') {
            // numeric reference, decimal or hexadecimal
            const bool hex = j + 1 < s.size() && (s[j + 1] == 'x' || s[j + 1] == 'X');
            size_t k = j + 1;
            if (!hex && k < s.size() && is_digit(s[k])) {
                uint64_t num = 0;
                while (k < s.size() && is_digit(s[k])) num = std::min<uint64_t>(num * 10 + (s[k++] - '0'), 0x7FFFFFFF);
                if (k < s.size() && s[k] == ';') ++k;
                out += numeric_reference(num);
                i = k;
                continue;
            }
            if (hex && k + 1 < s.size() && is_hex(s[k + 1])) {
                ++k;
                uint64_t num = 0;
                while (k < s.size() && is_hex(s[k])) {
                    const char32_t c = s[k++];
                    const unsigned d = is_digit(c) ? unsigned(c - '0') : unsigned((c | 0x20) - 'a' + 10);
                    num = std::min<uint64_t>(num * 16 + d, 0x7FFFFFFF);
                }
                if (k < s.size() && s[k] == ';') ++k;
                out += numeric_reference(num);
                i = k;
                continue;
            }
            out += s[i++];  // "&#" with no digits: not a reference
            continue;
        }
        // named reference: up to 32 characters outside "\t\n\f <&#;", then an optional ';'
        size_t k = j;
        while (k < s.size() && k - j < 32 && std::u32string_view(U"\t\n\f <&#;").find(s[k]) == std::u32string_view::npos)
            ++k;
        if (k == j) {
            out += s[i++];
            continue;
        }
        if (k < s.size() && s[k] == ';') ++k;
        const std::u32string_view name = s.substr(j, k - j);
        // the whole name, else its longest known prefix (at least 2 characters) followed by the rest
        const char32_t* text = lookup_entity(utf8_encode(name));
        size_t used = name.size();
        for (size_t x = name.size() - 1; !text && x > 1; --x) {
            text = lookup_entity(utf8_encode(name.substr(0, x)));
            used = x;
        }
        if (text) {
            out += text;
            out += name.substr(used);
        } else {
            out += U'&';
            out += name;
        }
        i = k;
    }
    return out;
}

}  // namespace sdref::text
