"""The control-plane process: wiring, REST and Prometheus-compatible API, dashboard."""
