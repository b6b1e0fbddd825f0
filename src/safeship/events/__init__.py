"""Event streams: structured service events ingested, aggregated in windows, kept in tiers."""
