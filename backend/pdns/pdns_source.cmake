# The PowerDNS headers a backend module compiles against, from the exact Debian source package
# of the installed pdns-server (Debian ships no PowerDNS development package). At configure
# time, into ${AMAP_PDNS_DIR} (inside the build folder, never into the repository):
#   sources/           a private deb-src list derived from the system's Debian sources
#   lists/ cache/      apt's private state for it (the system's apt state is not touched)
#   pdns-<upstream>/   `apt-get source pdns=<installed version>`, unpacked
#   include/config.h   VERSION and the OpenSSL HAVE_* macros the backend headers need
#   stamp              the version unpacked: a later configure with that version, online or
#                      not, uses what is there
# Sets AMAP_PDNS_VERSION (Debian version), AMAP_PDNS_UPSTREAM, AMAP_PDNS_SOURCE (the unpacked
# tree), AMAP_PDNS_CXXFLAGS / AMAP_PDNS_CPPFLAGS / AMAP_PDNS_LDFLAGS (lists, from debian/rules),
# AMAP_PDNS_AVAILABLE (FALSE, after a warning, when something is missing and AMAP_PDNS_MODULE
# is AUTO; with ON that is an error), AMAP_PDNS_BUILD_IDS ("pdns_server=<hex> pdnsutil=<hex>"), AMAP_PDNS_SERVER_BIN.

set(AMAP_PDNS_AVAILABLE FALSE)
macro(amap_pdns_unavailable)
  string(CONCAT _why ${ARGN})
  if(AMAP_PDNS_MODULE STREQUAL "ON")
    message(FATAL_ERROR "AMAP_PDNS_MODULE=ON: ${_why}")
  endif()
  message(WARNING "The PowerDNS module is not built (AMAP_PDNS_MODULE=AUTO): ${_why}")
endmacro()

set(AMAP_PDNS_DIR ${CMAKE_BINARY_DIR}/pdns-source)
find_program(AMAP_DPKG_QUERY dpkg-query REQUIRED)
find_program(AMAP_APT_GET apt-get REQUIRED)
find_program(AMAP_DPKG_BUILDFLAGS dpkg-buildflags REQUIRED)  # dpkg-dev (also unpacks: dpkg-source)
find_program(AMAP_READELF readelf REQUIRED)

execute_process(COMMAND ${AMAP_DPKG_QUERY} -W -f=\${Version} pdns-server
                OUTPUT_VARIABLE AMAP_PDNS_VERSION RESULT_VARIABLE _rc ERROR_QUIET)
if(NOT _rc EQUAL 0 OR AMAP_PDNS_VERSION STREQUAL "")
  amap_pdns_unavailable("the pdns-server package is not installed (apt-get install "
                        "pdns-server)")
  return()
endif()
# 4.7.3-2 -> 4.7.3 (no epoch, no Debian revision): the name of the unpacked folder.
string(REGEX REPLACE "^[0-9]+:" "" AMAP_PDNS_UPSTREAM "${AMAP_PDNS_VERSION}")
string(REGEX REPLACE "-[^-]*$" "" AMAP_PDNS_UPSTREAM "${AMAP_PDNS_UPSTREAM}")
set(AMAP_PDNS_SOURCE ${AMAP_PDNS_DIR}/pdns-${AMAP_PDNS_UPSTREAM})

set(_stamp "")
if(EXISTS ${AMAP_PDNS_DIR}/stamp)
  file(READ ${AMAP_PDNS_DIR}/stamp _stamp)
