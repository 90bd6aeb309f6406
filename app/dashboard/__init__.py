"""The dashboard at /dashboard: server-rendered pages over the same services as the API,
for the same keys and roles (README: Dashboard)."""
