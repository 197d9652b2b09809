"""The AI platform's receiver (seeds/001), on Python's standard library.

The document's Flask example reads the raw body (request.get_data()), computes
the hex HMAC-SHA256 with the webhook secret and compares it with
X-Webhook-Signature using hmac.compare_digest. Frameworks cannot be installed
here, so the same check runs on http.server.
"""
import hashlib
import hmac
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

WEBHOOK_SECRET = os.environ["WEBHOOK_SECRET"]


def verify_signature(payload: bytes, signature: str) -> bool:
    expected_signature = hmac.new(WEBHOOK_SECRET.encode(), payload, hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature, expected_signature)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        payload = self.rfile.read(length)
        signature = self.headers.get("X-Webhook-Signature", "")
        if not verify_signature(payload, signature):
            return self.reply(401, {"error": "Invalid signature"})
        data = json.loads(payload)
        for field in ("event_id", "event_type", "timestamp", "data", "retry_count"):
            if field not in data:
                return self.reply(400, {"error": "missing " + field})
        return self.reply(200, {"status": "received"})

    def reply(self, status, body):
        out = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "0"))), Handler)
    print("listening", server.server_address[1], flush=True)
    server.serve_forever()
