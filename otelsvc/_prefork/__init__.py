"""Pre-fork servers (gunicorn, uvicorn --workers, worker pools): one Prometheus view of every worker.

See docs/prefork.md. The guard holds a ``Role`` (from ``plan``): a root serves the address and runs
the hub, a worker publishes its snapshots to the hub, a plain role does neither.
"""

from otelsvc._prefork._role import Role, declare_gauge, on_address_in_use, plan

__all__ = ["Role", "declare_gauge", "on_address_in_use", "plan"]
