# Issue 13: the funnybirds dataset and the part-based evaluation (no torch needed).
pqw_add_test(test_funnybirds SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_funnybirds.cpp LIBS opencv_imgcodecs TIMEOUT 120)
