"""A real SMTP server for the tests, from aiosmtpd (pip install aiosmtpd).

Each message it accepts becomes <n>.json in FOLDER (recipients, sender, subject and the decoded
text and HTML parts, read with Python's own email parser) beside the raw <n>.eml. With
--fail-first N it answers the first N messages "451 try again later", as a busy relay does.
It prints "ready" once it listens and runs until it is terminated.
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import signal

from aiosmtpd.controller import Controller


class Saver:
    def __init__(self, folder, fail_first):
        self.folder = folder
        self.failures_left = fail_first
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        if self.failures_left > 0:
            self.failures_left -= 1
            return "451 4.3.0 Try again later"
        self.count += 1
        name = os.path.join(self.folder, f"{self.count:05}")
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "subject": str(message["subject"]),
            "text": text.get_content() if text else "",
            "html": html.get_content() if html else "",
        }
        with open(name + ".eml", "wb") as raw:
            raw.write(envelope.content)
        # Written whole, then renamed: a reader never sees half a message.
        with open(name + ".tmp", "w", encoding="utf-8") as out:
            json.dump(record, out)
        os.rename(name + ".tmp", name + ".json")
        return "250 OK"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--folder", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    args = parser.parse_args()
    controller = Controller(
        Saver(args.folder, args.fail_first), hostname="127.0.0.1", port=args.port
    )
    controller.start()
    print("ready", flush=True)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()


if __name__ == "__main__":
    main()
