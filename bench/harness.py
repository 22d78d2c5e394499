"""What every benchmark shares: scratch services, data loaders, timing, a sampler, the report.

Each benchmark gets, and cleans up, its own:

- Postgres database, created from the server's ``postgres`` database, migrated with
  ``job_scheduler.adapters.db.migrate`` and dropped (``WITH (FORCE)``) at the end;
- moto ``ThreadedMotoServer`` on a free loopback port (dummy credentials in this process):
  SQS for the notifications queue, EventBridge for the rules ``admin.edits.create_job``
  makes with each job (through the real ``RuleStore``; moto never fires them);
- fake Telegram, ``python -m infra.fakes.telegram --port 0`` in a separate process so the
  server does not compete with the code under test for this process's GIL.

All traffic stays on 127.0.0.1. Benchmarks print ratios against a baseline measured in the
same run; nothing here asserts on time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, MutableSequence, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import psycopg
from botocore.awsrequest import AWSResponse

from job_scheduler.adapters.db import close_all, migrate
from job_scheduler.admin.edits import create_job
from job_scheduler.admin.specs import CustomJobSpec
from job_scheduler.config import Settings
from job_scheduler.delivery.outbox import DeliveryBatch
from job_scheduler.messages.message_config import MessageConfig
from job_scheduler.model import Job
from job_scheduler.observability import logger, metrics
from job_scheduler.sync.rules import RuleStore

REPO = Path(__file__).resolve().parents[1]
SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
TOKEN = "123456789:BENCH-token-for-the-fake-telegram-server"
FIRST_CHAT_ID = 10_000_000
MESSAGE_TEXT = "<b>Hi {{ user.first_name }}</b>, tomorrow's menu is open: pick your food by 22:00."
# The target of the jobs' EventBridge rules on moto (rules need one; nothing fires them there).
JOBS_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:bench-jobs"
_AWS_DUMMY = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


# --- the process ----------------------------------------------------------------------------


def quiet(level: str = "WARNING") -> None:
    """Warnings and errors only (or ``level``): a benchmark's output is its report."""
    logger.setLevel(level)
    for name in ("werkzeug", "botocore", "urllib3", "httpx", "moto", "yoyo"):
        logging.getLogger(name).setLevel(logging.WARNING)


def clear_metrics() -> None:
    """What ``@metrics.log_metrics`` does after each Lambda invocation, without the printing.

    Powertools prints an EMF blob to stdout once a metric holds 100 values; calling this
    after each handler-sized unit of work keeps the report readable.
    """
    metrics.clear_metrics()


def machine() -> str:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{os.cpu_count()} cores, {platform.processor() or platform.machine()},"
        f" Python {platform.python_version()}, load average {load}"
    )


