#!/usr/bin/env bash
# The layers point one way (issue 20; docs/ARCHITECTURE.md): preload/ -> core/ -> cfile/
# (the counter file), and the tools (tools/, symbolize/) -> core/, cfile/; base/ (the
# logger, the options, raw system calls, the spin lock, the version) is below them all.
# Checked three ways:
#   - includes: no base/, core/, cfile/, symbolize/ or tools/ file includes a preload/
#     header; no core/ or cfile/ file includes a tools/ or symbolize/ header; cfile/
#     includes nothing of core/; base/ includes nothing but base/; preload/ includes of
#     core/ only prof.h and the headers named below, and nothing of cfile/. An include is
#     resolved as the compiler would (a path relative to the file, else its own directory,
#     else base/, core/, cfile/, symbolize/, tools/, preload/ in that order);
#   - links: no symbol that base's, core's or cfile's objects use is defined by a preload/
#     object (core never calls up into the shim, not even through a weak reference).
#     libc's own names are left out: the shim interposes some (pthread_create), and core
#     may call libc; the engine's thread goes through the host table's thread_create
#     (core/prof.h), not the hook, which this check cannot see;
#   - readers: no symbol the offline readers define (cfile/cfile_read.c,
#     cfile/names_read.c, built with the tools' flags) is in libctrprof.so.
# Each rule is one PASS or FAIL line naming the offenders; a scan that found nothing to
# check fails rather than passes.
. "$(dirname "$0")/lib.sh"
cd "$TOP" || exit 1

