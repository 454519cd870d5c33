# Datasets and preprocessing (no torch needed).
find_package(ZLIB REQUIRED)
pqw_add_test(test_dataset SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_dataset.cpp LIBS ZLIB::ZLIB opencv_imgcodecs TIMEOUT 120)
pqw_add_test(test_preprocess SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_preprocess.cpp TIMEOUT 60)
# The test classes use Q_OBJECT (pqw_add_test does not turn AUTOMOC on).
set_target_properties(test_dataset test_preprocess PROPERTIES AUTOMOC ON)
