"""Attacks on a real node (``scf-node start --dev`` as subprocesses): hostile requests must
never end a process, and a child process that ends is started again."""
