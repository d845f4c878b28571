"""Stats: the figures editors and admins read, kept cheap to read at any size.

Send progress, the counters (tallies and aggregates, all kept by database triggers: see
webapp.stats.aggregates for why), per-edition, per-topic and per-item figures,
sender reputation against SES's thresholds, CSV exports, worker status and system mails waiting
or failing. Read-only towards the
rest of the flow: stats imports no other domain package that imports it back.
"""