# resolve FILE NAME: the repository path the include "NAME" in FILE refers to, if any
resolve() {
    local dir cand
    dir=$(dirname "$1")
    if [[ "$2" == */* ]]; then
        cand=$(realpath -m --relative-to=. "$dir/$2")
        [ -f "$cand" ] && echo "$cand"
        return
    fi
    for d in "$dir" base core cfile symbolize tools preload; do
        if [ -f "$d/$2" ]; then echo "$d/$2"; return; fi
    done
}

# includes_of FILE...: "file -> header" for every quoted include of FILEs that resolves to
# a file in the repository
includes_of() {
    local f h r
    for f in "$@"; do
        sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" |
            while read -r h; do
                r=$(resolve "$f" "$h")
                [ -n "$r" ] && echo "$f -> $r"
            done
    done
}
# includes DIR...: the same for every .c and .h file in DIRs
includes() {
    # shellcheck disable=SC2046
    includes_of $(find "$@" -maxdepth 1 -name '*.[ch]' | sort)
}

edges=$(includes base core cfile symbolize tools)
n=$(printf '%s\n' "$edges" | grep -c ' -> ')
if [ "$n" -lt 50 ]; then
    fail layers:scan "found only $n includes in core/, symbolize/ and tools/ (the scan is broken)"
else
    pass layers:scan
fi

bad=$(printf '%s\n' "$edges" | grep ' -> preload/' | tr '\n' ';')
check_eq layers:nothing-includes-preload "" "$bad"
bad=$(printf '%s\n' "$edges" | grep -E '^(core|cfile)/' | grep -E ' -> (tools|symbolize)/' | tr '\n' ';')
check_eq layers:core-includes-no-tool "" "$bad"
bad=$(printf '%s\n' "$edges" | grep '^cfile/' | grep ' -> core/' | tr '\n' ';')
check_eq layers:cfile-includes-no-core "" "$bad"
# base/ (the logger, options, raw system calls, the spin lock, the version) is below every
# layer: it includes nothing but base/
bad=$(printf '%s\n' "$edges" | grep '^base/' | grep -v ' -> base/' | tr '\n' ';')
if [ "$(printf '%s\n' "$edges" | grep -c '^base/.* -> base/')" -lt 3 ]; then
    fail layers:base-includes-only-base "found almost no include in base/ (the scan is broken)"
else
    check_eq layers:base-includes-only-base "" "$bad"
fi
# The shim reaches the engine through one header, core/prof.h (docs/ARCHITECTURE.md,
# "Layers"): a preload/ file includes base/ headers, preload/ headers and, of the engine,
# core/prof.h alone; nothing of cfile/.
pedges=$(includes preload)
if [ "$(printf '%s\n' "$pedges" | grep -c ' -> core/prof\.h$')" -lt 3 ]; then
    fail layers:preload-includes-only-prof.h "found almost no preload/ include of core/prof.h (the scan is broken)"
else
    bad=$(printf '%s\n' "$pedges" | grep -Ev ' -> (preload|base)/' | grep -v ' -> core/prof\.h$' | tr '\n' ';')
    check_eq layers:preload-includes-only-prof.h "" "$bad"
fi
# ... and what prof.h brings with it is the engine's interface, never an internal (rings,
# buckets, the unwinder, the module table, prof_int.h): everything a preload/ file
# reaches, include by include, in core/ or cfile/ is one of these six headers, which
# declare functions and the hot path's inline bodies, no structure of the engine's.
IFACE="core/prof.h core/contention.h core/live.h core/meta.h core/sample.h core/stack.h"
seen="" todo=$(printf '%s\n' "$pedges" | awk '{ print $3 }' | grep -Ev '^(preload|base)/' | sort -u)
reached=$(printf '%s\n' "$pedges" | awk '$3 !~ /^(preload|base)\// { print $1 ">" $3 }' | tr '\n' ' ')
while [ -n "$todo" ]; do
    next=""
    for h in $todo; do
        case " $seen " in *" $h "*) continue ;; esac
        seen="$seen $h"
        for e in $(includes_of "$h" | awk '{ print $1 ">" $3 }'); do
            t=${e#*>}
            case $t in base/*) continue ;; esac
            reached="$reached $e"
            next="$next $t"
        done
    done
    todo=$next
done
bad=""
for h in $seen; do
    case " $IFACE " in *" $h "*) ;; *) bad="$bad$h (via$(printf '%s\n' $reached | grep ">$h\$" | sed 's/>.*//' | sort -u | tr '\n' ' ' | sed 's/^/ /; s/ $//'));" ;; esac
done
if [ "$(printf '%s\n' $seen | grep -c .)" -lt 2 ]; then
    fail layers:preload-sees-no-engine-internal "reached almost nothing from preload/ (the scan is broken)"
else
    check_eq layers:preload-sees-no-engine-internal "" "$bad"
fi

# The link rule, on the objects the build made.
core_objs=$(ls "$B"/obj/base/*.o "$B"/obj/core/*.o "$B"/obj/cfile/*.o 2>/dev/null)
pre_objs=$(ls "$B"/obj/preload/*.o 2>/dev/null)
if [ -z "$core_objs" ] || [ -z "$pre_objs" ] || ! command -v nm >/dev/null; then
    fail layers:core-calls-no-preload "no objects under $B/obj (or no nm): build first"
else
    used=$(nm -u $core_objs | awk 'NF == 2 { print $2 }' | sort -u)
    weak=$(nm $core_objs | awk '$1 == "w" || $1 == "v" { print $2 }' | sort -u)
    defined=$(nm --defined-only $pre_objs | awk 'NF == 3 && $2 ~ /[TDBRWVtdbr]/ { print $3 }' | sort -u)
    libc=$(ldd "$TOP/$B/libctrprof.so" 2>/dev/null | awk '$1 ~ /^libc\.so/ { print $3 }')
    libc_names=$(nm -D --defined-only "${libc:-/lib/x86_64-linux-gnu/libc.so.6}" 2>/dev/null |
        awk '{ sub(/@.*/, "", $3); print $3 }' | sort -u)
    if [ -z "$libc_names" ]; then
        fail layers:core-calls-no-preload "cannot list libc's symbols (ldd, nm -D)"
    fi
    ups=$(comm -12 <(printf '%s\n%s\n' "$used" "$weak" | sort -u) <(printf '%s\n' "$defined") |
        comm -23 - <(printf '%s\n' "$libc_names") | tr '\n' ' ')
    if [ "$(printf '%s\n' "$used" | grep -c .)" -lt 20 ]; then
        fail layers:core-calls-no-preload "nm found almost no undefined symbols in core's objects"
    else
        check_eq layers:core-calls-no-preload "" "${ups% }"
    fi
fi

# The offline readers (cfile/cfile_read.c and its quick walk cfile/cfile_quick.c,
# cfile/names_read.c, cfile/packed.c: they parse
# files anyone may have written, with the tools' flags; packed.c calls libzstd) are the
# tools', never the shim's: no symbol they define is in libctrprof.so (its full symbol
# table, hidden ones included), and the shim needs no libzstd.
readers=$(ls "$B"/obj/toolcore/cfile/cfile_read.o "$B"/obj/toolcore/cfile/cfile_quick.o \
    "$B"/obj/toolcore/cfile/names_read.o "$B"/obj/toolcore/cfile/packed.o 2>/dev/null)
shim_syms=$(nm "$TOP/$B/libctrprof.so" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u)
if readelf -d "$TOP/$B/libctrprof.so" 2>/dev/null | grep -q 'NEEDED.*libzstd'; then
    fail layers:shim-needs-no-zstd "$(readelf -d "$TOP/$B/libctrprof.so" | grep NEEDED | tr -s ' ')"
elif readelf -d "$TOP/$B/libctrprof.so" 2>/dev/null | grep -q 'NEEDED.*libc\.so'; then
    pass layers:shim-needs-no-zstd
else
    fail layers:shim-needs-no-zstd "readelf shows no NEEDED libc.so.6 in $B/libctrprof.so: build first"
fi
if [ "$(printf '%s\n' "$readers" | grep -c .)" -ne 4 ] || [ -z "$shim_syms" ]; then
    fail layers:shim-has-no-reader "no reader objects under $B/obj/toolcore/cfile or no symbols in $B/libctrprof.so (or no nm): build first"
else
    rsyms=$(nm --defined-only $readers | awk 'NF == 3 && $2 ~ /[TDBR]/ { print $3 }' | sort -u)
    if [ "$(printf '%s\n' "$rsyms" | grep -c .)" -lt 4 ]; then
        fail layers:shim-has-no-reader "nm found almost no symbols defined by the readers"
    else
        check_eq layers:shim-has-no-reader "" "$(comm -12 <(printf '%s\n' "$rsyms") <(printf '%s\n' "$shim_syms") | tr '\n' ' ' | sed 's/ $//')"
    fi
fi
