package upsert_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/bus/bustest"
	"github.com/contactsync/contactsync/pkg/conflict"
	"github.com/contactsync/contactsync/pkg/delta"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/sfsim/sfsimtest"
	"github.com/contactsync/contactsync/pkg/upsert"
)

// Losing the CONTACTS stream leader of a 3-node cluster mid-run (R3 streams,
// consumers and buckets) loses no delta, creates no duplicate Contact and
// never applies an older version over a newer one.
func TestJetStreamNodeLoss(t *testing.T) { nodeLoss(t, bus.StreamContacts) }

// Losing the leader of the contact-state bucket mid-run: reads during the
// leader change come from replicas that may be behind, and must be refused
// until current (the lease check in stateStore.load), or a stale read would
// let an older version through.
func TestStateLeaderLoss(t *testing.T) { nodeLoss(t, "KV_"+bus.BucketState) }

func nodeLoss(t *testing.T, victim string) {
	c := bustest.StartCluster(t, 3, bus.Topology{})
	srv := sfsimtest.Start(t, sfsim.Config{Faults: sfsim.Faults{LatencyMS: 150}})
	ctx := context.Background()
	sf, log := recordingClient(t, srv)
	connect := func(name string) *nats.Conn {
		nc, err := nats.Connect(c.URL(), nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	stats := &upsert.Stats{}
	cfg := upsert.Config{AckWait: 3 * time.Second, MaxDelay: 200 * time.Millisecond, LeaseTTL: 2 * time.Second, Heartbeat: 300 * time.Millisecond, ShutdownTimeout: 5 * time.Second}
	for _, m := range []string{"a", "b"} {
		cfg.Member = m
		u, err := upsert.New(cfg, upsert.Deps{NATS: connect(m), Salesforce: sf, Resolver: conflict.NewResolver(sf, conflict.Config{}, nil), Stats: stats})
		if err != nil {
			t.Fatal(err)
		}
		if err := u.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = u.Stop(context.Background()) })
	}

	js, err := jetstream.New(connect("producer"))
	if err != nil {
		t.Fatal(err)
	}
	const contacts, versions = 300, 3
	published := 0
	for v := 1; v <= versions; v++ {
		for i := range contacts {
			d := delta.Delta{Schema: delta.SchemaV1, ExternalID: fmt.Sprintf("N%d", i), Segment: "emea", Version: int64(v),
				Fields: map[string]any{"LastName": "N", "Title": fmt.Sprintf("v%d", v)}}
			b, _ := json.Marshal(d)
			if _, err := js.Publish(ctx, d.Subject(), b, jetstream.WithMsgID(d.MsgID())); err != nil {
				t.Fatal(err)
			}
			published++
		}
	}
	// Kill the stream's leader while the fleet is working.
	eventually(t, 30*time.Second, func() bool { return stats.Snapshot().Done() >= int64(published/10) }, func() string { return "no progress" })
	if d := stats.Snapshot().Done(); d >= int64(published) {
		t.Fatalf("all %d deltas done before the node loss; the test would prove nothing", d)
	}
	stream, err := js.Stream(ctx, victim)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil || info.Cluster == nil || info.Cluster.Leader == "" {
		t.Fatalf("no stream leader: %v %+v", err, info)
	}
	if !c.Kill(info.Cluster.Leader) {
		t.Fatalf("no node %s", info.Cluster.Leader)
	}

	// Every contact ends at its newest version, exactly once.
	eventually(t, 120*time.Second, func() bool {
		cs := srv.Records("Contact")
		if len(cs) != contacts {
			return false
		}
		for _, r := range cs {
			if r["Title"] != fmt.Sprintf("v%d", versions) {
				return false
			}
		}
		return true
	}, func() string {
		return fmt.Sprintf("contacts never converged: %d records, stats %+v", len(srv.Records("Contact")), stats.Snapshot())
	})
	seen := map[string]bool{}
	for _, r := range srv.Records("Contact") {
		x := r["External_Contact_ID__c"].(string)
		if seen[x] {
			t.Fatalf("duplicate Contact for %s", x)
		}
		seen[x] = true
	}
	// Outcomes may count a redelivered delta twice (an ack lost with the
	// leader), but never fewer than were published, and nothing goes to the DLQ.
	eventually(t, 60*time.Second, func() bool { return stats.Snapshot().Done() >= int64(published) },
		func() string { return fmt.Sprintf("outcomes %+v, published %d", stats.Snapshot(), published) })
	if s := stats.Snapshot(); s.DeadLettered != 0 || s.Held != 0 {
		t.Fatalf("node loss caused dead letters or holds: %+v", s)
	}
	if r := log.regressions(); len(r) > 0 {
		t.Fatalf("%d older-after-newer writes during the node loss, e.g. %v", len(r), r[:min(5, len(r))])
	}
}
