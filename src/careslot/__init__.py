"""careslot: hospital appointment booking that answers near-instantly and is never wrong."""

__version__ = "0.1.0"
