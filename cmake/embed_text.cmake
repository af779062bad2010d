# Writes a C++ file defining `std::string_view sy::embedded::<SYMBOL>() noexcept` that returns
# the text of INPUT. Called as: cmake -DINPUT=f.yaml -DOUT=f.cc -DSYMBOL=Name -P embed_text.cmake
file(READ "${INPUT}" text)
set(body "// Generated from ${INPUT} by cmake/embed_text.cmake. Do not edit.\n")
string(APPEND body "#include <string_view>\n\nnamespace sy::embedded {\n")
string(APPEND body "std::string_view ${SYMBOL}() noexcept {\n  return R\"SYEMBED(${text})SYEMBED\";\n}\n")
string(APPEND body "}  // namespace sy::embedded\n")
file(WRITE "${OUT}.tmp" "${body}")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
