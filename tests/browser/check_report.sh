#!/usr/bin/env bash
# Opens a `scale evaluate` report.html in headless Chromium, saves a screenshot, and checks that
# the rendered DOM holds at least MIN_SVG drawn charts and that the page logged no console errors.
#
#   tests/browser/check_report.sh REPORT_HTML OUT_PNG
#
# Env: CHROMIUM (default /usr/bin/chromium), MIN_SVG (default 3).
# Exit: 0 pass, 1 check failed, 2 usage or missing tool.
set -euo pipefail

fail() {
    echo "browser check FAILED: $*" >&2
    exit 1
}

if [[ $# -ne 2 ]]; then
    echo "usage: $0 REPORT_HTML OUT_PNG" >&2
    exit 2
fi
report=$1
out_png=$2
chromium=${CHROMIUM:-/usr/bin/chromium}
min_svg=${MIN_SVG:-3}

if [[ ! -x $chromium ]]; then
    echo "browser check: $chromium not found; install it (Debian: apt-get install chromium) or set CHROMIUM" >&2
    exit 2
fi
[[ -s $report ]] || fail "report $report does not exist or is empty"
mkdir -p "$(dirname "$out_png")"
rm -f "$out_png"

url="file://$(realpath "$report")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A fresh profile per run, no network side traffic, and console messages logged to stderr.
# $1: file for chromium's stderr; the rest are extra flags and the URL. Stdout passes through.
run_chromium() {
    local err=$1
    shift
    local profile rc=0
    profile=$(mktemp -d -p "$work")
    timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --enable-logging=stderr --v=0 "$@" 2>"$err" || rc=$?
    if ((rc != 0)); then
        tail -n 20 "$err" >&2
        if ((rc == 124)); then
            fail "chromium timed out after 120 s ($*)"
        fi
        fail "chromium exited with status $rc ($*)"
    fi
}

run_chromium "$work/shot.err" --screenshot="$out_png" --window-size=1400,3000 "$url" >/dev/null
[[ -s $out_png ]] || {
    tail -n 20 "$work/shot.err" >&2
    fail "no screenshot written to $out_png"
}
[[ $(head -c 8 "$out_png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] ||
    fail "$out_png is not a PNG"

run_chromium "$work/dom.err" --dump-dom "$url" >"$work/dom.html"
grep -qi '</html>' "$work/dom.html" || {
    tail -n 20 "$work/dom.err" >&2
    fail "chromium dumped no DOM for $url"
}

# Console messages from either run. Chromium logs every console level as INFO:CONSOLE, so error
# level shows only in the text: uncaught exceptions and SVG attribute errors ("Error: <path>
# attribute d: Expected number") both carry "Uncaught" or "Error".
console=$(grep -h 'CONSOLE' "$work/shot.err" "$work/dom.err" || true)
errors=$(grep -Ei 'uncaught|error' <<<"$console" || true)
if [[ -n $errors ]]; then
    echo "$errors" >&2
    fail "the page logged console errors (above)"
fi
if [[ -n $console ]]; then
    echo "note: the page logged console messages (no errors):" >&2
    echo "$console" >&2
fi

# Count <svg> elements whose body holds drawing primitives; an empty <svg> does not count.
total_svg=$(grep -o '<svg' "$work/dom.html" | wc -l)
drawn_svg=$(awk 'BEGIN { RS = "<svg" }
    NR > 1 {
        body = $0
        sub(/<\/svg>.*/, "", body)
        if (body ~ /<(path|polyline|polygon|rect|line)[ \/>]/) n++
    }
    END { print n + 0 }' "$work/dom.html")
if ((drawn_svg < min_svg)); then
    fail "expected at least $min_svg drawn <svg> charts in the rendered DOM, found $drawn_svg (of $total_svg <svg> elements)"
fi

echo "browser check passed: $drawn_svg svg charts (screenshot: $out_png)"
