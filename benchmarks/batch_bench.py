"""Time the batch job (snapshot load + `dbt build`) against a raw engine baseline, and an
incremental day against a full refresh, per engine.

The target: load + build within 3x the raw baseline plus dbt's fixed start-up, that is

    ratio = (load + build) / (3 x baseline + dbt start-up) <= 1

- load: `ingest snapshots` of the four sample files into an empty warehouse;
- build: a full `dbt build` (models, seeds, data and unit tests) right after it;
- dbt start-up: `dbt parse` with an empty target directory (interpreter start, imports, full
  project parse), the same parse the measured build pays since it starts from an empty one too;
- raw baseline: the engine alone typing the deposits file, the bulk of the data. DuckDB: one
  `create table as` from `read_csv` with typed columns. PostgreSQL: `COPY` into an unlogged text
  table, then one typed `create table as`.

The incremental day (a delta load, then `dbt build`) and the full refresh of the same history
run the build as `ingest daily` does: unit tests excluded, and the target folder of the build
before kept, so dbt's partial parsing reads only what changed.

The dbt project (`--project-dir`, default this repository) is copied at start, so edits made
while the run goes on do not mix versions between engines; `ingest` is whichever the
virtualenv imports.

Peak memory is the largest resident set of each client process (`ingest`, `dbt`) as the kernel
reports it on exit; PostgreSQL's server processes are not included.

Run from the repository root with the project's virtualenv:

    .venv/bin/python -m benchmarks.batch_bench                 # original volume, both engines
    .venv/bin/python -m benchmarks.batch_bench --deposits 20000 --engines duckdb --json

PostgreSQL is reached through PGHOST, PGPORT, PGUSER and PGPASSWORD (defaults as in
profiles.yml.example); the run creates a scratch database there and drops it at the end.
"""

import argparse
import dataclasses
import importlib.metadata
import json
import logging
import multiprocessing
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import duckdb
import psycopg2
import yaml

from ingest.batch.daily import PRODUCTION_BUILD_FLAGS
from ingest.contracts import (
    DEPOSITS_SNAPSHOT,
    EVENTS_SNAPSHOT,
    USERS_SNAPSHOT,
    WITHDRAWALS_SNAPSHOT,
)

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ORIGINAL_DEPOSITS = 1_618_271
ENGINES = ("duckdb", "postgres")
DEPOSITS_FILE = DEPOSITS_SNAPSHOT.default_file
SLOWEST_NODES = 10
# dbt_project.yml keys naming the directories dbt reads, with dbt's defaults.
PROJECT_PATHS = {
    "model-paths": ["models"],
    "seed-paths": ["seeds"],
    "macro-paths": ["macros"],
    "test-paths": ["tests"],
    "analysis-paths": ["analyses"],
    "snapshot-paths": ["snapshots"],
}

# Deposits as staging types them: exact 18-decimal amounts and UTC timestamps; the rest is text.
DEPOSIT_TYPES = {"id": "bigint", "event_timestamp": "timestamptz", "amount": "decimal(38, 18)"}
DUCKDB_DEPOSIT_COLUMNS = (
    "{"
    + ", ".join(
        f"'{column}': '{DEPOSIT_TYPES.get(column, 'varchar')}'"
        for column in DEPOSITS_SNAPSHOT.columns
    )
    + "}"
)
POSTGRES_TEXT_DEPOSITS = (
    "create unlogged table bench_deposits_text ("
    + ", ".join(f"{column} text" for column in DEPOSITS_SNAPSHOT.columns)
    + ")"
)
POSTGRES_TYPED_DEPOSITS = (
    "create table bench_deposits as select "
    + ", ".join(
        f"cast({column} as {DEPOSIT_TYPES[column]}) as {column}"
        if column in DEPOSIT_TYPES
        else column
        for column in DEPOSITS_SNAPSHOT.columns
    )
    + " from bench_deposits_text"
)

log = logging.getLogger("batch_bench")


class BenchError(Exception):
    """A step of the benchmark failed; the message names it."""


@dataclasses.dataclass(frozen=True)
class ChildRun:
    seconds: float
    peak_rss_mib: float


