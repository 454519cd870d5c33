# Project files (core, no torch).
pqw_add_test(test_project SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_project.cpp TIMEOUT 60)
