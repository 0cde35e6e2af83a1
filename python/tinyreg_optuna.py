#!/usr/bin/env python3
"""Run a tinyreg search on Optuna, on one machine or many.

Each Optuna trial runs `tinyreg trial CONFIG --params JSON --trial N`, reads
its JSON lines (one per epoch), reports validation accuracy to Optuna after
each epoch and kills the process when the pruner says so. Workers share a
study in an RDB storage (PostgreSQL for many machines; Optuna's FAQ advises
against SQLite for parallel workers); a worker killed mid-trial loses
nothing: its heartbeat stops, another worker marks the trial failed and
enqueues it again with the same parameters and the same tinyreg trial index.

    python tinyreg_optuna.py create --storage URL --study NAME --config C [--enqueue]
    python tinyreg_optuna.py worker --storage URL --study NAME --config C --trials N
    python tinyreg_optuna.py verify --storage URL --study NAME --search-dir DIR ...

`--enqueue` enqueues tinyreg's own reproducible points (`tinyreg points`):
trial i of the study then has the parameters and training seed of
`tinyreg search`'s trial i, so it gives the same validation accuracy.
"""

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import tomllib

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# Trials Optuna's own sampler proposes train from seed indices past these.
OPTUNA_INDEX_BASE = 1_000_000


def log(message):
    print(f"tinyreg-optuna[{os.getpid()}]: {message}", file=sys.stderr, flush=True)


def storage(url, heartbeat):
    if not heartbeat:
        return RDBStorage(url)
    return RDBStorage(
        url,
        heartbeat_interval=1,
        grace_period=3,
        failed_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=3),
    )


def pruner(name):
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=5)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=2, reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise SystemExit(f"unknown pruner {name!r}")


def search_space(config):
    with open(config, "rb") as f:
        params = tomllib.load(f).get("search", {}).get("params", [])
    if not params:
        raise SystemExit(f"{config}: no [search] params")
    return params


def suggest(trial, params):
    values = {}
    for p in params:
        name = p["name"]
        if "choices" in p:
            values[name] = trial.suggest_categorical(name, p["choices"])
        elif p.get("int", False):
            values[name] = trial.suggest_int(name, int(p["low"]), int(p["high"]), log=p.get("log", False))
        else:
            values[name] = trial.suggest_float(name, float(p["low"]), float(p["high"]), log=p.get("log", False))
    return values


