#!/usr/bin/env bash
# The house's own rules (issue 20), for every source file of base/, core/, preload/,
# cfile/, tools/ and symbolize/ (.c, .h, .S):
#   - it opens with its contract: a comment on its first line that names the file (who
#     calls it, from which contexts, what it guards follow; their truth is the reviewer's);
#   - none is over ~600 lines without its reason at its top: past 600 lines, the opening
#     comment says "About N lines" and why (tools/profile.c, core/flusher.c, ...);
#   - tools/report.c is the command only: nothing of the tool but main.c uses a symbol
#     report.c defines (no report.c <-> flame.c cycle; the views' shared helpers are
#     tools/viewutil.c's), read from the objects the build made.
#   - the repository stands alone: no tracked text file names a path outside it (a home
#     or work directory, a Go module cache); the Go-written fixtures are under
#     tests/fixtures/ with where they came from (their README).
#   - every tracked .c and .h file is laid out as .clang-format says (make format-check;
#     a file's deliberate tables are fenced with clang-format off/on).
# One PASS or FAIL line each, naming the offenders; a scan that found nothing fails.
. "$(dirname "$0")/lib.sh"
cd "$TOP" || exit 1

files=$(ls base/*.[chS] core/*.[chS] preload/*.[chS] cfile/*.[chS] tools/*.[chS] symbolize/*.[chS] 2>/dev/null)
if [ "$(printf '%s\n' "$files" | grep -c .)" -lt 50 ]; then
    fail house:scan "found only $(printf '%s\n' "$files" | grep -c .) source files (the scan is broken)"
else
    pass house:scan
fi

bad=""
for f in $files; do
    b=$(basename "$f")
    # the first line opens a comment, and the file's name is in its first three lines
    if ! head -1 "$f" | grep -q '^/\*' || ! head -3 "$f" | grep -qF "$b"; then
        bad="$bad$f;"
    fi
done
check_eq house:every-file-opens-with-its-contract "" "$bad"

bad="" long=0
for f in $files; do
    n=$(wc -l <"$f")
    [ "$n" -gt 600 ] || continue
    long=$((long + 1))
    # the opening comment (up to its first "*/") says "About N lines"
    awk '{ print } /\*\// { exit }' "$f" | tr '\n' ' ' | grep -Eq 'About [0-9,]+ lines' ||
        bad="$bad$f ($n lines);"
done
check_eq "house:long-files-say-why ($long over 600 lines)" "" "$bad"

# tools/report.c, the command only
rep="$B/obj/tools/report.o"
if [ ! -f "$rep" ] || ! command -v nm >/dev/null; then
    fail house:report-is-the-command-only "no $rep (or no nm): build first"
else
    defs=$(nm --defined-only "$rep" | awk 'NF == 3 && $2 ~ /[TDBR]/ { print $3 }' | sort -u)
    users=""
    for o in "$B"/obj/tools/*.o "$B"/obj/symbolize/*.o; do
        [ "$o" = "$rep" ] && continue
        u=$(nm -u "$o" | awk '{ print $2 }' | sort -u | comm -12 - <(printf '%s\n' "$defs") | tr '\n' ' ')
        [ -n "$u" ] && users="$users$(basename "$o") uses ${u% };"
    done
    if ! grep -q '^main\.o uses ' <<<"${users//;/$'\n'}"; then
        fail house:report-is-the-command-only "main.o uses nothing of report.o (the scan is broken): $users"
    else
        check_eq house:report-is-the-command-only "" "$(tr ';' '\n' <<<"$users" | grep -v '^main\.o uses ' | grep . | tr '\n' ';')"
    fi
fi

# nothing refers to a path outside the repository (this file's own pattern aside)
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    skip house:no-path-outside-the-repo "not a git checkout (git grep reads the tracked files)"
elif [ "$(git ls-files | grep -c .)" -lt 100 ]; then
    fail house:no-path-outside-the-repo "git ls-files lists almost nothing (the scan is broken)"
else
    check_eq house:no-path-outside-the-repo "" "$(git grep -I -n -E '(/work/|/home/|/root/|~/go/|[$]HOME/go/|/usr/local/go/)' -- . ':!tests/e2e/house.sh' | head -5 | tr '\n' ';')"
fi

# make format-check (what a newcomer's `make format` would change), its offenders named
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    skip house:clang-formatted "not a git checkout (the tracked files are checked)"
elif ! command -v clang-format >/dev/null 2>&1; then
    skip house:clang-formatted "clang-format is not installed (scripts/deps.sh installs it)"
elif [ "$(git ls-files '*.c' '*.h' | grep -c .)" -lt 100 ]; then
    fail house:clang-formatted "git ls-files lists almost no C files (the scan is broken)"
elif out=$(make -s --no-print-directory format-check 2>&1); then
    pass house:clang-formatted
else
    # the target's own check (its file list and flags), its offenders named
    offenders=$(sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' <<<"$out" | sort -u | tr '\n' ' ')
    fail house:clang-formatted "not laid out as .clang-format says (make format): ${offenders:-$(tail -1 <<<"$out")}"
fi
