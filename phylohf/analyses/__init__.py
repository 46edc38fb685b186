"""The analyses of the ecosystem: anatomy, kinship, licenses, drift, and their claims."""
