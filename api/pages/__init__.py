"""People's pages, server-rendered (Jinja2) by the same app as the API: the operators'
work-centre terminal now, the office pages later. Shared pieces: ``auth`` (the terminal
session as a credential), ``csrf`` (double-submit tokens), ``templating`` (templates, the
layout and static assets shipped in the package)."""
