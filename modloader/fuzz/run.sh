#!/usr/bin/env bash
# Run the modloader fuzz targets for a bounded time: modloader/fuzz/run.sh SECONDS
# (the linker for SECONDS, then the signature verifier for a third of that).
# Installs cargo-fuzz if missing. Needs a nightly toolchain (rustup toolchain install nightly).
# Crashes are written to modloader/fuzz/artifacts/link/; copy them into
# modloader/tests/corpus/ so `cargo test` keeps checking them.
set -euo pipefail
secs="${1:-60}"
here="$(cd "$(dirname "$0")" && pwd)"
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz
fi
cd "$here"
mkdir -p corpus/link
# Seed with valid objects (seeds/) and the regression corpus (malformed objects).
cp -n ../tests/corpus/* seeds/* corpus/link/ 2>/dev/null || true
cargo +nightly fuzz run link corpus/link -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -timeout=10
mkdir -p corpus/signature
# Seed the verifier with real signed modules when the build made them.
cp -n ../../target/modules/*.ko corpus/signature/ 2>/dev/null || true
exec cargo +nightly fuzz run signature corpus/signature -- \
    -max_total_time="$(( secs / 3 > 5 ? secs / 3 : 5 ))" -rss_limit_mb=2048 -max_len=400000 -timeout=10
