"""Untrusted models and a shared process: scan, budget, sandbox, limiter, runtime settings."""
