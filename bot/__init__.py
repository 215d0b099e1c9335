"""Toile: a Telegram bot for volunteer election campaigns."""
