#!/bin/bash
# Every lab artefact, in order, each built or reused: the LUO lab kernel, QEMU 10 from
# bookworm-backports, the lab image (which carries both). The test command runs this as a stage of
# its own before the lab tests, so no test timeout ever contains a build. Prints one line per
# artefact with the seconds it took.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
step() {
  local what=$1; shift
  local t0; t0=$(date +%s)
  "$@"
  echo "[lab-artefacts] $what: $(( $(date +%s) - t0 )) s"
}
step "LUO lab kernel" bash "$here/kernel/build.sh" luo
step "QEMU 10" bash "$here/qemu/fetch-qemu10.sh"
step "lab image" bash "$here/image/build.sh"
