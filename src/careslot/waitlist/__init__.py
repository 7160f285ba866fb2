"""The waitlist (SPEC section 10): a freed slot is held for the next waiting patient."""
