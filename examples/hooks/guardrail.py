#!/usr/bin/env python3
"""A small guardrail for the gateway's pre_request hook (docs/hooks.md), standard library only.

- A prompt that carries an AWS access key id or a private key block is blocked (422, with a
  message the caller sees in its own API's error format).
- E-mail addresses in the request body are replaced with "[email]" (the modified body is what
  the provider receives and what the request log stores).
- Anything else is allowed.
- After the response (entire_request), one line per request goes to stdout: login, model and
  estimated cost, a stand-in for a SIEM.

Run:  python3 examples/hooks/guardrail.py [--port 8088] [--key SECRET]
With --key, requests must carry "Authorization: Bearer SECRET" (the hook's apikey).
It prints "listening on 127.0.0.1:<port>" once ready.
"""

import argparse
import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BLOCK = [
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
]
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def redact_emails(value):
    """The JSON value with every e-mail address in its strings replaced."""
    if isinstance(value, str):
        return EMAIL.sub("[email]", value)
    if isinstance(value, list):
        return [redact_emails(v) for v in value]
    if isinstance(value, dict):
        return {k: redact_emails(v) for k, v in value.items()}
    return value


def decide(payload):
    """The reply to one hook call."""
    event = payload.get("event")
    meta = payload.get("metadata", {})
    if event != "pre_request":
        cost = meta.get("estimated_cost", {}).get("dollars", 0)
        print(f"{event} {meta.get('login_name')} {meta.get('model')} ${cost:.6f}", flush=True)
        return {}
    text = payload.get("user_message", "") or json.dumps(payload.get("request_body", ""))
    for pattern, what in BLOCK:
        if pattern.search(text):
            return {"action": "block", "status_code": 422,
                    "message": f"blocked by guardrail: the prompt contains {what}"}
    body = payload.get("request_body")
    if isinstance(body, dict):
        cleaned = redact_emails(body)
        if cleaned != body:
            return {"action": "modify", "request_body": cleaned}
    return {"action": "allow"}


class Handler(BaseHTTPRequestHandler):
    key = None

    def do_POST(self):
        if self.key and self.headers.get("Authorization") != f"Bearer {self.key}":
            self.send_error(401)
            return
        length = int(self.headers.get("Content-Length", "0"))
        try:
            payload = json.loads(self.rfile.read(length))
        except ValueError:
            self.send_error(400)
            return
        reply = json.dumps(decide(payload)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8088)
    parser.add_argument("--key", default=None)
    args = parser.parse_args()
    Handler.key = args.key
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
