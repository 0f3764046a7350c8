package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/bus"
	"github.com/contactsync/contactsync/pkg/producer"
)

// ceilingConns mirrors the standalone fleet: 4 consumer connections (one per
// upserter), each pulling 4 of the 16 partitions.
const ceilingConns = 4

// runCeiling measures raw JetStream: the same payloads published with the
// producer's Publisher into CONTACTS (embedded server, file store, the real
// topology) while one plain durable pull consumer per partition fetches
// batches of 200 and acks each message. The clock runs from the first
// publish to the last ack.
func runCeiling(ctx context.Context, o Options, n int) (Row, error) {
	ds, err := cleanDeltas(n)
	if err != nil {
		return Row{}, err
	}
	dir, err := os.MkdirTemp("", "bench-ceiling-")
	if err != nil {
		return Row{}, err
	}
	defer os.RemoveAll(dir)
	heap := sampleHeap()
	ns, err := bus.StartEmbedded(dir)
	if err != nil {
		return Row{}, err
	}
	defer ns.Shutdown()
	nc, err := nats.Connect(ns.ClientURL(), nats.Name("bench-ceiling-publisher"))
	if err != nil {
		return Row{}, err
	}
	defer nc.Close()
	js, err := producer.NewJetStream(nc, 0)
	if err != nil {
		return Row{}, err
	}
	if err := bus.Ensure(ctx, js, bus.Topology{}); err != nil {
		return Row{}, err
	}
	stream, err := js.Stream(ctx, bus.StreamContacts)
	if err != nil {
		return Row{}, err
	}
	const partitions = 16
	var conns []*nats.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	cons := make([]jetstream.Consumer, partitions)
	for i := range ceilingConns {
		c, err := nats.Connect(ns.ClientURL(), nats.Name(fmt.Sprintf("bench-ceiling-consumer-%d", i)))
		if err != nil {
			return Row{}, err
		}
		conns = append(conns, c)
		cjs, err := jetstream.New(c)
		if err != nil {
			return Row{}, err
		}
		for p := i; p < partitions; p += ceilingConns {
			if _, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
				Durable: fmt.Sprintf("bench-p%02d", p), FilterSubject: bus.DeltaFilter(p),
				AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 400,
			}); err != nil {
				return Row{}, err
			}
			if cons[p], err = cjs.Consumer(ctx, bus.StreamContacts, fmt.Sprintf("bench-p%02d", p)); err != nil {
				return Row{}, err
			}
		}
	}

	var acked atomic.Int64
	var lastAck atomic.Int64 // unix nanos
	done := make(chan struct{})
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var lmu sync.Mutex
	var samples []time.Duration
	var ackTimes []time.Time
	for p := range partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, n/partitions+200)
			localAt := make([]time.Time, 0, n/partitions+200)
			defer func() {
				lmu.Lock()
				samples, ackTimes = append(samples, local...), append(ackTimes, localAt...)
				lmu.Unlock()
			}()
			for cctx.Err() == nil {
				b, err := cons[p].Fetch(200, jetstream.FetchMaxWait(250*time.Millisecond))
				if err != nil {
					select { // do not spin on a persistent error
					case <-cctx.Done():
					case <-time.After(50 * time.Millisecond):
					}
					continue
				}
				for m := range b.Messages() {
					if md, err := m.Metadata(); err == nil {
						local = append(local, time.Since(md.Timestamp))
					}
					if m.Ack() == nil {
						now := time.Now()
						localAt = append(localAt, now)
						lastAck.Store(now.UnixNano())
						if acked.Add(1) == int64(n) {
							close(done)
						}
					}
				}
			}
		}()
	}

	start := time.Now()
	pub := producer.NewPublisher(js)
	for i, d := range ds {
		if err := pub.Publish(ctx, i+1, d); err != nil {
			return Row{}, err
		}
	}
	counts, err := pub.Flush(ctx)
	if err != nil {
		return Row{}, err
	}
	published := time.Since(start)
	if counts.Published != int64(n) {
		return Row{}, fmt.Errorf("published %d of %d (duplicates %d, failed %d)", counts.Published, n, counts.Duplicates, counts.Failed)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		return Row{}, fmt.Errorf("only %d of %d acked after 5m", acked.Load(), n)
	case <-ctx.Done():
		return Row{}, ctx.Err()
	}
	elapsed := time.Unix(0, lastAck.Load()).Sub(start)
	cancel()
	wg.Wait()
	peak := heap.stop()
	p50, p99 := percentiles(samples)
	slices.SortFunc(ackTimes, time.Time.Compare)
	return Row{
		Scenario: "1. ceiling: raw JetStream publish → consume → ack", Contacts: int64(n),
		Rate: float64(n) / elapsed.Seconds(), Sustained: sustained(ackTimes), Calls: -1, Latency: true, P50: p50, P99: p99, PeakHeap: peak,
		Note: fmt.Sprintf("16 partition pull consumers on %d connections, Fetch 200, Ack each; publish alone took %s (%s/s); latency = publish→ack",
			ceilingConns, published.Round(time.Millisecond), rate(float64(n)/published.Seconds())),
	}, nil
}
