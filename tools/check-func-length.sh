#!/usr/bin/env bash
# check-func-length: no function outside kernels/ longer than MAX lines (issue 14 item 7).
# A function runs from its signature's first line (a line at column 0 naming it) to the closing
# brace at column 0, both counted; the style of the tree (K&R, bodies indented) makes that exact.
# Prints each offender as file:line: name (N lines) and exits 1 if there is any. Usage:
#   tools/check-func-length.sh [MAX [DIR...]]     (default 80; util engine harness)
set -u
max=${1:-80}; shift || true
cd "$(dirname "$0")/.." || exit 2
[ $# -gt 0 ] || set -- util engine harness
files=$(find "$@" -name '*.[ch]' -not -path '*/kernels/*' | sort)
[ -n "$files" ] || { echo "check-func-length: no C files under $*" >&2; exit 2; }
# shellcheck disable=SC2086
awk -v max="$max" '
FNR == 1 { head = ""; inf = 0 }
inf && /^}/ {
    n = FNR - start + 1
    if (n > max) { printf "%s:%d: %s (%d lines)\n", FILENAME, start, name, n; bad++ }
    inf = 0; next
}
inf { next }
/^[A-Za-z_]/ && !/;[ \t]*$/ { head = $0; hstart = FNR; if (!/\{[ \t]*$/) next }
head != "" && /\{[ \t]*$/ && head ~ /\(/ && head !~ /=/ && head !~ /^(struct|enum|union|typedef)[^(]*\{/ {
    s = head; sub(/\(.*/, "", s); k = split(s, w, /[ \t*]+/); name = w[k]
    inf = 1; start = hstart; head = ""; next
}
/;[ \t]*$/ || /^[ \t]*$/ || /^#/ { head = "" }
END { if (bad) { printf "check-func-length: %d function(s) over %d lines (split them along their steps)\n", bad, max; exit 1 } }
' $files
