"""The running service: settings, database, auth, app assembly and the command line."""
