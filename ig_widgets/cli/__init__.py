"""The command line's corpus sub-commands: ``explain-dataset`` and ``report`` (app layer)."""
