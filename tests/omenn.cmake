pqw_add_test(test_omenn SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_omenn.cpp TORCH TIMEOUT 120)
