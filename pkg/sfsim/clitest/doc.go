// Package clitest drives the real Salesforce CLI (sf) and jsforce against
// the emulator (pkg/sfsim) over HTTP, as a user pointing those tools at
// workers/sfsim would, and checks each command's effect: the records in the
// emulator's store and what the command prints, not only its exit code.
//
// The tools are found through environment variables, which .ci/run sets
// after installing them from the npm registry:
//
//	CONTACTSYNC_SF         the sf executable (@salesforce/cli 2.150.x)
//	CONTACTSYNC_NODE       a Node.js >= 22 binary (sf needs it; it is put
//	                       first on sf's PATH)
//	CONTACTSYNC_NODE_PATH  a node_modules directory holding jsforce 3.x
//
// Without them the tests skip, unless CI=true, where they fail. Every test
// starts its own emulator on a random loopback port and gives sf a private
// HOME, so nothing is read from or written to the user's own sf config.
//
// The tests have no library code; this file only documents the package.
// harness_test.go holds the shared harness (tool lookup, emulator, private
// HOME, login); sf_test.go the REST commands, bulk_test.go the Bulk API 2.0
// ones, jwt_test.go sf org login jwt, jsforce_test.go the jsforce script in
// testdata.
package clitest
