# tp_add_test(NAME SOURCE...) builds one cmocka test executable from
# tests/NAME.c (plus the shared helper) and registers it with ctest, with a
# timeout so that a hang fails the test instead of the CI run.
function(tp_add_test name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE troupe_static tp_testutil)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT 120
    ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=STDOUT")
endfunction()
