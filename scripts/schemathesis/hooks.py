"""Schemathesis hooks for bbws: how to send a component upload.

The upload route takes `application/wasm` (a binary string in the document),
a media type schemathesis has no serializer for. Generated values are sent
as their bytes; bbws refuses them as not a component (422), which is what
the document says.
"""

import schemathesis


@schemathesis.serializer("application/wasm")
def wasm(ctx, value):
    if isinstance(value, bytes):
        return value
    return str(value).encode()
