#!/usr/bin/env bash
# The loom models' teeth: builds the crate once per mutant (`--cfg ipcring_mutant="..."`,
# each weakening exactly one ordering or check, see src/sync.rs `orderings`), runs the
# models that exist to catch that weakening, and checks that every one of them FAILS, with
# the kind of failure expected (a causality violation for a missing Release; for a lost
# wake-up, a deadlock, or a livelock where the peer spins instead of sleeping). Exits
# non-zero if any of them passes (the model lost its teeth), fails for another reason, or
# does not finish within the time limit.
#
#   scripts/loom-teeth.sh                 # every mutant
#   scripts/loom-teeth.sh wait_no_recheck # only the named mutants
#
# Each model runs in its own process: loom aborts the process after reporting a deadlock
# (a second panic while it unwinds the blocked threads), which would hide the other models.
# Builds in target/loom-mutant (or $LOOM_MUTANT_TARGET_DIR); logs go to target/loom-mutant/teeth/.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${LOOM_MUTANT_TARGET_DIR:-target/loom-mutant}"
limit="${LOOM_TEETH_TIMEOUT:-600}" # seconds per model
logs="$CARGO_TARGET_DIR/teeth"
mkdir -p "$logs"

# mutant | models that must fail | what their failure must say (extended regex)
table=(
    "spsc_relaxed_publish|spsc_wraparound_try spsc_wraparound_blocking|Causality violation"
    "mpmc_relaxed_seq|mpmc_2x2 mpmc_2x2_uneven|Causality violation"
    "wait_no_recheck|blocking_wakeup_recv blocking_wakeup_send blocking_wakeup_send_only blocking_wakeup_mpmc|deadlock|exceeded maximum number of branches"
    "wait_arm_after_recheck|blocking_wakeup_recv blocking_wakeup_send blocking_wakeup_send_only blocking_wakeup_mpmc blocking_wakeup_2x2|deadlock|exceeded maximum number of branches"
    "wait_no_membarrier|blocking_wakeup_recv blocking_wakeup_send blocking_wakeup_send_only blocking_wakeup_mpmc blocking_wakeup_2x2|deadlock|exceeded maximum number of branches"
    "wake_fast_no_look|blocking_wakeup_recv blocking_wakeup_send blocking_wakeup_mpmc|deadlock|exceeded maximum number of branches"
    "mpmc_no_claim_record|mpmc_stuck_claim_alive|a live claimer's slot was skipped"
    "peers_no_attach_counter|rerun_receiver_first|deadlock|exceeded maximum number of branches"
)

wanted=("$@")
for w in "${wanted[@]}"; do
    printf '%s\n' "${table[@]}" | grep -q "^$w|" || {
        echo "loom-teeth.sh: unknown mutant '$w'" >&2
        exit 2
    }
done
selected() {
    [ ${#wanted[@]} -eq 0 ] && return 0
    local w
    for w in "${wanted[@]}"; do [ "$w" = "$1" ] && return 0; done
    return 1
}

started=$(date +%s)
bad=0
summary=()
for row in "${table[@]}"; do
    mutant=${row%%|*}
    rest=${row#*|}
    models=${rest%%|*}
    expect=${rest#*|}
    selected "$mutant" || continue
    export RUSTFLAGS="--cfg ipcring_loom --cfg ipcring_mutant=\"$mutant\""
    echo "==> mutant $mutant: building"
    bin=$(cargo test --release --test loom --no-run --message-format=json |
        sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
    if [ -z "$bin" ] || [ ! -x "$bin" ]; then
        echo "loom-teeth.sh: could not build the $mutant mutant" >&2
        exit 2
    fi
    line="$mutant:"
    for model in $models; do
        log="$logs/$mutant.$model.log"
        t0=$(date +%s.%N)
        set +e
        # In a subshell, so that the shell's own "Aborted" notice goes to the log too.
        (
            LOOM_LOCATION=1 timeout --foreground "$limit" "$bin" "$model" --exact --nocapture --test-threads 1
            status=$?
            exit $status
        ) >"$log" 2>&1
        rc=$?
        set -e
        secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
        # The first panic message is loom's verdict (later ones are loom cleaning up).
        why=$(awk '/panicked at/ { on = 1; next } on && NF { print; exit }' "$log")
        if [ "$rc" -eq 0 ]; then
            status="PASSES"
            verdict="PASSED (${secs}s): the model lost its teeth"
            bad=1
        elif [ "$rc" -eq 124 ]; then
            status="TIMEOUT"
            verdict="no failure found within ${limit}s"
            bad=1
        elif printf '%s\n' "$why" | grep -Eq "$expect"; then
            status="fails"
            verdict="fails as it must (exit $rc, ${secs}s): $why"
        else
            status="FAILS-OTHERWISE"
            verdict="fails, but not with /$expect/ (exit $rc, ${secs}s): ${why:-see $log}"
            bad=1
        fi
        echo "    $model: $verdict"
        line="$line $model=$status"
    done
    summary+=("$line")
done

echo
echo "loom teeth summary ($(($(date +%s) - started)) s, logs in $logs):"
for line in "${summary[@]}"; do echo "  $line"; done
if [ "$bad" -ne 0 ]; then
    echo "loom-teeth.sh: a model did not fail as its mutant requires (see above)" >&2
    exit 1
fi
echo "loom-teeth.sh: every mutant makes its models fail"
