# Chooses the POSIX device's wasm runtime: WAMR built from source when WAMR_ROOT points at a
# wasm-micro-runtime tree (scripts/setup-firmware.sh finds one), else the stand-in.
set(_wb_runtime "${WB_WASM_RUNTIME}")
if(_wb_runtime STREQUAL "auto")
  if(WAMR_ROOT AND EXISTS "${WAMR_ROOT}/build-scripts/runtime_lib.cmake")
    set(_wb_runtime "wamr")
  else()
    set(_wb_runtime "standin")
  endif()
endif()

set(WB_WASM_LIBS "")
set(WB_WASM_INCLUDES "")
if(_wb_runtime STREQUAL "wamr")
  if(NOT EXISTS "${WAMR_ROOT}/build-scripts/runtime_lib.cmake")
    message(FATAL_ERROR "WB_WASM_RUNTIME=wamr but WAMR_ROOT (${WAMR_ROOT}) is not a wasm-micro-runtime tree")
  endif()
  message(STATUS "POSIX device wasm runtime: WAMR from ${WAMR_ROOT}")
  set(WAMR_BUILD_PLATFORM "linux")
  set(WAMR_BUILD_TARGET "X86_64")
  set(WAMR_BUILD_INTERP 1)
  set(WAMR_BUILD_FAST_INTERP 0)
  set(WAMR_BUILD_AOT 0)
  set(WAMR_BUILD_JIT 0)
  set(WAMR_BUILD_LIBC_BUILTIN 1) # this WAMR's loader needs it linked; apps still may import only "wasmbed"
  set(WAMR_BUILD_LIBC_WASI 0)
  set(WAMR_BUILD_MULTI_MODULE 0)
  set(WAMR_BUILD_LIB_PTHREAD 0)
  set(WAMR_BUILD_MINI_LOADER 0)
  set(WAMR_BUILD_SIMD 0)
  set(WAMR_DISABLE_HW_BOUND_CHECK 1) # its SIGSEGV handler would fight AddressSanitizer
  include(${WAMR_ROOT}/build-scripts/runtime_lib.cmake)
  add_library(vmlib STATIC ${WAMR_RUNTIME_LIB_SOURCE})
  # WAMR is third-party code: no -Werror, no sanitizers inside it
  set_target_properties(vmlib PROPERTIES C_EXTENSIONS ON)
  # This WAMR resolves natives only for the built-in module names "env", "wasi_*" and
  # "spectest". Instead of patching its sources, the loader's check is routed to
  # wb_wamr_is_built_in_module (posix/wasm_wamr.c), which also accepts "wasmbed".
  set_source_files_properties(
    ${WAMR_ROOT}/core/iwasm/interpreter/wasm_loader.c
    ${WAMR_ROOT}/core/iwasm/interpreter/wasm_mini_loader.c
    PROPERTIES COMPILE_DEFINITIONS "wasm_runtime_is_built_in_module=wb_wamr_is_built_in_module")
  target_compile_options(vmlib PRIVATE -w -D_GNU_SOURCE)
  # The WAMR glue shared with the Zephyr build (wamr/) and this device's port of it.
  list(APPEND WB_POSIX_SOURCES posix/wasm_wamr.c wamr/natives.c wamr/app.c)
  set(WB_WASM_INCLUDES wamr)
  set(WB_WASM_LIBS vmlib pthread m dl -Wl,-z,noexecstack)
  add_compile_definitions(WB_HAVE_WAMR=1)
else()
  message(STATUS "POSIX device wasm runtime: STAND-IN (validates modules, executes nothing)")
  set(WB_WASM_LIBS pthread)
endif()
set(WB_WASM_RUNTIME_SELECTED "${_wb_runtime}")
