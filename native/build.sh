#!/bin/bash
# Builds the native helper into dist/native (native/Makefile); part of `npm run build`.
# Without a C compiler the TypeScript still builds: the helper's steps then say it is missing.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v cc >/dev/null || ! command -v make >/dev/null; then
  echo "warning: no C compiler or make here: the native helper (VFIO, iommufd, LUO ioctls) is not built." >&2
  echo "         apt-get install gcc libc6-dev make, then npm run build" >&2
  exit 0
fi
make -s OUT=../dist/native
