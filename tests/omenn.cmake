pqw_add_test(test_omenn SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_omenn.cpp TORCH TIMEOUT 120)
pqw_add_test(test_omenn_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_omenn_cli.cpp TIMEOUT 300)
add_dependencies(test_omenn_cli pqw)
