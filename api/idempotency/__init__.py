"""``Idempotency-Key`` on every POST and ``?wait=false`` on every member's POST.

- ``middleware``: the ASGI middleware that claims, runs, replays or accepts a POST;
- ``posts``: what it reads from a POST (whose, which key, ``wait``, a fingerprint);
- ``store``: the operations table (claims and kept answers);
- ``kept_requests``, ``worker``: ``?wait=false`` operations, kept and run (after a
  restart too) by the operations worker in the app's lifespan;
- ``encrypted_answers``: answers that carry a secret, encrypted before they are kept;
- ``asgi``: reading a body once and capturing a route's response;
- ``openapi``: the parameters and answers it adds, in /openapi.json.
"""
