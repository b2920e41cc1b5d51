"""Operator commands of ``scf-node``: one Typer module per noun (member, proposal, node),
plus status and backup. They reach a home through ``nodes.connect``, running node or not."""
