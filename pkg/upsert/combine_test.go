package upsert

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/contactsync/contactsync/pkg/salesforce"
	"github.com/contactsync/contactsync/pkg/sfsim"
	"github.com/contactsync/contactsync/pkg/sfsim/sfsimtest"
)

func emulator(t *testing.T) (*sfsimtest.Org, *salesforce.Client) {
	t.Helper()
	srv := sfsimtest.Start(t, sfsim.Config{})
	sf := srv.Client(t)
	return srv, sf
}

// manualClock moves only when the test says so.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []manualTimer
}

type manualTimer struct {
	at time.Time
	ch chan time.Time
}

func (m *manualClock) Now() time.Time { m.mu.Lock(); defer m.mu.Unlock(); return m.now }

// At fires once the clock reaches t (at once if it has).
func (m *manualClock) At(t time.Time) <-chan time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := make(chan time.Time, 1)
	if !t.After(m.now) {
		ch <- m.now
	} else {
		m.timers = append(m.timers, manualTimer{t, ch})
	}
	return ch
}

// waitsBeyondNow reports whether someone waits on a time still to come.
func (m *manualClock) waitsBeyondNow() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.timers {
		if t.at.After(m.now) {
			return true
		}
	}
	return false
}

// Advance moves time on and fires the timers it reaches.
func (m *manualClock) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = m.now.Add(d)
	keep := m.timers[:0]
	for _, t := range m.timers {
		if t.at.After(m.now) {
			keep = append(keep, t)
		} else {
			t.ch <- m.now
		}
	}
	m.timers = keep
}

// startCombiner runs a combiner on a manual clock until the test ends.
func startCombiner(t *testing.T, sf Salesforce, size int, delay time.Duration) (*combiner, *manualClock, context.Context) {
	t.Helper()
	clock := &manualClock{now: time.Now()}
	c := newCombiner(sf, "Contact", "External_Contact_ID__c", size, fixed(delay))
	c.now, c.at = clock.Now, clock.At
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go c.run(ctx)
	return c, clock, ctx
}

func fixed(d time.Duration) func() time.Duration { return func() time.Duration { return d } }

// waitQueued waits until n records are queued.
func waitQueued(c *combiner, n int) {
	for {
		c.mu.Lock()
		q := c.queued
		c.mu.Unlock()
		if q == n {
			return
		}
		runtime.Gosched()
	}
}

func recs(prefix string, n int) []salesforce.Record {
	out := make([]salesforce.Record, n)
	for i := range out {
		out[i] = salesforce.Record{"LastName": "C", "External_Contact_ID__c": fmt.Sprintf("%s-%d", prefix, i)}
	}
	return out
}

func upsertCalls(srv *sfsimtest.Org) int64 {
	return srv.Stats().Routes["PATCH /composite/sobjects/{type}/{field}"]
}

// Batches of several partitions go out as one call once together they fill
// it, and each gets back the results of its own records.
func TestCombinerSharesOneCallAcrossPartitions(t *testing.T) {
	srv, sf := emulator(t)
	c, clock, ctx := startCombiner(t, sf, 10, time.Hour)
	var wg sync.WaitGroup
	results := make([][]salesforce.SaveResult, 4)
	for p, n := range []int{3, 3, 2, 2} {
		wg.Go(func() {
			res, err := c.upsert(ctx, nil, recs(fmt.Sprintf("P%d", p), n), clock.Now(), nil, 0)
			if err != nil {
				t.Error(err)
			}
			results[p] = res
		})
	}
	wg.Wait()
	if got := upsertCalls(srv); got != 1 {
		t.Fatalf("%d upsert calls for 10 records of 4 partitions, want 1", got)
	}
	for p, n := range []int{3, 3, 2, 2} {
		if len(results[p]) != n {
			t.Fatalf("partition %d got %d results for %d records", p, len(results[p]), n)
		}
		for _, r := range results[p] {
			if !r.Success || !r.Created {
				t.Fatalf("partition %d: %+v", p, r)
			}
		}
	}
	if n := len(srv.Records("Contact")); n != 10 {
		t.Fatalf("%d contacts, want 10", n)
	}
}

