pqw_add_test(test_feature_cache SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_feature_cache.cpp)
pqw_add_test(test_probe SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_probe.cpp TIMEOUT 600)
pqw_add_test(test_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cli.cpp TIMEOUT 600)
add_dependencies(test_cli pqw)
