#!/usr/bin/env bash
# Mutex and block profiling (issue 6): return values and errno of every interposed
# pthread/semaphore call as glibc's; a program with known contention: the mutex delay
# adds up to the waits the program measured (within 20%), charged mostly to the unlock
# of the longer critical section; the block delay per waiting site matches (within 20%).
source "$(dirname "$0")/lib.sh"

want=$(timeout 60 "$PROGS/lock_check")
check_eq "locks:check-program-runs-bare" 0 $?
for mode in "1 1" "1 0" "0 1000000"; do
    set -- $mode
    got=$(cd "$WORK" && CTRPROF_MUTEX_FRACTION=$1 CTRPROF_BLOCK_RATE=$2 LD_PRELOAD="$SHIM" timeout 60 "$PROGS/lock_check")
    check_eq "locks:results-and-errno:fraction=$1:block=$2" "$want" "$got"
done

# One run of the contention program: sets total, wshort, wlong (the program's own
# measurements), ushort, ulong (mutex delay charged to each unlock), bshort, blong (block
# delay at each lock) and P (the profile).
# (printf: mawk prints a number over 2^31 as 2.33006e+09, which bash's integer tests reject:
# a loaded run's 2.3 s long site failed locks:longer-section-charged-more that way)
leaf_sums() { awk '{ n = split($1, a, ";"); s[a[n]] += $2 } END { for (k in s) printf "%s %.0f\n", k, s[k] }'; }
# The workers start 60 ms after a first thread: every wait is timed by the waits' TSC
# clock where this machine's TSC is trusted (core/contention.h; the flusher calibrates it
# 20 ms after it starts), by the vDSO's clock elsewhere.
contention_run() {
    rm -rf "$WORK/c" && mkdir -p "$WORK/c"
    local line mutex block
    line=$(cd "$WORK" && CTRPROF_DIR="$WORK/c" CTRPROF_MUTEX_FRACTION=1 CTRPROF_BLOCK_RATE=1 LD_PRELOAD="$SHIM" \
        timeout 120 "$PROGS/contention" 60)
    read -r _ total _ wshort _ wlong <<<"$line"
    P=$(ls "$WORK"/c/ctrprof.contention.*.count)
    mutex=$("$CTRPROF" report --profile mutex --format folded "$P" | leaf_sums)
    block=$("$CTRPROF" report --profile block --format folded "$P" | leaf_sums)
    ushort=$(awk '$1 == "unlock_short" { print $2 }' <<<"$mutex")
    ulong=$(awk '$1 == "unlock_long" { print $2 }' <<<"$mutex")
    bshort=$(awk '$1 == "lock_short" { print $2 }' <<<"$block")
    blong=$(awk '$1 == "lock_long" { print $2 }' <<<"$block")
}
# A wait is missed whole when the thread is preempted between the hook's peek at the lock
# word and the real lock (preload/pthread.c explains the trade-off): on a loaded machine
# that can take a third of a site's delay (1 run in ~50 with three CPU hogs on two cores;
# it failed CI once). The program never misses a wait, so a shortfall that is real
# repeats: the checks look at a second run when the first is out of bounds.
contention_run
if ! within "$total" "$((${ushort:-0} + ${ulong:-0}))" 0.20 || ! within "$wshort" "${bshort:-0}" 0.20 ||
    ! within "$wlong" "${blong:-0}" 0.20; then
    echo "note: locks: first contention run out of bounds (waits $total $wshort $wlong; profile $((${ushort:-0} + ${ulong:-0})) ${bshort:-0} ${blong:-0}); running it again"
    contention_run
fi
check_within "locks:mutex-delay-total" "$total" "$((${ushort:-0} + ${ulong:-0}))" 0.20
[ "${ulong:-0}" -gt "${ushort:-0}" ] && pass "locks:longer-section-charged-more ($ulong > $ushort)" ||
    fail "locks:longer-section-charged-more" "unlock_long $ulong, unlock_short $ushort"
check_within "locks:block-delay-lock_short" "$wshort" "${bshort:-0}" 0.20
check_within "locks:block-delay-lock_long" "$wlong" "${blong:-0}" 0.20
n=$("$CTRPROF" report --profile mutex --sample contentions --format folded "$P" | awk '{ s += $NF } END { printf "%.0f\n", s }')
[ "$n" -gt 0 ] && pass "locks:contentions-counted ($n)" || fail "locks:contentions-counted" "none"

