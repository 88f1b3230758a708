#!/usr/bin/env bash
# Builds SeaweedFS's weed (the S3 server the upload tests start) once and
# caches it in ~/.cache/camrec/bin/weed. `go install …@version` refuses the
# module (its go.mod has replace directives), so: download the module from
# the Go module proxy, copy it out of the module cache and build it there.
# Minutes on 2 cores; nothing happens when the binary is already there.
set -euo pipefail
VERSION=v0.0.0-20261109003541-7506e5f91cd6
BIN="${CAMREC_WEED:-$HOME/.cache/camrec/bin/weed}"
[ -x "$BIN" ] && exit 0
GO="${GO:-go}"
src="$HOME/.cache/camrec/src/seaweedfs-$VERSION"
if [ ! -f "$src/go.mod" ]; then
  dir=$(cd /tmp && "$GO" mod download -json "github.com/seaweedfs/seaweedfs@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || { echo "build-weed: module download failed" >&2; exit 1; }
  rm -rf "$src.tmp" && mkdir -p "$(dirname "$src")"
  cp -r "$dir" "$src.tmp" && chmod -R u+w "$src.tmp" && mv "$src.tmp" "$src"
fi
mkdir -p "$(dirname "$BIN")"
echo "build-weed: building SeaweedFS $VERSION into $BIN (a few minutes)" >&2
(cd "$src" && CGO_ENABLED=0 "$GO" build -o "$BIN.tmp" ./weed) && mv "$BIN.tmp" "$BIN"
