"""The service's tables: the schema, and everything the API and the commands read or write.

The migrations that create and upgrade the schema, on plain PostgreSQL or with TimescaleDB
(``migrations`` and ``migrations/*.sql``); analyses and their event history (``analyses``);
API keys, their limits and request counters (``api_keys``); and the coach's SQL queries over
metric history (``queries``). The dataflow's own writes go through
:mod:`kinestream.connectors.database`.
"""