def header(title: str, **parameters: Any) -> None:
    print(f"== {title}")
    print(f"   machine: {machine()}")
    print(f"   at: {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
    if parameters:
        print("   " + ", ".join(f"{key}={value}" for key, value in parameters.items()))
    print(flush=True)


def footer() -> None:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"   load average at the end: {load}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- Postgres -------------------------------------------------------------------------------


def _database_url(name: str) -> str:
    return SERVER_URL.rsplit("/", 1)[0] + f"/{name}"


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """A migrated database of the benchmark's own, dropped afterwards; yields its URL."""
    name = f"jobs_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = _database_url(name)
        migrate(url)
        yield url
    finally:
        close_all()  # the package's cached connections
        with psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def copy_users(conn: psycopg.Connection, count: int, first_chat_id: int = FIRST_CHAT_ID) -> float:
    """``count`` active users through COPY; returns the seconds it took."""
    started = time.perf_counter()
    columns = "telegram_chat_id, first_name, last_name, username, language_code"
    with conn.cursor() as cursor, cursor.copy(f"COPY users ({columns}) FROM STDIN") as copy:
        for index in range(count):
            copy.write_row((first_chat_id + index, f"User{index}", "Bench", f"user{index}", "en"))
    conn.execute("ANALYZE users")
    return time.perf_counter() - started


def add_custom_job(
    conn: psycopg.Connection, settings: Settings, name: str, text: str = MESSAGE_TEXT
) -> Job:
    """A custom-message job reaching every active user, made as admins make one: through
    ``admin.edits.create_job``, its EventBridge rule put on the benchmark's moto server (the
    real ``RuleStore`` over ``settings.aws_endpoint_url``; moto never fires it)."""
    spec = CustomJobSpec(
        name=name,
        cron_expression="cron(0 22 * * ? *)",
        timezone="Asia/Tehran",
        message=MessageConfig.from_json({"text": text, "parse_mode": "HTML"}),
    )
    return create_job(conn, RuleStore(settings), spec, actor="bench")


def reset_deliveries(conn: psycopg.Connection, execution_id: int) -> None:
    """Put an execution's deliveries back to ``ready`` with their payloads, as the fan-out
    wrote them before its first top-up (nothing queued, sent or claimed)."""
    conn.execute(
        "UPDATE notification_deliveries SET status = 'ready', attempts = 0, claimed_by = NULL,"
        " claimed_until = NULL, sent_at = NULL, telegram_message_id = NULL, last_error = NULL"
        " WHERE execution_id = %s",
        (execution_id,),
    )
    conn.execute(
        "UPDATE job_executions SET sent_count = 0, failed_count = 0, uncertain_count = 0"
        " WHERE id = %s",
        (execution_id,),
    )
    conn.execute("VACUUM ANALYZE notification_deliveries")


def delivery_statuses(conn: psycopg.Connection, execution_id: int) -> dict[str, int]:
    rows = conn.execute(
        "SELECT status, count(*) AS n FROM notification_deliveries WHERE execution_id = %s"
        " GROUP BY status",
        (execution_id,),
    ).fetchall()
    return {row["status"]: row["n"] for row in rows}


# --- moto and SQS ---------------------------------------------------------------------------


@contextlib.contextmanager
def moto_server(separate: bool = False) -> Iterator[str]:
    """moto's server on a free loopback port; yields its URL. Sets dummy AWS credentials.

    ``separate``: in a child process of its own, with SendMessage's per-message queue scan
    patched out (``serve_fast_moto``), so SQS neither shares this process's GIL nor slows
    down as the queue fills: closer to what a run against AWS would see.
    """
    os.environ.update(_AWS_DUMMY)
    port = free_port()
    if separate:
        yield from _moto_process(port)
        return
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _moto_process(port: int) -> Iterator[str]:
    code = f"from bench.harness import serve_fast_moto; serve_fast_moto({port})"
    process = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = Deadline(30)
        while True:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{url}/moto-api/", timeout=1)
                break
            deadline.check("waiting for moto's server to start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def serve_fast_moto(port: int) -> None:
    """moto's server with one defect patched, for benchmarks only.

    moto's SendMessage reads ``queue.attributes`` for one flag, and building that dict counts
    the queue's visible, delayed and in-flight messages: three scans of every message, for
    each message sent, so queueing n messages costs O(n^2) (moto 5.2.5: 35 ms per batch call
    on an empty queue, over 600 ms once it holds 2,000 large messages). While SendMessage
    runs, the counts answer 0; GetQueueAttributes still counts.
    """
    from moto.server import ThreadedMotoServer
    from moto.sqs import models

    sending = threading.local()
    for name in (
        "approximate_number_of_messages",
        "approximate_number_of_messages_delayed",
        "approximate_number_of_messages_not_visible",
    ):
        counted = getattr(models.Queue, name)

        def count(queue: Any, counted: property = counted) -> int:
            return 0 if getattr(sending, "active", False) else counted.fget(queue)

        setattr(models.Queue, name, property(count))
    send_message = models.SQSBackend.send_message

    def send_without_scans(self: Any, *args: Any, **kwargs: Any) -> Any:
        sending.active = True
        try:
            return send_message(self, *args, **kwargs)
        finally:
            sending.active = False

    models.SQSBackend.send_message = send_without_scans
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    os.environ.update(_AWS_DUMMY)
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # before the server's threads start
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    signal.sigwait(stop)
    server.stop()


def sqs_client(endpoint: str) -> Any:
    return boto3.session.Session().client("sqs", endpoint_url=endpoint, region_name="us-east-1")


def make_queue(sqs: Any, name: str, visibility_seconds: int = 360) -> str:
    """A standard queue with a DLQ (maxReceiveCount 5), as template.yaml makes them."""
    suffix = uuid.uuid4().hex[:6]
    dlq = sqs.create_queue(QueueName=f"{name}-dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    attributes = {
        "VisibilityTimeout": str(visibility_seconds),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}),
    }
    return sqs.create_queue(QueueName=f"{name}-{suffix}", Attributes=attributes)["QueueUrl"]


