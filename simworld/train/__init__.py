"""Training loops of the model stack (library functions; the ``simworld train`` CLI calls them)."""