# The block profile at a rate its waits cross (issue 23 item 5, session lockq2): the same
# program at a block rate of 2 ms, against its waits of ~1-5 ms: a wait of d < rate is
# kept with probability d/rate, against a threshold drawn before the wait, a longer one
# always; a wait whose threshold is under rate/8 has its stack walked before it, any
# other kept one after it, holding the lock (preload/pthread.c, prewalk): 7 in 8 of
# these. Each site's estimated delay is unbiased: within 4 sigma of the program's own
# measurement, sigma at most sqrt(rate x W) (a wait of d < rate adds rate*d - d^2 of
# variance), plus the 20% the rate-1 checks above allow. A build that kept only the
# waits walked before (or lost the others' stacks) estimates an eighth of each site.
# A wait missed whole at the peek (above) is a whole site's shortfall here, where the
# thread that lost the mutex sleeps inside glibc while the others hand it round: CI
# saw 2.4 ms estimated of 130 ms waited once (session 39; 0 in 30 runs here). So, as
# above, a second run when the first is out of bounds. Every lock wait is measured
# (CTRPROF_BLOCK_LOCK_FRACTION=1; the fraction's own checks are below).
BS_RATE=2000000
bs_run() {
    rm -rf "$WORK/bs" && mkdir -p "$WORK/bs"
    local line
    line=$(cd "$WORK" && CTRPROF_DIR="$WORK/bs" CTRPROF_BLOCK_RATE=$BS_RATE CTRPROF_BLOCK_LOCK_FRACTION=1 \
        LD_PRELOAD="$SHIM" timeout 120 "$PROGS/contention")
    read -r _ _ _ bs_ws _ bs_wl <<<"$line"
    block=$("$CTRPROF" report --profile block --format folded "$WORK"/bs/ctrprof.contention.*.count | leaf_sums)
}
bs_within() { # SITE: the estimate within 20% + 4 sigma of what the program waited there
    local w b
    w=$([ "$1" = short ] && echo "$bs_ws" || echo "$bs_wl")
    b=$(awk -v k="lock_$1" '$1 == k { print $2 }' <<<"$block")
    awk -v w="${w:-0}" -v b="${b:-0}" -v r=$BS_RATE 'BEGIN { x = b - w; if (x < 0) x = -x; exit !(w > 0 && x <= 0.2 * w + 4 * sqrt(r * w)) }'
}
bs_run
if ! bs_within short || ! bs_within long; then
    echo "note: locks: first 2 ms block-rate run out of bounds (waited $bs_ws $bs_wl; profile $(tr '\n' ' ' <<<"$block")); running it again"
    bs_run
fi
for site in short long; do
    w=$([ $site = short ] && echo "$bs_ws" || echo "$bs_wl")
    b=$(awk -v k="lock_$site" '$1 == k { print $2 }' <<<"$block")
    if bs_within $site; then
        pass "locks:block-2ms-lock_$site (waited ${w:-0} ns, estimated ${b:-0})"
    else
        fail "locks:block-2ms-lock_$site" "waited ${w:-0} ns, estimated ${b:-0} (bound 20% + 4 sigma, sigma <= sqrt(rate x waited))"
    fi
done

