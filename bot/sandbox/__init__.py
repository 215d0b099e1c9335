"""The sandbox: Toile, unchanged, against a Bot API stand-in on this machine, with a web chat
page for a small cast of people (cast.py, page.py)."""
