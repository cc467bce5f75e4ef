"""The web UI's assets: page templates and static files (plain ES modules and CSS, no build step).

Nothing here is imported at run time except to locate the files (`importlib.resources`); the page
routes live in `tracelake.server.routes.ui`.
"""
