// Command syncctl is the operator's tool for a contactsync pipeline: status,
// dead-letter list/show/replay/purge, segment backfills and reports. Run
// `syncctl --help`, and `syncctl COMMAND --help` for each command.
package main

import "github.com/contactsync/contactsync/pkg/ops"

func main() { ops.Main() }
