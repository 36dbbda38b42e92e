# One INTERFACE target carries the language level, warnings and sanitizers; every ovvoc target
# links it PRIVATE-ly (osquery's cmake/flags.cmake).
add_library(ovvoc_flags INTERFACE)
add_library(ovvoc::flags ALIAS ovvoc_flags)
target_compile_features(ovvoc_flags INTERFACE cxx_std_20)
set(CMAKE_CXX_EXTENSIONS OFF)
target_compile_options(ovvoc_flags INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow=local -Wnon-virtual-dtor -Wno-unused-parameter
  -Wno-missing-field-initializers)
target_compile_definitions(ovvoc_flags INTERFACE
  OVVOC_VERSION="${PROJECT_VERSION}")

set(_ovvoc_sanitizers "")
if(OVVOC_ENABLE_ASAN)
  list(APPEND _ovvoc_sanitizers address)
endif()
if(OVVOC_ENABLE_UBSAN)
  list(APPEND _ovvoc_sanitizers undefined)
endif()
if(OVVOC_ENABLE_TSAN)
  list(APPEND _ovvoc_sanitizers thread)
endif()
if(_ovvoc_sanitizers)
  list(JOIN _ovvoc_sanitizers "," _ovvoc_san)
  target_compile_options(ovvoc_flags INTERFACE -fsanitize=${_ovvoc_san} -fno-omit-frame-pointer)
  target_link_options(ovvoc_flags INTERFACE -fsanitize=${_ovvoc_san})
endif()

if(OVVOC_CLANG_TIDY)
  find_program(CLANG_TIDY_EXE NAMES clang-tidy REQUIRED)
  set(CMAKE_CXX_CLANG_TIDY ${CLANG_TIDY_EXE})
endif()
