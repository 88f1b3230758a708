#!/usr/bin/env bash
# Builds MediaMTX (the media server the restream tests publish to) once and
# caches it in ~/.cache/camrec/bin/mediamtx. The Go module proxy serves the
# exact version but lists none, so `go install …@version` is refused. The
# recipe: download the module, copy it out of the module cache, create the
# two files its `go generate` would fetch from the network (VERSION and the
# HLS player script, left empty: camrec's tests never load the HLS page),
# and build. A few minutes on 2 cores; nothing happens when the binary is
# already there.
set -euo pipefail
VERSION=v1.12.3
BIN="${CAMREC_MEDIAMTX:-$HOME/.cache/camrec/bin/mediamtx}"
[ -x "$BIN" ] && exit 0
GO="${GO:-go}"
src="$HOME/.cache/camrec/src/mediamtx-$VERSION"
if [ ! -f "$src/go.mod" ]; then
  dir=$(cd /tmp && "$GO" mod download -json "github.com/bluenviron/mediamtx@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] || { echo "build-mediamtx: module download failed" >&2; exit 1; }
  rm -rf "$src.tmp" && mkdir -p "$(dirname "$src")"
  cp -r "$dir" "$src.tmp" && chmod -R u+w "$src.tmp"
  echo "$VERSION" > "$src.tmp/internal/core/VERSION"
  : > "$src.tmp/internal/servers/hls/hls.min.js"
  mv "$src.tmp" "$src"
fi
mkdir -p "$(dirname "$BIN")"
echo "build-mediamtx: building MediaMTX $VERSION into $BIN (a few minutes)" >&2
(cd "$src" && CGO_ENABLED=0 "$GO" build -o "$BIN.tmp" .) && mv "$BIN.tmp" "$BIN"
