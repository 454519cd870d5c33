# Reliability: the bad-input corpus (tests/data/bad) through core and through pqw, crash
# safety (SIGKILL + resume), cancellation of every job type, resource bounds.
pqw_add_test(test_bad_inputs SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_bad_inputs.cpp TIMEOUT 120 LABELS reliability)
# Torch-free internal helpers (fs_util.h: temp clean-up, folder lock; json_util.h: bounded parse).
target_include_directories(test_bad_inputs PRIVATE ${PROJECT_SOURCE_DIR}/core/src)
pqw_add_test(test_bad_inputs_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_bad_inputs_cli.cpp TIMEOUT 300 LABELS reliability)
add_dependencies(test_bad_inputs_cli pqw)
pqw_add_test(test_cancellation SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cancellation.cpp TORCH TIMEOUT 300 LABELS reliability)
pqw_add_test(test_crash_safety SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_crash_safety.cpp TIMEOUT 900 LABELS reliability)
add_dependencies(test_crash_safety pqw)
# Each function runs pqw several times; on a loaded machine that can pass Qt Test's 5 min default.
set_property(TEST test_crash_safety APPEND PROPERTY ENVIRONMENT "QTEST_FUNCTION_TIMEOUT=900000")
if(TARGET widgets)
  pqw_add_test(test_resources SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_resources.cpp LIBS widgets TIMEOUT 600 LABELS "reliability;gui")
  add_dependencies(test_resources pqw)
  set_property(TEST test_resources APPEND PROPERTY ENVIRONMENT "QTEST_FUNCTION_TIMEOUT=900000")
endif()
# A gzip file written by the test (bounded chunked reading of compressed IDX data).
find_package(ZLIB REQUIRED)
target_link_libraries(test_bad_inputs PRIVATE ZLIB::ZLIB)
