// Package sfmetadata embeds the Salesforce metadata that contactsync ships
// (force-app/, Salesforce DX source format: the Contact fields, the exception
// object, the duplicate and validation rules, the integration permission set)
// so binaries and tests carry exactly what an admin deploys with
// `sf project deploy start`. Go code lives here only because go:embed cannot
// reach a parent directory; the parser is pkg/internal/sfmeta.
package sfmetadata

import (
	"embed"
	"io/fs"
)

//go:embed force-app
var forceApp embed.FS

// Source returns the DX package directory force-app (the directory holding
// main/default), as embedded at build time.
func Source() fs.FS {
	sub, err := fs.Sub(forceApp, "force-app")
	if err != nil {
		panic(err) // "force-app" is a valid path embedded above; fs.Sub cannot fail on it
	}
	return sub
}
