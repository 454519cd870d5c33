pqw_add_test(test_protoquant SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_protoquant.cpp TORCH)
