# OMENN over a pruning-family CNN (Explainer::fromCnn): exactness on dense and pruned models.
pqw_add_test(test_cnn_explain SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cnn_explain.cpp TORCH TIMEOUT 120)
