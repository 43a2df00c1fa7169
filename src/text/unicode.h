// unicode.h: the Unicode and HTML behaviour of Python that CLIP's tokenizer relies on, from tables generated
// out of Python's standard library (tools/gen_text_tables.py -> text_tables.inc).
#pragma once

#include <string>
#include <string_view>

#include "core/utf8.h"

namespace sdref::text {

// UTF-8 <-> code points. Invalid UTF-8 is an sdref::Error (naming `what`).
std::u32string utf8_decode(std::string_view s, const std::string& what = "text");
std::string utf8_encode(std::u32string_view s);
using sdref::utf8_append;

bool is_letter(char32_t cp);  // regex \p{L}
bool is_number(char32_t cp);  // regex \p{N}
bool is_space(char32_t cp);   // Python str.isspace()

// Python str.lower(): full lower-case mapping (one code point may become several).
std::u32string to_lower(std::u32string_view s);
// Python str.strip() with no arguments.
std::u32string strip(std::u32string_view s);
// Python html.unescape(): numeric and named (HTML5) character references.
std::u32string html_unescape(std::u32string_view s);

}  // namespace sdref::text
