#!/bin/sh
# Builds the Sluice container image from a static sluice binary, pulling
# nothing (the base is scratch):
#
#   deploy/container/build.sh BINARY [TAG]
#
#   BINARY   a linux sluice binary built with CGO_ENABLED=0, e.g. from a
#            release archive or: CGO_ENABLED=0 go build -o sluice ./cmd/sluice
#   TAG      image name, default sluice:dev
#
# The CA bundle comes from $CA_BUNDLE (default /etc/ssl/certs/ca-certificates.crt).
# The builder is $CONTAINER_BUILDER (default podman; docker works too), split
# on spaces so that global flags can be passed.
set -eu
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 BINARY [TAG]" >&2
  exit 2
fi
bin=$1
tag=${2:-sluice:dev}
ca=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
here=$(cd "$(dirname "$0")" && pwd)

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$bin" "$ctx/sluice"
chmod 0755 "$ctx/sluice"
cp "$ca" "$ctx/ca-certificates.crt"
chmod 0644 "$ctx/ca-certificates.crt"
mkdir -m 0700 "$ctx/data"
# shellcheck disable=SC2086 # the builder may carry global flags
${CONTAINER_BUILDER:-podman} build --tag "$tag" --file "$here/Dockerfile" "$ctx"
