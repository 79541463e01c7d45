# `cmake --install` and the Debian package. The default prefix is /usr, so that
# `cmake --install build/release` (or DESTDIR=... for a staging tree) lays the files out as the
# package does: /usr/sbin/automapd, /usr/bin/mapctl, /etc/automap/automap.yaml, the systemd
# unit, man pages, bash completion and /usr/share/doc/automap.
#
# The package is CPack's DEB generator (`tools/automap-dev deb`, or `cpack -G DEB` in the build
# directory): it packs the very install tree of the release build, so making the .deb rebuilds
# nothing, and it runs dpkg-shlibdeps for the runtime dependencies. A debian/ directory with
# dpkg-buildpackage would build the whole tree a second time in its own directory and need
# debhelper for what these few rules do.
# The release and ci presets set the prefix /usr (so a build tree configured before keeps no
# stale /usr/local); a fresh tree configured without a preset defaults to it too.
if(CMAKE_INSTALL_PREFIX_INITIALIZED_TO_DEFAULT)
  set(CMAKE_INSTALL_PREFIX /usr CACHE PATH "Install prefix" FORCE)
endif()
include(GNUInstallDirs)

set(_pkg ${CMAKE_CURRENT_LIST_DIR}/../conf/package)
# The FULL_ paths: with prefix /usr, GNUInstallDirs puts sysconf in /etc and state in /var.
set(AMAP_UNIT_SBINDIR ${CMAKE_INSTALL_FULL_SBINDIR})
set(AMAP_UNIT_CONFIG ${CMAKE_INSTALL_FULL_SYSCONFDIR}/automap/automap.yaml)
set(AMAP_UNIT_STATEDIR ${CMAKE_INSTALL_FULL_LOCALSTATEDIR}/lib/automap)
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(AMAP_UNIT_DIR /lib/systemd/system)  # Debian 12's systemdsystemunitdir
else()
  set(AMAP_UNIT_DIR ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
configure_file(${_pkg}/automap.service.in ${CMAKE_BINARY_DIR}/package/automap.service @ONLY)
configure_file(${_pkg}/automap-sync.service.in ${CMAKE_BINARY_DIR}/package/automap-sync.service
               @ONLY)
configure_file(${_pkg}/changelog.in ${CMAKE_BINARY_DIR}/package/changelog @ONLY)

install(TARGETS automapd DESTINATION ${CMAKE_INSTALL_FULL_SBINDIR})
install(TARGETS mapctl DESTINATION ${CMAKE_INSTALL_FULL_BINDIR})
install(FILES ${_pkg}/automap.yaml DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/automap)
install(DIRECTORY DESTINATION ${AMAP_UNIT_STATEDIR})
install(FILES ${CMAKE_BINARY_DIR}/package/automap.service
              ${CMAKE_BINARY_DIR}/package/automap-sync.service DESTINATION ${AMAP_UNIT_DIR})
install(FILES ${_pkg}/tmpfiles.conf DESTINATION ${CMAKE_INSTALL_PREFIX}/lib/tmpfiles.d
        RENAME automap.conf)
install(FILES ${_pkg}/bash-completion/automapd ${_pkg}/bash-completion/mapctl
        DESTINATION ${CMAKE_INSTALL_FULL_DATADIR}/bash-completion/completions)

# /usr/share/doc/automap: the README, the PowerDNS snippets, licence and changelog in Debian's
# form (the changelog gzipped with -n, so that the package is reproducible).
set(_doc ${CMAKE_INSTALL_FULL_DATADIR}/doc/automap)
add_custom_command(
  OUTPUT ${CMAKE_BINARY_DIR}/package/changelog.gz
  COMMAND gzip -9nc ${CMAKE_BINARY_DIR}/package/changelog > ${CMAKE_BINARY_DIR}/package/changelog.gz
  DEPENDS ${CMAKE_BINARY_DIR}/package/changelog VERBATIM)
add_custom_target(amap_changelog ALL DEPENDS ${CMAKE_BINARY_DIR}/package/changelog.gz)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/../README.md ${_pkg}/copyright
              ${CMAKE_BINARY_DIR}/package/changelog.gz DESTINATION ${_doc})
# Only the automapd snippet: the hello/whoami ones run example binaries the package lacks.
install(FILES ${CMAKE_CURRENT_LIST_DIR}/../conf/pdns.d/automap.conf DESTINATION ${_doc}/examples/pdns.d)

include(${CMAKE_CURRENT_LIST_DIR}/man.cmake)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME automap)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "automap maintainers <maintainers@automap.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "DNS appliance synthesizing PTR, A and AAAA for large prefixes")
# The long description; CPack puts the summary above it as the synopsis.
set(CPACK_PACKAGE_DESCRIPTION
    "automap answers reverse (PTR) and forward (A, AAAA) queries for whole IPv4
and IPv6 prefixes from hostname templates, with per-address overrides kept
in an LMDB store and edited live with mapctl. It serves DNS over UDP and
TCP itself (automapd serve) or runs as a PowerDNS pipe backend coprocess.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # automap_<version>_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/automap/automap")
# Shared libraries: dpkg-shlibdeps. adduser: the postinst runs it.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${_pkg}/conffiles ${_pkg}/postinst ${_pkg}/prerm
                                       ${_pkg}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
# Absolute destinations (/etc, /lib/systemd) need the DESTDIR mode.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
include(CPack)
