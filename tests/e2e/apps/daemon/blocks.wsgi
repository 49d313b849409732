"""Streams blocks of mixed sizes with distinct, position-dependent content
(small ones and ones that straddle the daemon's 512 KiB spool halves), so
a lost, repeated or reordered byte changes the body.  ?n=<blocks>
(default 40), &cl=1 declares the Content-Length.  The test computes the
same body with blocks() below."""

SIZES = [65536, 1000, 100000, 40000, 300000, 7, 700000, 32768, 32767, 1 << 20]


def blocks(n):
    for i in range(n):
        size = SIZES[i % len(SIZES)]
        seed = bytes(((i * 131 + j * 7) & 0xFF) for j in range(251))
        yield (seed * (size // len(seed) + 1))[:size]


def application(environ, start_response):
    query = dict(p.split("=", 1) for p in environ.get("QUERY_STRING", "").split("&") if "=" in p)
    n = int(query.get("n", "40"))
    headers = [("Content-Type", "application/octet-stream")]
    if query.get("cl") == "1":
        headers.append(("Content-Length", str(sum(len(b) for b in blocks(n)))))
    start_response("200 OK", headers)
    return blocks(n)
