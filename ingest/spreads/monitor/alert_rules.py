"""The alert rules file: which thresholds alert, for which books, how patiently, and to whom.

A rule names a threshold (percent; a spread strictly above it puts the book above it) and the
controls that belong to the signal itself, in Prometheus' vocabulary: a pending period (`for`),
a clearing period (`clear_for`) below a hysteresis band (`clear_below`), reminders while open
(`repeat_every`), and inhibition of lower thresholds (`inhibit_lower`). Receivers name the
environment variable holding their webhook URLs: URLs are credentials and never sit in the file.

`EpisodeMachine` is the pure state machine of one (book, rule) pair; `AlertRules.inhibited` says
which lower thresholds an open episode holds back.
"""

from __future__ import annotations

import csv
import dataclasses
import fnmatch
import io
import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path

import yaml

from ingest.io.lake_storage import replace_file_bytes
from ingest.spreads.monitor.webhooks import check_webhook_url

# What an observation did to an episode.
TRIGGERED = "triggered"
RESOLVED = "resolved"
REMINDER = "reminder"
# Used when the dbt project's thresholds seed is not at hand (an installed command run outside
# the project); a test keeps them equal to the seed.
DEFAULT_THRESHOLDS = (Decimal("1.0"), Decimal("0.5"), Decimal("0.1"))
THRESHOLDS_SEED = Path("seeds") / "spread_thresholds.csv"
DEFAULT_SEVERITY = "warning"
# The receiver of the `--webhook` shorthand and of the default rules.
SHORTHAND_RECEIVER = "webhooks"

_TOP_LEVEL_KEYS = ("receivers", "rules")
_RECEIVER_KEYS = ("name", "webhook_url_env", "group_wait", "rate_limit")
_REQUIRED_RECEIVER_KEYS = ("name", "webhook_url_env")
# A receiver's messages: alerts within `group_wait` seconds go out as one, at most `rate_limit`
# messages a second (Slack accepts about one).
DEFAULT_GROUP_WAIT_SECONDS = 1.0
DEFAULT_RATE_LIMIT = 1.0
_RULE_KEYS = (
    "threshold",
    "books",
    "for",
    "clear_for",
    "clear_below",
    "repeat_every",
    "severity",
    "inhibit_lower",
    "receivers",
)


class AlertRulesError(ValueError):
    """The alert rules cannot be used as written; the message names the rule and the field."""


class ThresholdsError(ValueError):
    """The thresholds seed cannot be read as positive percentages."""


def project_thresholds(project_dir: Path) -> tuple[Decimal, ...]:
    """The thresholds of the dbt project's seed, in its order, so that alerts and the spread
    reports use the same levels; the built-in defaults outside a project."""
    return tuple(rule.threshold for rule in project_rules(project_dir))


def project_rules(project_dir: Path) -> tuple[AlertRule, ...]:
    """The rules of the dbt project's thresholds seed, the ones the episode model applies: a
    `threshold_pct` column, and optionally `for_seconds`, `clear_for_seconds`, `clear_below_pct`
    and `books` (as `write_rules_seed` writes them). Every book and no periods outside a project."""
    seed = project_dir / THRESHOLDS_SEED
    if not seed.is_file():
        return tuple(AlertRule(threshold) for threshold in DEFAULT_THRESHOLDS)
    with seed.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    if "threshold_pct" not in (reader.fieldnames or ()):
        raise ThresholdsError(f"{seed}: no threshold_pct column")
    if not rows:
        raise ThresholdsError(f"{seed}: no thresholds")
    rules = []
    # Line 1 is the header.
    for line, row in enumerate(rows, start=2):
        try:
            entry = {
                key: _seed_value(row[column], key)
                for key, column in _SEED_RULE_FIELDS.items()
                if row.get(column)
            }
            rules.append(_rule(entry, line - 2, set()))
        except AlertRulesError as error:
            raise ThresholdsError(f"{seed}, line {line}: {error}") from error
    thresholds = [rule.threshold for rule in rules]
    if len(set(thresholds)) < len(thresholds):
        raise ThresholdsError(f"{seed}: a threshold has several rows (one rule per threshold)")
    return tuple(rules)


# The rules-file key of each seed column.
_SEED_RULE_FIELDS = {
    "threshold": "threshold_pct",
    "for": "for_seconds",
    "clear_for": "clear_for_seconds",
    "clear_below": "clear_below_pct",
    "books": "books",
}


