pqw_add_test(test_pruning SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pruning.cpp TORCH TIMEOUT 240)
