// Package cli is the one command-line layer of the contactsync tools
// (producer, syncctl, standalone and the services' --help): a Program is a
// table of Commands, each a few lines in its own file, and the layer gives
// every command the same conventions:
//
//   - help on stdout (--help, -h, "help COMMAND"), exit 0;
//   - exit codes 0 ok, 1 failure, 2 usage (bad flag, argument or setting),
//     3 incomplete (the run ended but not everything was accounted for);
//   - flags anywhere, before or after positional arguments ("--" ends flags);
//   - --json on every command (stdout then carries JSON only), --dry-run on
//     every command that writes;
//   - one duration form for flags and settings: Go durations plus days
//     ("3d", "36h", "90m", "1d12h");
//   - errors that name the flag or the environment variable as the user
//     sets it (--segment, SF_CLIENT_ID), printed once as "PROGRAM: message".
package cli