def _seed_value(text: str, key: str) -> object:
    if key == "books":
        return text.split()
    try:
        return Decimal(text)
    except ArithmeticError:
        raise AlertRulesError(f"{_SEED_RULE_FIELDS[key]}: not a number: {text!r}") from None


@dataclasses.dataclass(frozen=True)
class Receiver:
    name: str
    # The variable the URLs were read from (None for the `--webhook` shorthand).
    url_env: str | None
    urls: tuple[str, ...] = dataclasses.field(repr=False)
    group_wait_seconds: float = DEFAULT_GROUP_WAIT_SECONDS
    # Messages per second; None: unlimited.
    rate_limit: float | None = DEFAULT_RATE_LIMIT


@dataclasses.dataclass(frozen=True)
class AlertRule:
    threshold: Decimal
    # Names or glob patterns; None means every monitored book.
    books: tuple[str, ...] | None = None
    for_seconds: float = 0.0
    clear_for_seconds: float = 0.0
    # The spread must be at or below this to count towards clearing; defaults to the threshold.
    clear_below: Decimal | None = None
    # None: no reminders.
    repeat_every_seconds: float | None = None
    severity: str = DEFAULT_SEVERITY
    inhibit_lower: bool = False
    receivers: tuple[str, ...] = ()

    @property
    def clear_level(self) -> Decimal:
        return self.threshold if self.clear_below is None else self.clear_below

    def applies_to(self, book: str) -> bool:
        if self.books is None:
            return True
        return any(fnmatch.fnmatchcase(book, pattern) for pattern in self.books)


@dataclasses.dataclass(frozen=True)
class AlertRules:
    receivers: tuple[Receiver, ...]
    rules: tuple[AlertRule, ...]

    def receiver(self, name: str) -> Receiver:
        for receiver in self.receivers:
            if receiver.name == name:
                return receiver
        raise KeyError(f"no receiver {name!r} in the alert rules")

    def rules_for(self, book: str) -> tuple[AlertRule, ...]:
        """The rules that apply to `book`, highest threshold first."""
        matching = [rule for rule in self.rules if rule.applies_to(book)]
        return tuple(sorted(matching, key=lambda rule: rule.threshold, reverse=True))

    def rule(self, book: str, threshold: Decimal) -> AlertRule | None:
        """The rule of `book` at `threshold`, if one applies."""
        return next((r for r in self.rules_for(book) if r.threshold == threshold), None)

    def check_books(self, books: Iterable[str]) -> None:
        """An episode is one (book, threshold): two rules of one threshold must not both match a
        monitored book."""
        for book in books:
            thresholds = [rule.threshold for rule in self.rules_for(book)]
            duplicated = sorted({value for value in thresholds if thresholds.count(value) > 1})
            if duplicated:
                raise AlertRulesError(
                    f"book {book} matches several rules of threshold {duplicated[0]}: "
                    "give each book one rule per threshold"
                )

    def inhibited(self, book: str, open_thresholds: Iterable[Decimal]) -> frozenset[Decimal]:
        """The thresholds of `book` whose alerts are held back while the episodes at
        `open_thresholds` are open: every threshold below an open rule with `inhibit_lower`."""
        rules = self.rules_for(book)
        open_levels = set(open_thresholds)
        inhibiting = [rule.threshold for rule in rules if rule.inhibit_lower]
        return frozenset(
            rule.threshold
            for rule in rules
            if any(level in open_levels and rule.threshold < level for level in inhibiting)
        )


def simple_rules(thresholds: Iterable[Decimal], webhook_urls: Iterable[str] = ()) -> AlertRules:
    """The rules of the `--threshold` and `--webhook` shorthands: every book, every threshold,
    no pending or clearing period, every alert to every webhook."""
    levels = sorted(set(thresholds), reverse=True)
    if not levels or not all(level.is_finite() and level > 0 for level in levels):
        raise AlertRulesError("thresholds must be percentages greater than 0")
    return _to_every_webhook((AlertRule(level) for level in levels), webhook_urls)


def default_rules(project_dir: Path, webhook_urls: Iterable[str] = ()) -> AlertRules:
    """The rules when no file is given: the dbt project's thresholds seed (its books and
    periods too, as the episode model applies them), every alert to every webhook."""
    rules = sorted(project_rules(project_dir), key=lambda rule: rule.threshold, reverse=True)
    return _to_every_webhook(rules, webhook_urls)


