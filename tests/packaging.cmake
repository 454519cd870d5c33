# Packaging: the desktop entry and AppStream metainfo validate, the MIME type, desktop entry,
# metainfo and icons agree, the rendered PNG icons have their sizes, and every executable and
# pqw command answers --help and --version (the GUI without a display). The package itself
# is tested by scripts/package-check (CI): build, install, run from /usr/bin.
if(TARGET protoquant-workbench)
  pqw_add_test(test_packaging SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_packaging.cpp LIBS widgets TIMEOUT 120)
  string(REPLACE ";" "," _pqw_icon_sizes "${PQW_ICON_SIZES}")
  target_compile_definitions(test_packaging PRIVATE
    PQW_PACKAGING_SRC="${CMAKE_SOURCE_DIR}/packaging"
    PQW_PACKAGING_BIN="${CMAKE_BINARY_DIR}/packaging"
    PQW_ICON_SIZES="${_pqw_icon_sizes}")
  add_dependencies(test_packaging pqw protoquant-workbench pqw_package_data)
endif()
