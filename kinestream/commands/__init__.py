"""The ``kinestream`` subcommands: each module registers its own and handles it.

They are the command line's edge: they parse options, call the package's parts and tell
the user what happened (exit status 0, 1 when a service or a tool failed, 2 on bad input).
"""
