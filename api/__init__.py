"""The hwsearch service: REST API (FastAPI), store (SQLAlchemy + Alembic), job queue and workers.

Modules, one job each: ``settings`` (configuration), ``db`` (engine, sessions,
migrations), ``models`` (tables), ``schemas`` (request/response bodies), ``auth``
(API keys), ``queue`` (claiming jobs, leases, recovery), ``jobs`` (running one job: the
same code for local workers and Celery), ``worker`` (local worker loop), ``celery_app``
(distributed workers), ``routes/`` (HTTP), ``app`` (assembly), ``server`` (``hwsearch serve``).
"""
