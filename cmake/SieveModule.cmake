# sieve_module(NAME DEPS...): a static library from every .cpp in the current folder, with the
# project's warnings. A folder with no sources yet becomes an interface library.
function(sieve_module name)
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  if(sources)
    add_library(${name} STATIC ${sources})
    target_link_libraries(${name} PUBLIC ${ARGN} PRIVATE sieve_warnings)
  else()
    add_library(${name} INTERFACE)
    target_link_libraries(${name} INTERFACE ${ARGN})
  endif()
endfunction()

# sieve_test_dir(NAME LIBS...): one GoogleTest executable test_NAME from every *_test.cpp in the
# current folder, registered with CTest.
function(sieve_test_dir name)
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cpp)
  # A folder may keep some tests for an executable of its own (tests/models: test_hub).
  if(SIEVE_TEST_EXCLUDE_REGEX)
    list(FILTER sources EXCLUDE REGEX "${SIEVE_TEST_EXCLUDE_REGEX}")
  endif()
  if(NOT sources)
    return()
  endif()
  add_executable(test_${name} ${sources})
  target_link_libraries(test_${name} PRIVATE ${ARGN} sieve_warnings GTest::gtest GTest::gtest_main
                                             GTest::gmock)
  # Helpers shared by several test folders: #include "support/<name>.h".
  target_include_directories(test_${name} PRIVATE ${SIEVE_SOURCE_DIR}/tests)
  target_compile_definitions(test_${name} PRIVATE
    SIEVE_SOURCE_DIR="${SIEVE_SOURCE_DIR}"
    SIEVE_SHARED_DIR="${SIEVE_SHARED_DIR}"
    SIEVE_BINARY="${CMAKE_BINARY_DIR}/sieve")
  gtest_discover_tests(test_${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS ${name})
endfunction()
