# embed.cmake: write a C++ source defining `const std::string& NAME()` that returns the bytes of INPUT.
#   cmake -DINPUT=file -DOUTPUT=file.cpp -DNAME=web_page -DHEADER=server/web_page.h -P tools/embed.cmake
file(READ ${INPUT} bytes HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${bytes}")
file(WRITE ${OUTPUT} "// generated from ${INPUT} by tools/embed.cmake\n#include \"${HEADER}\"\n\nnamespace sdref {\n\n"
  "namespace {\nconst char kBytes[] = {${bytes}};\n}  // namespace\n\n"
  "const std::string& ${NAME}() {\n    static const std::string text(kBytes, sizeof kBytes);\n    return text;\n}\n\n}  // namespace sdref\n")
