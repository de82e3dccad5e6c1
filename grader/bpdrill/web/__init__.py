"""The local page: bpdrill serve (server.py) and its static files (static/: the page, its script, the editor bundle)."""
