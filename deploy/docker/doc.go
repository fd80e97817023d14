// Package docker keeps the repository's Docker files honest while no Docker
// engine is at hand. Its tests load docker-compose.yml with the Compose
// specification's own loader and check the wiring (every service built from
// its own Dockerfile, one broker address, health checks, a scalable
// inventory); they read each service Dockerfile with BuildKit's parser and
// linter and replay its build stage with the local Go toolchain; and, in
// make test-kafka, they boot the compose configuration on Apache Kafka in
// namespaces of their own. Neither file can drift from the code unnoticed.
//
// The package has no code of its own: everything is in its tests.
package docker
