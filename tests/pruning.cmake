pqw_add_test(test_pruning SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pruning.cpp TORCH TIMEOUT 240)
pqw_add_test(test_pruning_kinds SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pruning_kinds.cpp TORCH TIMEOUT 240)
pqw_add_test(test_pruning_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pruning_cli.cpp TIMEOUT 300)
add_dependencies(test_pruning_cli pqw)
add_dependencies(test_pruning_kinds pqw)
# The sweep rules the window and pqw share (defaults, folder compatibility, finished runs): torch-free.
pqw_add_test(test_sweep_rules SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sweep_rules.cpp TIMEOUT 60)
