// web_page.h: the web page (src/server/web/index.html), compiled into the binary by tools/embed.cmake, so the
// server needs no files beside it and fetches nothing from the internet.
#pragma once

#include <string>

namespace sdref {

const std::string& web_page();

}  // namespace sdref
