"""The full report: its sections composed, rendered as text, figures and a page."""
