"""Each receiver's alerts grouped within `group_wait` and paced by `rate_limit`, at a local
webhook receiver: one readable message per group, every alert delivered, in order."""

from __future__ import annotations

import itertools
import time
from decimal import Decimal

from ingest.spreads.monitor.alert_rules import Receiver, parse_alert_rules, simple_rules
from ingest.spreads.monitor.receiver_groups import ReceiverGroups
from ingest.spreads.monitor.webhooks import WebhookNotifier


def body(book: str, threshold: str, state: str = "triggered") -> dict[str, object]:
    return {
        "book": book,
        "threshold": threshold,
        "state": state,
        "text": f"{book} spread is {state} at {threshold} %",
    }


def test_alerts_within_group_wait_go_out_as_one_readable_message(http_receiver):
    receiver = Receiver("slack", "SLACK_URL", (http_receiver.url,), group_wait_seconds=0.5)
    notifier = WebhookNotifier(receiver.urls)
    groups = ReceiverGroups(notifier, [receiver])
    alerts = [body("btc_mxn", "1.0"), body("btc_mxn", "0.5"), body("usd_mxn", "0.1", "resolved")]
    for alert in alerts:
        groups.send("slack", alert)
    [message] = http_receiver.wait_until(lambda bodies: len(bodies) >= 1, timeout=5)
    assert message["alerts"] == alerts
    assert message["text"].splitlines() == [
        "3 alerts",
        "• triggered: btc_mxn spread is triggered at 1.0 %",
        "• triggered: btc_mxn spread is triggered at 0.5 %",
        "• resolved: usd_mxn spread is resolved at 0.1 %",
    ]
    groups.close()
    notifier.close()


def test_a_receiver_gets_at_most_rate_limit_messages_a_second_and_every_alert_in_order(
    http_receiver,
):
    receiver = Receiver(
        "slack", "SLACK_URL", (http_receiver.url,), group_wait_seconds=0.0, rate_limit=4.0
    )
    notifier = WebhookNotifier(receiver.urls)
    groups = ReceiverGroups(notifier, [receiver])
    sent = [body("btc_mxn", str(level)) for level in range(1, 7)]
    for alert in sent:
        groups.send("slack", alert)
        # Apart enough not to be grouped, closer than the rate limit allows.
        time.sleep(0.05)
    groups.close()
    notifier.close()
    delivered = [
        alert for message in http_receiver.bodies for alert in message.get("alerts", [message])
    ]
    assert delivered == sent
    gaps = [later - earlier for earlier, later in itertools.pairwise(http_receiver.arrivals)]
    assert len(http_receiver.arrivals) >= 2 and min(gaps) >= 0.25 * 0.9


def test_the_shorthand_receiver_posts_each_alert_at_once_as_before(http_receiver):
    rules = parse_alert_rules(
        {
            "receivers": [{"name": "slack", "webhook_url_env": "URL", "group_wait": 0.2}],
            "rules": [{"threshold": 0.5, "receivers": ["slack"]}],
        },
        {"URL": http_receiver.url},
    )
    [receiver] = rules.receivers
    assert (receiver.group_wait_seconds, receiver.rate_limit) == (0.2, 1.0)

    [shorthand] = simple_rules([Decimal("1")], [http_receiver.url]).receivers
    notifier = WebhookNotifier(shorthand.urls)
    groups = ReceiverGroups(notifier, [shorthand])
    groups.send(shorthand.name, body("btc_mxn", "1"))
    groups.send(shorthand.name, body("btc_mxn", "0.5"))
    bodies = http_receiver.wait_until(lambda bodies: len(bodies) >= 2, timeout=5)
    assert [message["threshold"] for message in bodies] == ["1", "0.5"]
    groups.close()
    notifier.close()
