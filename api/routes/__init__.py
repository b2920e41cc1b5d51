"""One router module per resource; handlers are thin: services hold the rules."""
