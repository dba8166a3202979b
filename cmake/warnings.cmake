# Warnings for the project's own targets (not for third-party headers).
function(otlp_mmap_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local -Wnon-virtual-dtor
                                           -Wimplicit-fallthrough)
  if(OTLP_MMAP_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