def die_with_parent():
    """The trial process gets SIGKILL when its worker dies (Linux prctl)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def objective_for(args, params):
    def objective(trial):
        values = suggest(trial, params)
        index = trial.user_attrs.get("tinyreg_trial", OPTUNA_INDEX_BASE + trial.number)
        command = [args.tinyreg, "trial", args.config, "--params", json.dumps(values), "--trial", str(index)]
        log(f"trial {trial.number} started (tinyreg trial {index})")
        started = time.monotonic()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent)
        last = None
        try:
            for line in process.stdout:
                record = json.loads(line)
                last = record
                trial.report(record["val_accuracy"], record["epoch"])
                if trial.should_prune():
                    process.kill()
                    process.wait()
                    trial.set_user_attr("seconds", time.monotonic() - started)
                    log(f"trial {trial.number} pruned at epoch {record['epoch']}")
                    raise optuna.TrialPruned()
        finally:
            if process.poll() is None:
                process.wait()
        if process.returncode != 0 or last is None:
            raise RuntimeError(f"tinyreg trial exited with status {process.returncode}")
        trial.set_user_attr("val_loss", last["val_loss"])
        trial.set_user_attr("seconds", time.monotonic() - started)
        log(f"trial {trial.number} finished: validation accuracy {last['val_accuracy']}")
        return last["val_accuracy"]

    return objective


def create(args):
    study = optuna.create_study(
        study_name=args.study,
        storage=storage(args.storage, heartbeat=False),
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=args.seed),
        load_if_exists=True,
    )
    if args.enqueue:
        points = subprocess.run([args.tinyreg, "points", args.config], check=True, capture_output=True, text=True)
        count = 0
        for line in points.stdout.splitlines():
            point = json.loads(line)
            study.enqueue_trial(point["params"], user_attrs={"tinyreg_trial": point["trial"]})
            count += 1
        log(f"enqueued {count} tinyreg points")


def worker(args):
    params = search_space(args.config)
    study = optuna.load_study(
        study_name=args.study,
        storage=storage(args.storage, heartbeat=True),
        sampler=optuna.samplers.RandomSampler(seed=args.seed + os.getpid()),
        pruner=pruner(args.pruner),
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(
        objective_for(args, params),
        catch=(RuntimeError,),
        callbacks=[MaxTrialsCallback(args.trials, states=FINISHED)],
    )
    log("done")


def verify(args):
    """Checks what CI promises: the study completed, the pruner stopped some
    trials, a killed trial was failed and retried (nothing lost), and every
    enqueued point that ran to the end gave tinyreg search's result."""
    study = optuna.load_study(study_name=args.study, storage=storage(args.storage, heartbeat=False))
    trials = study.get_trials(deepcopy=False)
    by_state = {s: [t for t in trials if t.state == s] for s in TrialState}
    finished = by_state[TrialState.COMPLETE] + by_state[TrialState.PRUNED]
    print(
        f"study {args.study}: {len(trials)} trials, {len(by_state[TrialState.COMPLETE])} complete, "
        f"{len(by_state[TrialState.PRUNED])} pruned, {len(by_state[TrialState.FAIL])} failed, "
        f"{len(by_state[TrialState.RUNNING])} running, {len(by_state[TrialState.WAITING])} waiting"
    )
    problems = []
    if len(finished) < args.trials:
        problems.append(f"only {len(finished)} of {args.trials} trials finished")
    if by_state[TrialState.RUNNING]:
        problems.append("trials still RUNNING")
    if args.min_pruned and len(by_state[TrialState.PRUNED]) < args.min_pruned:
        problems.append("the pruner stopped no trial")
    if args.killed is not None:
        killed = next((t for t in trials if t.number == args.killed), None)
        if killed is None or killed.state != TrialState.FAIL:
            problems.append(f"killed trial {args.killed} is {killed and killed.state}, not FAIL")
        retries = [t for t in finished if t.system_attrs.get("failed_trial") == args.killed]
        if not retries:
            problems.append(f"killed trial {args.killed} was not retried to the end")
        elif killed is not None and retries[0].params != killed.params:
            problems.append("the retry has other parameters")
        else:
            print(f"killed trial {args.killed}: FAIL, retried as trial {retries[0].number} ({retries[0].state.name})")
    expected = {}
    with open(os.path.join(args.search_dir, "trials.jsonl")) as f:
        for line in f:
            record = json.loads(line)
            expected[record["trial"]] = record
    enqueued = [t for t in trials if "tinyreg_trial" in t.user_attrs]
    done = {t.user_attrs["tinyreg_trial"] for t in enqueued if t.state in FINISHED}
    missing = sorted(set(expected) - done)
    if missing:
        problems.append(f"enqueued points never finished: {missing}")
    matched = 0
    for t in enqueued:
        if t.state != TrialState.COMPLETE:
            continue
        want = expected[t.user_attrs["tinyreg_trial"]]
        if t.params != want["params"]:
            problems.append(f"trial {t.number}: params {t.params} != {want['params']}")
        if t.value != want["val_accuracy"]:
            problems.append(
                f"trial {t.number} (tinyreg trial {t.user_attrs['tinyreg_trial']}): "
                f"{t.value} != tinyreg search's {want['val_accuracy']}"
            )
        matched += 1
    print(f"{matched} complete enqueued trials reproduce tinyreg search's validation accuracy exactly")
    # Optuna's cost per trial: its wall time less tinyreg's training time.
    overhead = []
    for t in by_state[TrialState.COMPLETE]:
        if t.datetime_start and t.datetime_complete and "tinyreg_trial" in t.user_attrs:
            wall = (t.datetime_complete - t.datetime_start).total_seconds()
            train = expected[t.user_attrs["tinyreg_trial"]]["seconds"]
            overhead.append((wall, train))
    if overhead:
        wall = sum(w for w, _ in overhead) / len(overhead)
        train = sum(s for _, s in overhead) / len(overhead)
        print(
            f"per complete trial: {wall:.3f} s in Optuna (process, data load, storage) against "
            f"{train:.3f} s of training in tinyreg search: {wall - train:.3f} s overhead"
        )
    if problems:
        for p in problems:
            print("FAIL:", p)
        sys.exit(1)
    print("study verified")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["create", "worker", "verify"])
    parser.add_argument("--storage", required=True, help="an RDB URL, e.g. postgresql+psycopg2://user:pw@host/db")
    parser.add_argument("--study", required=True)
    parser.add_argument("--config", help="the tinyreg config (its [search] is the space)")
    parser.add_argument("--tinyreg", default="tinyreg", help="the tinyreg binary")
    parser.add_argument("--enqueue", action="store_true", help="create: enqueue tinyreg's points")
    parser.add_argument("--pruner", default="median", choices=["median", "halving", "none"])
    parser.add_argument("--trials", type=int, default=12, help="finished (complete or pruned) trials to reach")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--search-dir", help="verify: the output folder of `tinyreg search` on the same config")
    parser.add_argument("--killed", type=int, help="verify: the trial number whose worker was killed")
    parser.add_argument("--min-pruned", type=int, default=1)
    args = parser.parse_args()
    {"create": create, "worker": worker, "verify": verify}[args.command](args)


if __name__ == "__main__":
    main()