def _to_every_webhook(rules: Iterable[AlertRule], webhook_urls: Iterable[str]) -> AlertRules:
    """`rules` sending every alert to the `--webhook` URLs, if any, each posted at once and on
    its own, as before rules files existed."""
    urls = tuple(webhook_urls)
    for url in urls:
        if (problem := check_webhook_url(url)) is not None:
            raise AlertRulesError(problem)
    shorthand = Receiver(SHORTHAND_RECEIVER, None, urls, group_wait_seconds=0.0, rate_limit=None)
    receivers = (shorthand,) if urls else ()
    names = tuple(receiver.name for receiver in receivers)
    return AlertRules(
        receivers, tuple(dataclasses.replace(rule, receivers=names) for rule in rules)
    )


SEED_COLUMNS = ("threshold_pct", "for_seconds", "clear_for_seconds", "clear_below_pct", "books")
# The book patterns the episode model can match (it turns them into a regular expression): names,
# `*`, `?` and bracket sets such as `[a-c]` or `[!x]`.
_SEED_BOOK_PATTERN = re.compile(r"(?:[a-z0-9_*?]|\[!?[a-z0-9_-]+\])+")


def write_rules_seed(rules: AlertRules, path: Path) -> None:
    """Write the rules' thresholds seed (the episode model's rules), highest threshold first,
    durably in one piece. Two rules of one threshold cannot be one seed row, and the model
    matches only plain patterns (see `_SEED_BOOK_PATTERN`)."""
    thresholds = [rule.threshold for rule in rules.rules]
    if len(set(thresholds)) < len(thresholds):
        duplicated = min(value for value in thresholds if thresholds.count(value) > 1)
        raise AlertRulesError(
            f"threshold {duplicated} has several rules: the seed holds one rule per threshold"
        )
    for rule in rules.rules:
        for pattern in rule.books or ():
            if not _SEED_BOOK_PATTERN.fullmatch(pattern):
                raise AlertRulesError(
                    f"threshold {rule.threshold}: books: {pattern!r} cannot be written to the "
                    "seed (lower-case names, *, ? and [...] sets only)"
                )
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(SEED_COLUMNS)
    for rule in sorted(rules.rules, key=lambda rule: rule.threshold, reverse=True):
        writer.writerow(
            [
                rule.threshold,
                _seconds_text(rule.for_seconds),
                _seconds_text(rule.clear_for_seconds),
                "" if rule.clear_below is None else str(rule.clear_below),
                " ".join(rule.books or ()),
            ]
        )
    replace_file_bytes(path, text.getvalue().encode("utf-8"))


def _seconds_text(seconds: float) -> str:
    return str(int(seconds)) if seconds == int(seconds) else str(seconds)


def rules_for_run(
    rules_file: Path | None,
    thresholds: Iterable[Decimal] | None,
    webhook_urls: Iterable[str],
    project_dir: Path,
    env: Mapping[str, str],
) -> AlertRules:
    """A run's rules: the file if given, else the `--threshold`/`--webhook` shorthands, else
    the thresholds seed (every alert to every webhook)."""
    if rules_file is None:
        if thresholds is None:
            return default_rules(project_dir, webhook_urls)
        return simple_rules(thresholds, webhook_urls)
    if thresholds is not None or tuple(webhook_urls):
        raise AlertRulesError(
            "give either an alert rules file or the --threshold/--webhook shorthands (and "
            "BITSO_WEBHOOKS), not both: with a file, receivers name their own URLs"
        )
    return load_alert_rules(rules_file, env)


