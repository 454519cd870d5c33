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

# Issue 14 through the pqw binary: --script on every family, --npy read back by NumPy, the
# user's preprocessing (--mean --std --resize --crop) against torchvision's transforms.
set(PQW_SCRIPT_CLI_DIR ${CMAKE_BINARY_DIR}/fixtures/script_cli)
add_custom_command(OUTPUT ${PQW_SCRIPT_CLI_DIR}/preprocess.json
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/fixtures/gen_script_cli.py ${PQW_SCRIPT_CLI_DIR}
  DEPENDS ${CMAKE_CURRENT_LIST_DIR}/fixtures/gen_script_cli.py
  COMMENT "Generating torchvision preprocessing references with PyTorch"
  VERBATIM)
add_custom_target(script_cli_fixtures DEPENDS ${PQW_SCRIPT_CLI_DIR}/preprocess.json)
pqw_add_test(test_script_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_script_cli.cpp TIMEOUT 300)
add_dependencies(test_script_cli omenn_family_fixtures script_cli_fixtures pth_fixtures pqw)
set_property(TEST test_script_cli APPEND PROPERTY ENVIRONMENT
  "PQW_FAMILY_DIR=${PQW_FAMILY_DIR};PQW_SCRIPT_CLI_DIR=${PQW_SCRIPT_CLI_DIR};PQW_PTH_FIXTURES=${CMAKE_CURRENT_BINARY_DIR}/pth_fixtures")
