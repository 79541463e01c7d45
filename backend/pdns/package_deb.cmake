# Builds automap-pdns-module_<version>_<arch>.deb: the module alone, depending on the exact
# pdns-server version it was built against (its guard refuses any other build anyway).
#   cmake -DBUILD=<build dir> -DSRC=<this folder> -DOUT=<dir> -DVERSION=<automap version>
#         -DPDNS_VERSION=<Debian version of pdns-server> -DMODULE_DIR=<pdns module-dir>
#         -P package_deb.cmake
# Run by the pdns-module-deb target (into the build folder) and by the pdns_module test.
foreach(_v BUILD SRC OUT VERSION PDNS_VERSION MODULE_DIR)
  if(NOT DEFINED ${_v})
    message(FATAL_ERROR "package_deb.cmake: -D${_v}= is required")
  endif()
endforeach()
set(_name automap-pdns-module)
set(_stage ${OUT}/${_name}-stage)
file(REMOVE_RECURSE ${_stage})
execute_process(COMMAND ${CMAKE_COMMAND} -E env DESTDIR=${_stage}
                        ${CMAKE_COMMAND} --install ${BUILD} --component pdns-module
                OUTPUT_QUIET COMMAND_ERROR_IS_FATAL ANY)
set(_so ${_stage}${MODULE_DIR}/libautomapbackend.so)
if(NOT EXISTS ${_so})
  message(FATAL_ERROR "package_deb.cmake: ${_so} was not installed")
endif()
# As dh_strip does for a shared library (lintian: binary-has-unneeded-section).
execute_process(COMMAND strip --remove-section=.comment --remove-section=.note --strip-unneeded
                        ${_so} COMMAND_ERROR_IS_FATAL ANY)
set(_doc ${_stage}/usr/share/doc/${_name})
file(MAKE_DIRECTORY ${_doc}/examples)
# Debian's machine-readable form, pointing at common-licenses/GPL-2 (LICENSE in this folder has
# the whole GPL text, which lintian refuses in a copyright file).
file(COPY_FILE ${SRC}/copyright ${_doc}/copyright)
# automap's changelog (gzip -9n, made by the amap_changelog target): one source, two packages.
if(NOT EXISTS ${BUILD}/package/changelog.gz)
  message(FATAL_ERROR "package_deb.cmake: ${BUILD}/package/changelog.gz missing "
                      "(cmake --build ${BUILD} --target amap_changelog)")
endif()
file(COPY_FILE ${BUILD}/package/changelog.gz ${_doc}/changelog.gz)
file(COPY_FILE ${SRC}/../../conf/pdns.d/automap-module.conf ${_doc}/examples/automap-module.conf)
file(COPY_FILE ${SRC}/README.md ${_doc}/README.md)

# Shared-library dependencies (yaml-cpp, lmdb, libstdc++...): dpkg-shlibdeps wants a
# debian/control beside it. The pdns_server symbols the module uses are not in any library:
# the exact pdns-server dependency covers them.
set(_shl ${OUT}/${_name}-shlibdeps)
file(REMOVE_RECURSE ${_shl})
file(WRITE ${_shl}/debian/control "Source: ${_name}\n\nPackage: ${_name}\nArchitecture: any\n")
execute_process(COMMAND dpkg-shlibdeps -O --warnings=0 -e ${_so} WORKING_DIRECTORY ${_shl}
                OUTPUT_VARIABLE _deps OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET
                COMMAND_ERROR_IS_FATAL ANY)
string(REGEX REPLACE "^shlibs:Depends=" "" _deps "${_deps}")
file(REMOVE_RECURSE ${_shl})
execute_process(COMMAND dpkg --print-architecture OUTPUT_VARIABLE _arch
                OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
file(SIZE ${_so} _bytes)
math(EXPR _kib "(${_bytes} + 1023) / 1024")
# DEBIAN/md5sums, as dh_md5sums writes it (dpkg --verify uses it).
file(GLOB_RECURSE _files RELATIVE ${_stage} ${_stage}/usr/*)
list(SORT _files)
set(_sums "")
foreach(_f ${_files})
  file(MD5 ${_stage}/${_f} _md5)
  string(APPEND _sums "${_md5}  ${_f}\n")
endforeach()
file(WRITE ${_stage}/DEBIAN/md5sums "${_sums}")
file(WRITE ${_stage}/DEBIAN/control
"Package: ${_name}
Source: automap
Version: ${VERSION}
Architecture: ${_arch}
Maintainer: automap maintainers <maintainers@automap.example>
Installed-Size: ${_kib}
Depends: ${_deps}, pdns-server (= ${PDNS_VERSION})
Section: net
Priority: optional
Homepage: https://github.com/automap/automap
Description: automap as an in-process PowerDNS backend module
 libautomapbackend.so (launch=automap, automap-config=) answers PTR, A and AAAA
 for whole prefixes inside pdns_server, from the same engine and LMDB override
 store as automapd. Built for exactly this pdns-server version.
")
set(_deb ${OUT}/${_name}_${VERSION}_${_arch}.deb)
execute_process(COMMAND dpkg-deb --root-owner-group --build ${_stage} ${_deb} OUTPUT_QUIET
                COMMAND_ERROR_IS_FATAL ANY)
file(REMOVE_RECURSE ${_stage})
message(STATUS "Built ${_deb}")
