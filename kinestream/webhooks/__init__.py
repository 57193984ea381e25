"""Everything that delivers events to third parties as signed HTTP webhooks.

Registrations made through the API (``registry``), the check that a target URL is safe to
call (``targets``), the durable queue of deliveries with their retries and dead letters
(``deliveries``), the signed HTTP request itself (``sender``), and the ``kinestream webhooks``
process that consumes the webhooks topic and drives them (``dispatcher``).
"""
