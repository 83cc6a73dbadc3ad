#!/usr/bin/env bash
# Fuzzes the file readers with libFuzzer (Swift's -sanitize=fuzzer, with AddressSanitizer).
#
#   bash scripts/fuzz.sh [TARGET ...]      TARGET: npy safetensors png checkpoint (default: all)
#
# Environment: NCA_FUZZ_RUNS inputs per target (default 1000000), NCA_FUZZ_JOBS parallel
# workers per target (default 1). Each target starts from the committed seed corpus in
# Tests/Fuzz/corpus/TARGET and grows a working corpus in .build-fuzz/corpus/TARGET. A crash,
# hang (> 10 s for one input) or allocation over 2 GB stops the run and leaves the input in
# Tests/Fuzz/crashes/TARGET/ — fix the reader, then keep the input there: `swift test` replays
# every file in Tests/Fuzz/crashes and Tests/Fuzz/corpus (FuzzRegressionTests).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(npy safetensors png checkpoint)
runs=${NCA_FUZZ_RUNS:-1000000}

# Only the NCAFuzz product is needed; the benchmark plugin's helper tool does not link with the
# sanitizer flags, which SwiftPM reports but which does not affect NCAFuzz.
swift build -c release --scratch-path .build-fuzz --product NCAFuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DNCA_FUZZING 2>&1 | grep -v -e BenchmarkBoilerplate -e "ld.gold" -e "link command failed" -e "linker command failed" || true
binary=.build-fuzz/release/NCAFuzz
[ -x "$binary" ] || { echo "fuzz: the fuzzer did not build" >&2; exit 1; }

status=0
for target in "${targets[@]}"; do
    case "$target" in npy | safetensors | png | checkpoint) ;; *)
        echo "fuzz: unknown target '$target' (npy, safetensors, png, checkpoint)" >&2
        exit 64
        ;;
    esac
    mkdir -p ".build-fuzz/corpus/$target" "Tests/Fuzz/crashes/$target"
    echo "fuzz: $target, $runs inputs"
    start=$(date +%s)
    if NCA_FUZZ_TARGET=$target "$binary" -runs="$runs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=2048 -print_final_stats=1 -artifact_prefix="Tests/Fuzz/crashes/$target/" \
        ".build-fuzz/corpus/$target" "Tests/Fuzz/corpus/$target" >".build-fuzz/$target.log" 2>&1; then
        echo "fuzz: $target: $(grep -o 'stat::number_of_executed_units: *[0-9]*' ".build-fuzz/$target.log" | grep -o '[0-9]*$') inputs, no crash ($(($(date +%s) - start)) s)"
    else
        echo "fuzz: $target FAILED; see .build-fuzz/$target.log and Tests/Fuzz/crashes/$target/" >&2
        tail -30 ".build-fuzz/$target.log" >&2
        status=1
    fi
done
exit $status
