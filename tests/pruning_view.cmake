# The Pruning view (offscreen): preview, results model, a tiny sweep live / reopened /
# resumed, the dense-vs-pruned comparison, state round trip.
if(TARGET widgets)
  find_package(Qt6 REQUIRED COMPONENTS Test)
  pqw_add_test(test_pruning_view SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pruning_view.cpp LIBS widgets TIMEOUT 300 LABELS gui)
endif()