// A call that is not full waits for the freshness budget, and goes out when
// its oldest delta has waited SYNC_MAX_DELAY, not later.
func TestCombinerSendsWhenTheOldestDeltaHasWaitedMaxDelay(t *testing.T) {
	srv, sf := emulator(t)
	c, clock, ctx := startCombiner(t, sf, 200, 5*time.Second)
	done := make(chan error, 1)
	t0 := clock.Now()
	go func() {
		_, err := c.upsert(ctx, nil, recs("A", 1), t0, nil, 0)
		done <- err
	}()
	waitQueued(c, 1)
	// Until the budget is spent nothing is sent, however often the timer is asked.
	for range 3 {
		clock.Advance(time.Second)
		select {
		case err := <-done:
			t.Fatalf("sent after %v of a 5s budget (err %v)", 3*time.Second, err)
		default:
		}
	}
	if got := upsertCalls(srv); got != 0 {
		t.Fatalf("%d calls before the budget was spent", got)
	}
	clock.Advance(2 * time.Second) // the budget is spent
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := upsertCalls(srv); got != 1 {
		t.Fatalf("%d calls once the budget was spent, want 1", got)
	}
	// A delta published long ago (a backlog, a redelivery) is due at once.
	if _, err := c.upsert(ctx, nil, recs("B", 1), clock.Now().Add(-time.Minute), nil, 0); err != nil {
		t.Fatal(err)
	}
	if got := upsertCalls(srv); got != 2 {
		t.Fatalf("%d calls, want 2", got)
	}
}

// A submitter that gives up (lease lost) before its call goes out is not
// sent; the others are.
func TestCombinerDropsAbandonedSubmissions(t *testing.T) {
	srv, sf := emulator(t)
	c, clock, ctx := startCombiner(t, sf, 200, time.Second)
	lost, lose := context.WithCancel(ctx)
	errs := make(chan error, 2)
	go func() { _, err := c.upsert(lost, nil, recs("LOST", 2), clock.Now(), nil, 0); errs <- err }()
	go func() { _, err := c.upsert(ctx, nil, recs("KEPT", 2), clock.Now(), nil, 0); errs <- err }()
	waitQueued(c, 4)
	lose()
	if err := <-errs; err == nil {
		t.Fatal("the abandoned submission reported success")
	}
	clock.Advance(2 * time.Second)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	for _, r := range srv.Records("Contact") {
		if x, _ := r["External_Contact_ID__c"].(string); len(x) > 4 && x[:4] == "LOST" {
			t.Fatalf("abandoned record %s was written", x)
		}
	}
	if n := len(srv.Records("Contact")); n != 2 {
		t.Fatalf("%d contacts, want the 2 kept", n)
	}
}

// When Salesforce refuses a combined call as a whole (an unknown field in one
// partition's record), every other partition's records still get written:
// the refusal reaches only the submitter that caused it.
func TestCombinerIsolatesAWholeCallRefusal(t *testing.T) {
	srv, sf := emulator(t)
	c, clock, ctx := startCombiner(t, sf, 6, time.Hour)
	bad := recs("BAD", 3)
	bad[1]["Shoe_Size__c"] = 42
	var wg sync.WaitGroup
	var goodErr, badErr error
	wg.Go(func() { _, goodErr = c.upsert(ctx, nil, recs("GOOD", 3), clock.Now(), nil, 0) })
	wg.Go(func() { _, badErr = c.upsert(ctx, nil, bad, clock.Now(), nil, 0) })
	wg.Wait()
	if goodErr != nil {
		t.Fatalf("the innocent partition got %v", goodErr)
	}
	if salesforce.ClassOf(badErr) != salesforce.ClassPermanent {
		t.Fatalf("the culprit got %v, want the permanent refusal", badErr)
	}
	if n := len(srv.Records("Contact")); n != 3 {
		t.Fatalf("%d contacts, want the 3 good ones", n)
	}
}

