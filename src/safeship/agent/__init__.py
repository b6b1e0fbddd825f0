"""`safeship agent`: the data plane that outlives the controller (DESIGN §2, process model).

One agent per machine supervises local replicas and runs the router as worker processes on
one port. Neither replicas nor workers are its children in the "die with me" sense: they run
in their own sessions, so killing the agent (or the controller above it) costs no request.
The agent keeps desired and observed state on disk and re-adopts what still runs when it
comes back. Pure decisions live in `backoff` and `adoption`; the rest is I/O at the edges.
"""
