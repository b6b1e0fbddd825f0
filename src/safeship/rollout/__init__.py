"""Steps, strategies, the pure planner and the reconciler that acts on its plans."""
