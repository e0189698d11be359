# Sourced by the bench scripts: sets BIN to the ziaxdr binary they measure, $ZIAXDR_BIN when
# set, else a release build of this checkout (built now).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "${ZIAXDR_BIN:-}" ]; then BIN=$ZIAXDR_BIN; else
  cargo build --quiet --release -p ziaxdr --manifest-path "$root/Cargo.toml"
  BIN=${CARGO_TARGET_DIR:-$root/target}/release/ziaxdr
fi
