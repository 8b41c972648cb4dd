#!/bin/sh
# Puts promtool (Prometheus' checker; `promtool check metrics` runs on the
# center's /metrics in the tests, testkit/promtool.ts) where the tests find it:
# on PATH, or unpacked from Debian's prometheus package into
# ${XDG_CACHE_HOME:-$HOME/.cache}/gedge/promtool. Unpacked, not installed:
# installing the package would start a Prometheus server on all addresses.
# Idempotent: exits at once when promtool is there. Cannot get it: fails under
# CI=true, otherwise warns and exits 0 (the metrics test then fails loudly).
set -u

dir="${XDG_CACHE_HOME:-$HOME/.cache}/gedge/promtool"
command -v promtool >/dev/null 2>&1 && exit 0
[ -x "$dir/usr/bin/promtool" ] && exit 0

give_up() {
  if [ "${CI:-}" = "true" ]; then
    echo "ensure-promtool: $1; the metrics test needs promtool (CI=true)" >&2
    exit 1
  fi
  echo "ensure-promtool: warning: $1; the metrics test will fail until promtool is there" >&2
  exit 0
}

command -v apt-get >/dev/null 2>&1 || give_up "there is no apt-get to fetch Debian's prometheus package"
command -v dpkg-deb >/dev/null 2>&1 || give_up "there is no dpkg-deb to unpack it"
work=$(mktemp -d) || give_up "mktemp failed"
trap 'rm -rf "$work"' EXIT
echo "ensure-promtool: fetching Debian's prometheus package for promtool" >&2
# apt-get download writes to the current directory, as the _apt user when it can.
chmod 755 "$work"
if ! (cd "$work" && apt-get download -qq prometheus >/dev/null 2>&1); then
  [ "$(id -u)" = 0 ] || give_up "apt-get download prometheus failed, and apt-get update needs root"
  apt-get update -qq >/dev/null 2>&1 || give_up "apt-get update failed"
  (cd "$work" && apt-get download -qq prometheus >/dev/null 2>&1) || give_up "apt-get download prometheus failed"
fi
mkdir -p "$work/root" && dpkg-deb -x "$work"/prometheus_*.deb "$work/root" || give_up "cannot unpack the prometheus package"
mkdir -p "$dir/usr/bin" && cp "$work/root/usr/bin/promtool" "$dir/usr/bin/promtool" || give_up "cannot copy promtool to $dir"
"$dir/usr/bin/promtool" --version >/dev/null 2>&1 || give_up "the unpacked promtool does not run"
exit 0
