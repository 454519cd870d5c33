# Issue 13: the funnybirds dataset and the part-based evaluation (no torch needed).
pqw_add_test(test_funnybirds SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_funnybirds.cpp LIBS opencv_imgcodecs TIMEOUT 120)
# pqw end to end on a tiny funnybirds set (extraction at 32 px, a short training, the evaluation).
pqw_add_test(test_funnybirds_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_funnybirds_cli.cpp TIMEOUT 300)
add_dependencies(test_funnybirds_cli pqw)
