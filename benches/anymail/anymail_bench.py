"""django-anymail's Mailgun tracking view, driven in process the way a Django app runs it.

Reads the signed bodies that `benches/anymail_compare.rs` writes (one `KIND.body` and
`KIND.content-type` per payload kind, and `key`), configures Django with
`ANYMAIL = {"MAILGUN_WEBHOOK_SIGNING_KEY": key}`, and times calls of
`MailgunTrackingWebhookView` through `RequestFactory().post(...)` (signature validation on;
building the request is part of each call, as Django's handler builds one per request). A
`tracking` signal receiver reads the event type, message id and recipient, as a handler would.
Kinds take turns in short rounds; the medians of the rounds are printed, in microseconds per
call, as one JSON object on stdout: `{"wall": {kind: µs}, "cpu": {kind: µs}, "versions": ...}`
(`cpu`: the thread's CPU time, steadier than wall time on a shared machine). With
`--rounds-on-stdin` it runs one round per line it reads and answers each with one JSON line, so
that `anymail_compare` alternates its own rounds with anymail's.

    target/anymail-venv/bin/python benches/anymail/anymail_bench.py --dir DIR [--rounds 15] [--per-round 200]
    target/anymail-venv/bin/python benches/anymail/anymail_bench.py --dir DIR --rounds-on-stdin

anymail checks the HMAC of timestamp + token only: it checks neither the timestamp's age nor
token reuse, so one signed body per kind is replayed. `WEBHOOK_SECRET` (basic auth) is not set;
the warning anymail gives about it is silenced.
"""

import argparse
import json
import os
import statistics
import sys
import time
import warnings

KINDS = ["delivered", "clicked", "form", "multipart"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True, help="directory with KIND.body, KIND.content-type, key")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=200, help="calls per kind and round (a quarter for multipart)")
    parser.add_argument(
        "--rounds-on-stdin",
        action="store_true",
        help="run one round per line read on stdin and answer one JSON line each (how anymail_compare drives it)",
    )
    args = parser.parse_args()

    def read(name):
        with open(os.path.join(args.dir, name), "rb") as f:
            return f.read()

    key = read("key").decode("ascii")

    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="anymail-bench-not-secret",
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=["anymail"],
        ANYMAIL={"MAILGUN_WEBHOOK_SIGNING_KEY": key},
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )
    django.setup()
    warnings.simplefilter("ignore")

    from anymail.signals import tracking
    from anymail.webhooks.mailgun import MailgunTrackingWebhookView
    from django.test import RequestFactory

    seen = []

    def on_tracking(sender, event, esp_name, **kwargs):
        seen.append((event.event_type, event.message_id, event.recipient))

    tracking.connect(on_tracking, weak=False)
    view = MailgunTrackingWebhookView.as_view()
    factory = RequestFactory()
    path = "/anymail/mailgun/tracking/"

    bodies = {}
    for kind in KINDS:
        bodies[kind] = (read(kind + ".body"), read(kind + ".content-type").decode("ascii"))

    def call(kind):
        body, content_type = bodies[kind]
        request = factory.post(path, data=body, content_type=content_type)
        response = view(request)
        if response.status_code != 200:
            raise SystemExit(f"anymail answered {response.status_code} for {kind}")

    # Check each kind once: validated, and one event seen with the expected type.
    expected = {"delivered": "delivered", "clicked": "clicked", "form": "delivered", "multipart": "bounced"}
    for kind in KINDS:
        seen.clear()
        call(kind)
        if len(seen) != 1 or seen[0][0] != expected[kind]:
            raise SystemExit(f"anymail parsed {kind} as {seen!r}")
    def calls(kind):
        # The multipart body is about 8x the work of the others.
        return max(1, args.per_round // 4) if kind == "multipart" else args.per_round

    # Warm up.
    for kind in KINDS:
        for _ in range(calls(kind)):
            call(kind)
        seen.clear()

    def one_round():
        wall, cpu = {}, {}
        for kind in KINDS:
            n = calls(kind)
            start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
            for _ in range(n):
                call(kind)
            cpu[kind] = (time.thread_time_ns() - start_cpu) / 1000.0 / n
            wall[kind] = (time.perf_counter_ns() - start) / 1000.0 / n
            seen.clear()
        return {"wall": wall, "cpu": cpu}

    versions = {
        "python": sys.version.split()[0],
        "django": django.get_version(),
        "django-anymail": __import__("anymail").__version__,
    }

    if args.rounds_on_stdin:
        # One round per line read on stdin, one JSON line back per round, until EOF.
        print(json.dumps({"ready": True, "versions": versions}), flush=True)
        for _ in sys.stdin:
            print(json.dumps(one_round()), flush=True)
        return

    rounds = [one_round() for _ in range(args.rounds)]
    result = {
        clock: {kind: statistics.median(r[clock][kind] for r in rounds) for kind in KINDS}
        for clock in ("wall", "cpu")
    }
    result["versions"] = versions
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
