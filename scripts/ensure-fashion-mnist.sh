#!/bin/sh
# Installs Fashion-MNIST (Debian's dataset-fashion-mnist, MIT licence: its idx
# files land in /usr/share/datasets/fashion-mnist), which `gedge model train`,
# the training test and the split-inference benchmark read (ai/fashion-mnist.ts).
# Idempotent: exits at once when the files are there. Cannot install: fails
# under CI=true, otherwise warns and exits 0; the training test then fails
# loudly, naming the package.
set -u

dir=/usr/share/datasets/fashion-mnist
[ -f "$dir/t10k-labels-idx1-ubyte.gz" ] && [ -f "$dir/train-images-idx3-ubyte.gz" ] && exit 0

give_up() {
  if [ "${CI:-}" = "true" ]; then
    echo "ensure-fashion-mnist: missing dataset-fashion-mnist: $1; the training test needs it (CI=true)" >&2
    exit 1
  fi
  echo "ensure-fashion-mnist: warning: missing dataset-fashion-mnist: $1; the training test will fail until it is installed" >&2
  exit 0
}

[ "$(id -u)" = 0 ] || give_up "installing it needs root"
command -v apt-get >/dev/null 2>&1 || give_up "there is no apt-get to install it"

echo "ensure-fashion-mnist: installing dataset-fashion-mnist" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp) || give_up "mktemp failed"
trap 'rm -f "$log"' EXIT

apt_install() {
  apt-get install -y -qq --no-install-recommends dataset-fashion-mnist >"$log" 2>&1
  status=$?
  cat "$log" >&2
  return $status
}

if ! apt_install; then
  # Only empty or stale package lists are worth an `apt-get update`.
  grep -Eq 'Unable to locate package|has no installation candidate|Failed to fetch|404 +Not Found' "$log" \
    || give_up "apt-get install failed"
  echo "ensure-fashion-mnist: package lists missing or stale; running apt-get update" >&2
  apt-get update -qq >&2 || give_up "apt-get update failed"
  apt_install || give_up "apt-get install failed after apt-get update"
fi

[ -f "$dir/t10k-labels-idx1-ubyte.gz" ] || give_up "its files are not in $dir after apt-get install"
exit 0
