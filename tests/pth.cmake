# PyTorch checkpoints (.pth): the restricted reader, native torchvision ConvNeXt / ResNet,
# ProtoQuant import. The fixtures are written at build time by a committed generator run with
# Debian's python3-torch / python3-torchvision (/usr/bin/python3), into the build tree.
set(PQW_PTH_FIXTURES ${CMAKE_CURRENT_BINARY_DIR}/pth_fixtures)
set(PQW_PTH_GEN ${CMAKE_CURRENT_LIST_DIR}/fixtures/gen_pytorch_checkpoints.py)
add_custom_command(
  OUTPUT ${PQW_PTH_FIXTURES}/manifest.json
  COMMAND /usr/bin/python3 ${PQW_PTH_GEN} ${PQW_PTH_FIXTURES}
  DEPENDS ${PQW_PTH_GEN}
  COMMENT "PyTorch writes the .pth fixtures"
  VERBATIM)
add_custom_target(pth_fixtures ALL DEPENDS ${PQW_PTH_FIXTURES}/manifest.json)

pqw_add_test(test_pth SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pth.cpp TORCH)
add_dependencies(test_pth pth_fixtures pqw)
set_tests_properties(test_pth PROPERTIES ENVIRONMENT "${PQW_TEST_ENV};PQW_PTH_FIXTURES=${PQW_PTH_FIXTURES}")

# The official pruning benchmark's Hydra multirun folders in `pqw sweep-report`.
pqw_add_test(test_pruning_benchmark SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pruning_benchmark.cpp
             LIBS core_internal)
add_dependencies(test_pruning_benchmark pqw)

# "Import a ProtoQuant checkpoint..." in the window (offscreen).
if(TARGET widgets)
  pqw_add_test(test_import_gui SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_import_gui.cpp LIBS widgets TIMEOUT 300 LABELS gui)
  add_dependencies(test_import_gui pth_fixtures)
  set_tests_properties(test_import_gui PROPERTIES ENVIRONMENT
    "${PQW_TEST_ENV};PQW_PTH_FIXTURES=${PQW_PTH_FIXTURES};PQW_SCREENSHOT_DIR=${CMAKE_CURRENT_BINARY_DIR}")
endif()
