"""The consortium's PKI: the CA and its certificates (``nodes.pki.ca``), and a node home's
share of it (``nodes.pki.home``)."""
