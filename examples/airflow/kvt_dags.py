"""Airflow DAGs for the kvt batch chain, generated from kvt.toml (Airflow 2.x).

Copy this file into the Airflow dags folder and point ``KVT_CONFIG`` at the
kvt.toml of the host (default: ``$KVT_HOME/kvt.toml``, else ``./kvt.toml``).
The file is read with ``tomllib`` at parse time; kvt itself is only needed by
the workers. What it generates (see examples/airflow/README.md):

* ``kvt_nightly``: the whole chain in one DAG, for a single nightly window:
  ``ingest_kafka`` and ``ingest_drive_<source>`` → ``silver_<source>`` →
  ``gold`` → ``load`` → ``check``.
* the schedules of SPEC OPS-13, one DAG each: ``kvt_ingest_kafka`` (00:00,
  ingest kafka → silver payments, orders), ``kvt_drive_<source>`` (the
  source's ``schedule``: ingest drive → silver), ``kvt_warehouse``
  (``nightly_schedule``: silver gate → gold → load → check) and
  ``kvt_kyc_purge`` (04:15).

Enable either ``kvt_nightly`` or the per-schedule DAGs, not both. Every task is
a ``KvtOperator`` (a ``BashOperator``): exit 0 succeeds, exit 1 ("the data said
no") fails at once without retries, any other exit fails and is retried; the
run summary (kvt's last stdout line, parsed as JSON) is the task's XCom
``return_value``.
"""

from __future__ import annotations

import json
import os
import re
import shlex

try:
    import tomllib  # Python 3.11+
except ImportError:  # Python 3.9/3.10: pip install tomli
    import tomli as tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow import DAG
from airflow.exceptions import AirflowException, AirflowFailException
from airflow.hooks.subprocess import SubprocessHook
from airflow.operators.bash import BashOperator
from airflow.operators.python import PythonOperator

# Fixed in the past; with catchup=False only the latest interval is run.
START_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)
KAFKA_SILVER = ("payments", "orders")
DEFAULT_SILVER = ["crm", "firebase", "nginx", "logistics", "kyc", "payments", "orders"]
KAFKA_SCHEDULE = "0 0 * * *"  # OPS-13: Kafka → bronze every night at midnight (UTC)
KYC_PURGE_SCHEDULE = "15 4 * * *"  # KYC-15 retention, as in cron/kvt.crontab
AIRFLOW_KEYS = {
    "kvt_bin",
    "workdir",
    "retries",
    "retry_delay",
    "nightly_schedule",
    "kafka",
    "env_file",
    "silver_sources",
}
NAME_RE = re.compile(r"^[a-z0-9_-]+$")


class KvtConfigError(Exception):
    """kvt.toml (or its [airflow] table) cannot be turned into DAGs."""


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    config: Path  # kvt.toml, absolute
    kvt_bin: str
    workdir: Path
    retries: int
    retry_delay: timedelta
    nightly_schedule: str
    kafka: bool
    env_file: Path | None
    silver_sources: tuple[str, ...]
    sources: dict[str, str | None]  # [sources.NAME] → its schedule


def parse_delay(value: Any) -> timedelta:
    """300 | "300" | "30s" | "5m" | "1h" → timedelta."""
    if isinstance(value, bool):
        raise ValueError(f"retry_delay = {value!r}: expected seconds or a string like 30s, 5m, 1h")
    if isinstance(value, int) and value >= 0:
        return timedelta(seconds=value)
    m = re.fullmatch(r"(\d+)([smh]?)", str(value).strip()) if isinstance(value, str) else None
    if not m:
        raise ValueError(f"retry_delay = {value!r}: expected seconds or a string like 30s, 5m, 1h")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
    return timedelta(seconds=int(m.group(1)) * unit)


def default_config_path() -> Path:
    if os.environ.get("KVT_CONFIG"):
        return Path(os.environ["KVT_CONFIG"])
    if os.environ.get("KVT_HOME"):
        return Path(os.environ["KVT_HOME"]) / "kvt.toml"
    return Path("kvt.toml")


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise KvtConfigError(
            f"{path}: no such file (set KVT_CONFIG to the kvt.toml of this host)"
        ) from None
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise KvtConfigError(f"{path}: {e}") from None


