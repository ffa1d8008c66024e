"""An offline demo world: fictional communities served by local servers, for `resurface demo`.

No real names, no real images: pictures are generated patterns, made in memory and served from
memory (never written to disk), so the demo exercises the same fingerprinting as real crawls.
"""
