"""schemathesis hooks of test/e2e/schemathesis.test.ts (loaded through SCHEMATHESIS_HOOKS).

An Idempotency-Key used again with another body is refused with 422, as the IETF Idempotency-Key draft
prescribes and the document says: that answer depends on an earlier request, not on this one.
schemathesis draws keys from a small space ("0", "00", ...), so it reuses them across bodies and would
report each such 422 as a valid request refused. Every valid key it generates gets a unique suffix,
still valid by the document; an invalid one is left as it is, so its rejection is still checked.
"""

import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")


@schemathesis.hook
def map_case(context, case):
    headers = case.headers or {}
    for name, value in list(headers.items()):
        if name.lower() == "idempotency-key" and isinstance(value, str) and VALID_KEY.fullmatch(value):
            headers[name] = f"{value[:222]}-{uuid.uuid4().hex}"
    return case
