pqw_add_test(test_pruning SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pruning.cpp TORCH TIMEOUT 240)
pqw_add_test(test_pruning_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pruning_cli.cpp TIMEOUT 300)
add_dependencies(test_pruning_cli pqw)
