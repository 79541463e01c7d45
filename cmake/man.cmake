# Man pages (doc/README.md): built with scdoc into <build>/man and installed gzipped.
include(GNUInstallDirs)
# The section is the file's second suffix (automapd.8.scd: section 8). Without scdoc they are
# left out with a warning, and docs_man_completion and package_deb fail.
find_program(AMAP_SCDOC scdoc)
file(GLOB _man_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/../doc/*.scd)
set(_man_outputs)
if(AMAP_SCDOC)
  foreach(_src ${_man_sources})
    get_filename_component(_page ${_src} NAME_WLE)  # automapd.8
    string(REGEX REPLACE "^.*\\.([1-8])$" "\\1" _section ${_page})
    set(_out ${CMAKE_BINARY_DIR}/man/${_page})
    add_custom_command(
      OUTPUT ${_out} ${_out}.gz
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
      COMMAND sh -c "'${AMAP_SCDOC}' < '${_src}' > '${_out}' && gzip -9nc '${_out}' > '${_out}.gz'"
      DEPENDS ${_src} VERBATIM)
    list(APPEND _man_outputs ${_out})
    install(FILES ${_out}.gz DESTINATION ${CMAKE_INSTALL_FULL_MANDIR}/man${_section})
  endforeach()
  add_custom_target(amap_man ALL DEPENDS ${_man_outputs})
elseif(_man_sources)
  message(WARNING "scdoc not found: the man pages are not built (apt install scdoc)")
endif()

