// Package deployments holds no code: its tests check the deployment files next to it (docker-compose.yml, NATS configs, the Dockerfile, Kubernetes manifests, the Grafana dashboard) against each other and the repository.
package deployments
