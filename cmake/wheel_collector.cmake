# The collector inside the Python package (scikit-build-core builds only).
#
# The executable goes to otlp_mmap/_bin/otlp-mmap in the wheel; the console script otlp-mmap
# (python/otlp_mmap/_collector.py) execs it. It lives in the package, not in the wheel's
# scripts/ directory, so that auditwheel can point its RPATH at the bundled libraries
# (otlp_mmap.libs): the scripts directory has no fixed place relative to site-packages.
#
#   OTLP_MMAP_WHEEL_COLLECTOR       AUTO: build it when its libraries are found (an sdist on a
#                                   machine with only a compiler gets the SDK alone); ON: they
#                                   must be found; OFF: never (the editable development install).
#   OTLP_MMAP_COLLECTOR_EXECUTABLE  a collector built beforehand (the collector does not depend on
#                                   Python): installed as it is, stripped, instead of building
#                                   one. `make wheels` builds it once for five interpreters.
#
# When there is no collector, otlp_mmap/_bin/missing.txt says why; the console script prints it.

set(OTLP_MMAP_WHEEL_COLLECTOR AUTO CACHE STRING "Put the collector into the wheel: AUTO, ON or OFF")
set_property(CACHE OTLP_MMAP_WHEEL_COLLECTOR PROPERTY STRINGS AUTO ON OFF)
set(OTLP_MMAP_COLLECTOR_EXECUTABLE "" CACHE FILEPATH "A collector built beforehand, put into the wheel as it is")

set(_wheel_bin otlp_mmap/_bin)

# Not built: a note for the console script, with what to do.
function(_otlp_mmap_wheel_collector_missing reason)
  message(STATUS "otlp-mmap: the wheel has no collector: ${reason}")
  set(note "${CMAKE_CURRENT_BINARY_DIR}/otlp_mmap_collector_missing.txt")
  file(WRITE "${note}" "${reason}\n")
  install(FILES "${note}" DESTINATION ${_wheel_bin} RENAME missing.txt)
endfunction()

# Strips the installed executable: a development build carries debug information (hundreds of MB).
function(_otlp_mmap_wheel_collector_strip)
  if(NOT CMAKE_STRIP)
    return()
  endif()
  install(CODE "execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-all
                \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${_wheel_bin}/otlp-mmap\" COMMAND_ERROR_IS_FATAL ANY)")
endfunction()

string(TOUPPER "${OTLP_MMAP_WHEEL_COLLECTOR}" _wheel_mode)
if(OTLP_MMAP_COLLECTOR_EXECUTABLE)
  if(NOT EXISTS "${OTLP_MMAP_COLLECTOR_EXECUTABLE}")
    message(FATAL_ERROR "OTLP_MMAP_COLLECTOR_EXECUTABLE: no such file: ${OTLP_MMAP_COLLECTOR_EXECUTABLE}")
  endif()
  message(STATUS "otlp-mmap: the wheel takes the collector ${OTLP_MMAP_COLLECTOR_EXECUTABLE}")
  install(PROGRAMS "${OTLP_MMAP_COLLECTOR_EXECUTABLE}" DESTINATION ${_wheel_bin} RENAME otlp-mmap)
  _otlp_mmap_wheel_collector_strip()
elseif(_wheel_mode STREQUAL "OFF")
  _otlp_mmap_wheel_collector_missing(
    "built with OTLP_MMAP_WHEEL_COLLECTOR=OFF (in a checkout: `make build` builds build/dev/collector/otlp-mmap)")
else()
  # The libraries collector/CMakeLists.txt requires (with their Debian packages), looked for quietly first.
  set(_packages Protobuf gRPC CURL ZLIB CLI11)
  set(_modes MODULE_OR_CONFIG CONFIG MODULE_OR_CONFIG MODULE_OR_CONFIG CONFIG)
  set(_debian "libprotobuf-dev protobuf-compiler" "libgrpc++-dev protobuf-compiler-grpc" "libcurl4-openssl-dev"
              "zlib1g-dev" "libcli11-dev")
  set(_missing)
  foreach(package mode debian IN ZIP_LISTS _packages _modes _debian)
    if(mode STREQUAL "CONFIG")
      find_package(${package} CONFIG QUIET)
    else()
      find_package(${package} QUIET)
    endif()
    if(NOT ${package}_FOUND)
      list(APPEND _missing "${package} (${debian})")
    endif()
  endforeach()
  if(_missing)
    list(JOIN _missing ", " _missing_text)
    if(_wheel_mode STREQUAL "ON")
      message(FATAL_ERROR "OTLP_MMAP_WHEEL_COLLECTOR=ON, but the collector's libraries are missing: ${_missing_text}")
    endif()
    _otlp_mmap_wheel_collector_missing(
      "built from source without the collector's libraries: ${_missing_text} (Debian package names in parentheses)")
  else()
    message(STATUS "otlp-mmap: the wheel builds the collector")
    set(OTLP_MMAP_BUILD_COLLECTOR ON)  # the top-level CMakeLists.txt adds collector/
    install(PROGRAMS "$<TARGET_FILE:otlp-mmap>" DESTINATION ${_wheel_bin})
    _otlp_mmap_wheel_collector_strip()
  endif()
endif()
