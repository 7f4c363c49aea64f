"""moto's server with one request at a time.

moto applies a DynamoDB transaction item by item and, when one fails, rolls
back by restoring a copy of the whole table taken when the transaction
began. Under concurrent requests that is neither atomic (a reader sees half
a transaction) nor isolated (a rollback undoes other requests' writes), so a
correct client fails tests that real DynamoDB passes. Serializing requests
makes moto behave as DynamoDB does; connections stay concurrent.

Usage: python moto_serialized.py HOST PORT
"""

import sys
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


def serialized(environ, start_response):
    with lock:
        # The body is produced inside the lock too.
        return list(app(environ, start_response))


if __name__ == "__main__":
    run_simple(sys.argv[1], int(sys.argv[2]), serialized, threaded=True)
