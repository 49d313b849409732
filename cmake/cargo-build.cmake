# Build step of the root CMakeLists.txt, run as
#   cmake -DSETTINGS=<build>/wsgirt-generated/cargo-build-settings.cmake -P cmake/cargo-build.cmake
# on every build. Cargo decides what is stale; this script
#   1. asks rustc which native libraries the static library needs
#      (`--print native-static-libs`: libpython and the Rust std's system libs),
#   2. builds libwsgirt.a and libwsgirt.so (`cargo build --lib`),
#   3. checks that the shared library's SONAME is libwsgirt.so.<WSGIRT_ABI_VERSION>,
#   4. writes wsgirtTargets.cmake and wsgirt.pc, the two installed files
#      that carry the native library list.
cmake_minimum_required(VERSION 3.18)

if(NOT SETTINGS)
  message(FATAL_ERROR "cargo-build.cmake: pass -DSETTINGS=<cargo-build-settings.cmake>")
endif()
include("${SETTINGS}")

set(ENV{PYO3_PYTHON} "${WSGIRT_PYTHON}")
set(ENV{CARGO_TARGET_DIR} "${WSGIRT_CARGO_TARGET_DIR}")
set(_cargo_args --profile "${WSGIRT_CARGO_PROFILE}" --lib)

# 1. The static library's native dependencies. `cargo rustc` with the extra
#    rustc flag is a separate cached unit: after the first build cargo replays
#    the note without compiling. It runs before `cargo build` because it also
#    writes libwsgirt.a into the target directory; the build below puts its
#    own artefact back.
execute_process(
  COMMAND "${WSGIRT_CARGO}" rustc ${_cargo_args} --crate-type staticlib
          -- --print native-static-libs
  WORKING_DIRECTORY "${WSGIRT_SOURCE_DIR}"
  ERROR_VARIABLE _stderr ECHO_ERROR_VARIABLE
  RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "wsgirt: cargo rustc --print native-static-libs failed (${_rc})")
endif()
string(REGEX MATCH "native-static-libs: ([^\r\n]*)" _match "${_stderr}")
if(NOT _match)
  message(FATAL_ERROR "wsgirt: rustc printed no native-static-libs line")
endif()
string(STRIP "${CMAKE_MATCH_1}" WSGIRT_NATIVE_STATIC_LIBS)

# 2. The artefacts that are installed.
execute_process(
  COMMAND "${WSGIRT_CARGO}" build ${_cargo_args}
  WORKING_DIRECTORY "${WSGIRT_SOURCE_DIR}"
  RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "wsgirt: cargo build failed (${_rc})")
endif()
foreach(_lib libwsgirt.a libwsgirt.so)
  if(NOT EXISTS "${WSGIRT_CARGO_OUT_DIR}/${_lib}")
    message(FATAL_ERROR "wsgirt: cargo did not produce ${WSGIRT_CARGO_OUT_DIR}/${_lib}")
  endif()
endforeach()

# 3. build.rs sets the SONAME; WSGIRT_ABI_VERSION in the header must agree.
if(WSGIRT_READELF)
  execute_process(
    COMMAND "${WSGIRT_READELF}" -d "${WSGIRT_CARGO_OUT_DIR}/libwsgirt.so"
    OUTPUT_VARIABLE _dynamic RESULT_VARIABLE _rc)
  string(REGEX MATCH "Library soname: \\[([^]]*)\\]" _match "${_dynamic}")
  if(NOT _rc EQUAL 0 OR NOT CMAKE_MATCH_1 STREQUAL WSGIRT_SONAME)
    message(FATAL_ERROR "wsgirt: libwsgirt.so has SONAME '${CMAKE_MATCH_1}', expected "
                        "'${WSGIRT_SONAME}' (WSGIRT_ABI_VERSION in include/wsgirt.h); "
                        "update the soname link argument in build.rs")
  endif()
endif()

# 4. The native list as CMake link items (`-lfoo` becomes `foo`, which CMake
#    turns back into -lfoo) and as pkg-config flags.
separate_arguments(_flags UNIX_COMMAND "${WSGIRT_NATIVE_STATIC_LIBS}")
set(WSGIRT_STATIC_LINK_LIBRARIES "")
foreach(_flag IN LISTS _flags)
  if(_flag MATCHES "^-l(.+)$")
    list(APPEND WSGIRT_STATIC_LINK_LIBRARIES "${CMAKE_MATCH_1}")
  else()
    list(APPEND WSGIRT_STATIC_LINK_LIBRARIES "${_flag}")
  endif()
endforeach()
set(WSGIRT_PC_LIBS_PRIVATE "${WSGIRT_NATIVE_STATIC_LIBS}")
if(WSGIRT_PYTHON_LIBDIR)
  set(WSGIRT_PC_LIBS_PRIVATE "-L${WSGIRT_PYTHON_LIBDIR} ${WSGIRT_PC_LIBS_PRIVATE}")
endif()

# pkg-config paths relative to ${prefix} where possible.
set(WSGIRT_PC_LIBDIR "${WSGIRT_INSTALL_FULL_LIBDIR}")
set(WSGIRT_PC_INCLUDEDIR "${WSGIRT_INSTALL_FULL_INCLUDEDIR}")
foreach(_var WSGIRT_PC_LIBDIR WSGIRT_PC_INCLUDEDIR)
  string(FIND "${${_var}}" "${WSGIRT_INSTALL_PREFIX}/" _pos)
  if(_pos EQUAL 0)
    string(LENGTH "${WSGIRT_INSTALL_PREFIX}" _len)
    string(SUBSTRING "${${_var}}" ${_len} -1 _rest)
    set(${_var} "\${prefix}${_rest}")
  endif()
endforeach()

configure_file("${WSGIRT_SOURCE_DIR}/cmake/wsgirtTargets.cmake.in"
               "${WSGIRT_GENERATED_DIR}/wsgirtTargets.cmake" @ONLY)
configure_file("${WSGIRT_SOURCE_DIR}/cmake/wsgirt.pc.in"
               "${WSGIRT_GENERATED_DIR}/wsgirt.pc" @ONLY)
message(STATUS "wsgirt: libwsgirt.a needs: ${WSGIRT_NATIVE_STATIC_LIBS}")