def _relative_to(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def load_settings(config: Path | None = None, airflow_config: Path | None = None) -> Settings:
    """Read kvt.toml and its [airflow] table (or the [airflow] table of
    ``KVT_AIRFLOW_CONFIG`` when set). Any problem raises KvtConfigError
    naming the file."""
    config = (config or default_config_path()).expanduser().resolve()
    doc = _read_toml(config)

    if airflow_config is None and os.environ.get("KVT_AIRFLOW_CONFIG"):
        airflow_config = Path(os.environ["KVT_AIRFLOW_CONFIG"])
    if airflow_config is not None:
        airflow_config = airflow_config.expanduser().resolve()
        table = _read_toml(airflow_config).get("airflow", {})
        origin = airflow_config
    else:
        table = doc.get("airflow", {})
        origin = config

    def bad(message: str) -> KvtConfigError:
        return KvtConfigError(f"{origin}: {message}")

    if not isinstance(table, dict):
        raise bad("airflow must be a table")
    unknown = sorted(set(table) - AIRFLOW_KEYS)
    if unknown:
        raise bad(f"unknown key(s) airflow.{', airflow.'.join(unknown)}; known: {', '.join(sorted(AIRFLOW_KEYS))}")

    def typed(key: str, kind: type | tuple, default: Any) -> Any:
        value = table.get(key, default)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise bad(f"airflow.{key} = {value!r}: expected {getattr(kind, '__name__', kind)}")
        return value

    base = origin.parent
    kvt_bin = typed("kvt_bin", str, "kvt")
    if "/" in kvt_bin:  # a path, not a name looked up on PATH
        kvt_bin = str(_relative_to(base, kvt_bin))
    workdir = _relative_to(base, typed("workdir", str, str(config.parent)))
    retries = typed("retries", int, 2)
    if retries < 0:
        raise bad(f"airflow.retries = {retries}: must be >= 0")
    try:
        retry_delay = parse_delay(table.get("retry_delay", "5m"))
    except ValueError as e:
        raise bad(f"airflow.{e}") from None
    env_file = table.get("env_file")
    if env_file is not None:
        env_file = _relative_to(base, typed("env_file", str, ""))
    silver = typed("silver_sources", list, DEFAULT_SILVER)
    if not all(isinstance(s, str) and NAME_RE.match(s) for s in silver):
        raise bad(f"airflow.silver_sources = {silver!r}: expected a list of source names")
    kafka = typed("kafka", bool, True)

    sources_table = doc.get("sources", {})
    if not isinstance(sources_table, dict):
        raise KvtConfigError(f"{config}: sources must be a table")
    sources: dict[str, str | None] = {}
    for name, entry in sources_table.items():
        if not NAME_RE.match(name) or not isinstance(entry, dict):
            raise KvtConfigError(f"{config}: sources.{name}: not a source entry")
        schedule = entry.get("schedule")
        if schedule is not None and not isinstance(schedule, str):
            raise KvtConfigError(f"{config}: sources.{name}.schedule = {schedule!r}: expected a cron expression")
        sources[name] = schedule

    if not kafka:
        silver = [s for s in silver if s not in KAFKA_SILVER]
    if "silver_sources" not in table:  # the default: the tables this config feeds
        silver = [s for s in silver if s in sources or s in KAFKA_SILVER]
    for s in silver:
        if s not in sources and s not in KAFKA_SILVER:
            raise bad(
                f"airflow.silver_sources names {s!r}, which is neither a sources.{s} entry of {config} "
                f"nor a Kafka table ({', '.join(KAFKA_SILVER)})"
            )

    return Settings(
        config=config,
        kvt_bin=kvt_bin,
        workdir=workdir,
        retries=retries,
        retry_delay=retry_delay,
        nightly_schedule=typed("nightly_schedule", str, "30 6 * * *"),
        kafka=kafka,
        env_file=env_file,
        silver_sources=tuple(dict.fromkeys(silver)),
        sources=sources,
    )


# ---------------------------------------------------------------- operator


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (``export`` and surrounding quotes allowed, # comments)."""
    env = {}
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise AirflowFailException(f"{path}:{n}: not a KEY=VALUE line")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key] = value
    return env


def parse_summary(line: str) -> Any:
    """kvt's last stdout line: the JSON run summary (a dict), else the raw line."""
    try:
        return json.loads(line)
    except ValueError:
        return line


class _RecordingHook(SubprocessHook):
    """SubprocessHook that keeps the last result (exit code, last line)."""

    result = None

    def run_command(self, *args, **kwargs):
        self.result = super().run_command(*args, **kwargs)
        return self.result


class KvtOperator(BashOperator):
    """Run one kvt command in the kvt working directory.

    - stderr (kvt's logs) streams into the task log; stdout is printed after
      the command, so the task's last output line is kvt's run summary;
    - exit 0: success, the summary is XCom ``return_value`` (a dict);
    - exit 1 (the data said no): the task fails at once, never retried
      (a retry cannot change a data verdict), summary still in XCom;
    - any other exit: the task fails and is retried (``retries``, ``retry_delay``);
    - environment: the worker's (``append_env``), plus the ``env_file`` lines
      that the worker does not set, plus ``KVT_CONFIG`` (this kvt.toml) and
      ``KVT_RUN_ID`` = ``<dag_id>/<run_id>/<task_id>/<try>``.
    """

    ui_color = "#dbe9f6"

    def __init__(self, *, kvt_args: list[str], settings: Settings, **kwargs) -> None:
        command = " ".join(shlex.quote(a) for a in [settings.kvt_bin, *kvt_args])
        kwargs.setdefault("retries", settings.retries)
        kwargs.setdefault("retry_delay", settings.retry_delay)
        super().__init__(
            # $(…) keeps stdout (one JSON line) until kvt exits, stderr streams live.
            bash_command=f'out=$({command}); rc=$?; printf "%s\\n" "$out"; exit "$rc"',
            cwd=str(settings.workdir),
            append_env=True,
            skip_on_exit_code=None,  # no exit code is a skip: 1 and 2 are failures
            do_xcom_push=True,
            output_processor=parse_summary,
            **kwargs,
        )
        self.kvt_args = list(kvt_args)
        self.kvt_config = str(settings.config)
        self.env_file = str(settings.env_file) if settings.env_file else None

    @cached_property
    def subprocess_hook(self):
        return _RecordingHook()

    def get_env(self, context) -> dict:
        env = super().get_env(context)
        if self.env_file:
            try:
                extra = read_env_file(Path(self.env_file))
            except OSError as e:
                raise AirflowFailException(f"env_file {self.env_file}: {e}") from None
            for key, value in extra.items():
                env.setdefault(key, value)  # the worker's environment wins, as in kvt's .env
        ti = context["ti"]
        env["KVT_CONFIG"] = self.kvt_config
        env["KVT_RUN_ID"] = f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{ti.try_number}"
        return env

    def execute(self, context):
        try:
            return super().execute(context)
        except AirflowException:
            result = self.subprocess_hook.result
            if result is None:
                raise
            summary = parse_summary(result.output)
            if isinstance(summary, dict):
                context["ti"].xcom_push(key="return_value", value=summary)
            if result.exit_code == 1:
                raise AirflowFailException(
                    f"kvt {' '.join(self.kvt_args)} exited 1: the data said no "
                    f"(status {summary.get('status') if isinstance(summary, dict) else '?'}); not retried"
                ) from None
            raise


# ---------------------------------------------------------------- DAGs


def silver_gate(upstreams: list[list[str]]) -> dict:
    """Fail when, today (UTC), the latest run of a silver task of the
    per-schedule DAGs failed: gold never reads a day that a failed step left
    behind (OPS-4; cron/kvt-step --after does the same)."""
    from airflow.models import TaskInstance
    from airflow.utils import timezone as airflow_tz
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    midnight = airflow_tz.utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    failed, seen = [], {}
    with create_session() as session:
        for dag_id, task_id in upstreams:
            ti = (
                session.query(TaskInstance)
                .filter(
                    TaskInstance.dag_id == dag_id,
                    TaskInstance.task_id == task_id,
                    TaskInstance.end_date >= midnight,
                )
                .order_by(TaskInstance.end_date.desc())
                .first()
            )
            state = ti.state if ti else None
            seen[f"{dag_id}.{task_id}"] = str(state) if state else "not run today"
            if state in (TaskInstanceState.FAILED, TaskInstanceState.UPSTREAM_FAILED):
                failed.append(f"{dag_id}.{task_id} ({state}, run {ti.run_id})")
    if failed:
        raise AirflowFailException("upstream silver failed today: " + ", ".join(failed))
    return seen


class Factory:
    """Builds the DAGs; one task builder shared by every DAG."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings

    def dag(self, dag_id: str, schedule: str | None, doc: str, key: str | None = None) -> DAG:
        """A DAG; ``key`` names the configuration key its schedule comes from."""
        try:
            dag = DAG(
                dag_id=dag_id,
                schedule=schedule,
                start_date=START_DATE,
                catchup=False,
                max_active_runs=1,
                tags=["kvt"],
                doc_md=doc,
                default_args={"owner": "kvt"},
            )
            dag.timetable.validate()  # else a bad cron expression only shows up later
        except Exception as e:
            where = f"{key} = {schedule!r}" if key else dag_id
            raise KvtConfigError(f"{self.s.config}: {where}: {e}") from None
        return dag

    def task(self, dag: DAG, task_id: str, *kvt_args: str) -> KvtOperator:
        return KvtOperator(task_id=task_id, dag=dag, kvt_args=list(kvt_args), settings=self.s)

    def ingest_kafka(self, dag: DAG) -> KvtOperator:
        return self.task(dag, "ingest_kafka", "ingest", "kafka")

    def ingest_drive(self, dag: DAG, source: str) -> KvtOperator:
        return self.task(dag, f"ingest_drive_{source}", "ingest", "drive", source)

    def silver(self, dag: DAG, source: str) -> KvtOperator:
        return self.task(dag, f"silver_{source}", "silver", source)

    def warehouse(self, dag: DAG) -> tuple[KvtOperator, KvtOperator]:
        """gold → load → check; returns (gold, check)."""
        gold = self.task(dag, "gold", "gold")
        check = self.task(dag, "check", "check")
        gold >> self.task(dag, "load", "load") >> check
        return gold, check

    def silver_upstream(self, source: str) -> str | None:
        """The ingestion a silver table waits for: ``kafka`` or the drive source."""
        if source in KAFKA_SILVER:
            return "kafka" if self.s.kafka else None
        return source if source in self.s.sources else None

    # -- the whole chain in one DAG
    def nightly(self) -> DAG:
        dag = self.dag(
            "kvt_nightly",
            self.s.nightly_schedule,
            key="airflow.nightly_schedule",
            doc="The whole kvt batch chain: ingestion → silver → gold → load → check. "
            "Enable this DAG **or** the per-schedule ones (`kvt_ingest_kafka`, "
            "`kvt_drive_*`, `kvt_warehouse`), not both.",
        )
        ingest = {}
        if self.s.kafka:
            ingest["kafka"] = self.ingest_kafka(dag)
        for source in self.s.sources:
            ingest[source] = self.ingest_drive(dag, source)
        leaves = []
        fed = set()
        for source in self.s.silver_sources:
            upstream = self.silver_upstream(source)
            task = self.silver(dag, source)
            ingest[upstream] >> task
            fed.add(upstream)
            leaves.append(task)
        leaves += [t for name, t in ingest.items() if name not in fed]  # ingested, no silver
        gold, _ = self.warehouse(dag)
        leaves >> gold
        return dag

    # -- one DAG per schedule of OPS-13
    def per_schedule(self) -> list[DAG]:
        dags, gate_upstreams = [], []
        if self.s.kafka:
            dag = self.dag(
                "kvt_ingest_kafka",
                KAFKA_SCHEDULE,
                "Kafka payments/orders → bronze, then their silver tables.",
            )
            ingest = self.ingest_kafka(dag)
            for source in self.s.silver_sources:
                if source in KAFKA_SILVER:
                    ingest >> self.silver(dag, source)
                    gate_upstreams.append([dag.dag_id, f"silver_{source}"])
            dags.append(dag)
        for source, schedule in self.s.sources.items():
            dag = self.dag(
                f"kvt_drive_{source}",
                schedule,
                key=f"sources.{source}.schedule",
                doc=f"`kvt ingest drive {source}` at the source's schedule ({schedule}), then its silver table.",
            )
            ingest = self.ingest_drive(dag, source)
            if source in self.s.silver_sources:
                ingest >> self.silver(dag, source)
                gate_upstreams.append([dag.dag_id, f"silver_{source}"])
            dags.append(dag)

        dag = self.dag(
            "kvt_warehouse",
            self.s.nightly_schedule,
            key="airflow.nightly_schedule",
            doc="gold → load → check in the nightly window, after the per-schedule DAGs. "
            "`silver_gate` fails when a silver task of those DAGs failed today (UTC).",
        )
        gate = PythonOperator(
            task_id="silver_gate",
            dag=dag,
            python_callable=silver_gate,
            op_args=[gate_upstreams],
            retries=0,
        )
        gold, _ = self.warehouse(dag)
        gate >> gold
        dags.append(dag)

        dag = self.dag(
            "kvt_kyc_purge",
            KYC_PURGE_SCHEDULE,
            "KYC retention (KYC-15): decisions older than the retention leave the transactional table.",
        )
        self.task(dag, "kyc_purge", "kyc", "purge")
        dags.append(dag)
        return dags

    def all(self) -> list[DAG]:
        return [self.nightly(), *self.per_schedule()]


def build(config: Path | None = None, airflow_config: Path | None = None) -> list[DAG]:
    settings = load_settings(config, airflow_config)
    try:
        return Factory(settings).all()
    except KvtConfigError:
        raise
    except Exception as e:  # e.g. an invalid cron expression in a schedule
        raise KvtConfigError(f"{settings.config}: cannot build the kvt DAGs: {e}") from e


for _dag in build():
    globals()[_dag.dag_id] = _dag
