"""The member REST API (FastAPI) and its SQL read model.

May import ``chain``; never ``nodes``.
"""
