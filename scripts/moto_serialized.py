"""moto's server with one request at a time.

moto applies a DynamoDB transaction item by item and, when one fails, rolls
back by restoring a copy of the whole table taken when the transaction
began. Under concurrent requests that is neither atomic (a reader sees half
a transaction) nor isolated (a rollback undoes other requests' writes), so a
correct client fails tests that real DynamoDB passes. Serializing requests
makes moto behave as DynamoDB does; connections stay concurrent.

One exception to holding the lock for a whole request: an SQS long poll
(ReceiveMessage with WaitTimeSeconds, in the JSON protocol the AWS SDKs
use). moto waits for messages inside the request, so under the lock it would
stop every other request, the SendMessage it waits for included, and answer
nothing. Here it becomes a series of short polls (WaitTimeSeconds 0), each
under the lock, with the lock released in between, until one answers
messages or the wait is over: what SQS itself does.

Usage: python moto_serialized.py HOST PORT
"""

import io
import json
import sys
import threading
import time

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()

# Seconds between two short polls standing for one long poll.
LONG_POLL_STEP = 0.05


def serialized(environ, start_response):
    if environ.get("HTTP_X_AMZ_TARGET") == "AmazonSQS.ReceiveMessage":
        return sqs_receive(environ, start_response)
    with lock:
        # The body is produced inside the lock too.
        return list(app(environ, start_response))


def call(environ, body):
    """One request with `body` under the lock: (status, headers, chunks)."""
    env = dict(environ)
    env["wsgi.input"] = io.BytesIO(body)
    env["CONTENT_LENGTH"] = str(len(body))
    answer = {}

    def capture(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, headers
        return lambda data: answer.setdefault("written", []).append(data)

    with lock:
        chunks = list(app(env, capture))
    return answer["status"], answer["headers"], answer.get("written", []) + chunks


def has_messages(chunks):
    try:
        return bool(json.loads(b"".join(chunks)).get("Messages"))
    except (ValueError, AttributeError):
        return True  # not an answer to reason about: hand it over


def sqs_receive(environ, start_response):
    length = environ.get("CONTENT_LENGTH")
    stream = environ["wsgi.input"]
    body = stream.read(int(length)) if length else stream.read()
    try:
        request = json.loads(body or b"{}")
        wait = int(request.get("WaitTimeSeconds") or 0)
    except (ValueError, TypeError, AttributeError):
        request, wait = None, 0
    if not isinstance(request, dict) or not 0 < wait <= 20:
        # No wait, or one moto refuses: pass it on unchanged.
        status, headers, chunks = call(environ, body)
    else:
        deadline = time.monotonic() + wait
        short = json.dumps(dict(request, WaitTimeSeconds=0)).encode()
        while True:
            status, headers, chunks = call(environ, short)
            left = deadline - time.monotonic()
            if not status.startswith("200") or has_messages(chunks) or left <= 0:
                break
            time.sleep(min(LONG_POLL_STEP, left))
    start_response(status, headers)
    return chunks


if __name__ == "__main__":
    run_simple(sys.argv[1], int(sys.argv[2]), serialized, threaded=True)
