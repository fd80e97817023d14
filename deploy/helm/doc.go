// Package helm checks the eventshop Helm chart (eventshop/) and the Strimzi
// manifests (strimzi/) without a cluster: helm lint and helm template
// through the Helm SDK, every rendered object decoded strictly into the
// Kubernetes API types, KEDA's ScaledObjects validated against the CRD of
// the released KEDA module, the Strimzi resources read into Strimzi's own
// API model, and the chart held to docker-compose.yml and to what the
// services do when compose's settings run them.
//
// It is a module of its own, outside go.work: Helm, client-go and KEDA would
// otherwise raise the versions of dependencies the services share. Run it
// with `make test` or `GOWORK=off go test ./...` here.
package helm
