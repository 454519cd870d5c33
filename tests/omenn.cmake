pqw_add_test(test_omenn SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_omenn.cpp TORCH TIMEOUT 120)
pqw_add_test(test_omenn_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_omenn_cli.cpp TIMEOUT 300)
add_dependencies(test_omenn_cli pqw)

# Issue 14: OMENN on the model families (TorchScript from torchvision), checked against
# PyTorch. The fixtures are generated at build time by Debian's python3-torch/torchvision.
set(PQW_FAMILY_DIR ${CMAKE_BINARY_DIR}/fixtures/families)
add_custom_command(OUTPUT ${PQW_FAMILY_DIR}/families.txt
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/fixtures/gen_torchscript_families.py ${PQW_FAMILY_DIR}
  DEPENDS ${CMAKE_CURRENT_LIST_DIR}/fixtures/gen_torchscript_families.py
  COMMENT "Generating TorchScript model-family fixtures with PyTorch"
  VERBATIM)
add_custom_target(omenn_family_fixtures DEPENDS ${PQW_FAMILY_DIR}/families.txt)
pqw_add_test(test_omenn_families SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_omenn_families.cpp TORCH TIMEOUT 300)
add_dependencies(test_omenn_families omenn_family_fixtures)
set_property(TEST test_omenn_families APPEND PROPERTY ENVIRONMENT "PQW_FAMILY_DIR=${PQW_FAMILY_DIR}")