def queue_depth(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def receive_batches(
    sqs: Any, queue_url: str, expected: int, timeout: float = 60
) -> list[DeliveryBatch]:
    """Receive and delete ``expected`` messages; returns them as DeliveryBatches."""
    batches: list[DeliveryBatch] = []
    deadline = Deadline(timeout)
    while len(batches) < expected:
        deadline.check(f"receiving {expected} queue messages (got {len(batches)})")
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        for message in messages:
            batches.append(DeliveryBatch.from_json(message["Body"]))
        if messages:
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(messages)
                ],
            )
    return batches


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def stubbed_sqs(aws_url: str, bodies: MutableSequence[str] | None = None) -> Any:
    """An SQS client whose SendMessageBatch is built, signed and parsed by botocore, but
    answered in-process ("all succeeded") instead of by moto: our side of the cost only.
    With ``bodies`` (a list or deque), each message body sent is appended to it (the
    outbox may call from several threads; ``extend`` on either is atomic), so a benchmark
    can hand the messages on as the queue would."""
    sqs = sqs_client(aws_url)

    def answer(request: Any, **_: Any) -> AWSResponse:
        if bodies is not None:
            sent = json.loads(request.body)
            bodies.extend(entry["MessageBody"] for entry in sent["Entries"])
        headers = {"Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, 200, headers, _Raw(b'{"Successful":[],"Failed":[]}'))

    sqs.meta.events.register("before-send.sqs.SendMessageBatch", answer)
    return sqs


# --- the fake Telegram, in a process of its own ---------------------------------------------


class FakeTelegramProcess:
    """``python -m infra.fakes.telegram`` run as a child; driven over its /_fake routes."""

    def __init__(self, process: subprocess.Popen, url: str) -> None:
        self.process = process
        self.url = url
        self._http = httpx.Client(base_url=url, timeout=30)
        self.behaviour: dict[str, Any] = {}

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change the fake's Behaviour; kept across ``reset``."""
        answer = self._http.post("/_fake/config", json=changes)
        answer.raise_for_status()
        self.behaviour.update(changes)
        return answer.json()

    def reset(self) -> None:
        """Forget messages, stats and windows; the behaviour configured here stays."""
        self._http.post("/_fake/reset").raise_for_status()
        if self.behaviour:
            self._http.post("/_fake/config", json=self.behaviour).raise_for_status()

    def stats(self) -> dict[str, int]:
        return self._http.get("/_fake/stats").raise_for_status().json()

    def messages(self) -> list[dict[str, Any]]:
        return self._http.get("/_fake/messages").raise_for_status().json()

    def close(self) -> None:
        self._http.close()


@contextlib.contextmanager
def fake_telegram(**behaviour: Any) -> Iterator[FakeTelegramProcess]:
    """The fake Bot API in a child process on a free port, with ``behaviour`` applied."""
    with fake_process("infra.fakes.telegram") as (process, url):
        fake = FakeTelegramProcess(process, url)
        if behaviour:
            fake.configure(**behaviour)
        try:
            yield fake
        finally:
            fake.close()


@contextlib.contextmanager
def fake_process(module: str, *args: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """``python -m module --port 0 *args`` (a fake server that prints its URL first) in a
    child process, so it does not share this process's GIL; yields it and its URL."""
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", module, "--port", "0", *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            url = _first_line(process, timeout=20)
            if not url.startswith("http://127.0.0.1:"):
                stderr.seek(0)
                raise RuntimeError(
                    f"{module} did not start: {url!r} {stderr.read().decode()[-2000:]}"
                )
            yield process, url
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            if process.stdout:
                process.stdout.close()


def _first_line(process: subprocess.Popen, timeout: float) -> str:
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    try:
        if not selector.select(timeout):
            return ""
        return process.stdout.readline().strip()
    finally:
        selector.close()


# --- settings -------------------------------------------------------------------------------


def bench_settings(
    database_url: str, aws_url: str, notifications_queue_url: str, telegram_url: str, **more: Any
) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=REDIS_URL,
        aws_endpoint_url=aws_url,
        notifications_queue_url=notifications_queue_url,
        telegram_bot_token=TOKEN,
        telegram_api_url=telegram_url,
        rule_prefix="bench-jobs",
        log_level="WARNING",
        **({"jobs_queue_arn": JOBS_QUEUE_ARN} | more),
    )


# --- timing and the report ------------------------------------------------------------------


class Deadline:
    """Bounds a loop: ``check`` raises TimeoutError once the time is up."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.until = time.monotonic() + seconds

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.until

    def check(self, doing: str) -> None:
        if self.expired:
            raise TimeoutError(f"gave up after {self.seconds:.0f} s {doing}")


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """``with timed() as took: ...``; afterwards ``took[0]`` is the seconds elapsed."""
    took: list[float] = []
    started = time.perf_counter()
    try:
        yield took
    finally:
        took.append(time.perf_counter() - started)


class CpuClock:
    """CPU seconds used by this process and by a child process (from /proc), for ratios."""

    def __init__(self, child_pid: int | None = None) -> None:
        self.child_pid = child_pid
        self._ticks = os.sysconf("SC_CLK_TCK")

    def read(self) -> tuple[float, float]:
        times = os.times()
        mine = times.user + times.system
        child = 0.0
        if self.child_pid is not None:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{self.child_pid}/stat").read_text().rsplit(")", 1)[1].split()
                child = (int(fields[11]) + int(fields[12])) / self._ticks
        return mine, child


@contextlib.contextmanager
def cpu_used(clock: CpuClock) -> Iterator[dict[str, float]]:
    """Cores busy on average while the block ran: ``{"self": ..., "child": ..., "wall": s}``."""
    used: dict[str, float] = {}
    start, wall = clock.read(), time.perf_counter()
    try:
        yield used
    finally:
        end, wall = clock.read(), time.perf_counter() - wall
        used.update(wall=wall, self=(end[0] - start[0]) / wall, child=(end[1] - start[1]) / wall)


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x" if baseline else "n/a"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print a plain aligned table (also pastes into Markdown as a code block)."""
    cells = [[str(cell) for cell in headers]] + [[_cell(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        print(
            "  ".join(
                cell.rjust(width) if i else cell.ljust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )
        if index == 0:
            print("  ".join("-" * width for width in widths))
    print(flush=True)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# --- profiling ------------------------------------------------------------------------------

_IDLE_LEAVES = {
    ("threading.py", "wait"),
    ("selectors.py", "select"),
    ("socketserver.py", "serve_forever"),
    ("queue.py", "get"),
    ("thread.py", "_worker"),
}


@dataclass
class _Samples:
    leaf: Counter
    inclusive: Counter
    total: int = 0


class StackSampler:
    """A sampling profiler over every thread of this process (cProfile sees only one thread).

    Every ``interval`` seconds it records each thread's Python stack, except threads parked
    in a wait (an idle pool worker, a server's accept loop). Counts are wall-clock samples:
    a thread blocked in a socket read counts at the line that reads. ``report`` prints the
    frames seen most, by own line ("leaf") and anywhere on the stack ("inclusive").
    """

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.samples = _Samples(Counter(), Counter())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def __enter__(self) -> StackSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = threading.get_ident()
        names = {}
        while not self._stop.wait(self.interval):
            names.update({thread.ident: thread.name for thread in threading.enumerate()})
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                stack = _stack(frame)
                if not stack or (Path(stack[0][0]).name, stack[0][2]) in _IDLE_LEAVES:
                    continue
                group = _thread_group(names.get(ident, "?"))
                self.samples.total += 1
                self.samples.leaf[(group, *stack[0])] += 1
                for where in set((file, function) for file, _, function in stack):
                    self.samples.inclusive[(group, *where)] += 1

    def report(self, top: int = 15, match: Callable[[str], bool] | None = None) -> None:
        total = max(self.samples.total, 1)
        print(f"   {self.samples.total} busy-thread samples every {self.interval * 1000:.0f} ms")
        print("   by own line (leaf):")
        for (group, file, line, function), count in self.samples.leaf.most_common(top):
            print(f"   {100 * count / total:5.1f}%  [{group}] {_short(file)}:{line} {function}")
        print("   anywhere on the stack (inclusive):")
        shown = 0
        for (group, file, function), count in self.samples.inclusive.most_common():
            if match is not None and not match(file):
                continue
            print(f"   {100 * count / total:5.1f}%  [{group}] {_short(file)} {function}")
            shown += 1
            if shown >= top:
                break
        print(flush=True)


def _stack(frame: Any) -> list[tuple[str, int, str]]:
    stack = []
    while frame is not None:
        stack.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        frame = frame.f_back
    return stack


def _thread_group(name: str) -> str:
    if name == "MainThread":
        return "main"
    if name.startswith("ThreadPoolExecutor"):
        return "pool"
    if name.startswith("Thread-") and "process_request" in name:
        return "server"
    base = name.split("-")[0].split(" ")[0]
    return base.rstrip("0123456789").removesuffix("_") or "?"  # "send_3": the "send" pool


def _short(file: str) -> str:
    for marker in ("site-packages/", "layers/shared/", "/lib/python3.12/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file.replace(str(REPO) + "/", "")


def in_package(file: str) -> bool:
    return "job_scheduler" in file


# --- firing a job through the real executor -------------------------------------------------

_minutes_back = iter(range(1, 1_000_000))
# Manual firings are keyed by (job, minute, trigger): counting back from a fixed minute
# keeps every firing of this process distinct however long the benchmark runs.
_ANCHOR = datetime.now(UTC).replace(second=0, microsecond=0)


def make_executor(settings: Settings, sqs: Any, redis_url: str | None = REDIS_URL) -> Any:
    """The executor the job_executor Lambda builds: the coded jobs, Redis firing lock, real
    Outbox."""
    from job_scheduler.adapters.redis_client import new_redis_client
    from job_scheduler.delivery.outbox import Outbox
    from job_scheduler.execution.executor import Executor
    from job_scheduler.execution.locks import FiringLock
    from job_scheduler.jobs.catalog import register_all_jobs

    return Executor(
        settings=settings,
        registry=register_all_jobs(),
        lock=FiringLock(new_redis_client(redis_url) if redis_url else None, 120),
        outbox=Outbox(sqs, settings.notifications_queue_url),
    )


def manual_firing(job_name: str) -> Any:
    """A "run now" firing at a minute no earlier firing of this process used."""
    from datetime import timedelta

    from job_scheduler.execution.firing import Firing
    from job_scheduler.model import Trigger

    minute = _ANCHOR - timedelta(minutes=next(_minutes_back))
    return Firing(
        job_name=job_name, scheduled_for=minute, trigger=Trigger.MANUAL, requested_by="bench"
    )


class SqlTimer:
    """Times every ``psycopg.Connection.execute`` in this process, by statement (patched in
    for the ``with`` block only): calls, seconds, rows affected."""

    def __init__(self) -> None:
        self.by_statement: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._original: Any = None

    def __enter__(self) -> SqlTimer:
        original = self._original = psycopg.Connection.execute
        timer = self

        def execute(conn: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(conn, query, *args, **kwargs)
            finally:
                timer._add(str(query), time.perf_counter() - started)

        psycopg.Connection.execute = execute
        return self

    def __exit__(self, *exc_info: object) -> None:
        psycopg.Connection.execute = self._original

    def _add(self, query: str, seconds: float) -> None:
        key = " ".join(query.split())[:70]
        with self._lock:
            entry = self.by_statement.setdefault(key, [0, 0.0])
            entry[0] += 1
            entry[1] += seconds

    def report(self, wall: float, top: int = 8) -> None:
        rows = sorted(self.by_statement.items(), key=lambda item: -item[1][1])[:top]
        table(
            ("statement", "calls", "seconds", "ms/call", "of wall"),
            [
                (query, int(calls), seconds, 1e3 * seconds / calls, f"{seconds / wall:.0%}")
                for query, (calls, seconds) in rows
            ],
        )