# The block profile under a budget (CTRPROF_BLOCK_BUDGET, issue 23's lock-heavy programs):
# a thread that keeps more than its budget of samples a second doubles its own rate, and
# each kept sample is scaled by the rate its threshold was drawn with. The contention
# program with sleeping holds (20 and 60 us, 50 us gaps: thousands of waits of a few
# hundred us, most under the raised rates; ~1,200-2,200 kept a second a thread without a
# budget, so budgets of 300 and 100 are passed whatever the machine's load; the default,
# 1000, was passed on a quiet machine but not with a margin) the rate rises
# (health:block-rate-max, block-thinned), fewer samples are kept than
# without a budget, and each site's estimated delay is within 10% + 4 sigma of the
# program's own measurement, sigma at most sqrt(highest rate x waited). A sample scaled
# by the base rate instead of its own would estimate a site at a fraction of its delay.
# Budget 0 is Go's fixed rate: nothing thinned. Every lock wait measured, as above.
for budget in 0 300 100; do
    rm -rf "$WORK/bb" && mkdir -p "$WORK/bb"
    t0=$(date +%s%N)
    line=$(cd "$WORK" && CTRPROF_DIR="$WORK/bb" CTRPROF_BLOCK_BUDGET=$budget CTRPROF_BLOCK_LOCK_FRACTION=1 LD_PRELOAD="$SHIM" \
        timeout 120 "$PROGS/contention" 0 20 60 3000 50 sleep)
    ms=$((($(date +%s%N) - t0) / 1000000))
    read -r _ _ _ bb_ws _ bb_wl <<<"$line"
    health=$("$CTRPROF" dump "$WORK"/bb/ctrprof.contention.*.count)
    kept=$(awk '$2 == "ctrprof/health:samples:block" { print $1 }' <<<"$health")
    thinned=$(awk '$2 == "ctrprof/health:block-thinned" { print $1 }' <<<"$health")
    ratemax=$(awk '$2 == "ctrprof/health:block-rate-max" { print $1 }' <<<"$health")
    [ "$budget" = 0 ] && kept0=${kept:-0}
    if [ "$budget" = 0 ]; then
        check_eq "locks:block-budget-0:fixed-rate" "thinned= rate-max=" "thinned=$thinned rate-max=$ratemax"
    else
        # (the budget is a thread's, four workers' over ~1.4 s: at 100 a thread keeps about
        # 100 samples a second, 11 a window of 100 ms before its rate doubles, and more
        # only in the windows its rate steps in: at most twice the budget over the run's
        # time, and fewer than without a budget. The samples kept without a budget were
        # compared once (a quarter of them or fewer at 100), but they fall with the
        # machine's load: 2,025 in a CI run, where 555 were kept at 100, within its budget)
        awk -v k="${kept:-0}" -v k0="$kept0" -v t="${thinned:-0}" -v r="${ratemax:-0}" -v b="$budget" \
            -v ms="$ms" 'BEGIN { exit !(t > 0 && r > 100000 && k < k0 && (b != 100 || k <= 2 * b * 4 * ms / 1000)) }' &&
            pass "locks:block-budget-$budget:thinned ($kept samples kept of $kept0 without, in $ms ms, $thinned at raised rates up to $ratemax ns)" ||
            fail "locks:block-budget-$budget:thinned" "kept ${kept:-0} (without a budget $kept0) in $ms ms, thinned ${thinned:-0}, rate-max ${ratemax:-0}"
    fi
    block=$("$CTRPROF" report --profile block --format folded "$WORK"/bb/ctrprof.contention.*.count 2>"$WORK/bb.err" | leaf_sums)
    # the report says so, once, with the count and the highest rate
    noted=$(grep -c "^ctrprof: note: ${thinned:-0} block samples were kept at a rate raised up to" "$WORK/bb.err")
    check_eq "locks:block-budget-$budget:report-notes-it" "$([ "$budget" = 0 ] && echo 0 || echo 1)" "$noted"
    for site in short long; do
        w=$([ $site = short ] && echo "$bb_ws" || echo "$bb_wl")
        b=$(awk -v k="lock_$site" '$1 == k { print $2 }' <<<"$block")
        r=${ratemax:-100000}
        if awk -v w="${w:-0}" -v b="${b:-0}" -v r="$r" 'BEGIN { x = b - w; if (x < 0) x = -x; exit !(w > 0 && x <= 0.1 * w + 4 * sqrt(r * w)) }'; then
            pass "locks:block-budget-$budget:lock_$site (waited ${w:-0} ns, estimated ${b:-0})"
        else
            fail "locks:block-budget-$budget:lock_$site" "waited ${w:-0} ns, estimated ${b:-0} (bound 10% + 4 sigma, sigma <= sqrt($r x waited))"
        fi
    done
done

# Fraction 0 and block rate 0 record nothing.
mkdir -p "$WORK/z"
# (at heap rate 1 the process leaves a file, with heap counters and no lock counter)
(cd "$WORK" && CTRPROF_DIR="$WORK/z" CTRPROF_MEM_RATE=1 CTRPROF_MUTEX_FRACTION=0 CTRPROF_BLOCK_RATE=0 \
    LD_PRELOAD="$SHIM" "$PROGS/contention" >/dev/null)
rc=$?
check_absent "locks:off-records-nothing" $rc "$("$CTRPROF" dump "$WORK"/z/*.count 2>&1)" 'ctrprof/heap' 'ctrprof/(mutex|block):'

