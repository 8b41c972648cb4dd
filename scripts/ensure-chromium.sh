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

name=ensure-chromium
needs="the browser tests need it"
later="the browser tests will fail until it is installed"
. "$(dirname "$0")/apt-ensure.sh"
apt_ensure chromium fonts-noto-cjk

need=$(missing)
[ -n "$need" ] && give_up "still missing after apt-get install"
exit 0
