#!/bin/sh
# Installs what the browser tests need (testkit/browser.ts): Debian's chromium,
# driven by playwright-core (never `playwright install`: it downloads its own
# builds), and fonts-noto-cjk, without which the dashboard's Korean labels
# render as tofu. Idempotent: exits at once when everything is there. Cannot
# install: fails under CI=true (CI stops here, naming the missing package,
# rather than in a browser test), otherwise warns and exits 0; the browser tests
# then fail loudly themselves.
set -u

missing() {
  out=""
  [ -x /usr/bin/chromium ] || out="chromium"
  dpkg -s fonts-noto-cjk >/dev/null 2>&1 || out="${out:+$out, }fonts-noto-cjk"
  echo "$out"
}

need=$(missing)
[ -z "$need" ] && exit 0

give_up() {
  if [ "${CI:-}" = "true" ]; then
    echo "ensure-chromium: missing $need: $1; the browser tests need it (CI=true)" >&2
    exit 1
  fi
  echo "ensure-chromium: warning: missing $need: $1; the browser tests will fail until it is installed" >&2
  exit 0
}

[ "$(id -u)" = 0 ] || give_up "installing it needs root"
command -v apt-get >/dev/null 2>&1 || give_up "there is no apt-get to install it"

echo "ensure-chromium: installing $need" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp) || give_up "mktemp failed"
trap 'rm -f "$log"' EXIT

apt_install() {
  apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >"$log" 2>&1
  status=$?
  cat "$log" >&2
  return $status
}

if ! apt_install; then
  # Only empty or stale package lists are worth an `apt-get update`; any other
  # failure (held packages, full disk, no network) would fail again the same way.
  grep -Eq 'Unable to locate package|has no installation candidate|Failed to fetch|404 +Not Found' "$log" \
    || give_up "apt-get install failed"
  echo "ensure-chromium: package lists missing or stale; running apt-get update" >&2
  apt-get update -qq >&2 || give_up "apt-get update failed"
  apt_install || give_up "apt-get install failed after apt-get update"
fi

need=$(missing)
[ -n "$need" ] && give_up "still missing after apt-get install"
exit 0
