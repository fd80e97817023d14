// Package api holds eventshop's published contracts: the OpenAPI document of
// the HTTP API, the AsyncAPI document of the Kafka topics and the JSON
// Schemas (2020-12) of their bodies and headers. They are embedded so that
// order-service serves the OpenAPI document and tests check real traffic
// against all of them.
package api

import "embed"

// Files holds openapi.yaml, asyncapi.yaml and schemas/*.json, at those paths.
//
//go:embed openapi.yaml asyncapi.yaml schemas/*.json
var Files embed.FS

// OpenAPI is openapi.bundled.yaml: openapi.yaml with the schemas it
// references copied in, one self-contained document, as order-service
// serves it at GET /openapi.yaml and client generators take it.
//
//go:embed openapi.bundled.yaml
var OpenAPI []byte
