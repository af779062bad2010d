# Helpers that keep every module's CMakeLists.txt short (in the spirit of absl_cc_library).
#
#   sy_cc_library(NAME iso8583 SRCS a.cc HDRS a.h DEPS yaml-cpp)   -> target sy_iso8583, alias sy::iso8583
#   sy_cc_test(NAME codec_test SRCS codec_test.cc DEPS sy::iso8583) -> one ctest entry per binary
#   sy_fuzzer(NAME unpack_fuzzer SRCS f.cc DEPS sy::iso8583 CORPUS dir)
#   sy_benchmark(NAME codec_bench SRCS codec_bench.cc DEPS sy::iso8583)

# Umbrella targets: `cmake --build --preset fuzz --target sy_fuzzers` builds only the fuzzers.
add_custom_target(sy_fuzzers)
add_custom_target(sy_benchmarks)

# Two known GCC 12 false positives at -O2/-O3, off so that Release builds stay -Werror:
# -Wmismatched-new-delete on Asio's awaitable frames (which have their own operator new/delete),
# and -Wrestrict on std::string's operator+ (GCC bug 105651).
set(SY_WARNINGS -Wall -Wextra -Werror -Werror=unused-result -Wno-missing-field-initializers
    $<$<CXX_COMPILER_ID:GNU>:-Wno-mismatched-new-delete> $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>)

function(sy_apply_common target)
  target_compile_options(${target} PRIVATE ${SY_WARNINGS})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
endfunction()

function(sy_cc_library)
  cmake_parse_arguments(SY "" "NAME" "SRCS;HDRS;DEPS" ${ARGN})
  add_library(sy_${SY_NAME} STATIC ${SY_SRCS} ${SY_HDRS})
  add_library(sy::${SY_NAME} ALIAS sy_${SY_NAME})
  sy_apply_common(sy_${SY_NAME})
  target_link_libraries(sy_${SY_NAME} PUBLIC ${SY_DEPS})
endfunction()

function(sy_cc_test)
  cmake_parse_arguments(SY "" "NAME;TIMEOUT" "SRCS;DEPS" ${ARGN})
  if(NOT SY_BUILD_TESTS)
    return()
  endif()
  add_executable(${SY_NAME} ${SY_SRCS})
  sy_apply_common(${SY_NAME})
  target_link_libraries(${SY_NAME} PRIVATE ${SY_DEPS} GTest::gmock GTest::gtest_main)
  if(NOT SY_TIMEOUT)
    set(SY_TIMEOUT 300)
  endif()
  add_test(NAME ${SY_NAME} COMMAND ${SY_NAME} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(${SY_NAME} PROPERTIES TIMEOUT ${SY_TIMEOUT}
    ENVIRONMENT "SY_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()

# A fuzz target defines LLVMFuzzerTestOneInput. In a clang build with SY_FUZZ=ON it becomes a
# libFuzzer binary; in every other build it is linked with a replay driver and ctest runs it over
# its corpus, so every corpus entry is a regression test.
function(sy_fuzzer)
  cmake_parse_arguments(SY "" "NAME;CORPUS" "SRCS;DEPS" ${ARGN})
  if(SY_FUZZ)
    add_executable(${SY_NAME} ${SY_SRCS})
    sy_apply_common(${SY_NAME})
    target_compile_options(${SY_NAME} PRIVATE -fsanitize=fuzzer)
    target_link_options(${SY_NAME} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${SY_NAME} PRIVATE ${SY_DEPS})
    add_dependencies(sy_fuzzers ${SY_NAME})
  elseif(SY_BUILD_TESTS)
    add_executable(${SY_NAME}_replay ${SY_SRCS} ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.cc)
    sy_apply_common(${SY_NAME}_replay)
    target_link_libraries(${SY_NAME}_replay PRIVATE ${SY_DEPS})
    add_test(NAME ${SY_NAME}_replay COMMAND ${SY_NAME}_replay ${SY_CORPUS})
    set_tests_properties(${SY_NAME}_replay PROPERTIES TIMEOUT 300)
  endif()
endfunction()

function(sy_benchmark)
  cmake_parse_arguments(SY "" "NAME" "SRCS;DEPS" ${ARGN})
  if(NOT SY_BUILD_BENCHMARKS)
    return()
  endif()
  add_executable(${SY_NAME} ${SY_SRCS})
  sy_apply_common(${SY_NAME})
  target_link_libraries(${SY_NAME} PRIVATE ${SY_DEPS} benchmark::benchmark)
  add_dependencies(sy_benchmarks ${SY_NAME})
endfunction()

# sy_embed_text(OUT_VAR SYMBOL file): generates a source file defining
# `std::string_view sy::embedded::SYMBOL()` with the file's text; appends its path to OUT_VAR.
function(sy_embed_text out_var symbol input)
  get_filename_component(abs "${input}" ABSOLUTE)
  set(out "${CMAKE_CURRENT_BINARY_DIR}/embedded_${symbol}.cc")
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DINPUT=${abs} -DOUT=${out} -DSYMBOL=${symbol}
            -P ${PROJECT_SOURCE_DIR}/cmake/embed_text.cmake
    DEPENDS ${abs} ${PROJECT_SOURCE_DIR}/cmake/embed_text.cmake
    COMMENT "Embedding ${input}"
    VERBATIM)
  set(${out_var} ${${out_var}} ${out} PARENT_SCOPE)
endfunction()
