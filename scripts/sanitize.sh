#!/usr/bin/env bash
# The C tests against libbittern built with sanitizers and checked arithmetic (BITTERN_CHECKED=1):
#   AddressSanitizer (library and tests) + UndefinedBehaviorSanitizer (tests): test_api (with plugins),
#     test_model, test_text, test_convert, test_concurrency. The library is scripts/fuzz.sh's build.
#   ThreadSanitizer (library and tests): test_concurrency (contexts decoding in parallel on one model,
#     the model freed while they run) and test_text (threads generating).
# The C kernels run under ASan+UBSan in scripts/test.sh already (kernel and float conformance).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="/opt/swift/usr/bin:$PATH"
swiftlib=/opt/swift/usr/lib/swift/linux
export LD_LIBRARY_PATH="$swiftlib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export SWIFT_BACKTRACE=enable=no
export BITTERN_MODEL="$root/models/bittern-demo.gguf"
unset BITTERN_PLUGIN_PATH BITTERN_BACKEND BITTERN_TOPOLOGY
hf=Tests/BitternTests/Fixtures/hf

run_all() {  # DIR: the C tests built there
    local d=$1
    "$d/test_api" "$d/plugins" | tail -1
    "$d/test_model" Tests/BitternTests/Fixtures/tiny_bitnet.gguf | tail -1
    "$d/test_text" Tests/BitternTests/Fixtures/tokenizer "$BITTERN_MODEL" | tail -1
    "$d/test_convert" "$hf" | tail -1
    "$d/test_concurrency" | tail -1
}

echo "== AddressSanitizer + UndefinedBehaviorSanitizer"
scripts/fuzz.sh --build
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
BITTERN_LIBDIR=.build/fuzz/release BITTERN_TEST_OUT=build/asan CC=clang \
    CFLAGS_EXTRA="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fuse-ld=lld" scripts/build_c_tests.sh
run_all build/asan

echo "== ThreadSanitizer"
mkdir -p build/tsan
flags=(-Xswiftc -sanitize=thread -Xswiftc -g -Xcc -fsanitize=thread -Xcc -g)
[ "$(cat .build/tsan/flags 2>/dev/null)" = "${flags[*]}" ] || rm -rf .build/tsan
BITTERN_CHECKED=1 swift build -c release --build-path .build/tsan --product bittern "${flags[@]}" \
    >build/tsan/build.log 2>&1 || { tail -30 build/tsan/build.log; exit 1; }
echo "${flags[*]}" >.build/tsan/flags
ln -sf libbittern.so .build/tsan/release/libbittern.so.0
BITTERN_LIBDIR=.build/tsan/release BITTERN_TEST_OUT=build/tsan CC=clang \
    CFLAGS_EXTRA="-fsanitize=thread -fuse-ld=lld -L$swiftlib -ldispatch -lBlocksRuntime" scripts/build_c_tests.sh
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1${TSAN_SUPPRESSIONS:+:suppressions=$TSAN_SUPPRESSIONS}"
build/tsan/test_concurrency | tail -1
build/tsan/test_text Tests/BitternTests/Fixtures/tokenizer "$BITTERN_MODEL" | tail -1
echo "sanitizers: ok"