# ---- issue 31: the mutex profile as Go defines it, against the program's own truth ----
# tests/programs/handover.c logs every wait and every release and computes Go's charge
# per releasing unlock site (the time each waiter waited up to the hand-over); these
# compare the profile's mutex delay per unlock site with it. ho_run MODE ARGS... sets
# T_<site> (truth ns), N_<site> (truth contentions), Q_<site> (sum of squared charges),
# L_<site> (the truth's lower bound), U_<site> and V_<site> (how much later than the truth
# says the load may have made the hand-overs, and the sum of its squares: handover.c, "the
# hand-over"), D_<site> (profile delay ns) and C_<site> (profile contentions), at
# CTRPROF_MUTEX_FRACTION=$FRAC.
HO_SITES="short long inner middle outer distinct last writer reader_first reader_last signaller odd reader_pair"
ho_run() {
    rm -rf "$WORK/h" && mkdir -p "$WORK/h"
    local out prof site
    out=$(cd "$WORK" && CTRPROF_DIR="$WORK/h" CTRPROF_MUTEX_FRACTION=${FRAC:-1} CTRPROF_BLOCK_RATE=1 \
        LD_PRELOAD="$SHIM" timeout 120 "$PROGS/handover" "$@")
    local f=("$WORK"/h/ctrprof.handover.*.count)
    for site in $HO_SITES; do
        unset "T_$site" "N_$site" "Q_$site" "L_$site" "U_$site" "V_$site" "D_$site" "C_$site"
    done
    while read -r site n t q l u v; do
        site=${site#unlock_}
        printf -v "N_$site" %s "$n"; printf -v "T_$site" %s "$t"; printf -v "Q_$site" %s "$q"
        printf -v "L_$site" %s "$l"; printf -v "U_$site" %s "$u"; printf -v "V_$site" %s "$v"
    done <<<"$out"
    [ -e "${f[0]}" ] || return 0
    while read -r site v; do printf -v "D_${site#unlock_}" %s "$v"; done \
        < <("$CTRPROF" report --profile mutex --format folded "${f[0]}" | leaf_sums)
    while read -r site v; do printf -v "C_${site#unlock_}" %s "$v"; done \
        < <("$CTRPROF" report --profile mutex --sample contentions --format folded "${f[0]}" | leaf_sums)
}

# 2+3. The charge is taken at the hand-over, before the real unlock: a long/short pair
# (1 ms and 20 us holds, each waited on by one sleeping waiter) is charged per site within
# 15% of the truth, and every contention counted (before: both sites -33% here, -22..-53%
# in the issue, when the woken waiter left before the unlocker charged; +45% on 20 us
# contentions from the unlocker's own futex wake: +47..+70% here with the charge moved
# back after the real unlock). The truth is the program's, to within ~0.1 us a wait
# (handover.c, "chains"): waits the load distorted are released at unlock_odd and not
# compared, and unlock calls long enough to have been preempted before their charge are
# allowed for whole (U). A run where the load left fewer than 20 waits at a site, or made
# that allowance more than 15% of its truth, cannot judge it and is run again, at most
# three times. (Session 11's -40..-90% on the 20 us site was the program's truth, not the
# profile: the releasing thread took the mutex back before the waiter it woke had run and
# released it again, with glibc's word saying "no waiters"; Go charges that release
# nothing either, docs/SCHEMA.md. The chains never do that.)
ho_judges() { # SITE: enough undistorted waits, and an allowance for the load under 15%
    local n=N_$1 t=T_$1 u=U_$1
    [ "${!n:-0}" -ge 20 ] && awk -v t="${!t:-0}" -v u="${!u:-0}" 'BEGIN { exit !(t > 0 && u <= 0.15 * t) }'
}
# ho_check NAME SITE: the profile's delay at SITE within 15% of the truth, + the allowance
ho_check() {
    local t=T_$2 d=D_$2 u=U_$2 n=N_$2
    if awk -v t="${!t:-0}" -v d="${!d:-0}" -v u="${!u:-0}" 'BEGIN { x = d - t; if (x < 0) x = -x; exit !(t > 0 && x <= 0.15 * t + u) }'; then
        pass "$1 (truth ${!t:-0} ns + up to ${!u:-0}, ${!n:-0} waits, profile ${!d:-0})"
    else
        fail "$1" "truth ${!t:-0} ns (+ up to ${!u:-0} ns) ±15%, profile ${!d:-0} ns"
    fi
}
for attempt in 1 2 3; do
    ho_run handover 20000 1000000 200
    ho_judges short && ho_judges long && break
    echo "note: locks: handover run $attempt: the load left ${N_short:-0} short and ${N_long:-0} long waits undistorted (${N_odd:-0} odd), allowances ${U_short:-0} and ${U_long:-0} ns; running it again"
done
if ho_judges short && ho_judges long; then
    ho_check "locks:handover-long-site" long
    ho_check "locks:handover-short-site" short
    check_eq "locks:handover-every-contention-counted" "${N_short:-0} ${N_long:-0} ${N_odd:-0}" \
        "${C_short:-0} ${C_long:-0} ${C_odd:-0}"
else
    skip "locks:handover-sites" "in three runs the machine's load left too few undistorted waits to judge"
fi

# 1. A recursive mutex locked three deep is charged once, at the unlock that releases it.
# Its truth is the waiter's own clock, read before its lock call; under load the waiter
# may be preempted before it is visible to the unlock (Go's wait starts there), so the
# charge is checked between the hold from the moment the waiter was seen sleeping on the
# word (L, handover.c's lower_ns) and that truth, each with 10%.
ho_run recursive 50 2000000
if awk -v l="${L_outer:-0}" -v t="${T_outer:-0}" -v d="${D_outer:-0}" 'BEGIN { exit !(l > 0 && d >= 0.9 * l && d <= 1.1 * t) }'; then
    pass "locks:recursive-outer-unlock-charged (profile ${D_outer:-0} ns, visible-wait ${L_outer:-0}, waiter's clock ${T_outer:-0})"
else
    fail "locks:recursive-outer-unlock-charged" "profile ${D_outer:-0} ns not within [0.9 x ${L_outer:-0}, 1.1 x ${T_outer:-0}]"
fi
check_eq "locks:recursive-inner-unlocks-not-charged" "0 0" "${D_inner:-0} ${D_middle:-0}"

# 4. 10^6 distinct mutexes, each contended once (the old table held 65,536 addresses
# for good): every one counted exactly, and the last, held 20 ms, charged within 2%.
ho_run distinct 1000000 20000000
check_eq "locks:distinct-mutexes-all-counted" "1000000 1" "${C_distinct:-0} ${C_last:-0}"
check_within "locks:distinct-last-mutex-delay" "${T_last:-0}" "${D_last:-0}" 0.02

# 5. rwlocks: the writer's unlock is charged the readers' waits, the last reader's unlock
# the writer's; the first reader, which releases nothing, nothing.
ho_run rwlock 20 2000000
check_within "locks:rwlock-writer-unlock-charged" "${T_writer:-0}" "${D_writer:-0}" 0.10
check_within "locks:rwlock-last-reader-charged" "${T_reader_last:-0}" "${D_reader_last:-0}" 0.10
check_eq "locks:rwlock-first-reader-not-charged" 0 "${D_reader_first:-0}"

# 5. Two readers holding while the writer waits release at the same instant: the last of
# the two hands the rwlock over and is charged the writer's wait, at every hand-over
# (before: each read the reader count before the other's decrement, saw the other, and
# neither was charged: 11-17% of 200 hand-overs went uncounted here).
ho_run rwpair 200 200000
check_eq "locks:rwlock-simultaneous-readers-every-handover-counted" "${N_reader_pair:-0}" "${C_reader_pair:-0}"
check_within "locks:rwlock-simultaneous-readers-charged" "${T_reader_pair:-0}" "${D_reader_pair:-0}" 0.10

# 5. Condition variables: three waiters woken by a broadcast made holding the mutex wait
# to re-acquire it until the broadcaster's unlock, which is charged their waits (before:
# charged to nobody, glibc re-locks inside pthread_cond_wait).
# Each of the three waits is counted, once, at that unlock (a wait is counted at the
# first unlock charged for it: before, an unlock counted one contention however many
# waits it ended).
ho_run cond 20 5000000
check_within "locks:cond-reacquisition-charged-to-unlock" "${T_signaller:-0}" "${D_signaller:-0}" 0.10
check_eq "locks:cond-every-reacquisition-counted" "${N_signaller:-0}" "${C_signaller:-0}"

# CTRPROF_MUTEX_FRACTION=10: each wait is tracked with p = 1/10, decided before anything
# of it is registered (an untracked wait costs the waiter table nothing), and the charges
# of the tracked waits are counted 10 times (count and delay): each wait's contribution
# is 10 x Bernoulli(1/10) times its own, independently, so both sums are unbiased. Over N
# waits of d_i ns the estimates have variances (1/p - 1) N = 9 N and 9 * sum(d_i^2) (the
# program reports the sum of squares of its own charges). Bound: 4 sigma on the count; 4
# sigma plus 5% (what the unsampled profile may miss) on the delay.
# Short: 4,000 contentions of 20 us holds (count sigma 4.7%); long: 300 of 5 ms (17%).
# And at the default fraction, 100 (variances 99 N and 99 (Q + V)): 20,000 contentions of
# 20 us holds (count sigma 7%).
# The checked site has only the waits the load did not distort (handover.c, "chains"):
# a hold stretched by preemption, whose square could make the bound as large as the
# truth (session 11 said SKIP then), is released at unlock_odd and compared nowhere. An
# unlock call long enough to have been preempted before its charge may have been charged
# up to its length more: those lengths (U, squares V) widen the bound as extra charges
# would, 4 sigma of 9 (Q + V), plus U. A run whose bound is still over its truth (the load
# left too few waits, or too many unsure hand-overs) cannot judge, and is run again, at
# most three times.
# sigma_check NAME TRUTH ESTIMATE BOUND: |ESTIMATE - TRUTH| <= BOUND, the truth above 0
sigma_check() {
    if awk -v t="$2" -v e="$3" -v b="$4" 'BEGIN { x = e - t; if (x < 0) x = -x; exit !(t > 0 && x <= b) }'; then
        pass "$1 (truth $2, estimate $3, bound $4)"
    else
        fail "$1" "truth $2, estimate $3, bound $4"
    fi
}
for spec in "short 10 4000 20000" "long 10 300 5000000" "default-short 100 20000 20000"; do
    set -- $spec
    f=$2
    set -- "$1" "$3" "$4"
    for attempt in 1 2 3; do
        FRAC=$f ho_run distinct "$2" 1000 "$3"
        n=${N_distinct:-0} c=${C_distinct:-0} t=${T_distinct:-0} d=${D_distinct:-0}
        cb=$(awk -v n="$n" -v f="$f" 'BEGIN { printf "%.0f", 4 * sqrt((f - 1) * n) }')
        db=$(awk -v q="${Q_distinct:-0}" -v v="${V_distinct:-0}" -v u="${U_distinct:-0}" -v t="$t" -v f="$f" \
            'BEGIN { printf "%.0f", 4 * sqrt((f - 1) * (q + v)) + u + 0.05 * t }')
        awk -v t="$t" -v b="$db" 'BEGIN { exit !(t > 0 && b < t) }' && break
        echo "note: locks: fraction-$f $1 run $attempt: bound $db over the truth $t ($n undistorted waits of $2, hand-overs the load may have delayed by up to ${U_distinct:-0} ns); running it again"
    done
    if ! awk -v t="$t" -v b="$db" 'BEGIN { exit !(t > 0 && b < t) }'; then
        skip "locks:fraction-$f-$1" "in three runs the load left too few undistorted waits, or delayed too many hand-overs, to judge (bound $db, truth $t)"
        continue
    fi
    sigma_check "locks:fraction-$f-$1-count-within-4-sigma" "$n" "$c" "$cb"
    sigma_check "locks:fraction-$f-$1-delay-within-4-sigma" "$t" "$d" "$db"
done

# The same at fraction 10 where an unlock ends several waits at once: the broadcast's
# three re-acquisitions, 300 rounds (900 waits of ~2 ms; count sigma 10%). Sampled by
# the unlock (as before this check), the count estimated unlocks, a third of the waits.
FRAC=10 ho_run cond 300 2000000
n=${N_signaller:-0} c=${C_signaller:-0} t=${T_signaller:-0} d=${D_signaller:-0}
cb=$(awk -v n="$n" 'BEGIN { printf "%.0f", 4 * sqrt(9 * n) }')
db=$(awk -v q="${Q_signaller:-0}" -v t="$t" 'BEGIN { printf "%.0f", 4 * sqrt(9 * q) + 0.05 * t }')
sigma_check "locks:fraction-10-cond-count-within-4-sigma" "$n" "$c" "$cb"
sigma_check "locks:fraction-10-cond-delay-within-4-sigma" "$t" "$d" "$db"

# The block profile's lock waits (issue 23): 1 in CTRPROF_BLOCK_LOCK_FRACTION measured,
# each kept sample counted that many times (measuring every one read the clock inside
# every contended critical section: bench/progs/workqueue 1.28x bare). The chain's waiter
# times its own 4,001 lock calls (handover.c's "waiter" line: count, ns, squares); at a
# block rate of 1 every measured wait is kept, so at fraction f the estimates have
# variances (f - 1) N and (f - 1) x the sum of squares: 4 sigma, plus 5% on the delay (the
# hook's own way to and from the wait). Unset, the fraction is the mutex profile's, and
# the waits measured are the very ones it tracks: both profiles count the same waits.
# bl_run ENV...: sets BN BT BQ (the waiter's truth), BC BD (the block profile at
# chain_waiter: contentions, delay) and MC (the mutex profile's contentions, every site).
bl_run() {
    rm -rf "$WORK/bl" && mkdir -p "$WORK/bl"
    local out
    out=$(cd "$WORK" && env CTRPROF_DIR="$WORK/bl" CTRPROF_BLOCK_RATE=1 "$@" LD_PRELOAD="$SHIM" \
        timeout 120 "$PROGS/handover" distinct 4000 1000 20000)
    read -r _ BN BT BQ _ <<<"$(grep '^waiter ' <<<"$out")"
    local f=("$WORK"/bl/ctrprof.handover.*.count)
    BC=0 BD=0 MC=0
    [ -e "${f[0]}" ] || return 0
    BC=$("$CTRPROF" report --profile block --sample contentions --format folded "${f[0]}" | leaf_sums | awk '$1 == "chain_waiter" { print $2 }')
    BD=$("$CTRPROF" report --profile block --format folded "${f[0]}" | leaf_sums | awk '$1 == "chain_waiter" { print $2 }')
    MC=$("$CTRPROF" report --profile mutex --sample contentions --format folded "${f[0]}" | awk '{ s += $NF } END { printf "%.0f\n", s }')
    BC=${BC:-0} BD=${BD:-0}
}
# bl_within NAME F: the count and the delay at fraction F within their bounds
bl_within() {
    local cb db
    cb=$(awk -v n="${BN:-0}" -v f="$2" 'BEGIN { printf "%.0f", 4 * sqrt((f - 1) * n) }')
    db=$(awk -v q="${BQ:-0}" -v t="${BT:-0}" -v f="$2" 'BEGIN { printf "%.0f", 4 * sqrt((f - 1) * q) + 0.05 * t }')
    sigma_check "$1-count-within-4-sigma" "${BN:-0}" "$BC" "$cb"
    sigma_check "$1-delay-within-4-sigma" "${BT:-0}" "$BD" "$db"
}
bl_run CTRPROF_MUTEX_FRACTION=0 CTRPROF_BLOCK_LOCK_FRACTION=10
bl_within "locks:block-lock-fraction-10" 10
check_eq "locks:block-lock-fraction-10-mutex-profile-off" 0 "${MC:-0}"
bl_run CTRPROF_MUTEX_FRACTION=10
bl_within "locks:block-lock-fraction-follows-mutex-10" 10
check_eq "locks:block-lock-fraction-follows-mutex-same-waits" "$MC" "$BC"
bl_run CTRPROF_MUTEX_FRACTION=1
check_eq "locks:block-lock-fraction-1-every-wait" "$BN $BN" "$BC $MC"
bl_within "locks:block-lock-fraction-1" 1
bl_run CTRPROF_MUTEX_FRACTION=1 CTRPROF_BLOCK_LOCK_FRACTION=0
check_eq "locks:block-lock-fraction-0-none-mutex-all" "0 $BN" "$BC $MC"
# ctrprof run's flag for it
rm -rf "$WORK/blr" && mkdir -p "$WORK/blr"
(cd "$WORK" && "$CTRPROF" run --no-pack --dir "$WORK/blr" --mutex-fraction 1 --block-rate 1 \
    --block-lock-fraction 0 -- "$PROGS/handover" distinct 100 1000 20000 >/dev/null 2>&1)
f=("$WORK"/blr/ctrprof.handover.*.count)
got=$("$CTRPROF" report --profile block --sample contentions --format folded "${f[0]}" 2>/dev/null | leaf_sums | awk '$1 == "chain_waiter" { print $2 }')
mc=$("$CTRPROF" report --profile mutex --sample contentions --format folded "${f[0]}" 2>/dev/null | awk '{ s += $NF } END { printf "%.0f\n", s }')
check_eq "locks:run-block-lock-fraction-flag" "0 101" "${got:-0} ${mc:-0}"

# ---- issue 30: every clock, C11 and spin variant records its blocking ----
# tests/programs/waitvariants.c: per variant, waiters blocked ~20 ms each in
# wait_<variant>() measure their own waits; the block profile at wait_<variant> must be
# within 10% of that, and for the locks an unlock releases (the clock locks, C11 mtx_*)
# the mutex profile at release_<variant> within 10% of the waits up to the hand-over.
# (Before: next to nothing for all of them; glibc's mtx_*/cnd_* call its pthread
# functions directly, not through the PLT, so the pthread hooks never saw them.)
# frame_sums: "frame value" for every frame named in a stack (once per stack), summed over
# the folded lines (C++ frames have spaces: the value is the last field)
frame_sums() {
    awk '{ v = $NF; st = $0; sub(/ [^ ]*$/, "", st); n = split(st, a, ";"); delete seen
           for (i = 1; i <= n; i++) if (!(a[i] in seen)) { seen[a[i]] = 1; s[a[i]] += v } }
         END { for (k in s) printf "%s\t%.0f\n", k, s[k] }'
}
# variants PROGRAM: runs it and checks every line of its output (the delay of the stacks
# through wait_<variant>, and through release_<variant>)
variants() {
    local prog=$1 out V vblock vmutex name waited handed got rc bare
    rm -rf "$WORK/v" && mkdir -p "$WORK/v"
    out=$(cd "$WORK" && CTRPROF_DIR="$WORK/v" CTRPROF_MUTEX_FRACTION=1 CTRPROF_BLOCK_RATE=1 LD_PRELOAD="$SHIM" timeout 60 "$PROGS/$prog")
    rc=$?
    # no BAD line, and every variant a bare run prints was run (the names, in order)
    bare=$(timeout 60 "$PROGS/$prog" | awk '{ print $1 }' | tr '\n' ' ')
    [ -n "$bare" ] || bare="(a bare run printed nothing)"
    check_eq "locks:$prog-results-unchanged" "0 0 $bare" "$rc $(grep -c BAD <<<"$out") $(grep -v BAD <<<"$out" | awk '{ print $1 }' | tr '\n' ' ')"
    V=$(ls "$WORK"/v/ctrprof.$prog.*.count 2>/dev/null | head -1)
    vblock=$([ -n "$V" ] && "$CTRPROF" report --profile block --format folded "$V" | frame_sums)
    vmutex=$([ -n "$V" ] && "$CTRPROF" report --profile mutex --format folded "$V" | frame_sums)
    while read -r name waited handed; do
        [ -n "$name" ] || continue # no output: results-unchanged failed already
        got=$(awk -F'\t' -v k="wait_$name" '$1 == k { print $2 }' <<<"$vblock")
        check_within "locks:variant-block-$name" "$waited" "${got:-0}" 0.10
        if [ "$handed" -gt 0 ]; then
            got=$(awk -F'\t' -v k="release_$name" '$1 == k { print $2 }' <<<"$vmutex")
            check_within "locks:variant-mutex-$name" "$handed" "${got:-0}" 0.10
        fi
    done <<<"$(grep -v BAD <<<"$out")"
}
variants waitvariants
# C++: condition_variable::wait_for (pthread_cond_clockwait), timed_mutex::try_lock_for
# (pthread_mutex_clocklock), released and timed out (tests/programs/cxxwait.cc).
if [ -x "$PROGS/cxxwait" ]; then
    variants cxxwait
