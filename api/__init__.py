"""The Pattern API (SPEC §9): FastAPI app serving stored patterns to the engines, triggering learning
runs, scoring leads, allocating touch sequences and building content snapshots.

Start it with ``convintel serve`` or ``make serve``; ``api.app:create_app`` is the app factory."""
