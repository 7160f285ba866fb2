"""Telling people (SPEC section 9): the outbox, its sender, mail content, calendar feeds and
webhooks."""
