package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"per-call deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"nats timeout", nats.ErrTimeout, true},
		{"async publish timeout", jetstream.ErrAsyncPublishTimeout, true},
		{"no responders", fmt.Errorf("stream: %w", nats.ErrNoResponders), true},
		{"no stream response", jetstream.ErrNoStreamResponse, true},
		{"disconnected", nats.ErrDisconnected, true},
		{"reconnecting", nats.ErrConnectionReconnecting, true},
		{"reconnect buffer full", nats.ErrReconnectBufExceeded, true},
		{"no meta leader 10008", &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, true},
		{"not leader 10009", fmt.Errorf("nats: %w", &jetstream.APIError{Code: 500, ErrorCode: 10009}), true},
		{"peer offline 10005", &jetstream.APIError{Code: 400, ErrorCode: 10005, Description: "no suitable peers for placement, peer offline"}, true},
		{"stream offline 10118", &jetstream.APIError{Code: 500, ErrorCode: 10118, Description: "stream is offline"}, true},
		{"consumer offline 10195", &jetstream.APIError{Code: 500, ErrorCode: 10195}, true},
		{"JetStream not enabled (AccountInfo's no responders)", jetstream.ErrJetStreamNotEnabled, true},
		{"cancelled", context.Canceled, false},
		{"connection closed", fmt.Errorf("x: %w", nats.ErrConnectionClosed), false},
		{"stream not found", jetstream.ErrStreamNotFound, false},
		{"wrong last sequence", &jetstream.APIError{Code: 400, ErrorCode: 10071}, false},
		{"bad stream config", &jetstream.APIError{Code: 400, ErrorCode: 10052, Description: "replicas > 1 not supported"}, false},
		{"partitions changed", ErrPartitionsChanged, false},
		{"plain", errors.New("boom"), false},
	} {
		if got := Retryable(tc.err); got != tc.want {
			t.Errorf("%s: Retryable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

var fast = Retry{Initial: time.Millisecond, Max: 2 * time.Millisecond}

func TestRetryDoRetriesUntilSuccess(t *testing.T) {
	r := fast
	var attempts []Attempt
	r.OnRetry = func(a Attempt) { attempts = append(attempts, a) }
	calls := 0
	err := r.Do(context.Background(), "ensure stream X", func(ctx context.Context) error {
		calls++
		if _, ok := ctx.Deadline(); !ok {
			t.Error("attempt without a deadline")
		}
		if calls < 3 {
			return nats.ErrNoResponders
		}
		return nil
	})
	if err != nil || calls != 3 || len(attempts) != 2 {
		t.Fatalf("err %v, calls %d, attempts %+v", err, calls, attempts)
	}
	if a := attempts[1]; a.Step != "ensure stream X" || a.N != 2 || !errors.Is(a.Err, nats.ErrNoResponders) || a.Wait <= 0 {
		t.Errorf("attempt %+v", a)
	}
}

func TestRetryDoBoundsEachAttempt(t *testing.T) {
	r := fast
	r.CallTimeout = 10 * time.Millisecond
	calls := 0
	err := r.Do(context.Background(), "step", func(ctx context.Context) error {
		calls++
		if calls == 1 {
			<-ctx.Done() // a request no leader answers
			return ctx.Err()
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("err %v, calls %d: a timed-out attempt must be retried", err, calls)
	}
}

func TestRetryDoPermanentReturnsAtOnce(t *testing.T) {
	calls := 0
	err := fast.Do(context.Background(), "ensure stream X", func(context.Context) error {
		calls++
		return jetstream.ErrStreamNotFound
	})
	var re *RetryError
	if calls != 1 || !errors.Is(err, jetstream.ErrStreamNotFound) || errors.As(err, &re) || !strings.HasPrefix(err.Error(), "ensure stream X: ") {
		t.Fatalf("calls %d, err %v", calls, err)
	}
}

func TestRetryDoGivesUp(t *testing.T) {
	// When ctx ends.
	ctx, cancel := context.WithCancel(context.Background())
	r := fast
	r.OnRetry = func(a Attempt) {
		if a.N == 3 {
			cancel()
		}
	}
	err := r.Do(ctx, "ensure bucket B", func(context.Context) error { return nats.ErrNoResponders })
	var re *RetryError
	if !errors.As(err, &re) || re.Step != "ensure bucket B" || re.Attempts != 3 || !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("err %v (%+v)", err, re)
	}
	if !strings.Contains(err.Error(), "ensure bucket B: gave up after 3 attempts") {
		t.Errorf("message %q", err)
	}
	// When MaxElapsed has passed.
	r = fast
	r.MaxElapsed = 20 * time.Millisecond
	err = r.Do(context.Background(), "status", func(context.Context) error { return jetstream.ErrNoStreamResponse })
	if !errors.As(err, &re) || re.Attempts < 1 || !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("MaxElapsed: err %v", err)
	}
}

func TestRedactURLs(t *testing.T) {
	got := RedactURLs("nats://a:4222, nats://user:secret@b:4222,nats://tok3n@c:4222")
	if want := "nats://a:4222,nats://user:xxxxx@b:4222,nats://xxxxx@c:4222"; got != want {
		t.Fatalf("RedactURLs = %q, want %q", got, want)
	}
}
