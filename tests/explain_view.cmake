# The Explain view (offscreen): exact sums shown beside two side-by-side maps on a tiny
# model, an alpha drag as one undo step, the map cache, a bad image file, the view state.
if(TARGET widgets)
  find_package(Qt6 REQUIRED COMPONENTS Test)
  pqw_add_test(test_explain_view SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_explain_view.cpp LIBS widgets TIMEOUT 240 LABELS gui)
endif()