endif()
if(NOT _stamp STREQUAL AMAP_PDNS_VERSION OR NOT EXISTS ${AMAP_PDNS_SOURCE}/pdns/dnsbackend.hh)
  message(STATUS "Fetching the Debian source of pdns ${AMAP_PDNS_VERSION} into ${AMAP_PDNS_DIR}")
  file(REMOVE ${AMAP_PDNS_DIR}/stamp)
  file(REMOVE_RECURSE ${AMAP_PDNS_SOURCE})
  file(MAKE_DIRECTORY ${AMAP_PDNS_DIR}/sources ${AMAP_PDNS_DIR}/lists/partial
       ${AMAP_PDNS_DIR}/cache/archives/partial)
  # deb-src twins of the system's own Debian entries (same mirrors, suites and keys), in both
  # apt formats: deb822 *.sources and one-line *.list.
  set(_list "")
  file(GLOB _deb822 /etc/apt/sources.list.d/*.sources)
  foreach(_f ${_deb822})
    file(READ ${_f} _text)
    string(REGEX REPLACE "(^|\n)Types:[^\n]*" "\\1Types: deb-src" _text "${_text}")
    get_filename_component(_name ${_f} NAME)
    file(WRITE ${AMAP_PDNS_DIR}/sources/${_name} "${_text}")
  endforeach()
  file(GLOB _oneline /etc/apt/sources.list /etc/apt/sources.list.d/*.list)
  foreach(_f ${_oneline})
    file(STRINGS ${_f} _lines REGEX "^[ \t]*deb[ \t]")
    foreach(_l ${_lines})
      string(REGEX REPLACE "^[ \t]*deb[ \t]" "deb-src " _l "${_l}")
      string(APPEND _list "${_l}\n")
    endforeach()
  endforeach()
  file(WRITE ${AMAP_PDNS_DIR}/sources/oneline.list "${_list}")
  set(_apt ${AMAP_APT_GET} -q -o Dir::Etc::SourceParts=${AMAP_PDNS_DIR}/sources
           -o Dir::Etc::SourceList=/dev/null -o Dir::State::Lists=${AMAP_PDNS_DIR}/lists
           -o Dir::Cache=${AMAP_PDNS_DIR}/cache)
  execute_process(COMMAND ${_apt} update RESULT_VARIABLE _rc OUTPUT_VARIABLE _out
                  ERROR_VARIABLE _err)
  if(NOT _rc EQUAL 0)
    # Offline: the lists (and the downloaded files) of an earlier run may still do.
    message(WARNING "apt-get update of the private deb-src list failed, trying the cached "
                    "lists:\n${_err}")
  endif()
  # The .dsc and tarballs stay in ${AMAP_PDNS_DIR}: apt-get source does not download a file
  # that is already there, so a re-unpack works offline.
  execute_process(COMMAND ${_apt} source pdns=${AMAP_PDNS_VERSION}
                  WORKING_DIRECTORY ${AMAP_PDNS_DIR} RESULT_VARIABLE _rc OUTPUT_VARIABLE _out
                  ERROR_VARIABLE _err)
  if(NOT _rc EQUAL 0 OR NOT EXISTS ${AMAP_PDNS_SOURCE}/pdns/dnsbackend.hh)
    amap_pdns_unavailable("`apt-get source pdns=${AMAP_PDNS_VERSION}` failed in "
                          "${AMAP_PDNS_DIR} (a deb-src source for that exact version is "
                          "needed):\n${_out}${_err}")
    return()
  endif()
  file(WRITE ${AMAP_PDNS_DIR}/stamp "${AMAP_PDNS_VERSION}")
endif()

# Debian's compile flags: debian/rules sets DEB_BUILD_MAINT_OPTIONS (hardening=+all) and
# PACKAGEVERSION; dpkg-buildflags turns the former into flags; configure adds -std=c++17.
file(STRINGS ${AMAP_PDNS_SOURCE}/debian/rules _maint REGEX "DEB_BUILD_MAINT_OPTIONS[ \t]*=")
string(REGEX REPLACE "^.*DEB_BUILD_MAINT_OPTIONS[ \t]*=[ \t]*" "" _maint "${_maint}")
foreach(_kind CXXFLAGS CPPFLAGS LDFLAGS)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env DEB_BUILD_MAINT_OPTIONS=${_maint}
                          ${AMAP_DPKG_BUILDFLAGS} --get ${_kind}
                  WORKING_DIRECTORY ${AMAP_PDNS_SOURCE}
                  OUTPUT_VARIABLE _flags OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
  separate_arguments(AMAP_PDNS_${_kind} UNIX_COMMAND "${_flags}")
endforeach()
set(AMAP_PDNS_PACKAGEVERSION "${AMAP_PDNS_VERSION}.Debian")

# config.h: of what a backend includes, only VERSION and the OpenSSL EVP_MD_CTX macros
# (pdns/sha.hh) matter. Debian 12 builds pdns with OpenSSL 3, which has both functions.
include(CheckCXXSymbolExists)
set(CMAKE_REQUIRED_LIBRARIES crypto)
check_cxx_symbol_exists(EVP_MD_CTX_new openssl/evp.h AMAP_HAVE_EVP_MD_CTX_NEW)
check_cxx_symbol_exists(EVP_MD_CTX_free openssl/evp.h AMAP_HAVE_EVP_MD_CTX_FREE)
unset(CMAKE_REQUIRED_LIBRARIES)
if(NOT AMAP_HAVE_EVP_MD_CTX_NEW OR NOT AMAP_HAVE_EVP_MD_CTX_FREE)
  amap_pdns_unavailable("OpenSSL headers with EVP_MD_CTX_new/free are needed (apt-get "
                        "install libssl-dev)")
  return()
endif()
file(CONFIGURE OUTPUT ${AMAP_PDNS_DIR}/include/config.h CONTENT
"/* Generated by backend/pdns/pdns_source.cmake for pdns ${AMAP_PDNS_VERSION}. */
#pragma once
#define VERSION \"${AMAP_PDNS_UPSTREAM}\"
#define HAVE_EVP_MD_CTX_NEW 1
#define HAVE_EVP_MD_CTX_FREE 1
")

# The hosts the module is built for: the ELF build-ids of the programs of that pdns-server
# that load backend modules (pdns_server, and pdnsutil for its zone and backend commands),
# checked again at load (guard.cc).
set(AMAP_PDNS_BUILD_IDS "")
foreach(_prog pdns_server pdnsutil)
  find_program(AMAP_PDNS_${_prog}_BIN ${_prog} PATHS /usr/sbin /usr/bin REQUIRED)
  execute_process(COMMAND ${AMAP_READELF} -n ${AMAP_PDNS_${_prog}_BIN} OUTPUT_VARIABLE _notes
                  COMMAND_ERROR_IS_FATAL ANY)
  string(REGEX MATCH "Build ID: ([0-9a-f]+)" _m "${_notes}")
  if(CMAKE_MATCH_1 STREQUAL "")
    amap_pdns_unavailable("${AMAP_PDNS_${_prog}_BIN} has no ELF build-id")
    return()
  endif()
  string(APPEND AMAP_PDNS_BUILD_IDS " ${_prog}=${CMAKE_MATCH_1}")
endforeach()
string(STRIP "${AMAP_PDNS_BUILD_IDS}" AMAP_PDNS_BUILD_IDS)
set(AMAP_PDNS_SERVER_BIN ${AMAP_PDNS_pdns_server_BIN})
message(STATUS "PowerDNS module: pdns ${AMAP_PDNS_VERSION}, ${AMAP_PDNS_BUILD_IDS}")
set(AMAP_PDNS_AVAILABLE TRUE)
