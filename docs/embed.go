// Package docs embeds the OpenAPI document so the binary serves it at
// /openapi.yaml, and renders it as the HTML reference served at /docs.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
