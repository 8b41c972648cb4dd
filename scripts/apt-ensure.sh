# Sourced by ensure-chromium.sh and ensure-fashion-mnist.sh: installing
# Debian packages the tests need, the same way for each. The caller sets
#   name   its own name, for messages (ensure-chromium)
#   need   what is missing, for messages
#   needs  what needs it, under CI=true ("the browser tests need it")
#   later  what happens otherwise ("the browser tests will fail until it is installed")
# Cannot install: fails under CI=true (CI stops here, naming the missing
# package, rather than in a test), otherwise warns and exits 0.

give_up() {
  if [ "${CI:-}" = "true" ]; then
    echo "$name: missing $need: $1; $needs (CI=true)" >&2
    exit 1
  fi
  echo "$name: warning: missing $need: $1; $later" >&2
  exit 0
}

# apt_ensure PACKAGE...: apt-get install, with one `apt-get update` when the package lists are missing or stale.
apt_ensure() {
  [ "$(id -u)" = 0 ] || give_up "installing it needs root"
  command -v apt-get >/dev/null 2>&1 || give_up "there is no apt-get to install it"
  echo "$name: installing $need" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt_log=$(mktemp) || give_up "mktemp failed"
  trap 'rm -f "$apt_log"' EXIT
  if ! apt_install_once "$@"; then
    # Only empty or stale package lists are worth an `apt-get update`; any other
    # failure (held packages, full disk, no network) would fail again the same way.
    grep -Eq 'Unable to locate package|has no installation candidate|Failed to fetch|404 +Not Found' "$apt_log" \
      || give_up "apt-get install failed"
    echo "$name: package lists missing or stale; running apt-get update" >&2
    apt-get update -qq >&2 || give_up "apt-get update failed"
    apt_install_once "$@" || give_up "apt-get install failed after apt-get update"
  fi
}

apt_install_once() {
  apt-get install -y -qq --no-install-recommends "$@" >"$apt_log" 2>&1
  status=$?
  cat "$apt_log" >&2
  return $status
}
