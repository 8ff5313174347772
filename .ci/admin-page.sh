# Sourced by .ci/run before the tests (or run by hand): what the admin page
# test (tests/admin/page.rs) needs. Installs Debian's Chromium, npm and
# Prometheus' promtool (tests/admin/metrics.rs checks /metrics with it) if
# missing, then installs playwright-core, pinned by
# tests/admin/browser/package-lock.json (no browser is downloaded: the test
# drives /usr/bin/chromium). Idempotent.

_hw_admin_page() {
    local missing=()
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "admin page: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    local dir
    dir="$(dirname "${BASH_SOURCE[0]}")/../tests/admin/browser"
    if [ ! -d "$dir/node_modules/playwright-core" ]; then
        (cd "$dir" && npm ci --no-audit --no-fund --silent)
    fi
}
_hw_admin_page
unset -f _hw_admin_page
