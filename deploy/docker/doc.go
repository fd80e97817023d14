// Package docker keeps the repository's Docker files honest while no Docker
// engine is at hand. Its tests load docker-compose.yml with the Compose
// specification's own loader and check the wiring (every service built from
// its own Dockerfile, one broker address, health checks, a scalable
// inventory), and they replay each service Dockerfile's build stage with the
// local Go toolchain, so that neither file can drift from the code unnoticed.
//
// The package has no code of its own: everything is in its tests.
package docker
