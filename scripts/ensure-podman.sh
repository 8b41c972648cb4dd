#!/bin/sh
# Installs what the container runtime needs (docs/containers.md): podman, runc
# (crun fails on hybrid cgroup layouts), catatonit (podman run --init) and
# busybox-static (the test image's shell and tools). Idempotent: exits at once
# when everything is there. Cannot install: fails under CI=true (the container
# tests must not silently skip there), otherwise warns and exits 0.
set -u

missing() {
  for tool in podman runc busybox; do command -v "$tool" >/dev/null 2>&1 || return 0; done
  # podman looks for the init binary here (containers.conf init_path).
  [ -x /usr/libexec/podman/catatonit ] || command -v catatonit >/dev/null 2>&1 || return 0
  return 1
}

missing || exit 0

give_up() {
  if [ "${CI:-}" = "true" ]; then
    echo "ensure-podman: $1; the container runtime tests need podman (CI=true)" >&2
    exit 1
  fi
  echo "ensure-podman: warning: $1; container runtime tests will be skipped" >&2
  exit 0
}

[ "$(id -u)" = 0 ] || give_up "podman is missing and installing it needs root"
command -v apt-get >/dev/null 2>&1 || give_up "podman is missing and there is no apt-get to install it"

echo "ensure-podman: installing podman, runc, catatonit, busybox-static" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2 || give_up "apt-get update failed"
apt-get install -y -qq --no-install-recommends podman runc uidmap slirp4netns fuse-overlayfs catatonit busybox-static >&2 \
  || give_up "apt-get install failed"
missing && give_up "podman, runc, catatonit or busybox still missing after apt-get install"
exit 0
