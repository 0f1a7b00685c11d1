"""The stability run: endcap's api, stream worker and Redis under a steady, realistic load
for a fixed time, checked against SLOs (bench/README.md, "Stability")."""
