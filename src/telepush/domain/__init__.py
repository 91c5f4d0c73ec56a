"""The pure core: customers, deliveries, statuses, retry policies. No I/O at all."""
