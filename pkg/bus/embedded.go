package bus

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Embedded is an in-process nats-server with JetStream, for tests and the
// standalone binary. It listens on 127.0.0.1 on a random port, so any number
// of connections (and other processes) can use it.
type Embedded struct {
	srv  *server.Server
	lock func() // releases the store lock
}

// StartEmbedded starts the server with its JetStream file store in dir and
// waits until it accepts connections. The store is locked (dir/LOCK) while
// the server runs: a second server on the same files, in this process or
// another (a standalone run still going, `syncctl --data` on its store),
// would corrupt them, so it is refused with an error naming the directory.
func StartEmbedded(dir string) (*Embedded, error) {
	if dir == "" {
		return nil, errors.New("bus: StartEmbedded: dir is required (JetStream store directory)")
	}
	unlock, err := lockStore(dir)
	if err != nil {
		return nil, err
	}
	e, err := startEmbedded(dir)
	if err != nil {
		unlock()
		return nil, err
	}
	e.lock = unlock
	return e, nil
}

func startEmbedded(dir string) (*Embedded, error) {
	opts := &server.Options{
		ServerName: "contactsync-embedded",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true, // the host process owns signal handling
		NoLog:      true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded nats-server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, errors.New("bus: embedded nats-server not ready after 10s")
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("bus: embedded nats-server started without JetStream (store %s)", dir)
	}
	return &Embedded{srv: srv}, nil
}

// ClientURL is the nats:// URL clients connect to.
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

// Shutdown stops the server and waits until it has stopped.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	if e.lock != nil {
		e.lock()
		e.lock = nil
	}
}
