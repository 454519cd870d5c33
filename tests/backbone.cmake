# Backbone: the pqw::nn layer library and graph, the TFJS loader, Backbone.
pqw_add_test(test_layers SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_layers.cpp TORCH)
pqw_add_test(test_backbone SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_backbone.cpp TORCH)
set_target_properties(test_layers test_backbone PROPERTIES AUTOMOC ON)
