#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer's coverage instrumentation on the stable toolchain
# (README.md says why these flags) and runs each for FUZZ_SECONDS from its seed corpus.
# Usage: fuzz/run.sh [target ...]   (default: every target in Cargo.toml and python/)
# New inputs go to fuzz/artifacts/corpus/<target>, crashes to fuzz/artifacts/<target>/.
set -euo pipefail
# PYTHON: the interpreter whose environment has pywebsocket3 (default: the repository's .venv).
PYTHON=${PYTHON:-$(dirname "$0")/../.venv/bin/python}
# Absolute, but not through realpath: a venv's python is a symlink to the base interpreter.
if [[ $PYTHON == */* ]]; then PYTHON=$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON"); fi
cd "$(dirname "$0")"
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
triple=$(rustc -vV | sed -n 's/^host: //p')

# Coverage counters and comparison tracing for libFuzzer: all stable rustc flags. Only
# -Zsanitizer needs nightly, so there is no AddressSanitizer here (safe Rust needs it little).
# --target keeps the flags off build scripts, which would not link without libFuzzer.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions \
-Coverflow-checks"

rust_targets=$(sed -n 's/^name = "\([a-z0-9_]*\)"$/\1/p' Cargo.toml)
python_targets=$(for file in python/*.py; do if [ -f "$file" ]; then basename "$file" .py; fi; done)
targets=${*:-$rust_targets $python_targets}

for target in $targets; do
    if [ ! -f "python/$target.py" ]; then
        # Not --locked: a dependency added to the main crate must not break the fuzz build.
        cargo build --release --target "$triple" --bins
        break
    fi
done

# The Python targets run under atheris in a venv of its own (tests/.cache is not committed),
# importing pywebsocket3 from $PYTHON's environment, where `make install` or CI put it.
ATHERIS_VENV=${ATHERIS_VENV:-../tests/.cache/atheris-venv}
for target in $targets; do
    if [ -f "python/$target.py" ]; then
        if ! "$ATHERIS_VENV/bin/python" -c 'import atheris' 2>/dev/null; then
            "$PYTHON" -m venv --clear "$ATHERIS_VENV"
            "$ATHERIS_VENV/bin/pip" install -q --disable-pip-version-check atheris
        fi
        PYWEBSOCKET_SITE=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
        export PYWEBSOCKET_SITE
        break
    fi
done

failed=()
for target in $targets; do
    corpus=artifacts/corpus/$target
    mkdir -p "$corpus" "artifacts/$target" "corpus/$target"
    printf '\n=== fuzz %s for %ss\n' "$target" "$FUZZ_SECONDS"
    if [ -f "python/$target.py" ]; then
        runner=("$ATHERIS_VENV/bin/python" "python/$target.py")
    else
        runner=("$CARGO_TARGET_DIR/$triple/release/$target")
    fi
    if ! "${runner[@]}" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/" "$corpus" "corpus/$target" \
        >"artifacts/$target.log" 2>&1; then
        failed+=("$target")
        tail -n 40 "artifacts/$target.log"
    fi
    grep -E '^#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::average_exec_per_sec' \
        "artifacts/$target.log" || true
done
if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzz targets that failed: ${failed[*]} (inputs in fuzz/artifacts/<target>/)" >&2
    exit 1
fi
echo "every fuzz target ran ${FUZZ_SECONDS}s without a failure"
