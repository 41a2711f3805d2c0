# Compiler settings shared by every Loom target.
#  - ccache when present (with the sloppiness precompiled headers need);
#  - warnings on (-Wall -Wextra) for our code; LibTorch headers are SYSTEM;
#  - loom_pch: one precompiled LibTorch header every target reuses.

find_program(LOOM_CCACHE ccache)
if(LOOM_CCACHE)
  set(_launcher ${CMAKE_COMMAND} -E env
      CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
      ${LOOM_CCACHE})
  set(CMAKE_C_COMPILER_LAUNCHER ${_launcher})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${_launcher})
endif()

set(LOOM_WARNINGS -Wall -Wextra -Wno-unused-parameter)
# Everything is compiled -fPIC (executables too, still linked as PIE), so the
# one precompiled header is valid for libraries and executables alike.
set(LOOM_COMMON_FLAGS -fPIC -Winvalid-pch)

# loom_target_defaults(TARGET): warnings and the shared precompiled header.
function(loom_target_defaults target)
  target_compile_options(${target} PRIVATE ${LOOM_WARNINGS} ${LOOM_COMMON_FLAGS})
  get_target_property(_type ${target} TYPE)
  if(NOT _type STREQUAL "INTERFACE_LIBRARY" AND TARGET loom_pch)
    target_precompile_headers(${target} REUSE_FROM loom_pch)
  endif()
endfunction()
