"""The portal benchmark (`make bench`, i.e. `python -m bench`): see bench/README.md.

Not a test: it prints figures. Modules:

- `__main__`: the command line, and the orchestration of one run.
- `procs`: the processes a run starts (Stripe stand-in, PostgreSQL, gunicorn) and the memory sampler.
- `prepare`: a fresh database with an organization, its users and their JWT access tokens.
- `wrk`: drives a server with wrk (`wrk_portal.lua`), the only load generator.
- `floor`: the bare WSGI app the app is compared with (and a trivial one for the load generator).
- `instrument`: bench-only counters inside each gunicorn worker (requests, DB queries).
- `report`: targets, the table and the JSON.
"""
