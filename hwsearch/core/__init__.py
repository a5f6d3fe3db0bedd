"""The bottom layer: what every other part speaks (layers, policies, the cost-model
interface, the search spec, the costing, the search problem and its records).

It imports nothing else of the project, so ``latency_tables``, ``agents`` and the env
build on it without reaching up into models, data or the service.
"""
