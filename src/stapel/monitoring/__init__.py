"""Observability config generated from the stack: prometheus.yml (prometheus.py), Grafana provisioning and
dashboards (grafana.py, dashboards.py), each for one view of the network (views.py: native, compose, k8s)."""
