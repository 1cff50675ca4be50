"""The same stapel.yaml rendered for other runtimes: Docker Compose and Kubernetes (kustomize)."""