@dataclasses.dataclass(frozen=True)
class EngineResult:
    engine: str
    load_seconds: float
    build_seconds: float
    dbt_startup_seconds: float
    baseline_seconds: float
    load_peak_rss_mib: float
    build_peak_rss_mib: float
    slowest_nodes: list[dict]
    incremental_day_seconds: float
    # A warm `dbt build` that selects nothing: what an incremental day cannot go below.
    warm_startup_seconds: float
    incremental_slowest_nodes: list[dict]
    full_refresh_seconds: float
    incremental_day_model_seconds: float
    full_refresh_model_seconds: float
    # Every model holds the same rows after the incremental day as after the full refresh.
    builds_agree: bool
    disagreeing_models: list[str]

    @property
    def budget_seconds(self) -> float:
        return 3 * self.baseline_seconds + self.dbt_startup_seconds

    @property
    def ratio(self) -> float:
        return (self.load_seconds + self.build_seconds) / self.budget_seconds

    @property
    def incremental_share(self) -> float:
        """An incremental day's `dbt build` over a full refresh's, both whole commands."""
        return self.incremental_day_seconds / self.full_refresh_seconds

    @property
    def incremental_model_share(self) -> float:
        """The same, counting only the models' own execution time (no dbt overhead, no tests)."""
        return self.incremental_day_model_seconds / self.full_refresh_model_seconds

    def as_dict(self) -> dict:
        return {
            **dataclasses.asdict(self),
            "budget_seconds": self.budget_seconds,
            "ratio": self.ratio,
            "target_met": self.ratio <= 1,
            "incremental_share": self.incremental_share,
            "incremental_model_share": self.incremental_model_share,
        }


def run_child(step: str, argv: list[str], env: Mapping[str, str], log_path: Path) -> ChildRun:
    """Run one client process to completion; its output goes to `log_path`."""
    with log_path.open("wb") as output:
        start = time.perf_counter()
        process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=output, stderr=output)
        # wait4 rather than Popen.wait: it returns this child's own resource usage.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
    # Reaped here, so Popen must not try to reap it again.
    process.returncode = exit_code = os.waitstatus_to_exitcode(status)
    if exit_code != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
        raise BenchError(f"{step} failed (exit {exit_code}):\n  " + "\n  ".join(tail))
    # ru_maxrss is in KiB on Linux.
    return ChildRun(seconds=seconds, peak_rss_mib=usage.ru_maxrss / 1024)


def in_fresh_process(function: Callable[..., float], *args) -> float:
    """Run `function` in a new interpreter, keeping this process's memory peak low.

    Linux carries a parent's peak resident set into each child it spawns, so a baseline run in
    this process would raise every later child's reading to the baseline's peak.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def duckdb_baseline(deposits_csv: Path, database: Path) -> float:
    start = time.perf_counter()
    with duckdb.connect(str(database)) as connection:
        connection.execute("set TimeZone = 'UTC'")
        # Its progress bar would write to stderr, which carries only this script's log.
        connection.execute("set enable_progress_bar = false")
        connection.execute(
            "create table bench_deposits as select * from read_csv(?, header = true,"
            f" auto_detect = false, columns = {DUCKDB_DEPOSIT_COLUMNS})",
            [str(deposits_csv)],
        )
    return time.perf_counter() - start


def postgres_baseline(deposits_csv: Path, pg: Mapping[str, str]) -> float:
    connection = postgres_connect(pg, pg["PGDATABASE"])
    try:
        start = time.perf_counter()
        with connection.cursor() as cursor, deposits_csv.open("rb") as csv_file:
            cursor.execute(POSTGRES_TEXT_DEPOSITS)
            cursor.copy_expert(
                "copy bench_deposits_text from stdin with (format csv, header true)", csv_file
            )
            cursor.execute(POSTGRES_TYPED_DEPOSITS)
        connection.commit()
        seconds = time.perf_counter() - start
        with connection.cursor() as cursor:
            cursor.execute("drop table bench_deposits_text, bench_deposits")
        connection.commit()
        # Flush now what the baseline wrote, so the load that follows does not pay for it.
        connection.autocommit = True
        with connection.cursor() as cursor:
            try:
                cursor.execute("checkpoint")
            except psycopg2.errors.InsufficientPrivilege:
                log.warning("postgres: no privilege to checkpoint after the baseline")
    finally:
        connection.close()
    return seconds


def postgres_settings(database: str) -> dict[str, str]:
    """The PG* variables dbt's profile and `ingest` both read, with the profile's defaults."""
    return {
        "PGHOST": os.environ.get("PGHOST", "localhost"),
        "PGPORT": os.environ.get("PGPORT", "5432"),
        "PGUSER": os.environ.get("PGUSER", "postgres"),
        "PGDATABASE": database,
    }


def postgres_connect(pg: Mapping[str, str], database: str):
    # libpq reads PGPASSWORD itself, so it never passes through here.
    return psycopg2.connect(
        host=pg["PGHOST"],
        port=pg["PGPORT"],
        user=pg["PGUSER"],
        dbname=database,
        options="-c TimeZone=UTC",
    )


@contextmanager
def scratch_database(pg: Mapping[str, str]) -> Iterator[None]:
    """Create the benchmark's own database and drop it afterwards, whatever happened."""
    database = pg["PGDATABASE"]
    with _maintenance_cursor(pg) as cursor:
        cursor.execute(f'create database "{database}"')
    try:
        yield
    finally:
        with _maintenance_cursor(pg) as cursor:
            # `force` ends sessions a failed step may have left open.
            cursor.execute(f'drop database if exists "{database}" with (force)')


