"""Pure building blocks imported by every package: clock, durations, errors."""
