# GUI tests (offscreen): item models, the demo driven from a click, undo/redo of a prototype
# switch, event-loop responsiveness during jobs, and the screenshot mode.
if(TARGET widgets)
  find_package(Qt6 REQUIRED COMPONENTS Test)
  pqw_add_test(test_gui SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gui.cpp LIBS widgets TIMEOUT 180 LABELS gui)
  if(TARGET protoquant-workbench)
    add_dependencies(test_gui protoquant-workbench)
  endif()
endif()
# Projects (save, reopen, recovery), export of plots and views, the report from the window,
# undo of view choices, sorting prototypes by stability.
if(TARGET widgets)
  pqw_add_test(test_project_gui SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_project_gui.cpp LIBS widgets Qt6::Svg TIMEOUT 600 LABELS gui)
endif()
# A newcomer's papercuts (issue 18): wheel over unfocused controls, the log following its end,
# the running job on top, asking before replacing unsaved work, Recent and file-dialog folders.
if(TARGET widgets)
  pqw_add_test(test_ux SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ux.cpp LIBS widgets TIMEOUT 120 LABELS gui)
endif()
# Every view at 1280 x 800 and 1920 x 1080 after a tiny demo: no text cut, nothing outside the
# window, no overlapping siblings (PQW_LAYOUT_SHOTS=folder also saves each view as PNG).
if(TARGET widgets)
  pqw_add_test(test_layout SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_layout.cpp LIBS widgets TIMEOUT 300 LABELS gui)
endif()
# The resources layer (resources/): both themes parse and set every palette role they name,
# every icon of the .qrc renders, the report's style sheet is compiled in.
if(TARGET widgets)
  pqw_add_test(test_theme SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_theme.cpp LIBS widgets TIMEOUT 60 LABELS gui)
endif()
