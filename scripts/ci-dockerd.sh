#!/usr/bin/env bash
# Starts dockerd in the background if no engine answers, waits (bounded) for it, and builds the local test
# image swarmhost-test/busybox:latest with `docker import` from busybox-static (no registry is reachable).
set -euo pipefail
sock=/var/run/docker.sock
if ! docker version >/dev/null 2>&1; then
  echo "ci: starting dockerd"
  (dockerd >/tmp/dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do
    docker version >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker version >/dev/null 2>&1 || { echo "ci: dockerd did not answer on $sock within 30 s"; tail -50 /tmp/dockerd.log; exit 1; }
fi
if ! docker image inspect swarmhost-test/busybox:latest >/dev/null 2>&1; then
  dir=$(mktemp -d)
  mkdir -p "$dir/bin" "$dir/tmp"
  cp "$(command -v busybox)" "$dir/bin/busybox"
  for app in sh sleep echo cat ls true false env kill ps wc head tail grep sed printf yes date hostname id; do
    ln -s busybox "$dir/bin/$app"
  done
  tar -C "$dir" -c . | docker import -c 'ENV PATH=/bin' - swarmhost-test/busybox:latest >/dev/null
  rm -rf "$dir"
  echo "ci: built image swarmhost-test/busybox:latest"
fi
