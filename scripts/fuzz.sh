#!/usr/bin/env bash
# libFuzzer over the public C API (Tests/fuzz/fuzz_*.c): gguf, safetensors, tokenizer, chat, kernels.
#   scripts/fuzz.sh [SECONDS] [TARGET...]   run each target for SECONDS (default 60) from its seed corpus
#   scripts/fuzz.sh --replay                run the seed corpora and every regression input once
#   scripts/fuzz.sh --build                 only build the instrumented library (scripts/sanitize.sh uses it)
# The library is built with AddressSanitizer, coverage instrumentation and checked arithmetic
# (BITTERN_CHECKED=1) into .build/fuzz; harnesses add UndefinedBehaviorSanitizer. New corpus entries go
# to build/fuzz/corpus/<target> (the committed seeds stay as they are); a crash is saved in build/fuzz/
# as crash-<target>-* and fails the run: copy it to Tests/fuzz/regressions/<target>/ once fixed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="/opt/swift/usr/bin:$PATH"
targets_all=(gguf safetensors tokenizer chat kernels)

seconds=60 replay=0 build_only=0
case "${1:-}" in
    --replay) replay=1; shift ;;
    --build) build_only=1; shift ;;
    "") ;;
    *) seconds=$1; shift ;;
esac
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${targets_all[@]}")

# The instrumented library (ASan + edge/compare coverage, checked arithmetic, debug info).
mkdir -p build/fuzz
echo "== building libbittern with ASan and coverage (.build/fuzz)"
flags=(-Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp -Xswiftc -g
       -Xcc -fsanitize=address -Xcc -fsanitize-coverage=inline-8bit-counters,pc-table,trace-cmp -Xcc -g)
# SwiftPM does not rebuild objects when only -X flags change: start over when they do.
[ "$(cat .build/fuzz/flags 2>/dev/null)" = "${flags[*]}" ] || rm -rf .build/fuzz
BITTERN_CHECKED=1 swift build -c release --build-path .build/fuzz --product bittern "${flags[@]}" \
    >build/fuzz/build.log 2>&1 || { tail -30 build/fuzz/build.log; exit 1; }
echo "${flags[*]}" >.build/fuzz/flags
lib=.build/fuzz/release
ln -sf libbittern.so "$lib/libbittern.so.0"   # the soname the harnesses look up
swiftlib=/opt/swift/usr/lib/swift/linux
[ "$build_only" = 0 ] || exit 0
for t in "${targets[@]}"; do
    clang -g -O1 -std=c11 -Wall -Werror -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -fuse-ld=lld -Iinclude -DFUZZ_TEMPLATE_DIR="\"$root/Tests/fuzz/template\"" \
        "Tests/fuzz/fuzz_$t.c" -o "build/fuzz/fuzz_$t" -L"$lib" -lbittern -lm -Wl,-rpath,"$root/$lib:$swiftlib"
done

# The harnesses carry the ASan runtime (static); the library resolves it from them.
export BITTERN_FUZZ_MODEL="$root/models/bittern-demo.gguf"
export SWIFT_BACKTRACE=enable=no   # ASan reports crashes; Swift's backtracer would race it
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:${UBSAN_OPTIONS:-}"

status=0
for t in "${targets[@]}"; do
    seeds="Tests/fuzz/corpus/$t" regress="Tests/fuzz/regressions/$t"
    if [ "$replay" = 1 ]; then
        files=("$seeds"/*)
        [ -d "$regress" ] && files+=("$regress"/*)
        echo "== fuzz_$t: replaying ${#files[@]} inputs"
        "build/fuzz/fuzz_$t" -runs=1 "${files[@]}" >"build/fuzz/replay_$t.log" 2>&1 \
            || { echo "FAIL: fuzz_$t on a committed input"; tail -40 "build/fuzz/replay_$t.log"; status=1; }
        continue
    fi
    mkdir -p "build/fuzz/corpus/$t"
    echo "== fuzz_$t: $seconds s"
    dirs=("build/fuzz/corpus/$t" "$seeds")
    [ -d "$regress" ] && dirs+=("$regress")
    if "build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=3072 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="build/fuzz/crash-$t-" "${dirs[@]}" >"build/fuzz/$t.log" 2>&1; then
        grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "build/fuzz/$t.log" | tr '\n' ' '
        grep -E "cov: [0-9]+" "build/fuzz/$t.log" | tail -1 | sed -E 's/.*(cov: [0-9]+ ft: [0-9]+ corp: [^ ]+).*/ \1/'
        echo
    else
        echo "FAIL: fuzz_$t found a crash (build/fuzz/$t.log, build/fuzz/crash-$t-*)"
        grep -A25 -E "ERROR|contract broken|runtime error|deadly signal" "build/fuzz/$t.log" | head -40
        status=1
    fi
done
exit $status
