#!/bin/bash
# The lab artefacts, each built or reused, printing one line per artefact with the seconds it took:
#   build-all.sh debian   the Debian lab image (every lab test but the LUO one, and the demo)
# each with QEMU 10 (bookworm-backports) and 11 (trixie-backports) fetched first, for every image
#   build-all.sh luo      the LUO lab kernel, the LUO lab image
#   build-all.sh pkernfs  the pkernfs lab kernel (the RFC on 6.1), the pkernfs lab image
#   build-all.sh          all of them, the long kernel builds first, then the images
# The test command (scripts/test) builds them in the background during its check stage; no test
# timeout ever contains a build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
what=${1:-all}
case "$what" in debian|luo|pkernfs|all) ;; *) echo "usage: build-all.sh [debian|luo|pkernfs]" >&2; exit 64 ;; esac
step() {
  local name=$1; shift
  local t0; t0=$(date +%s)
  "$@"
  echo "[lab-artefacts] $name: $(( $(date +%s) - t0 )) s"
}
want() { [ "$what" = all ] || [ "$what" = "$1" ]; }
if want luo; then step "LUO lab kernel" bash "$here/kernel/build.sh" luo; fi
# every image carries QEMU 10 and 11 beside Debian 12's 7.2 (quick: unpacked Debian packages)
step "QEMU 10" bash "$here/qemu/fetch-qemu10.sh"
step "QEMU 11" bash "$here/qemu/fetch-qemu11.sh"
if want pkernfs; then step "pkernfs lab kernel" bash "$here/kernel/build.sh" pkernfs; fi
if want debian; then step "Debian lab image" bash "$here/image/build.sh" debian; fi
if want luo; then step "LUO lab image" bash "$here/image/build.sh" luo; fi
if want pkernfs; then step "pkernfs lab image" bash "$here/image/build.sh" pkernfs; fi
