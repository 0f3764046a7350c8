package upsert

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/contactsync/contactsync/pkg/salesforce"
)

// combiner gathers the upserts of all the partitions a member holds into
// shared sObject Collections calls of up to size records, so the cost per
// delta does not depend on how deltas spread over partitions or arrive in
// time. A call goes out when it is full or when the oldest delta in it, or
// in a batch still being gathered (an opening), has waited the freshness
// budget (SYNC_MAX_DELAY, stretched under API pressure by budget),
// whichever is first; a due call first asks the gathering partitions to
// close and takes their batches along.
//
// Order per contact holds: a partition has at most one batch in flight and
// submits each of its writes once per attempt, a contact belongs to one
// partition, and fold leaves one write per contact in a batch, so no call
// carries two records of one contact.
//
// Calls are packed by record: a submission that does not fit in the call
// being filled is split, the rest opening the next call (its records are of
// different contacts, so their order does not matter). A submitter that
// gives up (its lease ended, shutdown) before its records went out is
// dropped; a call already sent is cancelled only when every submitter in it
// gave up. When Salesforce refuses a combined call as a whole for a
// permanent reason (one record's unknown field fails the request), each
// part is sent again alone, so the refusal reaches only the partition whose
// record caused it and its own bisection finds the record.
type combiner struct {
	sf       Salesforce
	object   string
	extField string
	size     int
	delay    func() time.Duration // the freshness budget now (see budget)
	now      func() time.Time
	at       func(time.Time) <-chan time.Time // fires at a deadline; tests inject a clock
	gate     func(context.Context) error      // waits while the fleet is paused (daily allocation); nil = never
	count    func(callReason, int)            // counts each call sent and its records; nil = not counted

	mu       sync.Mutex
	queue    []*submission
	queued   int // records in queue
	openings []*opening
	lanes    []*lane
	dueAt    time.Time  // when the call now due fell due; zero when none is
	heldAt   time.Time  // when a due but partial backlog call was first held back (see holdLocked); zero when none is
	hurried  bool       // stopping: everything is due at once
	inFlight int        // calls sent and not answered
	reason   callReason // why the call being flushed goes out (flushLocked)
	wake     chan struct{}
	stopped  chan struct{}
}

type submission struct {
	ctx      context.Context
	recs     []salesforce.Record
	deadline time.Time // oldest delta's publish time + the freshness budget
	backlog  bool      // gathered while more deltas waited behind it (opening.backlog)
	lane     *lane     // the partition it came from; nil in tests that have none
	done     chan struct{}
	res      []salesforce.SaveResult
	err      error
	// guarded by combiner.mu
	sent     int  // records handed to calls
	inFlight int  // parts not answered yet
	finished bool // done is closed
}

// opening is a partition's batch still being gathered (fetched, not yet
// decided), announced to the combiner. A call that falls due asks every
// opening to close (closing is closed) and waits, at most gatherGrace, for
// them to submit or leave, so deltas that reached a partition during the
// budget ride in the same call instead of opening the next one: the number
// of calls then depends on the budget, not on when deltas happened to reach
// which partition.
type opening struct {
	lane     *lane         // the partition gathering it; may be nil
	deadline time.Time     // oldest fetched delta's publish time + the budget
	backlog  bool          // a backlog's batch: more deltas waited behind its fetch, or it was late when fetched (see open)
	closing  chan struct{} // closed when a call is due
	called   bool          // asked to close; guarded by combiner.mu
	missed   bool          // the call it was asked for left without it; guarded by combiner.mu
	gone     bool          // submitted or left; guarded by combiner.mu
}

// gatherGrace bounds how long a due call waits for the partitions it asked
// to close: one gathering pull (gatherPull) plus a state read, with room
// for a loaded machine. A partition that misses it only costs a call.
const gatherGrace = time.Second

// In a backlog every delta is past its freshness budget the moment it is
// fetched, so every call would be due at once and the last records of each
// partition's batch would go out in a call of their own: cost would depend
// on how the partitions' batches happened to interleave (measured: 547
// calls for 100,000 contacts by two upserter processes, against 500 full
// ones). So a due call that is not full and carries only backlog records
// (see opening.backlog) is held back while another partition of this
// member still has a backlog and is at work on it (see lane): its next
// batch fills the call. What releases the call is an event, not a timer: a
// call fills, or no partition is left that could fill it (their backlogs
// drained, or every one of them waits in this very call). holdMax only
// bounds a hold behind a partition that stopped making progress (a stuck
// state read, a fetch failing over and over); on a healthy machine, loaded
// or not, it is not reached, so the cost of a backlog does not depend on
// how fast the machine is. Deltas that arrive at a steady rate find nothing
// waiting behind them, so their calls are not held.

