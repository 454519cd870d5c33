# Reliability: the bad-input corpus (tests/data/bad) through core and through pqw, crash
# safety (SIGKILL + resume), cancellation of every job type, resource bounds.
pqw_add_test(test_bad_inputs SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_bad_inputs.cpp TIMEOUT 120 LABELS reliability)
pqw_add_test(test_bad_inputs_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_bad_inputs_cli.cpp TIMEOUT 300 LABELS reliability)
add_dependencies(test_bad_inputs_cli pqw)
