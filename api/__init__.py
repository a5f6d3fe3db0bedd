"""The hwsearch service: REST API (FastAPI), store (SQLAlchemy + Alembic), job queue and workers.

Modules, one job each: ``settings`` (configuration), ``db`` (engine, sessions,
migrations), ``models`` (tables), ``schemas`` (request/response bodies), ``auth``
(API keys), ``queue`` (claiming jobs, leases, recovery), ``store`` (a job's results),
``uploads`` (uploaded tables as targets), ``broker`` (Celery settings, dispatch by name),
``workers`` (heartbeats: which workers are alive),
``job_runner`` (a worker's run of one job: the same code for local workers and Celery),
``worker`` (local worker loop), ``celery_app`` (the Celery task, on the workers),
``routes/`` and ``web/`` (HTTP), ``app`` (assembly), ``server`` (``hwsearch serve``),
``supervisor`` (its local workers: restarted when they die, stopped with it).
Routes never import the worker side; the worker side never imports routes.
"""
