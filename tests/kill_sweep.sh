#!/bin/sh
# kill_sweep.sh - each stage (tests/sweeputil.sh lists them) killed again
# and again, then finished: its files are byte-identical to a run never
# interrupted.  Per stage, three chains, each from the stage's start and
# each ended by a rerun compared with the clean run:
#   timed    kill -9 after a seeded pseudo-random delay within the clean
#            stage's duration, MUST_KILL_ROUNDS times (default 3), each
#            round resuming what the last one left (a round that
#            finished before its kill is compared with the clean run, and
#            the chain starts again from the stage's beginning);
#   exact    the process killed by the MUST_FAULT hook just before its Nth
#            file operation (MUST_FAULT=N,kill; core/base/fault-impl.h),
#            N drawn from the stage's operations, as many rounds: a crash
#            between any two writes, fsyncs or renames, which a timed kill
#            rarely hits (most of a stage's time is arithmetic);
#   signals  (the pipeline's stages) SIGINT and SIGTERM in turn after a
#            drawn delay: the run stops at its next step with status 130
#            and says how to go on (or finishes first, status 0).
# After every kill the folder holds nothing that looks finished and is not
# (sweeputil.sh's looks_consistent; a killed process's temporaries are
# allowed, the next run removes them).  MUST_KILL_SEED (default 1) seeds
# the draws; MUST_SWEEP_STAGES sweeps only the stages it lists.  The
# counts go to $T/counts (docs/crash-safety.md's figures).
set -u
T=${MUST_TEST_TMP:-tests/tmp}/kill-sweep
mkdir -p "$T"
T=$(cd "$T" && pwd)
. "${MUST_SRCDIR:-.}/tests/sweeputil.sh"
rounds=${MUST_KILL_ROUNDS:-3}
seed=${MUST_KILL_SEED:-1}
unset MUST_FAULT

make_refs || { echo "FAIL: the clean runs"; exit 1; }
: >"$T/counts"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# rounds numbers drawn in [1, MAX], seeded by the stage's name too.
draw() { # STAGE MAX KIND
    awk -v seed="$seed" -v s="$1 $3" -v max="$2" -v k="$rounds" 'BEGIN {
        h = seed
        for (i = 1; i <= length(s); i++) h = (h * 31 + index("abcdefghijklmnopqrstuvwxyz ", substr(s, i, 1))) % 2147483647
        srand(h)
        for (i = 0; i < k; i++) print int(rand() * max) + 1
    }'
}

# The final rerun of a chain, compared with the clean run.
finish_chain() { # STAGE WHAT
    finished $1 ||
    (cd "$T/w" && stage_cmd $1) >"$T/rerun.log" 2>&1 ||
        { fail "$2: the final rerun failed:"; cat "$T/rerun.log"; return; }
    same_as_ref $1 "$2: the final rerun"
}

# Starts STAGE in the background in W; the process id in $pid.
start() { # STAGE LOG
    (cd "$T/w" && EXEC=exec && stage_cmd $1) >"$2" 2>&1 &
    pid=$!
}

# After one round of a chain, which ended with status RC: a killed run
# left nothing that looks finished and is not; a run that finished first
# (or an import killed after its set was whole) left the clean run's
# files, and the chain starts again from the stage's beginning, so that
# every round has work to interrupt.
after_round() { # STAGE WHAT RC
    if [ $3 -eq 0 ] || finished $1; then
        late=$((late + 1))
        same_as_ref $1 "$2 (finished first)"
        work_from $1
    else
        looks_consistent $1 "$2" 1
    fi
}

timed_chain() { # STAGE DURATION_MS
    work_from $1
    for d in $(draw $1 $2 timed); do
        start $1 "$T/kill.log"
        sleep "$(awk -v d=$d 'BEGIN { printf "%.3f", d / 1000 }')"
        kill -9 $pid 2>/dev/null
        wait $pid
        rc=$?
        case $rc in
        0) ;;
        137) kills=$((kills + 1)) ;;
        *) fail "$1: the run to be killed failed (exit $rc):"; cat "$T/kill.log" ;;
        esac
        after_round $1 "$1, killed after ${d} ms" $rc
    done
    finish_chain $1 "$1, timed kills"
}

exact_chain() { # STAGE OPERATIONS
    work_from $1
    for n in $(draw $1 $2 exact); do
        (cd "$T/w" && MUST_FAULT=$n,kill stage_cmd $1) >"$T/kill.log" 2>&1
        rc=$?
        if grep -q "^must: MUST_FAULT: operation $n .*: killed" "$T/kill.log"; then
            [ $rc -eq 137 ] || fail "$1, killed at operation $n: exit $rc, not 137"
            kills=$((kills + 1))
        elif [ $rc -ne 0 ]; then
            fail "$1, run to be killed at $n: exit $rc"
            cat "$T/kill.log"
        fi
        after_round $1 "$1, killed at operation $n" $rc
    done
    finish_chain $1 "$1, exact kills"
}

signal_chain() { # STAGE DURATION_MS
    work_from $1
    sig=INT
    for d in $(draw $1 $2 signals); do
        start $1 "$T/sig.log"
        sleep "$(awk -v d=$d 'BEGIN { printf "%.3f", d / 1000 }')"
        kill -$sig $pid 2>/dev/null
        wait $pid
        rc=$?
        what="$1, SIG$sig after $d ms"
        if [ $rc -eq 130 ] && grep -q "stopped on request.*the same command resumes" "$T/sig.log"; then
            stops=$((stops + 1))
        elif [ $rc -eq 0 ]; then
            : # came after the end, or with no step left to stop at
        elif [ $rc -eq 130 ] || [ $rc -eq 143 ]; then
            kills=$((kills + 1)) # came before the handler: a death like a kill
        else
            fail "$what: exit $rc:"
            cat "$T/sig.log"
        fi
        after_round $1 "$what" $rc
        sig=$([ $sig = INT ] && echo TERM || echo INT)
    done
    finish_chain $1 "$1, signals"
}

for s in ${MUST_SWEEP_STAGES:-$STAGES}; do
    kills=0 late=0 stops=0
    f0=$fails
    work_from $s
    t0=$(now_ms)
    (cd "$T/w" && MUST_FAULT=count stage_cmd $s) >"$T/count.log" 2>&1 ||
        { cat "$T/count.log"; fail "$s: the counted run failed"; continue; }
    ms=$(($(now_ms) - t0))
    ops=$(sed -n 's/^must: MUST_FAULT: \([0-9]*\) operations.*/\1/p' "$T/count.log")
    timed_chain $s $ms
    exact_chain $s $ops
    case $s in
    world | images | coco) ;; # no step to stop at: a signal ends them like a kill
    *) signal_chain $s $ms ;;
    esac
    echo "$s: ${ms} ms, $ops operations: $kills kills survived, $stops stops on a signal," \
        "$late runs that finished first, $((fails - f0)) failures"
    echo "$s $ms $ops $kills $stops $late $((fails - f0))" >>"$T/counts"
done

[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "ok"
