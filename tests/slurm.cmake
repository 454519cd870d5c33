# Sweeps (and sharded extraction) on a real Slurm: a private one-node cluster started by
# tests/slurm/cluster.sh as a CTest fixture (FIXTURES_SETUP / FIXTURES_CLEANUP), so it is
# stopped even when a test fails. Ports are picked free at start; the cluster's folder is in
# the build tree, so two build trees never share one.
set(PQW_SLURM_DIR ${CMAKE_BINARY_DIR}/slurm-cluster)
add_test(NAME slurm_cluster_start COMMAND ${CMAKE_CURRENT_LIST_DIR}/slurm/cluster.sh start ${PQW_SLURM_DIR})
set_tests_properties(slurm_cluster_start PROPERTIES FIXTURES_SETUP slurm_cluster TIMEOUT 60 LABELS slurm)
add_test(NAME slurm_cluster_stop COMMAND ${CMAKE_CURRENT_LIST_DIR}/slurm/cluster.sh stop ${PQW_SLURM_DIR})
set_tests_properties(slurm_cluster_stop PROPERTIES FIXTURES_CLEANUP slurm_cluster TIMEOUT 60 LABELS slurm)
pqw_add_test(test_slurm SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_slurm.cpp TIMEOUT 600 LABELS slurm)
add_dependencies(test_slurm pqw)
set_tests_properties(test_slurm PROPERTIES FIXTURES_REQUIRED slurm_cluster RESOURCE_LOCK slurm_cluster)
set_property(TEST test_slurm APPEND PROPERTY ENVIRONMENT "SLURM_CONF=${PQW_SLURM_DIR}/slurm.conf"
                                                         "QTEST_FUNCTION_TIMEOUT=600000")
if(TARGET widgets)
  pqw_add_test(test_slurm_gui SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_slurm_gui.cpp LIBS widgets TIMEOUT 400 LABELS "slurm;gui")
  add_dependencies(test_slurm_gui pqw)
  set_tests_properties(test_slurm_gui PROPERTIES FIXTURES_REQUIRED slurm_cluster RESOURCE_LOCK slurm_cluster)
  set_property(TEST test_slurm_gui APPEND PROPERTY ENVIRONMENT "SLURM_CONF=${PQW_SLURM_DIR}/slurm.conf")
endif()