// While a submission waits out a long freshness budget, its deltas are
// reported in progress, so AckWait does not redeliver them meanwhile.
func TestCombinerKeepsWaitingDeltasInProgress(t *testing.T) {
	_, sf := emulator(t)
	c, clock, ctx := startCombiner(t, sf, 200, time.Hour)
	beats := make(chan struct{}, 100)
	wctx, stop := context.WithCancel(ctx)
	errs := make(chan error, 1)
	go func() {
		_, err := c.upsert(wctx, nil, recs("W", 1), clock.Now(), func() { beats <- struct{}{} }, time.Millisecond)
		errs <- err
	}()
	<-beats
	<-beats
	stop()
	if err := <-errs; err == nil {
		t.Fatal("an abandoned wait reported success")
	}
}

// Calls are packed by record: a batch that does not fit is split, so a
// backlog of partial batches costs full calls, and each submitter still
// gets every result of its own records in order.
func TestCombinerPacksCallsByRecord(t *testing.T) {
	srv, sf := emulator(t)
	c, clock, ctx := startCombiner(t, sf, 10, time.Hour)
	type got struct {
		res []salesforce.SaveResult
		err error
	}
	a, b := make(chan got, 1), make(chan got, 1)
	go func() { r, err := c.upsert(ctx, nil, recs("A", 6), clock.Now(), nil, 0); a <- got{r, err} }()
	waitQueued(c, 6)
	go func() { r, err := c.upsert(ctx, nil, recs("B", 6), clock.Now(), nil, 0); b <- got{r, err} }()
	ra := <-a // 6 of A and 4 of B filled the first call
	if ra.err != nil || len(ra.res) != 6 {
		t.Fatalf("A: %+v", ra)
	}
	if got := upsertCalls(srv); got != 1 {
		t.Fatalf("%d calls after the first full one", got)
	}
	waitQueued(c, 2) // B's last 2 wait for the budget
	clock.Advance(2 * time.Hour)
	rb := <-b
	if rb.err != nil || len(rb.res) != 6 {
		t.Fatalf("B: %+v", rb)
	}
	ids := map[string]string{}
	for _, r := range srv.Records("Contact") {
		x, _ := r["External_Contact_ID__c"].(string)
		id, _ := r["Id"].(string)
		ids[x] = id
	}
	for i, r := range rb.res {
		if !r.Success || r.ID == "" || r.ID != ids[fmt.Sprintf("B-%d", i)] {
			t.Fatalf("B result %d: %+v, want the Id of B-%d (%s)", i, r, i, ids[fmt.Sprintf("B-%d", i)])
		}
	}
	if got := upsertCalls(srv); got != 2 {
		t.Fatalf("%d calls for 12 records in calls of 10, want 2", got)
	}
	if n := len(srv.Records("Contact")); n != 12 {
		t.Fatalf("%d contacts, want 12", n)
	}
}

