"""Where analysis numbers come from, one module per source behind one Protocol (`base.py`),
like flagger's `pkg/metrics/providers`: `promql` (the embedded store), `prometheus` (a real
one), `router` (a router's own counters), `simulated` (a source the simulator takes down),
`static` (fixed numbers, for tests). `query` holds the PromQL the first two share."""