@contextmanager
def _maintenance_cursor(pg: Mapping[str, str]):
    connection = postgres_connect(pg, "postgres")
    connection.autocommit = True  # create/drop database cannot run inside a transaction
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        connection.close()


def postgres_version(pg: Mapping[str, str]) -> str:
    with _maintenance_cursor(pg) as cursor:
        cursor.execute("show server_version")
        (version,) = cursor.fetchone()
    return version.split()[0]


def slowest_nodes(run_results: Path) -> list[dict]:
    results = json.loads(run_results.read_text())["results"]
    nodes = [
        {"node": result["unique_id"], "seconds": result["execution_time"]} for result in results
    ]
    return sorted(nodes, key=lambda node: node["seconds"], reverse=True)[:SLOWEST_NODES]


def model_seconds(run_results: Path) -> float:
    """Execution time of the models alone in a dbt run (tests and dbt's overhead left out)."""
    results = json.loads(run_results.read_text())["results"]
    return sum(r["execution_time"] for r in results if r["unique_id"].startswith("model."))


def write_delta_day(sample_dir: Path, delta_dir: Path, new_rows: int, changed_rows: int) -> None:
    """A day's delta files: `new_rows` deposits never seen before (copies of existing ones under
    new ids, on the day after the history) and `changed_rows` existing deposits whose status
    changed; a few new withdrawals and events alike; no new users."""
    delta_dir.mkdir()
    next_day = "2023-08-24"
    for name, new, changed in (
        (DEPOSITS_FILE, new_rows, changed_rows),
        (WITHDRAWALS_SNAPSHOT.default_file, max(new_rows // 300, 1), 0),
        (EVENTS_SNAPSHOT.default_file, max(new_rows // 15, 1), 0),
    ):
        with (sample_dir / name).open() as source, (delta_dir / name).open("w") as delta:
            delta.write(source.readline())
            for number, line in enumerate(source):
                if number >= new + changed:
                    break
                fields = line.rstrip("\n").split(",")
                if number < new:
                    fields[0] = str(10**12 + number)
                    fields[1] = next_day + fields[1][10:]
                else:
                    fields[-1] = "failed" if fields[-1] == "complete" else "complete"
                delta.write(",".join(fields) + "\n")
    (delta_dir / USERS_SNAPSHOT.default_file).write_text(USERS_SNAPSHOT.header + "\n")


def model_fingerprints(engine: str, manifest: Path, env: Mapping[str, str]) -> dict[str, tuple]:
    """Per model the warehouse holds, its row count and an order-independent digest of its rows,
    to tell whether two builds produced the same data."""
    nodes = json.loads(manifest.read_text())["nodes"].values()
    relations = {
        node["name"]: node["relation_name"]
        for node in nodes
        if node["resource_type"] == "model" and node.get("relation_name")
    }
    if engine == "duckdb":
        row_text = "md5(cast(t as varchar))"
        connection = duckdb.connect(env["BITSO_DUCKDB_PATH"], read_only=True)
    else:
        row_text = "md5(t::text)"
        connection = postgres_connect(env, env["PGDATABASE"])
    try:
        cursor = connection.cursor()
        fingerprints = {}
        for name, relation in sorted(relations.items()):
            cursor.execute(
                f"select count(*), md5(string_agg({row_text}, '' order by {row_text})) "
                f"from {relation} as t"
            )
            fingerprints[name] = tuple(cursor.fetchone())
        return fingerprints
    finally:
        connection.close()


def copy_project(source: Path, destination: Path) -> None:
    """Copy what dbt reads, so edits made to `source` during the run do not mix versions."""
    config = yaml.safe_load((source / "dbt_project.yml").read_text())
    destination.mkdir()
    for name in ("dbt_project.yml", "profiles.yml.example"):
        shutil.copy(source / name, destination / name)
    for key, default in PROJECT_PATHS.items():
        for relative in config.get(key, default):
            if (source / relative).is_dir():
                shutil.copytree(source / relative, destination / relative)


def bench_engine(
    engine: str, project_dir: Path, sample_dir: Path, work_dir: Path, env: Mapping[str, str]
) -> EngineResult:
    dbt_flags = [
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(work_dir),
        "--log-path",
        str(work_dir / "dbt-logs"),
    ]

    log.info("%s: raw baseline", engine)
    deposits_csv = sample_dir / DEPOSITS_FILE
    if engine == "duckdb":
        baseline = in_fresh_process(duckdb_baseline, deposits_csv, work_dir / "baseline.duckdb")
    else:
        baseline = in_fresh_process(postgres_baseline, deposits_csv, dict(env))

    log.info("%s: dbt start-up (dbt parse)", engine)
    startup = run_child(
        f"{engine}: dbt parse",
        [str(BIN / "dbt"), "parse", *dbt_flags, "--target-path", str(work_dir / "parse-target")],
        env,
        work_dir / "parse.log",
    )

    log.info("%s: load (ingest snapshots)", engine)
    load = run_child(
        f"{engine}: ingest snapshots",
        [str(BIN / "ingest"), "snapshots", str(sample_dir), "--quiet"],
        env,
        work_dir / "load.log",
    )

    log.info("%s: dbt build", engine)
    build_target = work_dir / "build-target"
    build = run_child(
        f"{engine}: dbt build",
        [str(BIN / "dbt"), "build", *dbt_flags, "--target-path", str(build_target)],
        env,
        work_dir / "build.log",
    )
    slowest = slowest_nodes(build_target / "run_results.json")

    log.info("%s: one incremental day (delta load, then dbt build)", engine)
    delta_dir = work_dir / "delta"
    write_delta_day(sample_dir, delta_dir, new_rows=1_250, changed_rows=250)
    run_child(
        f"{engine}: ingest snapshots --delta",
        [str(BIN / "ingest"), "snapshots", str(delta_dir), "--quiet", "--delta",
         "--date", "2023-08-24"],
        env,
        work_dir / "delta-load.log",
    )  # fmt: skip
    # As `ingest daily` runs it: unit tests excluded, and the target folder of the day before
    # kept, so dbt parses only what changed (nothing, here).
    daily_build = [str(BIN / "dbt"), "build", *PRODUCTION_BUILD_FLAGS, *dbt_flags,
                   "--target-path", str(build_target)]  # fmt: skip
    incremental = run_child(
        f"{engine}: dbt build (incremental day)", daily_build, env, work_dir / "incremental.log"
    )
    incremental_models = model_seconds(build_target / "run_results.json")
    incremental_slowest = slowest_nodes(build_target / "run_results.json")
    # After the incremental day, so its partial parsing state is as warm as the day's own was.
    warm_startup = run_child(
        f"{engine}: dbt build selecting nothing",
        [*daily_build, "--select", "tag:selects_nothing"],
        env,
        work_dir / "warm-startup.log",
    )
    after_incremental = model_fingerprints(engine, build_target / "manifest.json", env)
    log.info("%s: full refresh of the same history", engine)
    refresh = run_child(
        f"{engine}: dbt build --full-refresh",
        [*daily_build, "--full-refresh"],
        env,
        work_dir / "refresh.log",
    )
    after_refresh = model_fingerprints(engine, build_target / "manifest.json", env)
    disagreeing = sorted(
        name
        for name in after_incremental.keys() | after_refresh.keys()
        if after_incremental.get(name) != after_refresh.get(name)
    )

    result = EngineResult(
        engine=engine,
        incremental_day_seconds=incremental.seconds,
        warm_startup_seconds=warm_startup.seconds,
        incremental_slowest_nodes=incremental_slowest,
        full_refresh_seconds=refresh.seconds,
        incremental_day_model_seconds=incremental_models,
        full_refresh_model_seconds=model_seconds(build_target / "run_results.json"),
        load_seconds=load.seconds,
        build_seconds=build.seconds,
        dbt_startup_seconds=startup.seconds,
        baseline_seconds=baseline,
        load_peak_rss_mib=load.peak_rss_mib,
        build_peak_rss_mib=build.peak_rss_mib,
        slowest_nodes=slowest,
        builds_agree=not disagreeing,
        disagreeing_models=disagreeing,
    )
    if disagreeing:
        log.error("%s: incremental and full builds differ in %s", engine, ", ".join(disagreeing))
    log.info(
        "%s: load %.1f s, build %.1f s, start-up %.1f s, baseline %.1f s, ratio %.2f",
        engine,
        result.load_seconds,
        result.build_seconds,
        result.dbt_startup_seconds,
        result.baseline_seconds,
        result.ratio,
    )
    log.info(
        "%s: incremental day %.1f s vs full refresh %.1f s (%.0f %%; models alone %.0f %%)",
        engine,
        result.incremental_day_seconds,
        result.full_refresh_seconds,
        100 * result.incremental_share,
        100 * result.incremental_model_share,
    )
    log.info("%s: slowest nodes of the full build:", engine)
    for node in result.slowest_nodes:
        log.info("%s:   %6.1f s  %s", engine, node["seconds"], node["node"])
    log.info(
        "%s: slowest nodes of the incremental day (warm start-up %.1f s):",
        engine,
        result.warm_startup_seconds,
    )
    for node in result.incremental_slowest_nodes:
        log.info("%s:   %6.1f s  %s", engine, node["seconds"], node["node"])
    return result


def machine(pg_version: str | None) -> dict:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    versions = {
        "python": platform.python_version(),
        "dbt-core": importlib.metadata.version("dbt-core"),
        "duckdb": duckdb.__version__,
    }
    if pg_version:
        versions["postgresql"] = pg_version
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "memory_gib": round(memory / 2**30, 1),
        "platform": platform.platform(),
        "versions": versions,
    }


def markdown(report: dict) -> str:
    host = report["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in host["versions"].items())
    sample = report["sample"]
    lines = [
        f"Command: `{report['command']}`",
        "",
        f"Machine: {host['cpus']} CPUs, {host['memory_gib']} GiB memory, {host['platform']};"
        f" {versions}",
        "",
        f"Sample: {sample['deposits']:,} deposits ({sample['deposits_file_mb']:.0f} MB file),"
        f" generated once in {sample['generate_seconds']:.1f} s",
        "",
        "| engine | load (s) | dbt build (s) | raw baseline (s) | dbt start-up (s)"
        " | (load + build) / (3 × baseline + start-up) | target met"
        " | peak RSS load / build (MiB) |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for engine in report["engines"]:
        lines.append(
            f"| {engine['engine']} | {engine['load_seconds']:.1f} | {engine['build_seconds']:.1f}"
            f" | {engine['baseline_seconds']:.1f} | {engine['dbt_startup_seconds']:.1f}"
            f" | {engine['ratio']:.2f} | {'yes' if engine['target_met'] else 'no'}"
            f" | {engine['load_peak_rss_mib']:.0f} / {engine['build_peak_rss_mib']:.0f} |"
        )
    lines += [
        "",
        "Daily batch: one incremental day (1,250 new and 250 changed deposits, a few withdrawals"
        " and events, loaded as a delta) on top of that history, against a full refresh of it;"
        " both built as `ingest daily` builds (unit tests excluded, partial parsing warm from"
        " the day before):",
        "",
        "| engine | incremental day `dbt build` (s) | warm start-up (s)"
        " | full refresh `dbt build` (s) | share"
        " | models alone: incremental / full refresh (s) | share | same rows as full refresh |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for engine in report["engines"]:
        agreement = (
            "yes" if engine["builds_agree"] else "no: " + ", ".join(engine["disagreeing_models"])
        )
        lines.append(
            f"| {engine['engine']} | {engine['incremental_day_seconds']:.1f}"
            f" | {engine['warm_startup_seconds']:.1f}"
            f" | {engine['full_refresh_seconds']:.1f} | {100 * engine['incremental_share']:.0f} %"
            f" | {engine['incremental_day_model_seconds']:.1f} /"
            f" {engine['full_refresh_model_seconds']:.1f}"
            f" | {100 * engine['incremental_model_share']:.0f} %"
            f" | {agreement} |"
        )
    lines += [
        "",
        "- dbt start-up: `dbt parse` with an empty target directory; the measured build starts"
        " from an empty one too, so it pays the same parse.",
        "- Warm start-up: a `dbt build` as the daily one, selecting nothing, with partial"
        " parsing warm: the floor of an incremental day.",
        "- Raw baseline: DuckDB `create table as` from a typed `read_csv` of the deposits file;"
        " PostgreSQL `COPY` into an unlogged text table plus one typed `create table as`"
        " (bigint, timestamptz, decimal/numeric(38, 18)).",
        "- Peak RSS: the `ingest` and `dbt` client processes only; PostgreSQL's server"
        " processes are not included. A reading cannot fall below the benchmark process's own"
        f" peak, {report['rss_floor_mib']:.0f} MiB, which Linux carries into every child.",
    ]
    return "\n".join(lines)


def engine_list(value: str) -> list[str]:
    engines = [name.strip() for name in value.split(",") if name.strip()]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown or not engines:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated subset of {','.join(ENGINES)}, got {value!r}"
        )
    return list(dict.fromkeys(engines))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time load + dbt build against a raw engine baseline, per warehouse engine."
    )
    parser.add_argument(
        "--deposits",
        type=int,
        default=ORIGINAL_DEPOSITS,
        help=f"Deposit rows in the generated sample (default: {ORIGINAL_DEPOSITS}, the original).",
    )
    parser.add_argument(
        "--engines",
        type=engine_list,
        default=list(ENGINES),
        help="Comma-separated engines to measure (default: duckdb,postgres).",
    )
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=REPO,
        help="dbt project to build, copied at start (default: this repository).",
    )
    parser.add_argument(
        "--json", action="store_true", help="Print a machine-readable report instead."
    )
    args = parser.parse_args(argv)
    if args.deposits < 1:
        parser.error("--deposits must be at least 1")
    if not (args.project_dir / "dbt_project.yml").is_file():
        parser.error(f"--project-dir: no dbt_project.yml in {args.project_dir}")
    return args


def run(args: argparse.Namespace) -> dict:
    pg = postgres_settings(f"bitso_bench_{os.getpid()}") if "postgres" in args.engines else None
    # Asked first, so an unreachable server fails the run before the sample is generated.
    pg_version = postgres_version(pg) if pg else None
    with tempfile.TemporaryDirectory(prefix="batch_bench_") as temp:
        temp_dir = Path(temp)
        project_dir = temp_dir / "project"
        copy_project(args.project_dir.resolve(), project_dir)
        sample_dir = temp_dir / "sample"
        log.info("generating %s deposits into %s", f"{args.deposits:,}", sample_dir)
        generated = run_child(
            "ingest generate-sample",
            [
                str(BIN / "ingest"),
                "generate-sample",
                str(sample_dir),
                "--deposits",
                str(args.deposits),
            ],
            os.environ,
            temp_dir / "generate.log",
        )
        results = []
        for engine in args.engines:
            work_dir = temp_dir / engine
            work_dir.mkdir()
            shutil.copy(project_dir / "profiles.yml.example", work_dir / "profiles.yml")
            env = {**os.environ, "BITSO_TARGET": engine}
            if engine == "duckdb":
                env["BITSO_DUCKDB_PATH"] = str(work_dir / "warehouse.duckdb")
                results.append(bench_engine(engine, project_dir, sample_dir, work_dir, env))
            else:
                env.update(pg)
                with scratch_database(pg):
                    results.append(bench_engine(engine, project_dir, sample_dir, work_dir, env))
        deposits_bytes = (sample_dir / DEPOSITS_FILE).stat().st_size
    return {
        "command": shlex.join(sys.orig_argv),
        "machine": machine(pg_version),
        "sample": {
            "deposits": args.deposits,
            "deposits_file_mb": deposits_bytes / 1e6,
            "generate_seconds": generated.seconds,
        },
        "engines": [result.as_dict() for result in results],
        # No child's peak can read lower than this process's own (see `in_fresh_process`).
        "rss_floor_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    args = parse_args(argv)
    try:
        report = run(args)
    except (BenchError, psycopg2.Error, duckdb.Error) as error:
        message = str(error).strip()
        print(f"error: {message} (temporary files and database removed)", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2) if args.json else markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