// holdMax is the longest a partial backlog call is held: one freshness
// budget, and never less than gatherGrace.
func (c *combiner) holdMax() time.Duration { return max(c.delay(), gatherGrace) }

// lane is a partition a member consumes, as the combiner sees it between
// batches: whether its last fetch left more deltas waiting (a backlog), and
// how many of its submissions wait in the queue. A lane with a backlog and
// nothing queued is at work on its next batch (settling, fetching,
// gathering, or waiting on a call), so a held call can count on it.
// Guarded by combiner.mu.
type lane struct {
	backlog bool
	queued  int
}

// part is the records [off, off+n) of a submission in one call.
type part struct {
	s      *submission
	off, n int
}

// finishLocked closes s.done once. c.mu must be held.
func finishLocked(s *submission, err error) {
	if s.finished {
		return
	}
	if err != nil && s.err == nil {
		s.err = err
	}
	s.finished = true
	close(s.done)
}

// join registers a partition the member starts consuming. The caller
// reports each fetch with open or drained, and calls part when it stops.
func (c *combiner) join() *lane {
	l := &lane{}
	c.mu.Lock()
	c.lanes = append(c.lanes, l)
	c.mu.Unlock()
	return l
}

// part withdraws l: the partition's lease ended or the member stops.
func (c *combiner) part(l *lane) {
	c.mu.Lock()
	if i := slices.Index(c.lanes, l); i >= 0 {
		c.lanes = slices.Delete(c.lanes, i, i+1)
	}
	c.mu.Unlock()
	c.poke()
}

// drained records that l's last fetch found nothing: its backlog is gone.
func (c *combiner) drained(l *lane) {
	c.mu.Lock()
	changed := l.backlog
	l.backlog = false
	c.mu.Unlock()
	if changed {
		c.poke()
	}
}