def load_alert_rules(path: Path, env: Mapping[str, str] | None) -> AlertRules:
    """Read and validate a rules file; receivers' URLs come from `env` (None: not read, for a
    use of the rules that sends nothing)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise AlertRulesError(f"alert rules {path}: cannot be read ({error.strerror})") from error
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise AlertRulesError(f"alert rules {path}: not valid YAML ({error})") from error
    try:
        return parse_alert_rules(document, env)
    except AlertRulesError as error:
        raise AlertRulesError(f"alert rules {path}: {error}") from error


def parse_alert_rules(document: object, env: Mapping[str, str] | None) -> AlertRules:
    """Validate a parsed rules document (see the module docstring for its shape)."""
    top = _mapping(document, "the file", _TOP_LEVEL_KEYS)
    receivers = tuple(
        _receiver(entry, index, env)
        for index, entry in enumerate(_list(top.get("receivers", []), "receivers"))
    )
    names = [receiver.name for receiver in receivers]
    for name in names:
        if names.count(name) > 1:
            raise AlertRulesError(f"receivers: {name!r} is defined twice")
    if "rules" not in top:
        raise AlertRulesError("rules: missing (a list of at least one rule)")
    entries = _list(top["rules"], "rules")
    if not entries:
        raise AlertRulesError("rules: empty (give at least one rule)")
    return AlertRules(
        receivers, tuple(_rule(entry, index, set(names)) for index, entry in enumerate(entries))
    )


def _receiver(entry: object, index: int, env: Mapping[str, str] | None) -> Receiver:
    where = f"receivers[{index}]"
    fields = _mapping(entry, where, _RECEIVER_KEYS)
    for key in _REQUIRED_RECEIVER_KEYS:
        if key not in fields:
            raise AlertRulesError(f"{where}: {key}: missing")
        if not isinstance(fields[key], str) or not fields[key]:
            raise AlertRulesError(f"{where}: {key}: must be a non-empty string")
    name, variable = fields["name"], fields["webhook_url_env"]
    where = f"receiver {name!r}"
    # Several URLs may share one variable, separated by spaces (as BITSO_WEBHOOKS).
    urls = () if env is None else tuple(env.get(variable, "").split())
    if not urls and env is not None:
        raise AlertRulesError(f"{where}: webhook_url_env: the variable {variable} is not set")
    for url in urls:
        if (problem := check_webhook_url(url)) is not None:
            raise AlertRulesError(f"{where}: webhook_url_env: {variable}: {problem}")
    group_wait = _seconds(fields.get("group_wait"), where, "group_wait")
    rate_limit = DEFAULT_RATE_LIMIT
    if fields.get("rate_limit") is not None:
        rate_limit = float(_number(fields["rate_limit"], where, "rate_limit (messages a second)"))
        if rate_limit <= 0:
            raise AlertRulesError(f"{where}: rate_limit: must be more than 0 messages a second")
    return Receiver(
        name,
        variable,
        urls,
        group_wait_seconds=DEFAULT_GROUP_WAIT_SECONDS if group_wait is None else group_wait,
        rate_limit=rate_limit,
    )


def _rule(entry: object, index: int, receiver_names: set[str]) -> AlertRule:
    where = f"rules[{index}]"
    fields = _mapping(entry, where, _RULE_KEYS)
    if "threshold" not in fields:
        raise AlertRulesError(f"{where}: threshold: missing")
    threshold = _number(fields["threshold"], where, "threshold")
    if threshold <= 0:
        raise AlertRulesError(f"{where}: threshold: must be greater than 0, not {threshold}")
    where = f"rules[{index}] (threshold {threshold})"
    clear_below = None
    if fields.get("clear_below") is not None:
        clear_below = _number(fields["clear_below"], where, "clear_below")
        if not 0 <= clear_below <= threshold:
            raise AlertRulesError(
                f"{where}: clear_below: must be between 0 and the threshold, not {clear_below}"
            )
    books = None
    if fields.get("books") is not None:
        books = tuple(_strings(fields["books"], where, "books"))
        if not books:
            raise AlertRulesError(f"{where}: books: empty (omit it for every monitored book)")
    receivers = tuple(_strings(fields.get("receivers", []), where, "receivers"))
    for name in receivers:
        if name not in receiver_names:
            raise AlertRulesError(f"{where}: receivers: {name!r} is not a defined receiver")
    severity = fields.get("severity", DEFAULT_SEVERITY)
    if not isinstance(severity, str) or not severity:
        raise AlertRulesError(f"{where}: severity: must be a non-empty string")
    inhibit_lower = fields.get("inhibit_lower", False)
    if not isinstance(inhibit_lower, bool):
        raise AlertRulesError(f"{where}: inhibit_lower: must be true or false")
    repeat_every = _seconds(fields.get("repeat_every"), where, "repeat_every")
    return AlertRule(
        threshold=threshold,
        books=books,
        for_seconds=_seconds(fields.get("for"), where, "for") or 0.0,
        clear_for_seconds=_seconds(fields.get("clear_for"), where, "clear_for") or 0.0,
        clear_below=clear_below,
        # 0 and omitted both mean no reminders.
        repeat_every_seconds=repeat_every or None,
        severity=severity,
        inhibit_lower=inhibit_lower,
        receivers=receivers,
    )


def _mapping(value: object, where: str, allowed: tuple[str, ...]) -> dict:
    if not isinstance(value, dict):
        raise AlertRulesError(f"{where}: must be a mapping of {', '.join(allowed)}")
    for key in value:
        if key not in allowed:
            raise AlertRulesError(
                f"{where}: {key}: unknown key (expected one of {', '.join(allowed)})"
            )
    return value


def _list(value: object, where: str) -> list:
    if not isinstance(value, list):
        raise AlertRulesError(f"{where}: must be a list")
    return value


def _strings(value: object, where: str, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise AlertRulesError(f"{where}: {field}: must be a list of non-empty strings")
    return value


def _number(value: object, where: str, field: str) -> Decimal:
    # YAML's `true` is a Python bool, which is an int: not a number here. Decimals come from
    # the thresholds seed.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise AlertRulesError(f"{where}: {field}: must be a number, not {value!r}")
    if not math.isfinite(value):
        raise AlertRulesError(f"{where}: {field}: must be a finite number, not {value!r}")
    # Through str, so 0.1 stays 0.1 rather than the float's binary expansion.
    return Decimal(str(value))


def _seconds(value: object, where: str, field: str) -> float | None:
    if value is None:
        return None
    seconds = _number(value, where, f"{field} (seconds)")
    if seconds < 0:
        raise AlertRulesError(f"{where}: {field}: must be 0 or more seconds, not {seconds}")
    return float(seconds)


# How much early `EpisodeMachine.quiet_until` ends a quiet spell.
_EARLY_SECONDS = 0.001


@dataclasses.dataclass(frozen=True)
class EpisodeState:
    """Where one (book, rule) pair stands; frozen, so it can be persisted and restored as is.

    `pending_since` is the first time above of a pending episode; once triggered, `started_at`
    keeps it (the episode's start, part of its identity), `notified_at` is the last message
    (trigger or reminder) and `clearing_since` the first time at or below `clear_below` of the
    current clearing stretch.
    """

    pending_since: float | None = None
    started_at: float | None = None
    notified_at: float | None = None
    clearing_since: float | None = None

    @property
    def open(self) -> bool:
        return self.started_at is not None


@dataclasses.dataclass(frozen=True)
class Transition:
    kind: str  # TRIGGERED, RESOLVED or REMINDER
    at: float  # the observation that caused it
    episode_start: float


class EpisodeMachine:
    """One rule's episodes for one book, driven by timed observations (epoch seconds, from
    whatever clock the caller keeps). A spread strictly above the threshold for `for` seconds
    triggers; at or below `clear_below` for `clear_for` seconds resolves; a spread in between
    keeps an open episode open and restarts its clearing period. An observation without a quote
    changes nothing: it neither advances nor interrupts a pending or clearing period."""

    def __init__(self, rule: AlertRule, state: EpisodeState | None = None) -> None:
        self.rule = rule
        self.state = state or EpisodeState()

    def observe(self, now: float, spread: Decimal | None) -> Transition | None:
        if spread is None:
            return None
        rule, state = self.rule, self.state
        if not state.open:
            if spread <= rule.threshold:
                self.state = EpisodeState()
                return None
            since = now if state.pending_since is None else state.pending_since
            if now - since < rule.for_seconds:
                self.state = EpisodeState(pending_since=since)
                return None
            self.state = EpisodeState(started_at=since, notified_at=now)
            return Transition(TRIGGERED, now, since)
        assert state.started_at is not None and state.notified_at is not None
        if spread <= rule.clear_level:
            since = now if state.clearing_since is None else state.clearing_since
            if now - since >= rule.clear_for_seconds:
                self.state = EpisodeState()
                return Transition(RESOLVED, now, state.started_at)
            self.state = dataclasses.replace(state, clearing_since=since)
            return None
        self.state = dataclasses.replace(state, clearing_since=None)
        repeat = rule.repeat_every_seconds
        if repeat is not None and now - state.notified_at >= repeat:
            self.state = dataclasses.replace(self.state, notified_at=now)
            return Transition(REMINDER, now, state.started_at)
        return None

    def quiet_until(self) -> float:
        """Until when observing the last spread again changes nothing: the end of the pending
        or clearing period, or the next reminder, as `observe` times them (a little early, so
        that `observe` itself decides at the end, whatever the rounding); for ever when none is
        running. A spread that stays put moves nothing else: no peak, no reset of a period."""
        rule, state = self.rule, self.state
        if state.pending_since is not None:
            end = state.pending_since + rule.for_seconds
        elif not state.open:
            return math.inf
        elif state.clearing_since is not None:
            end = state.clearing_since + rule.clear_for_seconds
        elif rule.repeat_every_seconds is not None:
            assert state.notified_at is not None
            end = state.notified_at + rule.repeat_every_seconds
        else:
            return math.inf
        return end - _EARLY_SECONDS
