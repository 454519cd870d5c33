# Reliability: the bad-input corpus (tests/data/bad) through core and through pqw, crash
# safety (SIGKILL + resume), cancellation of every job type, resource bounds.
pqw_add_test(test_bad_inputs SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_bad_inputs.cpp TIMEOUT 120 LABELS reliability)
pqw_add_test(test_bad_inputs_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_bad_inputs_cli.cpp TIMEOUT 300 LABELS reliability)
add_dependencies(test_bad_inputs_cli pqw)
pqw_add_test(test_cancellation SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cancellation.cpp TORCH TIMEOUT 300 LABELS reliability)
pqw_add_test(test_crash_safety SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_crash_safety.cpp TIMEOUT 600 LABELS reliability)
add_dependencies(test_crash_safety pqw)
if(TARGET widgets)
  pqw_add_test(test_resources SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_resources.cpp LIBS widgets TIMEOUT 600 LABELS "reliability;gui")
  add_dependencies(test_resources pqw)
endif()