func newCombiner(sf Salesforce, object, extField string, size int, delay func() time.Duration) *combiner {
	return &combiner{sf: sf, object: object, extField: extField, size: size, delay: delay,
		now: time.Now, at: func(t time.Time) <-chan time.Time { return time.After(time.Until(t)) }, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
}

// run flushes due calls until ctx ends. A call falls due at the earliest
// deadline of what is queued or being gathered; it then asks the openings
// to close and goes out once they have all submitted (or left), or after
// gatherGrace.
func (c *combiner) run(ctx context.Context) {
	defer close(c.stopped)
	for {
		c.mu.Lock()
		var timer <-chan time.Time
		now := c.now()
		if c.dueAt.IsZero() {
			if due, ok := c.nextDeadlineLocked(); ok {
				if due.After(now) {
					timer = c.at(due)
				} else {
					c.dueAt = now
					for _, o := range c.openings {
						if !o.called {
							o.called = true
							close(o.closing)
						}
					}
				}
			}
		}
		if !c.dueAt.IsZero() {
			if c.calledLocked() == 0 || !now.Before(c.dueAt.Add(gatherGrace)) {
				fellDue := c.dueAt
				c.dueAt = time.Time{}
				for _, o := range c.openings {
					// It missed this call; its batch, due already, goes
					// out as soon as it is submitted.
					o.missed = o.missed || o.called
				}
				hold := false
				if len(c.queue) > 0 {
					var until time.Time
					if until, hold = c.holdLocked(now, fellDue); hold {
						timer = c.at(until) // held: wait below, like any deadline
					} else {
						c.flushLocked(true)
					}
				}
				if !hold {
					c.mu.Unlock()
					continue
				}
			} else {
				timer = c.at(c.dueAt.Add(gatherGrace))
			}
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			c.mu.Lock()
			c.cancelQueueLocked(ctx.Err())
			c.mu.Unlock()
			return
		case <-c.wake:
		case <-timer:
		}
	}
}

func (c *combiner) cancelQueueLocked(err error) {
	for len(c.queue) > 0 {
		finishLocked(c.queue[0], err)
		c.dequeueLocked(0)
	}
}

// dequeueLocked takes the submission at i off the queue, with what of it
// is not sent yet. c.mu must be held.
func (c *combiner) dequeueLocked(i int) {
	s := c.queue[i]
	c.queue = slices.Delete(c.queue, i, i+1)
	c.queued -= len(s.recs) - s.sent
	if s.lane != nil {
		s.lane.queued--
	}
}

// holdLocked decides whether the due call, about to go out with what is
// queued, is held back instead (see the comment on backlogs above
// holdMax), and until when. When it is not held, c.reason says why it goes
// out now. c.mu must be held.
func (c *combiner) holdLocked(now, fellDue time.Time) (time.Time, bool) {
	switch {
	case c.hurried:
		c.reason = callStopping
		return time.Time{}, false
	case c.queued >= c.size:
		c.reason = callFull
		return time.Time{}, false
	}
	c.reason = callDue
	for _, s := range c.queue {
		if !s.backlog {
			return time.Time{}, false
		}
	}
	if !c.busyLocked() {
		c.reason = callDrained
		return time.Time{}, false
	}
	if c.heldAt.IsZero() {
		c.heldAt = fellDue
	}
	until := c.heldAt.Add(c.holdMax())
	if !now.Before(until) {
		c.reason = callHeldOut
		return time.Time{}, false
	}
	return until, true
}

// busyLocked reports whether some partition of this member will submit
// soon without this call going out first: one is gathering a batch, or has
// a backlog and nothing waiting in the queue. c.mu must be held.
func (c *combiner) busyLocked() bool {
	if len(c.openings) > 0 {
		return true
	}
	for _, l := range c.lanes {
		if l.backlog && l.queued == 0 {
			return true
		}
	}
	return false
}

// nextDeadlineLocked is the earliest deadline among queued submissions and
// openings not yet asked to close. c.mu must be held.
func (c *combiner) nextDeadlineLocked() (time.Time, bool) {
	var due time.Time
	ok := false
	if c.hurried && (len(c.queue) > 0 || len(c.openings) > 0) {
		return c.now(), true
	}
	for _, s := range c.queue {
		if !ok || s.deadline.Before(due) {
			due, ok = s.deadline, true
		}
	}
	for _, o := range c.openings {
		if !o.called && (!ok || o.deadline.Before(due)) {
			due, ok = o.deadline, true
		}
	}
	return due, ok
}

// calledLocked counts the openings asked to close that have not yet
// submitted or left. c.mu must be held.
func (c *combiner) calledLocked() int {
	n := 0
	for _, o := range c.openings {
		if o.called && !o.missed {
			n++
		}
	}
	return n
}

// open announces a batch being gathered whose oldest delta was published
// at oldest. The caller closes its gathering when closing is closed (or its
// batch is full) and then submits with upsert(…, o, …) or calls leave(o).
//
// l is the partition's lane (nil when there is none); more, whether more
// deltas waited behind the batch, becomes the lane's backlog. The batch is
// a backlog's (its call may be held to be filled) when more waited behind
// it, and also when its oldest delta was past the freshness budget before
// it was even fetched: it waited in a queue, like the last batch of a
// partition draining a backlog, whose records are as late as the rest and
// would otherwise each go out in a partial call of their own (measured: 16
// of 262 calls, one per partition, with 1.15 s calls). A delta that
// arrives at a steady rate while the API has room is fetched well inside
// its budget, so its call is not held.
func (c *combiner) open(l *lane, oldest time.Time, more bool) *opening {
	deadline := oldest.Add(c.delay())
	o := &opening{lane: l, deadline: deadline, backlog: more || !deadline.After(c.now()), closing: make(chan struct{})}
	c.mu.Lock()
	if l != nil {
		l.backlog = more
	}
	c.openings = append(c.openings, o)
	if !c.dueAt.IsZero() {
		// A call is due and gathering: this batch joins it like the
		// openings it asked when it fell due, instead of being left to
		// the next call (a held backlog call would wait for it unasked).
		o.called = true
		close(o.closing)
	}
	c.mu.Unlock()
	c.poke()
	return o
}

// leave withdraws o (its batch has nothing to write, or it was submitted).
// It is safe to call more than once and with nil.
func (c *combiner) leave(o *opening) {
	if o == nil {
		return
	}
	c.mu.Lock()
	c.leaveLocked(o)
	c.mu.Unlock()
	c.poke()
}

func (c *combiner) leaveLocked(o *opening) {
	if o == nil || o.gone {
		return
	}
	o.gone = true
	if i := slices.Index(c.openings, o); i >= 0 {
		c.openings = slices.Delete(c.openings, i, i+1)
	}
}

// hurry makes everything queued or being gathered due at once, from now
// on: the upserter is stopping and finishes its batches without waiting
// out the freshness budget.
func (c *combiner) hurry() {
	c.mu.Lock()
	c.hurried = true
	c.mu.Unlock()
	c.poke()
}

// poke wakes run to look at the queue and openings again.
func (c *combiner) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// upsert writes recs in the next shared call and returns their results.
// oldest is when the oldest delta among them was published; o, if not nil,
// is the opening the batch was gathered under, withdrawn as recs are
// queued. While it waits,
// alive is called every aliveEvery (nil = never): the caller tells
// JetStream its deltas are in progress, so a long freshness budget does not
// run into AckWait.
func (c *combiner) upsert(ctx context.Context, o *opening, recs []salesforce.Record, oldest time.Time, alive func(), aliveEvery time.Duration) ([]salesforce.SaveResult, error) {
	s := &submission{ctx: ctx, recs: recs, deadline: oldest.Add(c.delay()), done: make(chan struct{}), res: make([]salesforce.SaveResult, len(recs))}
	if o != nil {
		s.backlog, s.lane = o.backlog, o.lane
	}
	if len(recs) == 0 {
		c.leave(o)
		return nil, nil
	}
	c.mu.Lock()
	select {
	case <-c.stopped:
		c.leaveLocked(o)
		c.mu.Unlock()
		return nil, context.Canceled
	default:
	}
	c.queue = append(c.queue, s)
	c.queued += len(recs)
	if s.lane != nil {
		s.lane.queued++
	}
	c.leaveLocked(o)
	for c.queued >= c.size {
		c.reason = callFull
		c.flushLocked(false)
	}
	c.mu.Unlock()
	c.poke() // the deadline may be earlier than the timer run is waiting for; an opening left
	var beat <-chan time.Time
	if alive != nil && aliveEvery > 0 {
		t := time.NewTicker(aliveEvery)
		defer t.Stop()
		beat = t.C
	}
	for {
		select {
		case <-s.done:
			return s.res, s.err
		case <-beat:
			alive()
		case <-ctx.Done():
			c.mu.Lock()
			if i := slices.Index(c.queue, s); i >= 0 { // what is not sent yet stays home
				c.dequeueLocked(i)
			}
			c.mu.Unlock()
			return nil, ctx.Err()
		}
	}
}

// flushLocked sends one call, counted under c.reason: size records from
// the head of the queue when that many are queued, or (due) whatever is
// queued. c.mu must be held.
func (c *combiner) flushLocked(due bool) {
	if !due && c.queued < c.size {
		return
	}
	var parts []part
	n := 0
	for len(c.queue) > 0 && n < c.size {
		s := c.queue[0]
		if s.ctx.Err() != nil && s.sent == 0 {
			finishLocked(s, s.ctx.Err())
			c.dequeueLocked(0)
			continue
		}
		k := min(len(s.recs)-s.sent, c.size-n)
		parts = append(parts, part{s, s.sent, k})
		s.inFlight++
		n += k
		if s.sent+k == len(s.recs) {
			c.dequeueLocked(0) // before sent moves on: it takes the unsent rest off queued
		} else {
			c.queued -= k
		}
		s.sent += k
	}
	if len(parts) > 0 {
		c.heldAt = time.Time{}
		c.inFlight++
		c.countLocked(c.reason, n)
		go c.send(parts)
	}
}

// countLocked counts a call sent. c.mu must be held.
func (c *combiner) countLocked(r callReason, records int) {
	if c.count != nil {
		c.count(r, records)
	}
}

// send makes one call for parts and hands each its share of the results.
func (c *combiner) send(parts []part) {
	// The call ends early only when every submitter has given up.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	live := len(parts)
	var recs []salesforce.Record
	for _, p := range parts {
		stop := context.AfterFunc(p.s.ctx, func() {
			mu.Lock()
			defer mu.Unlock()
			if live--; live == 0 {
				cancel()
			}
		})
		defer stop()
		recs = append(recs, p.s.recs[p.off:p.off+p.n]...)
	}
	// A call queued before the fleet paused (the allocation is spent) waits
	// here, its submitters keeping their deltas in progress, instead of
	// spending a call Salesforce would refuse.
	var res []salesforce.SaveResult
	var err error
	if c.gate != nil {
		err = c.gate(ctx)
	}
	if err == nil {
		res, err = c.sf.UpsertCollection(ctx, c.object, c.extField, recs, salesforce.WriteOptions{})
	}
	if err == nil && len(res) != len(recs) {
		err = fmt.Errorf("upsert: %d results for %d records", len(res), len(recs))
	}
	if err != nil && len(parts) > 1 && salesforce.ClassOf(err) == salesforce.ClassPermanent {
		c.mu.Lock()
		c.inFlight += len(parts) - 1 // this call becomes one per part
		for _, p := range parts {
			c.countLocked(callIsolated, p.n)
		}
		c.mu.Unlock()
		for _, p := range parts {
			go c.send([]part{p})
		}
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.poke() // a held call may wait for this one's partitions
	c.inFlight--
	off := 0
	for _, p := range parts {
		if err == nil {
			copy(p.s.res[p.off:], res[off:off+p.n])
		} else if p.s.err == nil {
			p.s.err = err
		}
		off += p.n
		p.s.inFlight--
		if p.s.inFlight == 0 && p.s.sent == len(p.s.recs) {
			finishLocked(p.s, nil)
		}
	}
}
