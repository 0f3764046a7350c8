package reconcile

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/worker"
)

// Config configures a Reconciler. Zero values mean the Default… constants
// below; the default tags say the same for --help, and a test holds them
// together.
type Config struct {
	// Durable is the consumer name.
	Durable string `envconfig:"RECONCILER_DURABLE" default:"reconciler" desc:"durable consumer name"`
	// BatchSize is the most events written per call (at most MaxBatch).
	BatchSize int `envconfig:"RECONCILER_BATCH_SIZE" default:"200" desc:"events per Salesforce call, 1..200"`
	// Linger is how long a batch waits to fill after its first event
	// (negative: take only what is already buffered). Exceptions are
	// rarer than deltas and a steward reads them minutes later, so unlike
	// the upserter's freshness budget it only gathers what arrives together.
	Linger time.Duration `envconfig:"RECONCILER_LINGER" default:"50ms" desc:"wait to fill a batch"`
	// MaxDeliver bounds deliveries of one event. The last delivery that
	// still fails goes to the DLQ instead of back.
	MaxDeliver int `envconfig:"RECONCILER_MAX_DELIVER" default:"10" desc:"deliveries before an event is dead-lettered"`
	// AckWait of the consumer.
	AckWait time.Duration `envconfig:"RECONCILER_ACK_WAIT" default:"60s" desc:"consumer AckWait"`
	// CallTimeout bounds one Salesforce call.
	CallTimeout time.Duration `envconfig:"RECONCILER_CALL_TIMEOUT" default:"60s" desc:"timeout of one Salesforce call"`
	// RetryInitial and RetryMax shape the backoff of transient whole-call
	// failures and of record redeliveries.
	RetryInitial time.Duration `envconfig:"RECONCILER_RETRY_INITIAL" default:"500ms" desc:"first retry backoff"`
	RetryMax     time.Duration `envconfig:"RECONCILER_RETRY_MAX" default:"30s" desc:"longest retry backoff"`
	// RetryElapsed is how long a batch is retried in place before its
	// events are handed back for redelivery.
	RetryElapsed time.Duration `envconfig:"RECONCILER_RETRY_ELAPSED" default:"2m" desc:"in-place retry budget of a batch"`
	// Object and KeyField name the exception object and its external ID.
	Object   string `envconfig:"RECONCILER_OBJECT" default:"Contact_Sync_Exception__c" desc:"exception sObject"`
	KeyField string `envconfig:"RECONCILER_KEY_FIELD" default:"Exception_Key__c" desc:"its external ID field"`
	// PayloadLimit caps Payload__c in characters (the field is a Long Text
	// Area of 32,768).
	PayloadLimit int `envconfig:"RECONCILER_PAYLOAD_LIMIT" default:"32000" desc:"Payload__c cap in characters"`
	// ApplyInterval is how often resolved exception records are read and
	// applied back, one SOQL query per interval (negative: off). It runs
	// when the Salesforce client can also query and update.
	ApplyInterval time.Duration `envconfig:"RECONCILER_APPLY_INTERVAL" default:"30s" desc:"poll for resolved exceptions to apply (negative: off)"`
	// OnBatch, when set, is called after each batch is settled, from the
	// Reconciler's goroutine (for the standalone run's summary). Keep it fast.
	// The tally counts the batch's events by outcome: the newest event of
	// each exception key Created or Updated (one record per key), older
	// ones of the same key StaleSkipped, DeadLettered, Retried.
	OnBatch func(worker.Tally) `ignored:"true"`
}

// The defaults of Config, stated once.
const (
	DefaultDurable       = "reconciler"
	DefaultLinger        = 50 * time.Millisecond
	DefaultMaxDeliver    = 10
	DefaultAckWait       = 60 * time.Second
	DefaultCallTimeout   = 60 * time.Second
	DefaultRetryInitial  = 500 * time.Millisecond
	DefaultRetryMax      = 30 * time.Second
	DefaultRetryElapsed  = 2 * time.Minute
	DefaultObject        = "Contact_Sync_Exception__c"
	DefaultKeyField      = "Exception_Key__c"
	DefaultPayloadLimit  = 32000
	DefaultApplyInterval = 30 * time.Second
)

// MaxBatch is the sObject Collections limit, and the default BatchSize.
const MaxBatch = 200

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	str := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	num := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	str(&c.Durable, DefaultDurable)
	num(&c.BatchSize, MaxBatch)
	def(&c.Linger, DefaultLinger)
	num(&c.MaxDeliver, DefaultMaxDeliver)
	def(&c.AckWait, DefaultAckWait)
	def(&c.CallTimeout, DefaultCallTimeout)
	def(&c.RetryInitial, DefaultRetryInitial)
	def(&c.RetryMax, DefaultRetryMax)
	def(&c.RetryElapsed, DefaultRetryElapsed)
	str(&c.Object, DefaultObject)
	str(&c.KeyField, DefaultKeyField)
	num(&c.PayloadLimit, DefaultPayloadLimit)
	def(&c.ApplyInterval, DefaultApplyInterval)
	return c
}

func (c Config) validate() error {
	switch {
	case c.BatchSize < 0 || c.BatchSize > MaxBatch:
		return fmt.Errorf("reconcile: BatchSize %d: want 1..%d", c.BatchSize, MaxBatch)
	case c.MaxDeliver < 0:
		return fmt.Errorf("reconcile: MaxDeliver %d: want >= 1", c.MaxDeliver)
	case c.AckWait < 0 || (c.AckWait > 0 && c.AckWait < time.Second):
		return fmt.Errorf("reconcile: AckWait %s: want >= 1s", c.AckWait)
	case c.CallTimeout < 0:
		return fmt.Errorf("reconcile: CallTimeout %s: want > 0", c.CallTimeout)
	case c.RetryInitial < 0 || c.RetryMax < 0 || c.RetryElapsed < 0:
		return fmt.Errorf("reconcile: RetryInitial/RetryMax/RetryElapsed must not be negative")
	case c.PayloadLimit < 0:
		return fmt.Errorf("reconcile: PayloadLimit %d: want > 0", c.PayloadLimit)
	}
	return nil
}

func (c Config) consumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       c.Durable,
		Description:   "writes conflict events as Contact_Sync_Exception__c records",
		FilterSubject: "contacts.conflict.*",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxDeliver:    c.MaxDeliver,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxAckPending: 4 * MaxBatch,
	}
}
