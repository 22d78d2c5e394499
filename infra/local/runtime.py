"""The whole system on one machine: AWS emulator, template resources, ticker, pollers, fakes.

``LocalRuntime.start()`` brings everything up in this process and ``stop()`` takes it down;
``make run`` (``python -m infra.local``) wraps it with a banner and Ctrl-C, and the
end-to-end tests drive the same object.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from job_scheduler import observability
from job_scheduler.adapters.aws import client
from job_scheduler.adapters.db import get_connection
from job_scheduler.config import Settings
from job_scheduler.jobs.sweeper import Sweeper, SweepReport
from job_scheduler.rastar.client import RastarClient
from job_scheduler.rastar.crypto import SecretBox
from job_scheduler.sync.rules import RuleStore
from job_scheduler.sync.startup import run_startup, set_up_bot

from .admin import AdminSite
from .demo import DemoAccount, prime_fake_rastar, seed_if_empty
from .function_urls import FunctionUrl
from .lambdas import load_function
from .pollers import SqsPoller
from .resources import create_queues
from .services import LOCAL_DIR, Services, free_or_any, start_services
from .template import function_environment, load_template, sqs_sources, url_functions
from .ticker import RuleTicker
from .updates import UpdatePoller

STACK = "telegram-jobs-local"
RULE_PREFIX = "telegram-jobs-local"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LocalRuntime:
    """Start with ``start()``; everything it started stops with ``stop()``."""

    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    demo: bool = True
    tick: bool = True
    stop_event: threading.Event = field(default_factory=threading.Event)
    services: Services | None = None
    settings: Settings | None = None
    endpoint: str = ""
    queues: dict[str, dict[str, str]] = field(default_factory=dict)
    ticker: RuleTicker | None = None
    pollers: list[SqsPoller] = field(default_factory=list)
    sync_summary: dict[str, Any] = field(default_factory=dict)
    seeded: bool = False
    serve_admin: bool = True
    admin: AdminSite | None = None
    admin_port: int = 0
    demo_accounts: list[DemoAccount] = field(default_factory=list)  # in the fake Rastar
    env_file_values: dict[str, str] = field(default_factory=dict)  # what .local/run.env says
    recovered: SweepReport | None = None  # what the start-up sweep found of a last run
    serve_webhook: bool = True
    webhook: FunctionUrl | None = None  # the bot's function URL, served here
    webhook_port: int = 0
    update_poller: UpdatePoller | None = None  # a real bot without a public URL
    _moto: Any = None

    @property
    def on_localstack(self) -> bool:
        return bool(self.environ.get("AWS_ENDPOINT_URL"))

    def start(self) -> LocalRuntime:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # the emulators take any
            os.environ.setdefault(name, self.environ.get(name, "local"))
        # Powertools reads its own switches from the environment, not from our Settings:
        # EMF lines and tracing would drown the terminal.
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
        self.services = start_services(self.environ)
        self.endpoint = self._start_emulator()
        template = load_template()
        env = self._function_environment(template)
        self.settings = Settings.from_env(env)  # what each function would read in Lambda
        observability.configure(self.settings)
        self.sync_summary = run_startup(self.settings).as_dict()
        conn = get_connection(self.settings.database_url)
        if self.demo and seed_if_empty(conn, RuleStore(self.settings)):
            self.seeded = True
        if self.services.fake_rastar is not None:
            self.demo_accounts = self._prime_fake_rastar(conn)
        if not self.on_localstack:  # moto's queues are new: nothing of a last run is on them
            self.recovered = Sweeper.from_settings(self.settings, conn).sweep(after_restart=True)
        self._start_threads(template)
        if self.serve_webhook:
            self._start_bot(template)
        if self.serve_admin:
            self.admin = AdminSite(self.settings, self._admin_port()).start()
        self.env_file_values = _write_env_file(env)
        return self

    def stop(self) -> None:
        self.stop_event.set()
        if self.admin is not None:
            self.admin.stop()
        if self.webhook is not None:
            self.webhook.stop()
        for thread in [*self.pollers, self.ticker, self.update_poller]:
            if thread is not None and thread.is_alive():
                thread.join(timeout=5)
        if self._moto is not None:
            self._moto.stop()
        if self.services is not None:
            self.services.stop()

    def _prime_fake_rastar(self, conn: Any) -> list[DemoAccount]:
        assert self.settings is not None and self.services is not None
        box = SecretBox.from_settings(self.settings)
        client = RastarClient.from_settings(self.settings)
        linked = conn.execute("SELECT EXISTS (SELECT 1 FROM rastar_accounts) AS any").fetchone()
        try:
            return prime_fake_rastar(
                conn, box, client, self.services.fake_rastar, first_run=not linked["any"]
            )
        finally:
            client.close()

    def _start_bot(self, template: dict[str, Any]) -> None:
        """Serve the bot's function URL and point Telegram at it, as bot_startup does in
        AWS; a real bot with no public URL long-polls instead (``updates``)."""
        assert self.settings is not None and self.services is not None
        function = next(f for f in url_functions(template) if f.function == "BotWebhookFunction")
        self.webhook = FunctionUrl(function, self.settings, self._webhook_port()).start()
        public = self.environ.get("BOT_WEBHOOK_URL")
        fake = self.services.fake_telegram
        if fake is not None:  # the people already in the database are known to the fake
            rows = get_connection(self.settings.database_url).execute(
                "SELECT telegram_chat_id, first_name, last_name, username, language_code"
                " FROM users WHERE telegram_chat_id > 0 ORDER BY id"
            )
            for row in rows:
                fake.chats.know(row.pop("telegram_chat_id"), **row)
        if fake is not None or public:
            set_up_bot(self.settings, public or self.webhook.url)
        else:
            handler = load_function(function.code_uri, function.handler, self.settings)
            self.update_poller = UpdatePoller(self.settings, handler, self.stop_event)
            self.update_poller.start()

    def _webhook_url(self) -> str:
        """Where Telegram sends updates: a public URL given, else (the fake Telegram) the
        local function URL; none when a real bot long-polls from this machine."""
        assert self.services is not None
        if self.environ.get("BOT_WEBHOOK_URL") or self.services.fake_telegram is None:
            return self.environ.get("BOT_WEBHOOK_URL", "")
        return f"http://127.0.0.1:{self._webhook_port()}/"

    def _webhook_port(self) -> int:
        if not self.webhook_port:
            wanted = int(self.environ.get("BOT_WEBHOOK_PORT") or 0)
            self.webhook_port = wanted or free_or_any(8090) or _free_port()
        return self.webhook_port

    def _admin_port(self) -> int:
        """The admin app's port, chosen once: the link page's URL names it before it serves."""
        if not self.admin_port:
            wanted = int(self.environ.get("ADMIN_PORT") or 0)
            self.admin_port = wanted or free_or_any(8000) or _free_port()
        return self.admin_port

    def _admin_url(self) -> str:
        return f"http://127.0.0.1:{self._admin_port()}"

    def _start_emulator(self) -> str:
        if self.on_localstack:
            return self.environ["AWS_ENDPOINT_URL"]
        from moto.server import ThreadedMotoServer

        port = int(self.environ.get("MOTO_PORT") or _free_port())
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._moto.start()
        _wait_for_port(port)  # start() can return before the server listens
        return f"http://127.0.0.1:{port}"

    def _function_environment(self, template: dict[str, Any]) -> dict[str, str]:
        assert self.services is not None
        env = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", **self.environ}
        env |= {"AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": "us-east-1"}
        base = Settings.from_env({"AWS_ENDPOINT_URL": self.endpoint})
        self.queues = create_queues(client(base, "sqs"), template, STACK)
        env |= function_environment(template, self.queues)
        env |= {
            "DATABASE_URL": self.services.database_url,
            "REDIS_URL": self.services.redis_url or "",
            "TELEGRAM_BOT_TOKEN": self.services.telegram_token,
            "TELEGRAM_API_URL": self.services.telegram_api_url,
            "RASTAR_SUPABASE_URL": self.services.rastar_url,
            "RASTAR_SUPABASE_ANON_KEY": self.services.rastar_anon_key,
            "RASTAR_ENCRYPTION_KEYS": self.services.rastar_keys,
            "LINK_PAGE_URL": f"{self._admin_url()}/link",
            "BOT_WEBHOOK_URL": self._webhook_url(),
            "RULE_PREFIX": self.environ.get("RULE_PREFIX", RULE_PREFIX),
            "STAGE": self.environ.get("STAGE", "local"),
        }
        return env

    def _start_threads(self, template: dict[str, Any]) -> None:
        assert self.settings is not None
        sqs = client(self.settings, "sqs")
        if self.tick and not self.on_localstack:
            self.ticker = RuleTicker(
                client(self.settings, "events"),
                sqs,
                self.settings.rule_prefix,
                self.settings.aws_region,
                self.stop_event,
            )
            self.ticker.start()
        for source in sqs_sources(template):
            for _ in range(source.concurrency):  # concurrent invocations, as Lambda runs them
                poller = SqsPoller(
                    sqs, source, self.queues[source.queue], self.settings, self.stop_event
                )
                poller.start()
                self.pollers.append(poller)


def _wait_for_port(port: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _write_env_file(env: dict[str, str]) -> dict[str, str]:
    """``.local/run.env``: source it in another terminal to point jobsctl at this runtime."""
    LOCAL_DIR.mkdir(exist_ok=True)
    keys = (
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
        "DATABASE_URL",
        "REDIS_URL",
        "JOBS_QUEUE_URL",
        "JOBS_QUEUE_ARN",
        "NOTIFICATIONS_QUEUE_URL",
        "RULE_PREFIX",
        "STAGE",
        "RASTAR_SUPABASE_URL",
        "RASTAR_SUPABASE_ANON_KEY",
        "RASTAR_ENCRYPTION_KEYS",
        "LINK_PAGE_URL",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_API_URL",
        "BOT_WEBHOOK_URL",
    )
    values = {key: env[key] for key in keys if env.get(key)}
    lines = [f"export {key}='{value}'" for key, value in values.items()]
    path = LOCAL_DIR / "run.env"
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable
    with os.fdopen(descriptor, "w") as file:  # by others, not even for a moment
        file.write("\n".join(lines) + "\n")
    return values
