# Per-prototype stability and the project report on a tiny real pipeline (default backbone,
# Fashion-MNIST subset at 32 px).
pqw_add_test(test_stability SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_stability.cpp LIBS opencv_imgproc TIMEOUT 600)
