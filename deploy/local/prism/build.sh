#!/usr/bin/env bash
# Build Beam's Prism runner (the local runner) from the Go module proxy, with newsflow's patches.
#
#   deploy/local/prism/build.sh VERSION OUTPUT
#
# Beam's DirectRunner would download Prism from GitHub releases, which not every network reaches;
# the Go module proxy is reached through GOPROXY like any Go dependency. The module's source is
# copied out of the read-only module cache, every *.patch beside this script is applied (each
# names the upstream problem it works around), and cmd/prism is built into OUTPUT.
set -euo pipefail

log() { echo "prism/build.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $# -eq 2 ]] || die "usage: $0 VERSION OUTPUT"
version="$1"
output="$(realpath -m "$2")"
here="$(cd "$(dirname "$0")" && pwd)"
module="github.com/apache/beam/sdks/v2@v$version"

command -v go >/dev/null || die "need Go to build the Prism runner"
work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

log "fetching $module through the Go module proxy"
source_dir="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "$module" \
    | sed -n 's/.*"Dir": "\(.*\)",/\1/p')"
[[ -d "$source_dir" ]] || die "go mod download gave no source directory for $module"
cp -r "$source_dir" "$work/beam"
chmod -R u+w "$work/beam"

for patch_file in "$here"/*.patch; do
    log "applying $(basename "$patch_file")"
    patch --quiet --forward -p1 -d "$work/beam" <"$patch_file" \
        || die "$(basename "$patch_file") does not apply to Beam $version"
done

log "building cmd/prism (first time only, a few minutes)"
mkdir -p "$(dirname "$output")"
(cd "$work/beam" && GOFLAGS=-mod=mod go build -o "$output" ./go/cmd/prism)
log "built $output"