else
    skip "locks:cxxwait" "$PROGS/cxxwait was not built (no C++ compiler when make ran)"
fi

# Sleepers cancelled in a condition-variable wait (tests/programs/cancelwait.c): glibc
# unwinds the thread through the shim's hook, whose code after the wait never runs. Each
# wait tracked (fraction 1): until the hook undid a cancelled sleeper's registration, it
# stayed counted on the condition variable, and after a broadcast it was a waiter on the
# mutex charged to every later unlock: 450-490 ms of delay in a 93 ms phase where at most
# one thread waits at a time. The profile's whole mutex delay is bounded by the phase's
# length (plus the sleepers' re-acquisitions, microseconds: 2 ms allowed).
for how in wait timed; do
    for mode in cancel nocancel; do
        n="locks:cancelled-sleeper:$mode:$how"
        d="$WORK/cancel-$mode-$how"
        mkdir -p "$d"
        out=$(CTRPROF_MUTEX_FRACTION=1 CTRPROF_BLOCK_RATE=1 CTRPROF_DIR="$d" LD_PRELOAD="$SHIM" \
            "$PROGS/cancelwait" "$mode" "$how" 2>&1)
        rc=$?
        phase=$(awk '$1 == "phase_ns" { print $2 }' <<<"$out")
        if [ "$rc" != 0 ] || [ -z "$phase" ]; then
            fail "$n" "the program failed (rc $rc): $out"
            continue
        fi
        tot=$("$CTRPROF" report --profile mutex --format folded "$d" | awk '{ s += $NF } END { printf "%.0f\n", s }')
        if [ "$tot" -gt 0 ] && [ "$tot" -le $((phase + 2000000)) ]; then
            pass "$n (delay $tot ns in a $phase ns phase)"
        else
            fail "$n" "mutex delay $tot ns, want 0 < delay <= the phase's $phase ns + 2 ms"
        fi
    done
done