// A call that falls due asks the partitions still gathering a batch to
// close and takes their records along, so deltas that reached other
// partitions during the budget share the call instead of each opening a
// later one (the 20 deltas/s case: about one call per budget, not two).
func TestCombinerWaitsForGatheringPartitions(t *testing.T) {
	srv, sf := emulator(t)
	c, clock, ctx := startCombiner(t, sf, 200, 5*time.Second)
	t0 := clock.Now()
	a := make(chan error, 1)
	go func() { _, err := c.upsert(ctx, nil, recs("A", 2), t0, nil, 0); a <- err }()
	waitQueued(c, 2)
	clock.Advance(time.Second)
	o := c.open(nil, clock.Now(), false) // partition B began gathering a second later
	clock.Advance(4 * time.Second)
	<-o.closing // A's budget is spent: B is asked to close
	if got := upsertCalls(srv); got != 0 {
		t.Fatalf("%d calls before the gathering partition submitted, want 0", got)
	}
	res, err := c.upsert(ctx, o, recs("B", 3), clock.Now().Add(-4*time.Second), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-a; err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || !res[0].Success {
		t.Fatalf("B's results: %+v", res)
	}
	if got := upsertCalls(srv); got != 1 {
		t.Fatalf("%d calls for A and B, want 1 shared call", got)
	}
}

// A gathering partition that does not answer a due call within the grace
// does not hold it: the call goes out without it, and its batch, due
// already, goes out as soon as it is submitted. A partition whose gathering
// ends with nothing to write leaves, and a due call does not wait for it.
func TestCombinerDoesNotWaitForeverForAGatheringPartition(t *testing.T) {
	srv, sf := emulator(t)
	c, clock, ctx := startCombiner(t, sf, 200, 5*time.Second)
	a := make(chan error, 1)
	go func() { _, err := c.upsert(ctx, nil, recs("A", 1), clock.Now(), nil, 0); a <- err }()
	waitQueued(c, 1)
	slow, empty := c.open(nil, clock.Now(), false), c.open(nil, clock.Now(), false)
	clock.Advance(5 * time.Second)
	<-slow.closing
	<-empty.closing
	c.leave(empty) // all its deltas were stale: nothing to write
	select {
	case err := <-a:
		t.Fatalf("sent before the grace while a partition was still gathering (err %v)", err)
	default:
	}
	clock.Advance(gatherGrace)
	if err := <-a; err != nil {
		t.Fatal(err)
	}
	if got := upsertCalls(srv); got != 1 {
		t.Fatalf("%d calls, want 1 (without the slow partition)", got)
	}
	if _, err := c.upsert(ctx, slow, recs("SLOW", 1), clock.Now().Add(-6*time.Second), nil, 0); err != nil {
		t.Fatal(err)
	}
	if got := upsertCalls(srv); got != 2 {
		t.Fatalf("%d calls, want 2", got)
	}
}

// Stopping makes everything due at once: a batch does not wait out the
// freshness budget on shutdown.
func TestCombinerHurriesOnStop(t *testing.T) {
	srv, sf := emulator(t)
	c, clock, ctx := startCombiner(t, sf, 200, time.Hour)
	done := make(chan error, 1)
	go func() { _, err := c.upsert(ctx, nil, recs("A", 1), clock.Now(), nil, 0); done <- err }()
	waitQueued(c, 1)
	c.hurry()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := upsertCalls(srv); got != 1 {
		t.Fatalf("%d calls, want 1", got)
	}
}

// In a backlog every record is due at once. A due call that is not full
// and carries only backlog records waits, while another partition is at
// work, for that partition's batch to fill it. (Records that arrived at a
// steady rate are never held: the other combiner tests, whose openings are
// not backlogs, hold them to that.)
func TestCombinerFillsBacklogCallsBeforeSending(t *testing.T) {
	srv, sf := emulator(t)
	c, clock, ctx := startCombiner(t, sf, 10, 5*time.Second)
	late := clock.Now().Add(-time.Minute) // published long before: due at once

	// A's batch (more were waiting behind it) submits 4 records while B is still gathering.
	oa, ob := c.open(nil, late, true), c.open(nil, late, true)
	a := make(chan error, 1)
	go func() { _, err := c.upsert(ctx, oa, recs("A", 4), late, nil, 0); a <- err }()
	waitQueued(c, 4)
	<-ob.closing // the call is due and asks B to close
	if got := upsertCalls(srv); got != 0 {
		t.Fatalf("%d calls with B still at work, want 0: a partial backlog call waits to be filled", got)
	}
	if _, err := c.upsert(ctx, ob, recs("B", 6), late, nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := <-a; err != nil {
		t.Fatal(err)
	}
	if got := upsertCalls(srv); got != 1 {
		t.Fatalf("%d calls for A's 4 and B's 6 records, want 1 full call", got)
	}
}

// A batch that starts gathering while a call is due is asked to close at
// once, like those the call asked when it fell due. Before, it was left
// unasked: the run loop asks openings only as a call falls due, so a
// partial backlog call then waited for it unasked (found as a hang of
// TestCombinerFillsBacklogCallsBeforeSending when its second opening came
// just after the call fell due).
func TestCombinerAsksABatchOpenedWhileACallIsDue(t *testing.T) {
	_, sf := emulator(t)
	c, clock, _ := startCombiner(t, sf, 10, 5*time.Second)
	late := clock.Now().Add(-time.Minute)
	oa := c.open(nil, late, true)
	<-oa.closing // the call fell due and asked A
	ob := c.open(nil, late, true)
	select {
	case <-ob.closing:
	default:
		t.Fatal("a batch opened while a call is due was not asked to close")
	}
	c.leave(oa)
	c.leave(ob)
}

// countedCombiner is startCombiner with its calls counted by reason.
func countedCombiner(t *testing.T, sf Salesforce, size int, delay time.Duration) (*combiner, *manualClock, context.Context, *callStats) {
	t.Helper()
	stats := &callStats{}
	clock := &manualClock{now: time.Now()}
	c := newCombiner(sf, "Contact", "External_Contact_ID__c", size, fixed(delay))
	c.now, c.at, c.count = clock.Now, clock.At, stats.add
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go c.run(ctx)
	return c, clock, ctx, stats
}

// atWork makes l a partition with a backlog that is at work on its next
// batch: its last fetch left more behind, and nothing of it is queued.
func atWork(c *combiner, l *lane, late time.Time) {
	c.leave(c.open(l, late, true))
}

// waitHeld waits until the combiner holds a partial backlog call back.
func waitHeld(c *combiner) {
	for {
		c.mu.Lock()
		held := !c.heldAt.IsZero()
		c.mu.Unlock()
		if held {
			return
		}
		runtime.Gosched()
	}
}

// stillHeld fails the test if the held call whose submitter reports on
// done goes out (after the clock moved), and returns once the combiner
// waits on a deadline still to come instead.
func stillHeld(t *testing.T, clock *manualClock, done <-chan error, why string) {
	t.Helper()
	for !clock.waitsBeyondNow() {
		select {
		case err := <-done:
			t.Fatalf("the held call went out %s (err %v)", why, err)
		default:
			runtime.Gosched()
		}
	}
}

// waitReason waits until n calls went out for reason r.
func waitReason(s *callStats, r callReason, n int64) {
	for s.calls[r].Load() < n {
		runtime.Gosched()
	}
}

// What releases a held backlog call is an event, not a timer: on a loaded
// machine a partition takes longer to settle and fetch its next batch, and
// the call must still wait for it (the symptom: 5.14 calls per 1,000
// contacts beside a CPU hog against 5.06 quiet, the difference partial
// calls let go after a one-second grace). The call goes out when it fills,
// or when no partition is left that could fill it: their backlogs drained,
// or every one of them waiting in this very call.
func TestCombinerHoldsABacklogCallUntilNoPartitionCanFillIt(t *testing.T) {
	srv, sf := emulator(t)
	c, clock, ctx, stats := countedCombiner(t, sf, 10, 5*time.Second)
	late := clock.Now().Add(-time.Minute)
	la, lb := c.join(), c.join()

	// B has a backlog and is settling its last batch (no opening, nothing queued).
	atWork(c, lb, late)
	a := make(chan error, 1)
	go func() { _, err := c.upsert(ctx, c.open(la, late, true), recs("A", 4), late, nil, 0); a <- err }()
	waitQueued(c, 4)
	waitHeld(c)
	clock.Advance(3 * gatherGrace) // a slow machine: B takes its time
	stillHeld(t, clock, a, "while B, with a backlog, was still at work")
	// B's next batch fills the call. (Had A's call gone out already, B's
	// records would wait for A's next batch: the drains below let them go,
	// and the count shows the second call.)
	b := make(chan error, 1)
	go func() { _, err := c.upsert(ctx, c.open(lb, late, true), recs("B", 6), late, nil, 0); b <- err }()
	if err := <-a; err != nil {
		t.Fatal(err)
	}
	c.drained(la)
	c.drained(lb)
	if err := <-b; err != nil {
		t.Fatal(err)
	}
	if got, full := upsertCalls(srv), stats.calls[callFull].Load(); got != 1 || full != 1 {
		t.Fatalf("%d calls (%d full), want 1 full call", got, full)
	}

	// Both partitions submit partial batches and wait in the same call:
	// nobody is left to fill it, so it goes out at once.
	ao, bo := c.open(la, late, true), c.open(lb, late, true)
	done := make(chan error, 2)
	go func() { _, err := c.upsert(ctx, ao, recs("A2", 2), late, nil, 0); done <- err }()
	go func() { _, err := c.upsert(ctx, bo, recs("B2", 3), late, nil, 0); done <- err }()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if got := stats.calls[callDrained].Load(); got != 1 || upsertCalls(srv) != 2 {
		t.Fatalf("%d drained calls, %d in all; want the one call both wait in to go out as drained", got, upsertCalls(srv))
	}

	// B's fetch finds its backlog gone: A's held call goes out.
	atWork(c, lb, late)
	go func() { _, err := c.upsert(ctx, c.open(la, late, true), recs("A3", 1), late, nil, 0); a <- err }()
	waitQueued(c, 1)
	c.drained(lb)
	if err := <-a; err != nil {
		t.Fatal(err)
	}
	if got := stats.calls[callDrained].Load(); got != 2 {
		t.Fatalf("%d drained calls, want 2", got)
	}

	// A partition that leaves (its lease ended) releases it too.
	atWork(c, lb, late)
	go func() { _, err := c.upsert(ctx, c.open(la, late, true), recs("A4", 1), late, nil, 0); a <- err }()
	waitQueued(c, 1)
	c.part(lb)
	if err := <-a; err != nil {
		t.Fatal(err)
	}
	waitReason(stats, callDrained, 3)
	c.part(la)
}

// A partition that stops making progress (a stuck state read, a fetch
// failing over and over) holds a backlog call for at most holdMax.
func TestCombinerHoldsABacklogCallForAtMostHoldMax(t *testing.T) {
	srv, sf := emulator(t)
	c, clock, ctx, stats := countedCombiner(t, sf, 10, 5*time.Second)
	late := clock.Now().Add(-time.Minute)
	la, stuck := c.join(), c.join()
	atWork(c, stuck, late)
	a := make(chan error, 1)
	go func() { _, err := c.upsert(ctx, c.open(la, late, true), recs("A", 3), late, nil, 0); a <- err }()
	waitQueued(c, 3)
	waitHeld(c)
	clock.Advance(c.holdMax() - time.Millisecond)
	stillHeld(t, clock, a, "before holdMax")
	if got := upsertCalls(srv); got != 0 {
		t.Fatalf("%d calls before holdMax, want 0", got)
	}
	clock.Advance(time.Millisecond)
	if err := <-a; err != nil {
		t.Fatal(err)
	}
	if got := stats.calls[callHeldOut].Load(); got != 1 {
		t.Fatalf("%d held_out calls, want 1", got)
	}
}

// A partition's last batch of a backlog (nothing more behind it) is as
// late as the rest: its call is held to be filled like theirs. A batch
// fetched inside its budget (steady arrival) is not: it goes out when due.
func TestCombinerHoldsTheLastBatchOfABacklogButNotAFreshOne(t *testing.T) {
	srv, sf := emulator(t)
	c, clock, ctx, stats := countedCombiner(t, sf, 10, 5*time.Second)
	late := clock.Now().Add(-time.Minute)
	la, lb := c.join(), c.join()
	atWork(c, lb, late)

	a := make(chan error, 1)
	go func() { _, err := c.upsert(ctx, c.open(la, late, false), recs("A", 4), late, nil, 0); a <- err }()
	waitQueued(c, 4)
	waitHeld(c)
	if _, err := c.upsert(ctx, c.open(lb, late, true), recs("B", 6), late, nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := <-a; err != nil {
		t.Fatal(err)
	}
	if got, full := upsertCalls(srv), stats.calls[callFull].Load(); got != 1 || full != 1 {
		t.Fatalf("%d calls (%d full), want A's last 4 and B's 6 in 1 full call", got, full)
	}

	// Fresh: fetched at once, due 5 s later, and sent then although B is busy.
	atWork(c, lb, late)
	fresh := clock.Now()
	go func() { _, err := c.upsert(ctx, c.open(la, fresh, false), recs("F", 2), fresh, nil, 0); a <- err }()
	waitQueued(c, 2)
	clock.Advance(5 * time.Second)
	if err := <-a; err != nil {
		t.Fatal(err)
	}
	if got := stats.calls[callDue].Load(); got != 1 {
		t.Fatalf("%d due calls, want the fresh batch's call sent when due", got)
	}
}
