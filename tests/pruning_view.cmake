# The Pruning view (offscreen): preview, results model, a tiny sweep live / reopened /
# resumed, the dense-vs-pruned comparison, state round trip.
if(TARGET widgets)
  find_package(Qt6 REQUIRED COMPONENTS Test)
  pqw_add_test(test_pruning_view SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pruning_view.cpp LIBS widgets TIMEOUT 300 LABELS gui)
endif()
if(TARGET test_pruning_view)
  set_tests_properties(test_pruning_view PROPERTIES ENVIRONMENT "${PQW_TEST_ENV};PQW_SCREENSHOT_DIR=${CMAKE_CURRENT_BINARY_DIR}")
endif()
